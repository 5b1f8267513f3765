//! Leak hunting end to end: the leaky workload (`__leaky-child`, this binary re-executed
//! with publishing and `SLABSCOPE_SAMPLE` on) runs the real allocator, and within 10
//! seconds `alloc-inspect <pid> --once --json` ranks its leaking function,
//! `leak_session_cache_entry`, as the top site, symbolized by name.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod support;
use support::BIN;

/// Kills and reaps the child when the test ends, passed or not.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

use support::{once_json, wait_for_segment};

#[test]
fn the_leaking_function_is_the_top_site_within_ten_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(BIN)
        .args(["__leaky-child", "--seconds", "60"])
        .env("SLABSCOPE_PUBLISH", "1")
        .env("SLABSCOPE_SAMPLE", "512K")
        .env("SLABSCOPE_SHM_DIR", dir.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let child = Reaped(child);
    let pid = child.0.id();
    wait_for_segment(&dir.path().join(format!("slabscope.{pid}")));
    let start = Instant::now();
    let mut last = Value::Null;
    while start.elapsed() < Duration::from_secs(10) {
        let v = once_json(pid, dir.path());
        let top = &v["leaks"][0];
        if top["function"]
            .as_str()
            .is_some_and(|f| f.ends_with("::leak_session_cache_entry"))
        {
            assert!(top["live_bytes"].as_u64().unwrap() > 0);
            assert!(top["live_samples"].as_u64().unwrap() > 0);
            assert!(top["growth_bytes_per_s"].as_f64().unwrap() > 0.0);
            let frames = top["frames"].as_array().unwrap();
            assert!(frames
                .iter()
                .any(|f| f.as_str().unwrap().contains("leak_session_cache_entry")));
            assert!(
                frames[0].as_str().unwrap().starts_with("slabscope::"),
                "the innermost frame is the allocator's: {frames:?}"
            );
            return;
        }
        last = v["leaks"].clone();
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("after 10 s the top site is not leak_session_cache_entry: {last:#}");
}

#[test]
fn without_sampling_there_are_no_sites() {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(BIN)
        .args(["__leaky-child", "--seconds", "60"])
        .env("SLABSCOPE_PUBLISH", "1")
        .env_remove("SLABSCOPE_SAMPLE")
        .env("SLABSCOPE_SHM_DIR", dir.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let child = Reaped(child);
    let pid = child.0.id();
    wait_for_segment(&dir.path().join(format!("slabscope.{pid}")));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = once_json(pid, dir.path());
        if v["totals"]["live_bytes"].as_u64().unwrap_or(0) > 1 << 20 {
            assert_eq!(v["leaks"], Value::Array(Vec::new()));
            return;
        }
        assert!(Instant::now() < deadline, "the workload never grew");
        std::thread::sleep(Duration::from_millis(100));
    }
}
