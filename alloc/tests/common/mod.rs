//! Helpers shared by the allocator's integration tests.
//!
//! Options are read once per process, so a test that needs particular `SLABSCOPE_*`
//! values re-executes its own test binary with that environment, running only itself
//! (`--exact NAME`), and checks the child's exit status and output.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use slabscope_proto::{Event, EventKind, SegmentReader};

/// Environment marker telling a re-executed test binary that it is the child.
pub const CHILD_MARKER: &str = "SLABSCOPE_TEST_CHILD";

/// Whether this process is a re-executed child.
pub fn in_child() -> bool {
    std::env::var_os(CHILD_MARKER).is_some()
}

/// Re-runs test `name` of this binary in a child with `env` plus publishing on and
/// `SLABSCOPE_SHM_DIR` set to `dir`, and asserts it passed. Returns its stdout.
pub fn run_child(name: &str, dir: &Path, env: &[(&str, &str)]) -> String {
    run_child_both(name, dir, env).0
}

/// [`run_child`], returning the child's stdout and stderr.
pub fn run_child_both(name: &str, dir: &Path, env: &[(&str, &str)]) -> (String, String) {
    let out = child_command(name, dir, env)
        .output()
        .expect("spawn child test");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "child {name} failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("1 passed"),
        "child {name} did not run the test:\n{stdout}"
    );
    (stdout, stderr)
}

/// The command [`run_child`] runs.
pub fn child_command(name: &str, dir: &Path, env: &[(&str, &str)]) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_MARKER, "1")
        .env("SLABSCOPE_PUBLISH", "1")
        .env("SLABSCOPE_SHM_DIR", dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// This process's resident set in bytes (`/proc/self/statm`, 4 KiB pages).
pub fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").expect("statm");
    s.split(' ')
        .nth(1)
        .expect("resident field")
        .parse::<u64>()
        .expect("a number")
        * 4096
}

/// In the test process, runs test `name` again in a child ([`run_child`], with `env`
/// and a scratch segment directory) and returns `true`: the caller returns. In that
/// child it returns `false`, and the test body runs there.
pub fn respawned(name: &str, env: &[(&str, &str)]) -> bool {
    if in_child() {
        return false;
    }
    let dir = shm_dir();
    run_child(name, dir.path(), env);
    true
}

/// A fresh temporary directory for segments.
pub fn shm_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// This process's segment path (in a child started by [`run_child`]).
pub fn own_segment() -> PathBuf {
    let dir = std::env::var_os("SLABSCOPE_SHM_DIR").expect("SLABSCOPE_SHM_DIR");
    Path::new(&dir).join(format!("slabscope.{}", std::process::id()))
}

/// Opens this process's segment (creating it by an allocation if needed).
pub fn open_own() -> SegmentReader {
    drop(std::hint::black_box(vec![0u8; 100_000]));
    let path = own_segment();
    SegmentReader::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Every event still in the ring of `r`.
pub fn all_events(r: &SegmentReader) -> Vec<Event> {
    let mut cursor = slabscope_proto::Cursor::default();
    let mut out = Vec::new();
    loop {
        let before = out.len();
        r.poll_events(&mut cursor, 4096, &mut out);
        if out.len() == before {
            break;
        }
    }
    out
}

/// Whether `events` holds one matching `pred`.
pub fn has_event(events: &[Event], pred: impl Fn(&EventKind) -> bool) -> bool {
    events.iter().any(|e| pred(&e.kind))
}

/// A small deterministic PRNG (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    /// Next value.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Runs test `name` in a child like [`run_child`], but lets the parent inspect the
/// child's segment from outside (as alloc-inspect would) while the child waits in
/// [`pause_for_parent`]. `inspect` gets the child's pid and the lines it reported.
pub fn run_child_inspected(
    name: &str,
    dir: &Path,
    env: &[(&str, &str)],
    inspect: impl FnOnce(u32, &[String]),
) {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_MARKER, "1")
        .env("SLABSCOPE_PUBLISH", "1")
        .env("SLABSCOPE_SHM_DIR", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn child test");
    let pid = child.id();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "child {name} ended before pausing: {:?}\n{}\n{}",
                out.status,
                lines.join(""),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // libtest may print "test NAME ... " on the same line before the report.
        if let Some(at) = line.find("report: ") {
            lines.push(line[at + 8..].trim_end().to_string());
        }
        if line.trim_end().ends_with("paused") {
            break;
        }
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inspect(pid, &lines)));
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(b"go\n");
    drop(stdin);
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
    let status = child.wait().unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e);
    }
    assert!(status.success(), "child {name} failed: {status:?}\n{rest}");
}

/// In a child of [`run_child_inspected`]: reports `lines`, then waits until the parent
/// has inspected the segment.
pub fn pause_for_parent(lines: &[String]) {
    use std::io::{BufRead, Write};
    let mut out = std::io::stdout().lock();
    for l in lines {
        writeln!(out, "report: {l}").unwrap();
    }
    writeln!(out, "paused").unwrap();
    out.flush().unwrap();
    drop(out);
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).unwrap();
}
