//! What a preloaded process leaves in its segment directory when it ends (docs/PROTOCOL.md,
//! "What survives a process"): a normal end, `_exit` and `_Exit` included, leaves
//! nothing; a process killed by a signal keeps its segment for `--postmortem`; the kept
//! segments are bounded by `SLABSCOPE_KEEP`; a short process's segment is small; `list`
//! prints a kept command line with its control characters escaped.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{compile_c, first_line, preloaded, run_ok, shm_dir};
use slabscope_proto::SegmentReader;

/// The `slabscope.*` files left in `dir`.
fn left(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("slabscope."))
        .collect();
    v.sort();
    v
}

#[test]
fn a_normal_end_leaves_nothing_whatever_the_exit_call() {
    let build = tempfile::tempdir().unwrap();
    let bin = compile_c("ending", build.path(), &[]);
    for mode in [
        "return",
        "exit",
        "_exit",
        "_Exit",
        "impossible",
        "fork_exit",
    ] {
        let shm = shm_dir();
        let mut cmd = preloaded(Command::new(&bin), shm.path());
        let out = run_ok(cmd.arg(mode));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("ready"));
        assert_eq!(left(shm.path()), Vec::<String>::new(), "mode {mode}");
    }
}

#[test]
fn shells_and_python_ending_with_exit_leave_nothing() {
    let shm = shm_dir();
    // dash (Debian's sh) ends with _exit.
    let out = run_ok(preloaded(Command::new("sh"), shm.path()).args(["-c", "echo hi"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert_eq!(left(shm.path()), Vec::<String>::new(), "sh -c 'echo hi'");
    let py = preloaded(Command::new("python3"), shm.path())
        .args(["-c", "import os; print('x', flush=True); os._exit(0)"])
        .output()
        .expect("python3 runs");
    assert!(py.status.success(), "{py:?}");
    assert_eq!(left(shm.path()), Vec::<String>::new(), "os._exit(0)");
}

/// Starts `ending MODE` and returns it with its pid once it said "ready".
fn start(bin: &Path, mode: &str, shm: &Path) -> (std::process::Child, u32) {
    let mut child = preloaded(Command::new(bin), shm)
        .arg(mode)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = ready_pid(&mut child);
    (child, pid)
}

/// The pid in the "ready PID" line an `ending` program (run by `child`) prints.
fn ready_pid(child: &mut std::process::Child) -> u32 {
    let line = first_line(child);
    line.trim().strip_prefix("ready ").unwrap().parse().unwrap()
}

#[test]
fn a_killed_and_a_crashed_process_keep_their_segments_for_postmortem() {
    let build = tempfile::tempdir().unwrap();
    let bin = compile_c("ending", build.path(), &[]);
    let shm = shm_dir();
    let (mut killed, kpid) = start(&bin, "wait", shm.path());
    let _ = killed.kill();
    let _ = killed.wait();
    let (mut crashed, cpid) = start(&bin, "segv", shm.path());
    let status = crashed.wait().unwrap();
    assert!(!status.success(), "{status:?}");
    for pid in [kpid, cpid] {
        let path = shm.path().join(format!("slabscope.{pid}"));
        let snap = SegmentReader::open(&path)
            .and_then(|r| r.snapshot())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(snap.pid, pid);
        assert!(
            common::live_bytes(&snap) > 0,
            "pid {pid}: its blocks still show"
        );
        if let Some(inspect) = common::inspector() {
            let out = run_ok(
                Command::new(inspect)
                    .arg("--postmortem")
                    .arg(&path)
                    .args(["--once", "--json"]),
            );
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(doc["pid"].as_u64(), Some(u64::from(pid)), "{doc}");
            assert_eq!(doc["process"]["alive"], serde_json::Value::Null);
        }
    }
}

/// A process controls its command line: `alloc-inspect list` prints a kept segment's
/// command with its newline and escape sequence escaped, one line per process.
#[test]
fn list_escapes_control_characters_in_a_command_line() {
    let Some(inspect) = common::inspector() else {
        return;
    };
    let build = tempfile::tempdir().unwrap();
    let bin = compile_c("ending", build.path(), &[]);
    let shm = shm_dir();
    let mut crashed = preloaded(Command::new(&bin), shm.path())
        .args(["segv", "two\nlines\x1b[2J"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = ready_pid(&mut crashed);
    assert!(!crashed.wait().unwrap().success());
    let out = run_ok(
        Command::new(inspect)
            .arg("list")
            .env("SLABSCOPE_SHM_DIR", shm.path()),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains('\x1b'),
        "a raw escape reached the terminal: {text:?}"
    );
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with(&pid.to_string()))
        .collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert!(rows[0].ends_with("segv two\\nlines\\u{1b}[2J"), "{text}");
    assert_eq!(
        text.lines().count(),
        3,
        "header, the row, the STALE note: {text}"
    );
}

/// Writes `n` stale segments in `dir` for pids above `pid_max` (no process ever has
/// one), oldest first: the i-th last modified 600 - 60 i seconds ago. Returns their
/// pids and `pid_max`.
fn stale_segments(dir: &Path, n: u32) -> (Vec<u32>, u32) {
    let max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now();
    let gone: Vec<u32> = (1..=n).map(|i| max + i).collect();
    for (i, pid) in gone.iter().enumerate() {
        let p = dir.join(format!("slabscope.{pid}"));
        std::fs::write(&p, b"stale").unwrap();
        let age = std::time::Duration::from_secs(600 - 60 * i as u64);
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(now - age).unwrap();
    }
    (gone, max)
}

#[test]
fn kept_segments_are_bounded_oldest_first_and_others_are_untouched() {
    let build = tempfile::tempdir().unwrap();
    let bin = compile_c("ending", build.path(), &[]);
    let shm = shm_dir();
    // Ten stale segments of gone processes, oldest first, a live process's, a file
    // that only looks like one, and a symlink.
    let (gone, max) = stale_segments(shm.path(), 10);
    let (mut live, lpid) = start(&bin, "wait", shm.path());
    std::fs::write(shm.path().join("slabscope.notes"), b"not a segment").unwrap();
    std::os::unix::fs::symlink(
        "/dev/null",
        shm.path().join(format!("slabscope.{}", max + 99)),
    )
    .unwrap();
    // A process creating its segment keeps the 3 newest gone ones.
    run_ok(preloaded(Command::new(&bin), shm.path()).env("SLABSCOPE_KEEP", "3"));
    let mut want: Vec<String> = gone[7..].iter().map(|p| format!("slabscope.{p}")).collect();
    want.push(format!("slabscope.{lpid}"));
    want.push(format!("slabscope.{}", max + 99));
    want.push("slabscope.notes".into());
    want.sort();
    assert_eq!(left(shm.path()), want);
    let _ = live.kill();
    let _ = live.wait();
}

/// The bound at its edge, in a tmpfs directory (where a directory that cannot hold too
/// many kept segments is counted, not listed): four kept segments and the new
/// process's own stay under `SLABSCOPE_KEEP=4`; under `SLABSCOPE_KEEP=3` the oldest goes.
#[test]
fn the_bound_holds_at_its_edge() {
    let build = tempfile::tempdir().unwrap();
    let bin = compile_c("ending", build.path(), &[]);
    let shm = tempfile::Builder::new()
        .prefix("slabscope-preload-")
        .tempdir_in("/dev/shm")
        .unwrap();
    let (gone, _) = stale_segments(shm.path(), 4);
    let names = |g: &[u32]| -> Vec<String> { g.iter().map(|p| format!("slabscope.{p}")).collect() };
    run_ok(preloaded(Command::new(&bin), shm.path()).env("SLABSCOPE_KEEP", "4"));
    assert_eq!(
        left(shm.path()),
        names(&gone),
        "four kept under a bound of four"
    );
    run_ok(preloaded(Command::new(&bin), shm.path()).env("SLABSCOPE_KEEP", "3"));
    assert_eq!(
        left(shm.path()),
        names(&gone[1..]),
        "the oldest of four goes under three"
    );
}

/// With many live processes' segments in the directory, the bound holds as with few,
/// and none of theirs is touched.
#[test]
fn among_many_live_segments_the_bound_holds_and_none_of_them_is_touched() {
    let build = tempfile::tempdir().unwrap();
    let bin = compile_c("ending", build.path(), &[]);
    let shm = shm_dir();
    // Forty live processes, each with a file where its segment would be.
    let live: Vec<Killed> = (0..40)
        .map(|_| Killed(Command::new("sleep").arg("60").spawn().unwrap()))
        .collect();
    for k in &live {
        std::fs::write(shm.path().join(format!("slabscope.{}", k.0.id())), b"live").unwrap();
    }
    // Six segments of gone processes, oldest first.
    let (gone, _) = stale_segments(shm.path(), 6);
    run_ok(preloaded(Command::new(&bin), shm.path()).env("SLABSCOPE_KEEP", "2"));
    let mut want: Vec<String> = gone[4..].iter().map(|p| format!("slabscope.{p}")).collect();
    want.extend(live.iter().map(|k| format!("slabscope.{}", k.0.id())));
    want.sort();
    assert_eq!(left(shm.path()), want);
}

#[test]
fn a_short_process_segment_costs_at_most_256_kib() {
    let build = tempfile::tempdir().unwrap();
    let bin = compile_c("ending", build.path(), &[]);
    let shm = shm_dir();
    let (mut child, pid) = start(&bin, "wait", shm.path());
    let path = shm.path().join(format!("slabscope.{pid}"));
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&path).unwrap();
    let allocated = meta.blocks() * 512;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let shmem_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssShmem:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        meta.len() > 1 << 20,
        "the segment's tables are laid out whole: {} bytes",
        meta.len()
    );
    assert!(
        allocated <= 256 << 10,
        "{} KiB of tmpfs for a short process",
        allocated >> 10
    );
    assert!(shmem_kib <= 256, "{shmem_kib} KiB of shared RSS");
}

#[test]
fn a_program_name_publishes_from_that_program_only() {
    let build = tempfile::tempdir().unwrap();
    let bin = compile_c("ending", build.path(), &[]);
    let shm = shm_dir();
    // The shell allocates and stays (the command is not its last), its child publishes.
    let script = format!("{} wait; true", bin.display());
    let mut sh = preloaded(Command::new("sh"), shm.path())
        .args(["-c", &script])
        .env("SLABSCOPE_PUBLISH", "ending")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = ready_pid(&mut sh);
    assert_eq!(
        left(shm.path()),
        [format!("slabscope.{pid}")],
        "only `ending`'s"
    );
    run_ok(Command::new("kill").arg(pid.to_string()));
    let _ = sh.wait();
}

/// `SLABSCOPE_PUBLISH_AFTER_MS` (docs/ENV.md): the segment appears at the first slow path
/// once the process has run that long, showing what it holds; a process that crashes
/// before then has none; running out of memory creates it at once.
#[test]
fn a_segment_put_off_appears_later_unless_the_process_ends_or_runs_out_of_memory() {
    let build = tempfile::tempdir().unwrap();
    let bin = compile_c("ending", build.path(), &[]);
    let shm = shm_dir();
    let put_off = |mode: &str, ms: &str| {
        let mut cmd = preloaded(Command::new(&bin), shm.path());
        cmd.env("SLABSCOPE_PUBLISH_AFTER_MS", ms).arg(mode);
        cmd
    };

    // Created at last, not before the delay, and showing the 64 blocks kept at start.
    // The delay runs on the coarse clock, which lags the precise one by up to a tick.
    let before = slabscope_proto::coarse_monotonic_ns();
    let mut churn = Killed(
        put_off("churn", "300")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = ready_pid(&mut churn.0);
    let path = shm.path().join(format!("slabscope.{pid}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let snap = loop {
        let seen = SegmentReader::open(&path).and_then(|r| r.snapshot());
        match seen {
            Ok(s) if common::live_bytes(&s) > 0 => break s,
            _ if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => panic!("no segment with live blocks after 30 s: {other:?}"),
        }
    };
    drop(churn);
    assert!(
        snap.start_mono_ns >= before + 300_000_000,
        "created {} ms after the spawn",
        snap.start_mono_ns.saturating_sub(before) / 1_000_000
    );
    let kept: u64 = (0..64).map(|i| 24 + 8 * i).sum();
    assert!(
        common::live_bytes(&snap) >= kept,
        "the blocks allocated before the segment existed show: {}",
        common::live_bytes(&snap)
    );

    // A crash before the delay leaves nothing: no segment was made.
    let crashed = put_off("segv", "60000").output().unwrap();
    assert!(!crashed.status.success(), "{crashed:?}");
    let mut want = vec![format!("slabscope.{pid}")];
    assert_eq!(
        left(shm.path()),
        want,
        "the crashed process made no segment"
    );

    // Out of memory: the segment is made at once, and kept with the report.
    let oom = run_ok(put_off("oom", "60000").env("SLABSCOPE_LIMIT", "16M"));
    let opid = String::from_utf8_lossy(&oom.stdout)
        .trim()
        .strip_prefix("ready ")
        .unwrap()
        .parse::<u32>()
        .unwrap();
    want.push(format!("slabscope.{opid}"));
    want.sort();
    assert_eq!(left(shm.path()), want, "the OOM keeps its segment");
    let snap = SegmentReader::open(&shm.path().join(format!("slabscope.{opid}")))
        .and_then(|r| r.snapshot())
        .unwrap();
    assert!(snap.flags.oom, "{:?}", snap.flags);
    let report = snap.oom.as_ref().expect("the OOM report");
    assert_eq!(report.request_bytes, 256 << 20);
    assert_eq!(report.ring_seq, Some(0), "its event is the ring's first");
    assert!(
        !snap.superslabs.is_empty() && !snap.threads.is_empty(),
        "the SuperSlabs and the thread that failed are in it: {} and {}",
        snap.superslabs.len(),
        snap.threads.len()
    );
}

/// A child killed and reaped when dropped, so that a failed assertion does not leave it
/// running.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
