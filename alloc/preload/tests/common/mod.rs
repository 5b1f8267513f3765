//! Shared helpers of the preload tests: finding the built library and `alloc-inspect`,
//! running programs under `LD_PRELOAD`, and reading a running program's segment back.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use slabscope_proto::{SegmentReader, Snapshot};

/// The target directory the test executable was built in (`target/<profile>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test executable has a directory");
    deps.parent().expect("deps has a parent").to_path_buf()
}

/// `libslabscope_preload.so`, built by cargo next to the test executable. `deps/` comes
/// first: `cargo test` rebuilds the library there, while the copy beside it is only
/// refreshed by `cargo build` and may be older than the code under test.
pub fn preload_lib() -> PathBuf {
    let dir = profile_dir();
    for p in [
        dir.join("deps").join("libslabscope_preload.so"),
        dir.join("libslabscope_preload.so"),
    ] {
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "libslabscope_preload.so not found in {} (nor in its deps/): cargo builds it with \
         this package's tests; run `cargo test -p slabscope-preload`",
        dir.display()
    );
}

/// `alloc-inspect` from the same target directory, when it was built. Returns `None`
/// after printing why it is missing, except under `CI=true`, where a missing binary
/// fails the test.
pub fn inspector() -> Option<PathBuf> {
    let p = profile_dir().join("alloc-inspect");
    if p.is_file() {
        return Some(p);
    }
    let why = format!(
        "alloc-inspect check not run: {} does not exist (it is built by `cargo test \
         --workspace`, not by `cargo test -p slabscope-preload`)",
        p.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}; CI=true requires it");
    }
    println!("{why}");
    None
}

/// A scratch directory for the segments of one test.
pub fn shm_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("slabscope-preload-")
        .tempdir()
        .expect("tempdir")
}

/// `cmd` set up to run under the preload, publishing into `shm`.
pub fn preloaded(mut cmd: Command, shm: &Path) -> Command {
    cmd.env("LD_PRELOAD", preload_lib())
        .env("SLABSCOPE_SHM_DIR", shm)
        .env_remove("SLABSCOPE_PUBLISH")
        .env_remove("SLABSCOPE_PUBLISH_AFTER_MS");
    // `SLABSCOPE_TEST_CHECK=1 cargo test ...` runs every preloaded program with heap
    // checks on (scripts/test does so for the real programs): `assert_quiet` then fails
    // on any heap error report.
    match std::env::var_os("SLABSCOPE_TEST_CHECK") {
        Some(v) => cmd.env("SLABSCOPE_CHECK", v),
        None => cmd.env_remove("SLABSCOPE_CHECK"),
    };
    cmd
}

/// Runs `cmd`, panicking with its stderr when it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Asserts that a check program (tests/c) printed `ok <name>` for every name in
/// `checks`, no `FAIL` line, and `failures 0`.
pub fn assert_checks_passed(checks: &[&str], out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let failed: Vec<_> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        failed.is_empty(),
        "failed checks:\n{}\n\nstderr:\n{stderr}",
        failed.join("\n")
    );
    let passed: BTreeSet<_> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ok "))
        .collect();
    let missing: Vec<_> = checks.iter().filter(|c| !passed.contains(*c)).collect();
    assert!(
        missing.is_empty(),
        "checks that never ran: {missing:?}\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("failures 0\n"), "{stdout}");
}

/// Asserts that every program run with segments in `shm` removed its segment (and left
/// no other file there).
pub fn assert_no_segments(shm: &Path) {
    let left: Vec<_> = std::fs::read_dir(shm).unwrap().collect();
    assert!(left.is_empty(), "segments left behind: {left:?}");
}

/// Asserts a preloaded program said nothing about slabscope on stderr (no failed
/// segment creation, no foreign pointer, no fatal message).
pub fn assert_quiet(what: &str, stderr: &[u8]) {
    let s = String::from_utf8_lossy(stderr);
    assert!(
        !s.contains("slabscope"),
        "{what}: unexpected slabscope message on stderr:\n{s}"
    );
}

/// `shm/slabscope.<pid>`.
pub fn segment_path_in(shm: &Path, pid: u32) -> PathBuf {
    shm.join(format!("slabscope.{pid}"))
}

/// Bytes in user hands according to a snapshot (as alloc-inspect computes them).
pub fn live_bytes(s: &Snapshot) -> u64 {
    s.classes
        .iter()
        .map(|c| c.live * u64::from(c.block_size))
        .sum::<u64>()
        + s.totals.large_bytes
}

/// Waits (up to 30 s) until `pid`'s segment in `shm` shows live bytes written by the
/// preload; the error says what was seen instead.
fn wait_for_live(pid: u32, shm: &Path) -> Result<u64, String> {
    let path = segment_path_in(shm, pid);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = SegmentReader::open(&path)
            .map_err(|e| e.to_string())
            .and_then(|r| r.snapshot().map_err(|e| e.to_string()));
        match seen {
            Ok(s) if live_bytes(&s) > 0 => {
                if s.pid != pid {
                    return Err(format!("segment of pid {} at {}", s.pid, path.display()));
                }
                if !s.flags.preload {
                    return Err("segment lacks the preload flag".into());
                }
                return Ok(live_bytes(&s));
            }
            other if Instant::now() >= deadline => {
                let other = other.map(|s| format!("live bytes {}", live_bytes(&s)));
                return Err(format!("no live bytes at {}: {other:?}", path.display()));
            }
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The first line `child` writes on its piped stdout ("" when it closes it first).
pub fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    if let Some(out) = child.stdout.as_mut() {
        BufReader::new(out).read_line(&mut line).unwrap();
    }
    line
}

/// `alloc-inspect <pid> --once --json` of the live process `pid` whose segment is in
/// `shm`, parsed; `None` when the inspector was not built.
pub fn inspect_json(pid: u32, shm: &Path) -> Option<serde_json::Value> {
    let out = run_ok(
        Command::new(inspector()?)
            .arg(pid.to_string())
            .args(["--once", "--json"])
            .env("SLABSCOPE_SHM_DIR", shm),
    );
    Some(serde_json::from_slice(&out.stdout).expect("alloc-inspect printed JSON"))
}

/// Checks that the running `child`'s segment in `shm` shows live bytes written by the
/// preload, and that `alloc-inspect <pid> --once --json` agrees when the binary exists.
/// On failure the child is killed and its stderr (when piped) is shown. Returns the live
/// bytes the reader saw.
pub fn check_segment(child: &mut Child, shm: &Path) -> u64 {
    let pid = child.id();
    let live = match wait_for_live(pid, shm) {
        Ok(live) => live,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = s.read_to_string(&mut err);
            }
            panic!("pid {pid}: {e}\nits stderr:\n{err}");
        }
    };
    if let Some(doc) = inspect_json(pid, shm) {
        assert_eq!(doc["pid"].as_u64(), Some(u64::from(pid)), "{doc}");
        let inspected = doc["totals"]["live_bytes"].as_u64().expect("live_bytes");
        assert!(inspected > 0, "alloc-inspect shows no live bytes: {doc}");
    }
    live
}

/// Compiles the C program `tests/c/<name>.c` into `dir` with `cc`; returns the binary.
pub fn compile_c(name: &str, dir: &Path, extra: &[&str]) -> PathBuf {
    compile("cc", &format!("{name}.c"), dir, extra)
}

/// Compiles the C++ program `tests/c/<name>.cpp` into `dir` with `c++`; returns the
/// binary.
pub fn compile_cxx(name: &str, dir: &Path, extra: &[&str]) -> PathBuf {
    compile("c++", &format!("{name}.cpp"), dir, extra)
}

/// `compiler -O1 -g -Wall -Werror -pthread -o dir/<stem> tests/c/<file> extra...`
/// (flags in `extra` come last, so they override).
fn compile(compiler: &str, file: &str, dir: &Path, extra: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/c")
        .join(file);
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let bin = dir.join(stem);
    run_ok(
        Command::new(compiler)
            .args(["-O1", "-g", "-Wall", "-Werror", "-pthread", "-o"])
            .arg(&bin)
            .arg(&src)
            .args(extra),
    );
    bin
}
