//! The control channel inside one process: a control file beside the segment is acted on
//! whole from the interval drain and acknowledged in the ring; malformed, oversized,
//! stale, linked and foreign-owned files are refused with an event and change nothing.
//!
//! Everything runs in one re-executed child (the channel's state is process-wide), with
//! a short drain interval so that the slow path that polls comes round quickly.

mod common;

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use slabscope::control;
use slabscope_proto::event::{control_command as cmd, control_log_hash, ControlReason};
use slabscope_proto::{realtime_ns, Cursor, DrainReason, Event, EventKind, SegmentReader};

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

fn ctl_path() -> PathBuf {
    let dir = std::env::var_os("SLABSCOPE_SHM_DIR").unwrap();
    Path::new(&dir).join(format!("slabscope.{}.ctl", std::process::id()))
}

/// Writes the control file as the inspector does: a fresh 0600 file, renamed over it.
fn write_ctl(body: &[u8]) {
    let path = ctl_path();
    let tmp = path.with_extension("ctl.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .unwrap();
    std::io::Write::write_all(&mut f, body).unwrap();
    drop(f);
    std::fs::rename(&tmp, &path).unwrap();
}

fn new_seq() -> u64 {
    realtime_ns()
}

/// Frees enough blocks to run interval drains until the next `control_ack` arrives.
struct Watch {
    reader: SegmentReader,
    cursor: Cursor,
    seen: Vec<Event>,
}

impl Watch {
    fn new() -> Self {
        let reader = common::open_own();
        let head = reader.snapshot().unwrap().ring.head;
        Self {
            reader,
            cursor: Cursor::from_seq(head),
            seen: Vec::new(),
        }
    }

    /// Churns until a control ack shows up; returns it and keeps every event seen.
    fn next_ack(&mut self) -> EventKind {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            churn();
            let start = self.seen.len();
            self.reader
                .poll_events(&mut self.cursor, usize::MAX, &mut self.seen);
            if let Some(e) = self.seen[start..]
                .iter()
                .find(|e| matches!(e.kind, EventKind::ControlAck { .. }))
            {
                return e.kind;
            }
            assert!(Instant::now() < deadline, "no control_ack within 20 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Churns for longer than the poll interval and asserts no ack came.
    fn no_ack(&mut self) {
        let until = Instant::now() + Duration::from_nanos(3 * control::POLL_INTERVAL_NS);
        while Instant::now() < until {
            churn();
            std::thread::sleep(Duration::from_millis(5));
        }
        churn();
        let start = self.seen.len();
        self.reader
            .poll_events(&mut self.cursor, usize::MAX, &mut self.seen);
        assert!(
            !self.seen[start..]
                .iter()
                .any(|e| matches!(e.kind, EventKind::ControlAck { .. })),
            "a control_ack where none was due"
        );
    }
}

fn churn() {
    let v: Vec<Box<[u8; 64]>> = (0..256).map(|_| Box::new([7u8; 64])).collect();
    drop(std::hint::black_box(v));
}

fn refused(ack: EventKind) -> (ControlReason, u16) {
    match ack {
        EventKind::ControlAck {
            accepted: false,
            reason,
            line,
            commands: 0,
            ..
        } => (reason, line),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Maps SuperSlabs and empties them, so that the cache holds some (EMPTY_CACHE is high).
fn fill_superslab_cache() {
    let v: Vec<Box<[u8; 1024]>> = (0..16 * 1024).map(|_| Box::new([1u8; 1024])).collect();
    drop(v);
    slabscope::raw::drain_thread();
}

#[test]
fn control_files_are_acted_on_whole_or_refused_whole() {
    if common::respawned(
        "control_files_are_acted_on_whole_or_refused_whole",
        &[
            ("SLABSCOPE_DRAIN_INTERVAL", "64"),
            ("SLABSCOPE_EMPTY_CACHE", "1024"),
        ],
    ) {
        return;
    }
    let mut w = Watch::new();
    assert_eq!(control::log_filter(), None);
    assert_eq!(control::sample_rate(), None);

    // Accepted: every command acted on, the ack says what is in force.
    fill_superslab_cache();
    let cached = w.reader.snapshot().unwrap().totals.superslabs_cached;
    assert!(
        cached > 0,
        "the workload left empty SuperSlabs in the cache"
    );
    let s1 = new_seq();
    write_ctl(format!("seq={s1}\nlog=slabscope=debug\nsample=524288\ndrain\ntrim\n").as_bytes());
    let ack = w.next_ack();
    let EventKind::ControlAck {
        seq,
        accepted,
        commands,
        reason,
        sample_bytes,
        log_hash,
        trimmed,
        ..
    } = ack
    else {
        unreachable!()
    };
    assert_eq!((seq, accepted, reason), (s1, true, ControlReason::Accepted));
    assert_eq!(commands, cmd::LOG | cmd::SAMPLE | cmd::DRAIN | cmd::TRIM);
    assert_eq!(sample_bytes, 524288);
    assert_eq!(log_hash, control_log_hash(b"slabscope=debug"));
    assert!(
        trimmed >= cached,
        "trim returned {trimmed} of {cached} cached"
    );
    assert_eq!(control::log_filter().unwrap().as_str(), "slabscope=debug");
    assert_eq!(control::sample_rate(), Some(524288));
    assert_eq!(control::drain_epoch(), 1);
    let snap = w.reader.snapshot().unwrap();
    assert_eq!(snap.totals.superslabs_cached, 0, "trim emptied the cache");
    assert!(snap.totals.superslabs_returned_total >= trimmed);
    // The polling thread drained at once; the drain shows in the ring as requested.
    let ack_seq = w
        .seen
        .iter()
        .find(|e| matches!(e.kind, EventKind::ControlAck { .. }))
        .unwrap()
        .seq;
    churn();
    w.reader.poll_events(&mut w.cursor, usize::MAX, &mut w.seen);
    assert!(
        w.seen.iter().any(|e| e.seq > ack_seq
            && matches!(
                e.kind,
                EventKind::MagazineDrain {
                    reason: DrainReason::Requested,
                    ..
                }
            )),
        "a requested drain followed the ack"
    );
    // The process did not sample when its segment was made, so its sample-site records
    // had no pages: `sample=` allocated them before any thread sampled, and sites are
    // recorded without one counted as overflow.
    let kept: Vec<Vec<u8>> = (0..16384).map(|i| vec![1u8; 64 + i % 1024]).collect();
    churn();
    let snap = w.reader.snapshot().unwrap();
    assert!(!snap.sites.is_empty(), "sampled allocations recorded sites");
    assert_eq!(snap.sites_overflow, 0);
    drop(kept);
    // The same file is not acted on twice.
    w.no_ack();

    // Malformed: refused whole, with the line; nothing changes.
    let epoch = control::drain_epoch();
    write_ctl(format!("seq={}\nsample=0\ndrain\nlog=slabscope=loud\n", new_seq()).as_bytes());
    assert_eq!(refused(w.next_ack()), (ControlReason::BadValue, 4));
    write_ctl(format!("seq={}\nsample=0\nfrobnicate\n", new_seq()).as_bytes());
    assert_eq!(refused(w.next_ack()), (ControlReason::UnknownCommand, 3));
    write_ctl(b"drain\n");
    assert_eq!(refused(w.next_ack()), (ControlReason::Syntax, 1));
    // Oversized: refused unread.
    let mut big = format!("seq={}\nsample=0\n", new_seq()).into_bytes();
    big.resize(8192, b'\n');
    write_ctl(&big);
    assert_eq!(refused(w.next_ack()), (ControlReason::TooLarge, 0));
    // Stale: a sequence number not newer than the last accepted one.
    write_ctl(format!("seq={s1}\nsample=0\n").as_bytes());
    assert_eq!(refused(w.next_ack()), (ControlReason::Stale, 1));
    // A symbolic link is not followed.
    let target = ctl_path().with_extension("real");
    std::fs::write(&target, format!("seq={}\nsample=0\n", new_seq())).unwrap();
    let _ = std::fs::remove_file(ctl_path());
    std::os::unix::fs::symlink(&target, ctl_path()).unwrap();
    assert_eq!(refused(w.next_ack()), (ControlReason::NotRegular, 0));
    // A file owned by another user is ignored (needs root to make one).
    if euid() == 0 {
        // Prepared under another name and renamed once foreign, so the allocator never
        // sees it owned by this user.
        let foreign = ctl_path().with_extension("foreign");
        std::fs::write(&foreign, format!("seq={}\nsample=0\ndrain\n", new_seq())).unwrap();
        std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
        let _ = std::fs::remove_file(ctl_path());
        std::fs::rename(&foreign, ctl_path()).unwrap();
        assert_eq!(refused(w.next_ack()), (ControlReason::NotOwner, 0));
    } else {
        println!("not root: the foreign-owner case needs chown and is covered as root");
    }
    assert_eq!(control::drain_epoch(), epoch, "no refused drain ran");
    assert_eq!(control::log_filter().unwrap().as_str(), "slabscope=debug");

    // And off again.
    write_ctl(format!("seq={}\nlog=off\nsample=0\n", new_seq()).as_bytes());
    let EventKind::ControlAck {
        accepted: true,
        sample_bytes: 0,
        log_hash,
        commands,
        ..
    } = w.next_ack()
    else {
        panic!("switching off was refused")
    };
    assert_eq!(commands, cmd::LOG | cmd::SAMPLE);
    assert_eq!(log_hash, control_log_hash(b"off"));
    assert_eq!(control::log_filter().unwrap().as_str(), "off");
    assert_eq!(control::sample_rate(), Some(0));
}

/// This process's effective uid: the owner of the segment it created.
fn euid() -> u32 {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(common::own_segment()).unwrap())
}

#[test]
fn control_off_never_reads_the_file() {
    if common::respawned(
        "control_off_never_reads_the_file",
        &[
            ("SLABSCOPE_DRAIN_INTERVAL", "64"),
            ("SLABSCOPE_CONTROL", "0"),
        ],
    ) {
        return;
    }
    let mut w = Watch::new();
    write_ctl(format!("seq={}\nsample=4096\ndrain\n", new_seq()).as_bytes());
    w.no_ack();
    assert_eq!(control::sample_rate(), None);
    assert_eq!(control::drain_epoch(), 0);
}

#[test]
fn check_mode_switches_only_in_a_process_started_with_checks() {
    if common::respawned(
        "check_mode_switches_only_in_a_process_started_with_checks",
        &[("SLABSCOPE_DRAIN_INTERVAL", "64")],
    ) {
        return;
    }
    let mut w = Watch::new();
    // Checks are off in this process: switching them on would find its blocks without
    // trailers, so the whole file is refused.
    write_ctl(format!("seq={}\ncheck=1\ndrain\n", new_seq()).as_bytes());
    assert_eq!(refused(w.next_ack()), (ControlReason::Unavailable, 0));
    assert_eq!(
        control::drain_epoch(),
        0,
        "nothing of the file was acted on"
    );
    write_ctl(format!("seq={}\ncheck=0\n", new_seq()).as_bytes());
    assert_eq!(refused(w.next_ack()), (ControlReason::BadValue, 2));
}

#[test]
fn check_abort_set_at_run_time_aborts_at_the_next_heap_error() {
    if common::in_child() {
        let mut w = Watch::new();
        write_ctl(format!("seq={}\ncheck=abort\n", new_seq()).as_bytes());
        match w.next_ack() {
            EventKind::ControlAck {
                accepted: true,
                commands,
                ..
            } => assert_eq!(commands, cmd::CHECK),
            other => panic!("expected check=abort accepted, got {other:?}"),
        }
        let p = slabscope::raw::alloc(40, 8);
        // SAFETY: the misuse this test is about.
        unsafe {
            slabscope::raw::free(p);
            slabscope::raw::free(p);
        }
        unreachable!("the double free returned after check=abort");
    }
    let dir = common::shm_dir();
    let out = common::child_command(
        "check_abort_set_at_run_time_aborts_at_the_next_heap_error",
        dir.path(),
        &[("SLABSCOPE_CHECK", "1"), ("SLABSCOPE_DRAIN_INTERVAL", "64")],
    )
    .output()
    .expect("spawn");
    let err = String::from_utf8_lossy(&out.stderr);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{err}");
    assert!(
        err.contains("slabscope: heap error: double_free") && err.contains("): aborting"),
        "{err}"
    );
}
