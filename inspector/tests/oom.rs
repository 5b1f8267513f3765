//! Post-mortem of a process that ran out of memory: the `oom` workload (examples/oom)
//! runs on slabscope in a child of this test binary under `SLABSCOPE_LIMIT`, then is
//! killed with SIGKILL (or exits with status 2, as the example does). Its segment stays,
//! and `alloc-inspect --postmortem FILE --once --json` reads it, OOM report included;
//! the text screen of the same file opens on the OOM view. A killed process that never
//! ran out of memory leaves its segment too, with `"oom": null`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

mod support;
use support::BIN;
const CHILD: &str = "OOM_TEST_CHILD";
const SUPERSLAB: u64 = 2 << 20;

/// The child: `grow` runs the oom workload, `idle` only allocates a little; then it says
/// so on stdout and either exits with status 2 (`exit`) or waits to be killed.
#[test]
fn child_workload() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    if mode.starts_with("grow") {
        let out = slabscope_examples::oom::run(u64::MAX);
        println!("child: {out}");
        assert!(out.refused.is_some());
    } else {
        let v: Vec<Vec<u8>> = (0..1000).map(|i| vec![1u8; i % 900 + 1]).collect();
        println!("child: holding {} blocks", v.len());
        std::mem::forget(v);
    }
    println!("child: ready");
    if mode.ends_with("exit") {
        std::process::exit(2);
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

fn spawn(dir: &Path, mode: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "child_workload",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, mode)
        .env("SLABSCOPE_PUBLISH", "1")
        .env("SLABSCOPE_SHM_DIR", dir)
        .env("SLABSCOPE_LIMIT", "32M")
        .env("RUST_BACKTRACE", "0")
        .env_remove("SLABSCOPE_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the child's `ready` line; returns its stdout so far.
fn wait_ready(child: &mut Child) -> String {
    let mut out = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        out += &line;
        out.push('\n');
        if line == "child: ready" {
            return out;
        }
    }
    panic!("child ended before it was ready:\n{out}");
}

fn postmortem_json(path: &Path) -> serde_json::Value {
    support::inspect_json(
        &["--postmortem", path.to_str().unwrap(), "--once", "--json"],
        None,
    )
}

fn postmortem_text(path: &Path) -> String {
    let out = Command::new(BIN)
        .args(["--postmortem", path.to_str().unwrap(), "--once"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn segment_of(dir: &Path, child: &Child) -> PathBuf {
    dir.join(format!("slabscope.{}", child.id()))
}

/// What every OOM report of the workload must say, whether the child was killed or
/// exited.
fn check_report(v: &serde_json::Value) {
    let o = &v["oom"];
    assert!(o.is_object(), "no oom report: {v}");
    assert_eq!(o["cause"], "limit");
    assert_eq!(o["limit_bytes"], 32u64 << 20);
    assert_eq!(o["reports"], 1);
    let request = o["request_bytes"].as_u64().unwrap();
    assert!(
        slabscope_examples::oom::SIZES.contains(&(request as usize))
            || request == slabscope_examples::oom::LARGE as u64,
        "{o}"
    );
    let n = |k: &str| o[k].as_u64().unwrap();
    let class_bytes: u64 = o["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["live_bytes"].as_u64().unwrap()
                + c["cached_bytes"].as_u64().unwrap()
                + c["free_bytes"].as_u64().unwrap()
        })
        .sum();
    // One thread allocated: the bytes add up exactly.
    assert_eq!(
        n("mapped_bytes"),
        n("large_bytes") + n("superslabs") * SUPERSLAB,
        "{o}"
    );
    assert_eq!(
        n("superslabs") * SUPERSLAB,
        n("header_bytes") + n("unused_bytes") + n("tail_bytes") + class_bytes,
        "{o}"
    );
    assert!(
        n("large_bytes") >= 1 << 20,
        "the workload holds large blocks: {o}"
    );
    for size in slabscope_examples::oom::SIZES {
        let class = slabscope::size_class::class_of(size) as u64;
        let row = o["classes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["class"] == class)
            .unwrap_or_else(|| panic!("class {class} of {size} B missing: {o}"));
        assert!(row["live_bytes"].as_u64().unwrap() > 0, "{row}");
    }
    // The OOM event is among the events the file still holds.
    let seq = o["ring_seq"].as_u64().expect("ring_seq");
    let events = v["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["seq"] == seq && e["kind"] == "oom"),
        "OOM event #{seq} not found"
    );
    assert_eq!(v["totals"]["oom_count"].as_u64().unwrap(), n("reports"));
}

#[test]
fn a_process_killed_after_its_oom_leaves_the_report_for_the_postmortem() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn(dir.path(), "grow");
    let said = wait_ready(&mut child);
    assert!(said.contains("was refused: out of memory"), "{said}");
    let path = segment_of(dir.path(), &child);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(path.exists(), "the segment of a killed process stays");
    let v = postmortem_json(&path);
    check_report(&v);
    assert_eq!(v["process"]["alive"], serde_json::Value::Null);
    let screen = postmortem_text(&path);
    assert!(screen.contains("Out of memory (#1)"), "{screen}");
    assert!(
        screen.contains("SLABSCOPE_LIMIT 32.0 MiB reached"),
        "{screen}"
    );
    assert!(screen.contains("classes at the OOM"), "{screen}");
    assert!(screen.contains("events up to the OOM"), "{screen}");
}

#[test]
fn a_process_that_exits_after_its_oom_keeps_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn(dir.path(), "grow-exit");
    wait_ready(&mut child);
    let path = segment_of(dir.path(), &child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("slabscope: out of memory #1"), "{err}");
    assert!(
        path.exists(),
        "a process that ran out of memory keeps its segment at exit"
    );
    let v = postmortem_json(&path);
    check_report(&v);
    assert_eq!(
        v["process"]["command"].as_str().map(|c| c.is_empty()),
        Some(false)
    );
}

#[test]
fn a_killed_process_without_an_oom_reads_with_a_null_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn(dir.path(), "idle");
    wait_ready(&mut child);
    let path = segment_of(dir.path(), &child);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(path.exists());
    let v = postmortem_json(&path);
    assert_eq!(v["oom"], serde_json::Value::Null);
    assert!(v["totals"]["live_bytes"].as_u64().unwrap() > 0);
    let screen = postmortem_text(&path);
    assert!(!screen.contains("Out of memory"), "{screen}");
}
