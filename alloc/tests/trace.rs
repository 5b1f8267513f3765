//! `SLABSCOPE_LOG`: a child process whose global allocator is SlabScope prints the
//! slow-path events it is asked for (SuperSlab map, slot acquire with its stage, drain,
//! large map) on stderr or into `SLABSCOPE_LOG_FILE`; unset, it prints nothing; a bad
//! filter is reported once and tracing stays off.

mod common;

use std::process::Command;

use slabscope::raw;

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

/// Runs test `name` of this binary in a child with `env`; returns its stderr.
fn child_stderr(name: &str, env: &[(&str, &str)]) -> String {
    let dir = common::shm_dir();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(common::CHILD_MARKER, "1")
        .env("SLABSCOPE_PUBLISH", "1")
        .env("SLABSCOPE_SHM_DIR", dir.path())
        .env_remove("SLABSCOPE_LOG")
        .env_remove("SLABSCOPE_LOG_FILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{name}: {stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    stderr
}

/// Slow paths of every kind: refills in several classes (new SuperSlabs, slots),
/// frees and drains, a large allocation, a thread that exits.
fn workload() {
    let mut v: Vec<Vec<u8>> = Vec::new();
    for i in 0..6000 {
        v.push(vec![i as u8; [24, 100, 1000, 3000, 20000][i % 5]]);
    }
    let big = vec![7u8; 3 << 20];
    v.truncate(100);
    raw::drain_thread();
    std::thread::spawn(|| (0..2000).map(|i| vec![1u8; i % 700].len()).sum::<usize>())
        .join()
        .unwrap();
    assert_eq!(big[12345], 7);
}

#[test]
fn child_workload() {
    if common::in_child() {
        workload();
    }
}

fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn log_on_prints_the_slow_path_events() {
    if common::in_child() {
        return;
    }
    let err = child_stderr(
        "child_workload",
        &[
            ("SLABSCOPE_LOG", "slabscope=trace"),
            ("SLABSCOPE_DRAIN_INTERVAL", "64"),
        ],
    );
    let maps = lines_with(&err, "slabscope::superslab: map");
    assert!(!maps.is_empty(), "no SuperSlab map line:\n{err}");
    assert!(maps[0].contains("superslab=0x") && maps[0].contains("mapped_bytes="));
    let acquires = lines_with(&err, "slabscope::slot: acquire");
    assert!(
        acquires.iter().any(|l| l.contains("stage=3")),
        "no stage-3 acquire:\n{err}"
    );
    assert!(acquires.iter().any(|l| l.contains("stage=2")), "{err}");
    assert!(acquires
        .iter()
        .all(|l| l.contains(" DEBUG ") && l.contains("class=")));
    let drains = lines_with(&err, "slabscope::drain: drain");
    assert!(!drains.is_empty(), "no drain line:\n{err}");
    assert!(drains
        .iter()
        .all(|l| l.contains(" TRACE ") && l.contains("blocks=")));
    let large = lines_with(&err, "slabscope::large: map");
    assert!(
        large
            .iter()
            .any(|l| l.contains(&format!("bytes={}", 3 << 20))),
        "no large map line:\n{err}"
    );
}

#[test]
fn a_filter_selects_targets_and_levels() {
    if common::in_child() {
        return;
    }
    let err = child_stderr(
        "child_workload",
        &[(
            "SLABSCOPE_LOG",
            "slabscope::large=debug,slabscope::superslab=debug",
        )],
    );
    assert!(
        !lines_with(&err, "slabscope::large: map").is_empty(),
        "{err}"
    );
    assert!(
        !lines_with(&err, "slabscope::superslab: map").is_empty(),
        "{err}"
    );
    assert!(lines_with(&err, "slabscope::slot").is_empty(), "{err}");
    assert!(lines_with(&err, "slabscope::drain").is_empty(), "{err}");
}

#[test]
fn log_off_prints_nothing() {
    if common::in_child() {
        return;
    }
    for env in [&[][..], &[("SLABSCOPE_LOG", "off")][..]] {
        let err = child_stderr("child_workload", env);
        assert!(!err.contains("slabscope"), "{env:?}: {err}");
    }
}

#[test]
fn log_file_receives_the_lines() {
    if common::in_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trace.log");
    let err = child_stderr(
        "child_workload",
        &[
            ("SLABSCOPE_LOG", "slabscope=debug"),
            ("SLABSCOPE_LOG_FILE", file.to_str().unwrap()),
        ],
    );
    assert!(!err.contains("slabscope::"), "stderr stays clean: {err}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !lines_with(&text, "slabscope::slot: acquire").is_empty(),
        "{text}"
    );
    assert!(
        lines_with(&text, "slabscope::drain: drain").is_empty(),
        "debug has no drains"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_bad_filter_is_reported_once_and_tracing_stays_off() {
    if common::in_child() {
        return;
    }
    let err = child_stderr("child_workload", &[("SLABSCOPE_LOG", "slabscope=loud")]);
    let said = lines_with(&err, "slabscope: ignoring SLABSCOPE_LOG=slabscope=loud");
    assert_eq!(said.len(), 1, "{err}");
    // The option grammar refuses the level; the default (off) stays.
    assert!(said[0].ends_with("using the default"), "{err}");
    assert!(!err.contains("slabscope::"), "{err}");
}

/// The child of `a_control_log_filter_turns_tracing_on`: asks for a filter through its
/// own control file, frees until the interval drain has acknowledged it, then maps a
/// large block.
#[test]
fn child_controlled() {
    if !common::in_child() {
        return;
    }
    let r = common::open_own();
    let seq = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let ctl = common::own_segment().with_file_name(format!("slabscope.{}.ctl", std::process::id()));
    let tmp = ctl.with_extension("tmp");
    std::fs::write(&tmp, format!("seq={seq}\nlog=slabscope::large=debug\n")).unwrap();
    std::fs::rename(&tmp, &ctl).unwrap();
    let acked = |r: &slabscope_proto::SegmentReader| {
        common::all_events(r).iter().any(|e| {
            matches!(
                e.kind,
                slabscope_proto::EventKind::ControlAck { accepted: true, .. }
            )
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !acked(&r) {
        assert!(std::time::Instant::now() < deadline, "no control_ack");
        let v: Vec<Vec<u8>> = (0..500).map(|i| vec![1u8; i % 300 + 1]).collect();
        drop(v);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // More frees: the interval drain after the acknowledgement turns tracing on.
    for _ in 0..4 {
        let v: Vec<Vec<u8>> = (0..500).map(|i| vec![1u8; i % 300 + 1]).collect();
        drop(v);
    }
    let big = vec![3u8; 5 << 20];
    assert_eq!(big[77], 3);
}

#[test]
fn a_control_log_filter_turns_tracing_on() {
    if common::in_child() {
        return;
    }
    let err = child_stderr("child_controlled", &[("SLABSCOPE_DRAIN_INTERVAL", "64")]);
    let large = lines_with(&err, "slabscope::large: map");
    assert!(
        large
            .iter()
            .any(|l| l.contains(&format!("bytes={}", 5 << 20))),
        "no large map line after log= through the control channel:\n{err}"
    );
    assert!(lines_with(&err, "slabscope::slot").is_empty(), "{err}");
}

/// Threads alive at once in the many-threads child: more than the event buffers (64).
const MANY: usize = 100;

/// Each of [`MANY`] live threads makes a large allocation (a traced large map), all
/// while every one of them is alive.
#[test]
fn child_many_threads() {
    if !common::in_child() {
        return;
    }
    let all = std::sync::Arc::new(std::sync::Barrier::new(MANY));
    let threads: Vec<_> = (0..MANY)
        .map(|i| {
            let all = all.clone();
            std::thread::spawn(move || {
                all.wait();
                let big = vec![i as u8; 1 << 20];
                all.wait();
                big.len()
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// More threads than the trace's event buffers, all alive and tracing: every thread's
/// event is written (a buffer is held only from a slow path's capture to its flush).
#[test]
fn every_thread_of_many_is_traced() {
    if common::in_child() {
        return;
    }
    let err = child_stderr(
        "child_many_threads",
        &[("SLABSCOPE_LOG", "slabscope::large=debug")],
    );
    // Every allocation is live while the others are made: none reuses a cached mapping.
    let maps = lines_with(&err, "slabscope::large: map");
    assert!(
        maps.len() >= MANY,
        "{} large map lines for {MANY} threads:\n{err}",
        maps.len()
    );
    assert!(!err.contains("not traced"), "{err}");
}
