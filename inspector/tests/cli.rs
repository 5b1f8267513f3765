//! The built binary against real segments in a private SLABSCOPE_SHM_DIR: JSON
//! output, post-mortem files, list and gc, and every error that must be one clear line
//! with exit code 1 (missing pid, no segment, corrupt file, wrong major, symlink).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use alloc_inspect::segment;
use alloc_inspect::synthetic::Synthetic;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_alloc-inspect");

fn inspect(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("SLABSCOPE_SHM_DIR", dir)
        .stdin(Stdio::null())
        .output()
        .expect("run alloc-inspect")
}

/// A process that just sleeps: a live pid owned by us, killed on drop.
struct Sleeper(Child);

impl Sleeper {
    fn start() -> Self {
        Sleeper(
            Command::new("sleep")
                .arg("60")
                .spawn()
                .expect("spawn sleep"),
        )
    }
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn one_error_line(out: &Output, needle: &str) {
    assert_eq!(
        out.status.code(),
        Some(1),
        "exit code; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("alloc-inspect: "), "{err:?}");
    assert!(err.contains(needle), "{err:?} should say {needle:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn once_json_reads_a_live_segment() {
    let dir = tempfile::tempdir().unwrap();
    let target = Sleeper::start();
    let syn = Synthetic::default();
    let _w = segment::write(dir.path(), target.pid(), &syn, 5).unwrap();
    let out = inspect(dir.path(), &[&target.pid().to_string(), "--once", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["pid"], target.pid());
    assert_eq!(
        v["segment_protocol"].as_str().map(|p| p.starts_with("1.")),
        Some(true)
    );
    assert_eq!(v["classes"].as_array().unwrap().len(), 12);
    assert!(v["totals"]["live_bytes"].as_u64().unwrap() > 0);
    assert!(
        v["process"]["rss_bytes"].as_u64().unwrap() > 0,
        "RSS from /proc"
    );
    assert_eq!(v["process"]["alive"], true);
    assert_eq!(v["superslabs"].as_array().unwrap().len(), 6);
    assert_eq!(v["threads"].as_array().unwrap().len(), 4);
    assert_eq!(v["events"].as_array().unwrap().len(), 256);
    assert_eq!(v["gpu"].as_array().unwrap().len(), 0);

    // Without --json, one text screen.
    let out = inspect(dir.path(), &[&target.pid().to_string(), "--once"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("fragmentation"), "{text}");
}

#[test]
fn postmortem_file_combines_with_once_json() {
    let dir = tempfile::tempdir().unwrap();
    // A pid that is certainly gone: a child that already exited.
    let mut c = Command::new("true").spawn().unwrap();
    let dead = c.id();
    c.wait().unwrap();
    let _w = segment::write(
        dir.path(),
        dead,
        &Synthetic {
            gpu: true,
            ..Default::default()
        },
        1,
    )
    .unwrap();
    let file = dir.path().join(format!("slabscope.{dead}"));
    let out = inspect(
        dir.path(),
        &["--postmortem", file.to_str().unwrap(), "--once", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pid"], dead);
    assert_eq!(v["process"]["rss_bytes"], Value::Null);
    assert_eq!(v["gpu"][0]["buckets"].as_array().unwrap().len(), 10);

    // Attaching to the dead pid points at --postmortem.
    let out = inspect(dir.path(), &[&dead.to_string(), "--once", "--json"]);
    one_error_line(&out, "--postmortem");

    // list marks it stale; gc removes it and only it.
    let live = Sleeper::start();
    let _w2 = segment::write(dir.path(), live.pid(), &Synthetic::default(), 1).unwrap();
    let out = inspect(dir.path(), &["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    let line = |pid: u32| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&pid.to_string()))
            .unwrap_or("")
            .to_string()
    };
    assert!(line(dead).contains("STALE"), "{text}");
    assert!(
        line(live.pid()).contains("live") && line(live.pid()).contains("MiB"),
        "{text}"
    );
    // The same in list --json (schema 1).
    let out = inspect(dir.path(), &["list", "--json"]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], 1);
    let seg = |pid: u32| {
        v["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["pid"] == pid)
            .cloned()
            .unwrap_or_else(|| panic!("no pid {pid} in {v}"))
    };
    assert_eq!(seg(dead)["state"], "stale");
    let l = seg(live.pid());
    assert_eq!(l["state"], "live");
    assert_eq!(l["error"], Value::Null);
    assert!(l["mapped_bytes"].as_u64().unwrap() > 0, "{l}");
    assert!(l["path"]
        .as_str()
        .unwrap()
        .ends_with(&format!("slabscope.{}", live.pid())));
    let out = inspect(dir.path(), &["gc"]);
    assert!(out.status.success());
    assert!(!file.exists());
    assert!(dir
        .path()
        .join(format!("slabscope.{}", live.pid()))
        .exists());
}

#[test]
fn a_segment_whose_pid_came_round_again_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    // A live process of ours, and a segment with its pid made a minute before it
    // started: what a crashed process leaves once its pid is given to a newer one.
    let newer = Sleeper::start();
    let pid = newer.pid();
    let w = segment::write(dir.path(), pid, &Synthetic::default(), 1).unwrap();
    let now = slabscope_proto::monotonic_ns();
    let minute = 60_000_000_000;
    assert!(
        now > 2 * minute,
        "this machine booted less than 2 minutes ago"
    );
    w.header()
        .start_mono_ns
        .store(now - minute, std::sync::atomic::Ordering::Relaxed);
    let file = dir.path().join(format!("slabscope.{pid}"));

    let out = inspect(dir.path(), &["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(&pid.to_string()))
        .unwrap_or("");
    assert!(line.contains("STALE"), "{text}");
    // Attaching says the writer is gone and points at --postmortem; so does ctl.
    one_error_line(
        &inspect(dir.path(), &[&pid.to_string(), "--once", "--json"]),
        "started after its segment was made",
    );
    one_error_line(
        &inspect(dir.path(), &["ctl", &pid.to_string(), "drain"]),
        "--postmortem",
    );
    // gc removes it and says why.
    let out = inspect(dir.path(), &["gc"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("pid {pid} now belongs to a newer process")),
        "{text}"
    );
    assert!(!file.exists());
    drop(newer);
}

#[test]
fn missing_pid_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    // Above the kernel's pid limit (2^22): never a process.
    one_error_line(
        &inspect(dir.path(), &["4194321", "--once", "--json"]),
        "no process with pid 4194321",
    );
    one_error_line(
        &inspect(dir.path(), &["4194321"]),
        "no process with pid 4194321",
    );
}

#[test]
fn process_without_segment_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let target = Sleeper::start();
    let out = inspect(dir.path(), &[&target.pid().to_string(), "--once", "--json"]);
    one_error_line(&out, "has no slabscope segment");
}

#[test]
fn corrupt_segment_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let target = Sleeper::start();
    let path = dir.path().join(format!("slabscope.{}", target.pid()));
    std::fs::write(&path, vec![0xA5u8; 4096]).unwrap();
    one_error_line(
        &inspect(dir.path(), &[&target.pid().to_string(), "--once", "--json"]),
        "segment",
    );
    one_error_line(
        &inspect(dir.path(), &["--postmortem", path.to_str().unwrap()]),
        "segment",
    );
    // A truncated real segment too.
    let other = tempfile::tempdir().unwrap();
    let w = segment::write(other.path(), 1234, &Synthetic::default(), 0).unwrap();
    let bytes = std::fs::read(other.path().join("slabscope.1234")).unwrap();
    drop(w);
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    one_error_line(
        &inspect(dir.path(), &["--postmortem", path.to_str().unwrap()]),
        "segment",
    );
}

#[test]
fn wrong_major_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let target = Sleeper::start();
    let src = tempfile::tempdir().unwrap();
    let w = segment::write(src.path(), target.pid(), &Synthetic::default(), 0).unwrap();
    let mut bytes = std::fs::read(src.path().join(format!("slabscope.{}", target.pid()))).unwrap();
    drop(w);
    // The version word (offset 8) is major << 16 | minor.
    bytes[8..12].copy_from_slice(&((2u32 << 16) | 3).to_le_bytes());
    let path = dir.path().join(format!("slabscope.{}", target.pid()));
    std::fs::write(&path, &bytes).unwrap();
    let out = inspect(dir.path(), &[&target.pid().to_string(), "--once", "--json"]);
    one_error_line(&out, "2.3");
    one_error_line(
        &inspect(dir.path(), &["--postmortem", path.to_str().unwrap()]),
        "2.3",
    );
}

#[test]
fn symlinked_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = Sleeper::start();
    let real = tempfile::tempdir().unwrap();
    let _w = segment::write(real.path(), target.pid(), &Synthetic::default(), 0).unwrap();
    let name = format!("slabscope.{}", target.pid());
    std::os::unix::fs::symlink(real.path().join(&name), dir.path().join(&name)).unwrap();
    let out = inspect(dir.path(), &[&target.pid().to_string(), "--once", "--json"]);
    one_error_line(&out, "symbolic link");
}

#[test]
fn bad_arguments_are_refused_by_the_parser() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["1", "--interval", "5"][..],
        &["1", "--json"],
        &["1", "--interval", "600001"],
        &["1", "list"],
        &["--once", "gc"],
        &["record", "1"],
    ] {
        let out = inspect(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    // No target: a usage error naming every command.
    let out = inspect(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for command in ["list", "gc", "demo", "export", "ctl", "record", "replay"] {
        assert!(err.contains(command), "{command}: {err}");
    }
}

#[test]
fn heap_errors_written_by_the_writer_reach_the_json_and_the_metrics() {
    use alloc_inspect::export::{scrape, Selection, Targets};
    let dir = tempfile::tempdir().unwrap();
    let live = Sleeper::start();
    let syn = Synthetic {
        heap_errors: true,
        ..Default::default()
    };
    // `segment::write` publishes each heap error with `SegmentWriter::heap_error`.
    let _w = segment::write(dir.path(), live.pid(), &syn, 1).unwrap();
    let out = inspect(dir.path(), &[&live.pid().to_string(), "--once", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["segment_protocol"], "1.4");
    let errors = v["heap_errors"].as_array().unwrap();
    let want = syn.snapshot(1).heap_errors;
    assert_eq!(errors.len(), want.len());
    for (j, e) in errors.iter().zip(&want) {
        assert_eq!(j["kind"], e.kind.name());
        assert_eq!(j["op"], e.op.name());
        assert_eq!(j["addr"], e.address);
        assert_eq!(j["tid"], e.thread);
        assert_eq!(j["time_ns"], e.time_ns);
    }
    assert_eq!(errors[1]["reason"], "interior");
    assert_eq!(errors[4]["class"], Value::Null);
    assert_eq!(errors[5]["large"], true);
    assert_eq!(
        v["heap_error_counts"],
        serde_json::json!({"double_free": 2, "invalid_free": 2, "write_after_free": 1, "overflow": 1})
    );
    let kinds: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "heap_error")
        .map(|e| e["error"].as_str().unwrap())
        .collect();
    // One ring event per heap error, written before the synthetic events (which hold
    // some heap error events of their own).
    assert_eq!(
        kinds[..want.len()],
        want.iter().map(|e| e.kind.name()).collect::<Vec<_>>(),
        "one ring event per heap error"
    );

    let text = scrape(&mut Targets::new(dir.path().to_path_buf(), Selection::All));
    for (kind, n) in [
        ("double_free", 2),
        ("invalid_free", 2),
        ("write_after_free", 1),
        ("overflow", 1),
    ] {
        let line = text
            .lines()
            .find(|l| {
                l.starts_with("slabscope_heap_errors_total{")
                    && l.contains(&format!("kind=\"{kind}\""))
            })
            .unwrap_or_else(|| panic!("no heap error sample of {kind} in\n{text}"));
        assert!(line.ends_with(&format!(" {n}")), "{line}");
    }
    assert!(
        text.contains("# TYPE slabscope_heap_errors counter"),
        "{text}"
    );
}

#[test]
fn a_process_that_puts_its_segment_off_is_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let target = Sleeper(
        Command::new("sleep")
            .arg("60")
            .env("SLABSCOPE_PUBLISH_AFTER_MS", "250")
            .env_remove("SLABSCOPE_PUBLISH")
            .env("SLABSCOPE_SHM_DIR", dir.path())
            .spawn()
            .expect("spawn sleep"),
    );
    let out = inspect(dir.path(), &[&target.pid().to_string(), "--once", "--json"]);
    one_error_line(
        &out,
        "yet: it started with SLABSCOPE_PUBLISH_AFTER_MS=250, which makes one at its first",
    );
}
