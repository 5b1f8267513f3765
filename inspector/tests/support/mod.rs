//! Helpers for the tests that run the built `alloc-inspect` binary.
#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_alloc-inspect");

/// Runs `alloc-inspect ARGS` (with `SLABSCOPE_SHM_DIR=dir` when `dir` is given) and
/// returns its JSON stdout, parsed; fails the test with its stderr when it exits non-zero.
pub fn inspect_json(args: &[&str], dir: Option<&Path>) -> serde_json::Value {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    if let Some(dir) = dir {
        cmd.env("SLABSCOPE_SHM_DIR", dir);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "alloc-inspect {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits (at most 60 s) until the segment at `path` exists and is valid, and returns it
/// opened.
pub fn wait_for_segment(path: &Path) -> slabscope_proto::SegmentReader {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Ok(r) = slabscope_proto::SegmentReader::open(path) {
            return r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `alloc-inspect <pid> --once --json` against the segments in `dir`.
pub fn once_json(pid: u32, dir: &Path) -> serde_json::Value {
    inspect_json(&[&pid.to_string(), "--once", "--json"], Some(dir))
}

/// Copies everything `reader` (a pty's output) yields into a shared buffer, from a
/// thread of its own, until end of file or an error.
pub fn collect_output(mut reader: Box<dyn Read + Send>) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = reader.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    buf
}
