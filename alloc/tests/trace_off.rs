//! A build without the `trace` feature (`cargo test -p slabscope --no-default-features`):
//! `SLABSCOPE_LOG` is reported once on stderr as not built in, and the process runs on.
//! With the feature (the default) this binary holds no test; `tests/trace.rs` covers
//! tracing itself.
#![cfg(not(feature = "trace-hook"))]

mod common;

use std::process::Command;

use slabscope::raw;

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

#[test]
fn slabscope_log_without_the_trace_feature_is_reported_once() {
    if common::in_child() {
        // Slow paths of many kinds and threads: each would flush traced events.
        for t in 0..4 {
            std::thread::spawn(move || {
                let v: Vec<usize> = (0..2000)
                    .map(|i| raw::alloc(16 + (i * 37 + t) % 30_000, 16) as usize)
                    .collect();
                for p in v {
                    // SAFETY: live blocks of this thread.
                    unsafe { raw::free(p as *mut u8) };
                }
            })
            .join()
            .unwrap();
        }
        raw::drain_thread();
        println!("child ran");
        return;
    }
    let dir = common::shm_dir();
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .args([
            "slabscope_log_without_the_trace_feature_is_reported_once",
            "--exact",
            "--nocapture",
        ])
        .env(common::CHILD_MARKER, "1")
        .env("SLABSCOPE_SHM_DIR", dir.path())
        .env("SLABSCOPE_LOG", "slabscope=trace")
        .output()
        .expect("spawn child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("child ran"), "{stdout}");
    let said = stderr.matches("this build has no `trace` feature").count();
    assert_eq!(said, 1, "{stderr}");
}
