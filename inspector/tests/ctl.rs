//! `alloc-inspect ctl` against a running demo workload (this binary's `__demo-child`,
//! the real allocator): settings flipped on and off again are acknowledged in the ring
//! with the values in force, `drain` and `trim` show their effect in the segment, and
//! malformed, oversized and foreign-owned control files are refused with an event and
//! change nothing. The settings take effect: with `sample=` on, sites appear in
//! `--once --json` `leaks`, and with `log=slabscope=debug` slow-path lines appear in the
//! workload's `SLABSCOPE_LOG_FILE`; after `sample=0` and `log=off` neither grows.
//!
//! The workload runs with `SLABSCOPE_EMPTY_CACHE=1024`, so it never returns a
//! SuperSlab to the OS by itself: every return seen is the `trim`'s doing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use alloc_inspect::ctl;
use slabscope_proto::event::{control_command as cmd, control_log_hash, ControlReason};
use slabscope_proto::{realtime_ns, Cursor, DrainReason, Event, EventKind, SegmentReader};

mod support;
use support::BIN;

struct Demo {
    child: Child,
    dir: tempfile::TempDir,
    reader: SegmentReader,
    cursor: Cursor,
    pending: Vec<Event>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(BIN)
            .args(["__demo-child", "--seconds", "120", "--threads", "2"])
            .args(["--phase-ms", "300"])
            .env("SLABSCOPE_PUBLISH", "1")
            .env("SLABSCOPE_SHM_DIR", dir.path())
            .env("SLABSCOPE_EMPTY_CACHE", "1024")
            .env("SLABSCOPE_LOG_FILE", dir.path().join("trace.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let seg = dir.path().join(format!("slabscope.{}", child.id()));
        let reader = support::wait_for_segment(&seg);
        let head = reader.snapshot().unwrap().ring.head;
        Self {
            child,
            dir,
            reader,
            cursor: Cursor::from_seq(head),
            pending: Vec::new(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn ctl(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("ctl")
            // Generous on a loaded machine; an answer normally comes within 100 ms.
            .args(["--timeout", "20000"])
            .arg(self.pid().to_string())
            .args(args)
            .env("SLABSCOPE_SHM_DIR", self.dir.path())
            .output()
            .unwrap()
    }

    /// Runs `ctl` and asserts it was accepted; returns its line.
    fn accepted(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "ctl {args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("accepted"), "{text}");
        text
    }

    /// Waits (bounded) for the next event matching `pred` and returns it; events before
    /// it are consumed, events after it are kept for the next call.
    fn next_event(&mut self, what: &str, pred: impl Fn(&EventKind) -> bool) -> EventKind {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(i) = self.pending.iter().position(|e| pred(&e.kind)) {
                let e = self.pending[i];
                self.pending.drain(..=i);
                return e.kind;
            }
            assert!(Instant::now() < deadline, "no {what} within 20 s");
            std::thread::sleep(Duration::from_millis(20));
            self.reader
                .poll_events(&mut self.cursor, usize::MAX, &mut self.pending);
        }
    }

    fn ack(&mut self) -> EventKind {
        self.next_event("control_ack", |k| matches!(k, EventKind::ControlAck { .. }))
    }

    /// `alloc-inspect <pid> --once --json`, parsed.
    fn once_json(&self) -> serde_json::Value {
        support::once_json(self.pid(), self.dir.path())
    }

    /// Bytes requested by every sampled allocation so far, over all sites.
    fn sampled_total(&self) -> u64 {
        let s = self.reader.snapshot().unwrap();
        s.sites.iter().map(|s| s.total_bytes).sum()
    }

    /// The workload's debug-tracing output so far (`SLABSCOPE_LOG_FILE`).
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("trace.log")).unwrap_or_default()
    }

    /// Waits (bounded) until `count` holds still for a second, then checks it stays so
    /// while the workload makes another 100,000 allocations; `what` names it.
    fn stays_still(&self, what: &str, count: impl Fn(&Self) -> u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let stopped = loop {
            let a = count(self);
            std::thread::sleep(Duration::from_secs(1));
            if count(self) == a {
                break a;
            }
            assert!(Instant::now() < deadline, "{what} still grows after 30 s");
        };
        let allocs = self.allocs();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.allocs() < allocs + 100_000 {
            assert!(Instant::now() < deadline, "the workload stopped allocating");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(count(self), stopped, "{what} grew again");
    }

    /// Allocations made so far, over all classes.
    fn allocs(&self) -> u64 {
        let s = self.reader.snapshot().unwrap();
        s.classes.iter().map(|c| c.counters.allocs).sum()
    }

    /// Waits (bounded) until the header publishes `bytes` as the sampling interval.
    fn wait_interval(&self, bytes: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.reader.snapshot().unwrap().sample_interval_bytes != bytes {
            assert!(
                Instant::now() < deadline,
                "the header never published a sampling interval of {bytes}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ctl_path(&self) -> PathBuf {
        ctl::ctl_path(&self.dir.path().join(format!("slabscope.{}", self.pid())))
    }
}

/// The settings an acknowledgement says are in force.
fn in_force(ack: &EventKind) -> (u64, u64) {
    match *ack {
        EventKind::ControlAck {
            sample_bytes,
            log_hash,
            ..
        } => (sample_bytes, log_hash),
        _ => unreachable!(),
    }
}

fn refusal(ack: &EventKind) -> ControlReason {
    match *ack {
        EventKind::ControlAck {
            accepted: false,
            reason,
            commands: 0,
            trimmed: 0,
            ..
        } => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn write_raw(path: &Path, body: &[u8], owner: Option<u32>) {
    ctl::write_atomically(path, body, owner).unwrap();
}

#[test]
fn ctl_flips_settings_drains_and_trims_and_bad_files_change_nothing() {
    let mut d = Demo::start();
    let on = control_log_hash(b"slabscope=debug");

    // Tracing and sampling on (the workload starts without SLABSCOPE_SAMPLE).
    assert_eq!(d.sampled_total(), 0, "nothing is sampled before");
    assert_eq!(d.reader.snapshot().unwrap().sample_interval_bytes, 0);
    assert_eq!(d.log(), "", "no tracing before (SLABSCOPE_LOG unset)");
    let line = d.accepted(&["log=slabscope=debug", "sample=524288"]);
    assert!(line.contains("sampling every 524288 bytes"), "{line}");
    assert!(line.contains("log filter slabscope=debug"), "{line}");
    let ack = d.ack();
    assert!(matches!(
        ack,
        EventKind::ControlAck {
            accepted: true,
            commands,
            ..
        } if commands == cmd::LOG | cmd::SAMPLE
    ));
    assert_eq!(in_force(&ack), (524288, on));

    // The effect: the workload (started without SLABSCOPE_SAMPLE) now samples, publishes
    // the interval, and its sites show in the inspector's leaks.
    d.wait_interval(524288);
    let deadline = Instant::now() + Duration::from_secs(30);
    let leaks = loop {
        let v = d.once_json();
        let leaks = v["leaks"].as_array().cloned().unwrap_or_default();
        if !leaks.is_empty() {
            break leaks;
        }
        assert!(
            Instant::now() < deadline,
            "no sampled site in --once --json leaks within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(leaks.iter().all(|l| l["live_bytes"].as_u64() >= Some(1)));
    assert!(d.sampled_total() > 0);
    // And tracing: slow-path events appear in the workload's log file.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !d.log().contains(" slabscope::") {
        assert!(
            Instant::now() < deadline,
            "no slabscope debug line in SLABSCOPE_LOG_FILE within 30 s:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Drain: every thread drains all its magazines at its next interval drain,
    // which shows as drains with the reason "requested" (the demo never asks for one).
    d.accepted(&["drain"]);
    assert!(
        matches!(d.ack(), EventKind::ControlAck { accepted: true, commands, .. } if commands == cmd::DRAIN)
    );
    d.next_event("a requested drain", |k| {
        matches!(
            k,
            EventKind::MagazineDrain {
                reason: DrainReason::Requested,
                ..
            }
        )
    });

    // Trim: wait for empty SuperSlabs in the cache (the release phase), then return them.
    // The workload may take a cached SuperSlab back before its next poll acts on the
    // file (a slot acquire reuses the cache), so a trim that found the cache empty is
    // tried again, after a drain, up to 30 times.
    let mut tries = 0;
    let (line, trimmed) = loop {
        if tries > 0 {
            // A requested drain retires every thread's idle slots at once, which
            // empties the SuperSlabs that only idle slots kept.
            d.accepted(&["drain"]);
            d.ack();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let before = loop {
            let s = d.reader.snapshot().unwrap();
            if s.totals.superslabs_cached > 0 {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "no SuperSlab cached within 30 s (after {tries} trims): {:?}",
                s.totals
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        if tries == 0 {
            assert_eq!(
                before.totals.superslabs_returned_total, 0,
                "with SLABSCOPE_EMPTY_CACHE=1024 nothing returns by itself"
            );
        }
        let line = d.accepted(&["trim"]);
        let EventKind::ControlAck { trimmed, .. } = d.ack() else {
            unreachable!()
        };
        tries += 1;
        if trimmed > 0 || tries == 30 {
            break (line, trimmed);
        }
    };
    assert!(trimmed > 0, "{line} ({tries} tries)");
    let after = d.reader.snapshot().unwrap();
    assert!(after.totals.superslabs_returned_total >= trimmed);

    // Malformed through ctl: refused, exit 1, the bad command named.
    let out = d.ctl(&["drain", "sample=lots"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("refused") && text.contains("bad value") && text.contains("sample=lots"),
        "{text}"
    );
    let ack = d.ack();
    assert_eq!(refusal(&ack), ControlReason::BadValue);
    assert_eq!(in_force(&ack), (524288, on), "nothing changed");
    // Oversized, written directly.
    let mut big = format!("seq={}\nsample=0\n", realtime_ns()).into_bytes();
    big.resize(64 << 10, b'\n');
    write_raw(&d.ctl_path(), &big, None);
    let ack = d.ack();
    assert_eq!(refusal(&ack), ControlReason::TooLarge);
    assert_eq!(in_force(&ack), (524288, on), "nothing changed");
    // Owned by another user: ignored (making one needs root).
    if alloc_inspect::procfs::my_uid() == Some(0) {
        let body = format!("seq={}\nsample=0\nlog=off\n", realtime_ns());
        write_raw(&d.ctl_path(), body.as_bytes(), Some(65534));
        let ack = d.ack();
        assert_eq!(refusal(&ack), ControlReason::NotOwner);
        assert_eq!(in_force(&ack), (524288, on), "nothing changed");
    } else {
        println!("not root: the foreign-owner case needs chown and is covered as root");
    }

    // And off again.
    let line = d.accepted(&["log=off", "sample=0"]);
    assert!(line.contains("sampling off") && line.contains("log filter off"));
    assert_eq!(in_force(&d.ack()), (0, control_log_hash(b"off")));
    // The effect: once every thread has followed (the figure holds still for a second),
    // no sample is taken and no log line written while the workload keeps allocating.
    d.wait_interval(0);
    d.stays_still("the total of sampled bytes", Demo::sampled_total);
    d.stays_still("the log", |d| d.log().len() as u64);
    // ctl removed its own control file.
    assert!(!d.ctl_path().exists());

    // The TUI's S key toggles by the latest acknowledgement: sampling is off, so on.
    let seen = [Event {
        seq: 0,
        time_ns: 0,
        thread: 0,
        kind: EventKind::ControlAck {
            seq: 1,
            accepted: true,
            commands: cmd::SAMPLE,
            reason: ControlReason::Accepted,
            line: 0,
            sample_bytes: 0,
            log_hash: control_log_hash(b"off"),
            trimmed: 0,
        },
    }];
    let segment = d.dir.path().join(format!("slabscope.{}", d.pid()));
    let sent = ctl::send_key(
        ctl::ControlKey::ToggleSample,
        d.pid(),
        &segment,
        seen.iter(),
    );
    assert_eq!(sent.unwrap(), format!("sample={}", ctl::TUI_SAMPLE_BYTES));
    assert_eq!(
        in_force(&d.ack()),
        (ctl::TUI_SAMPLE_BYTES, control_log_hash(b"off"))
    );
}

#[test]
fn ctl_reports_a_missing_process_and_needs_a_command() {
    let out = Command::new(BIN)
        .args(["ctl", &((1u32 << 22) + 17).to_string(), "drain"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no process"));
    let out = Command::new(BIN).args(["ctl", "1"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0), "a command is required");
}
