//! The demo workload end to end: `__demo-child` (this binary re-executed with
//! publishing on, as `alloc-inspect demo` does) runs the real allocator, then
//! `alloc-inspect <pid> --once --json` is checked against what the workload does; and
//! `alloc-inspect demo` in a pseudo-terminal starts, shows the child, and cleans up.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, PtySize};
use serde_json::Value;

mod support;
use support::BIN;

#[test]
fn once_json_matches_the_demo_workload() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["__demo-child", "--seconds", "60", "--threads", "2"])
        .env("SLABSCOPE_PUBLISH", "1")
        .env("SLABSCOPE_SHM_DIR", dir.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    support::wait_for_segment(&dir.path().join(format!("slabscope.{pid}")));
    // Let the workload run a moment so its counters and ring fill.
    let deadline = Instant::now() + Duration::from_secs(60);
    let v: Value = loop {
        let v: Value = support::once_json(pid, dir.path());
        let ready = v["totals"]["live_bytes"].as_u64().unwrap_or(0) > 0
            && !v["events"].as_array().unwrap().is_empty();
        if ready || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(v["pid"], pid);
    assert!(v["segment_protocol"].as_str().unwrap().starts_with("1."));
    let classes = v["classes"].as_array().unwrap();
    assert!(!classes.is_empty(), "size classes present");
    assert!(
        classes
            .iter()
            .any(|c| c["live_blocks"].as_u64().unwrap() > 0),
        "some class has live blocks"
    );
    assert!(
        classes.iter().any(|c| c["allocs"].as_u64().unwrap() > 0),
        "allocations counted"
    );
    assert!(
        v["totals"]["live_bytes"].as_u64().unwrap() > 0,
        "live bytes > 0"
    );
    assert!(v["totals"]["mapped_bytes"].as_u64().unwrap() > 0);
    assert!(v["totals"]["superslabs"].as_u64().unwrap() > 0);
    assert!(!v["superslabs"].as_array().unwrap().is_empty());
    assert!(
        !v["threads"].as_array().unwrap().is_empty(),
        "workload threads published"
    );
    let events = v["events"].as_array().unwrap();
    assert!(!events.is_empty(), "events present");
    assert!(events
        .iter()
        .all(|e| e["kind"].is_string() && e["seq"].is_number()));
    assert!(v["process"]["rss_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn demo_command_attaches_in_a_terminal_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 40,
            cols: 120,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(BIN);
    cmd.args(["demo", "--", "--seconds", "60", "--threads", "2"]);
    cmd.env("SLABSCOPE_SHM_DIR", dir.path());
    cmd.env("TERM", "xterm-256color");
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    let buf = support::collect_output(pty.master.try_clone_reader().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = String::from_utf8_lossy(&buf.lock().unwrap()).into_owned();
        if t.contains("fragmentation") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no Overview; output ends: {:?}",
            &t[t.len().saturating_sub(800)..]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let seg: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(
        seg.len(),
        1,
        "only the child publishes, the inspector does not"
    );
    let name = seg[0].file_name().to_string_lossy().into_owned();
    let child_pid: u32 = name.trim_start_matches("slabscope.").parse().unwrap();
    let mut w = pty.master.take_writer().unwrap();
    w.write_all(b"q").unwrap();
    w.flush().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the child's segment was removed"
    );
    assert!(
        !Path::new(&format!("/proc/{child_pid}")).exists(),
        "the child was killed and reaped"
    );
}

#[test]
fn sigterm_ends_the_demo_and_the_leaky_workload_normally_leaving_no_segment() {
    for workload in ["__demo-child", "__leaky-child"] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(BIN)
            .args([workload, "--seconds", "120"])
            .env("SLABSCOPE_PUBLISH", "1")
            .env("SLABSCOPE_SHM_DIR", dir.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let seg = dir.path().join(format!("slabscope.{pid}"));
        support::wait_for_segment(&seg);
        // The segment comes with the first allocation, before the workload handles
        // SIGTERM: wait for the handler, as a user's script would find it running.
        wait_for_sigterm_handler(pid);
        let kill = Command::new("kill").arg(pid.to_string()).status().unwrap();
        assert!(kill.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "{workload} did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{workload}: {status:?}");
        assert!(!seg.exists(), "{workload} left {}", seg.display());
    }
}

/// Waits (up to 20 s) until process `pid` catches SIGTERM (`SigCgt` in its status).
fn wait_for_sigterm_handler(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .unwrap_or(0);
        // SIGTERM is signal 15 on Linux: bit 14 of the mask.
        if caught & 1 << 14 != 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{pid} never caught SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
}
