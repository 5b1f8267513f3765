//! The OOM flight recorder: when `SLABSCOPE_LIMIT` refuses an allocation, the segment
//! holds a report whose numbers are the allocator's own (per class, equal to
//! `raw::stats()` taken right after the failure) and add up exactly:
//! `superslabs * 2 MiB == header + unused + tail + sum of the classes' live + cached +
//! free bytes` and `mapped == large + superslabs * 2 MiB` (one thread allocating). An
//! idle thread's magazine shows as stranded, and stderr gets the short report once.

mod common;

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use slabscope::raw;
use slabscope::size_class::{block_size, class_of, CLASS_COUNT};
use slabscope_proto::oom::{FreeRunKind, OomCause};
use slabscope_proto::SegmentReader;

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

const SUPERSLAB: u64 = 2 << 20;
const SIZES: [usize; 4] = [24, 200, 1500, 9000];

#[test]
fn the_report_matches_the_allocator_and_adds_up() {
    if !common::in_child() {
        let dir = common::shm_dir();
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "the_report_matches_the_allocator_and_adds_up",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(common::CHILD_MARKER, "1")
            .env("SLABSCOPE_PUBLISH", "1")
            .env("SLABSCOPE_SHM_DIR", dir.path())
            .env("SLABSCOPE_LIMIT", "24M")
            // A failed assertion must not symbolize a backtrace at the limit (it would
            // run out of memory itself).
            .env("RUST_BACKTRACE", "0")
            .env_remove("SLABSCOPE_LOG")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("1 passed"), "{stdout}");
        // Two OOMs, one stderr report (the second is within the rate limit).
        let heads: Vec<_> = stderr
            .lines()
            .filter(|l| l.starts_with("slabscope: out of memory #"))
            .collect();
        assert_eq!(heads.len(), 1, "{stderr}");
        assert!(heads[0].contains("(align 16, class "), "{stderr}");
        for needle in [
            "cause: SLABSCOPE_LIMIT 24.0 MiB reached",
            "mapped = ",
            "EMPTY slots not yet returned: ",
            "stranded in magazines of idle or exited threads: ",
            "largest free run: ",
            "report kept in ",
        ] {
            assert!(stderr.contains(needle), "{needle}: {stderr}");
        }
        return;
    }
    // An idle thread holding blocks in its magazine.
    let (tx, rx) = mpsc::channel::<()>();
    let (ready_tx, ready_rx) = mpsc::channel::<u32>();
    let idle = std::thread::spawn(move || {
        let held: Vec<*mut u8> = (0..40).map(|_| raw::alloc(64, 16)).collect();
        for p in held {
            // SAFETY: blocks allocated just above.
            unsafe { raw::free(p) };
        }
        // SAFETY: gettid has no preconditions.
        ready_tx.send(unsafe { libc::gettid() } as u32).unwrap();
        rx.recv().unwrap();
    });
    let idle_tid = ready_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(2200));
    let mut kept: Vec<*mut u8> = Vec::with_capacity(1 << 17);
    let large = raw::alloc(3 << 20, 16);
    assert!(!large.is_null());
    let mut failed = None;
    for i in 0..(1 << 17) {
        let size = SIZES[i % SIZES.len()];
        let p = raw::alloc(size, 16);
        if p.is_null() {
            failed = Some(size);
            break;
        }
        kept.push(p);
    }
    let failed = failed.expect("the limit refused an allocation");
    let kept_per_size = SIZES.map(|size| {
        (kept.len() + SIZES.len() - 1 - SIZES.iter().position(|&s| s == size).unwrap())
            / SIZES.len()
    });
    let stats = raw::stats();
    // Room for the reader's own allocations (the report was written at the failure).
    // SAFETY: the large block allocated above.
    unsafe { raw::free(large) };
    let r = SegmentReader::open(&common::own_segment()).unwrap();
    let o = r.snapshot().unwrap().oom.expect("an OOM report");
    assert_eq!(o.reports, 1);
    assert_eq!(o.cause, OomCause::Limit);
    assert_eq!((o.request_bytes, o.align), (failed as u64, 16));
    assert_eq!(o.class, Some(class_of(failed) as u32));
    assert_eq!(o.limit_bytes, 24 << 20);
    assert!(o.mapped_bytes + SUPERSLAB > o.limit_bytes, "{o:?}");
    // The report is the allocator's state.
    assert_eq!(o.mapped_bytes, stats.totals.mapped_bytes);
    assert_eq!(o.large_bytes, stats.totals.large_bytes);
    assert_eq!(o.superslabs, stats.totals.superslabs);
    // The failing thread's last allocations are in it (folded before the report): every
    // kept block counts as live.
    for (size, n) in SIZES.iter().zip(kept_per_size) {
        let c = class_of(*size);
        let live = o
            .classes
            .iter()
            .find(|k| k.class == c as u32)
            .map_or(0, |k| k.live_bytes);
        assert!(
            live >= n as u64 * block_size(c) as u64,
            "class {c}: {live} live bytes in the report for {n} kept blocks"
        );
    }
    for c in 0..CLASS_COUNT {
        let s = &stats.classes[c];
        let bs = block_size(c) as u64;
        let mine = o.classes.iter().find(|k| k.class == c as u32);
        let (live, cached, free, empty) = mine.map_or((0, 0, 0, 0), |k| {
            (k.live_bytes, k.cached_bytes, k.free_bytes, k.empty_slots)
        });
        assert_eq!(live, s.live_blocks * bs, "class {c} live");
        assert_eq!(cached, s.cached_blocks * bs, "class {c} cached");
        assert_eq!(free, s.free_blocks * bs, "class {c} free");
        assert_eq!(empty, s.slots_empty, "class {c} EMPTY slots");
    }
    // The identity.
    assert_eq!(o.mapped_bytes, o.large_bytes + o.superslabs * SUPERSLAB);
    assert_eq!(
        o.superslabs * SUPERSLAB,
        o.header_bytes + o.unused_bytes + o.tail_bytes + o.class_bytes(),
        "{o:#?}"
    );
    // Slot 0 of every SuperSlab is its header slot.
    assert_eq!(o.header_bytes, o.superslabs * (64 << 10));
    // A small-class OOM means no slot was left to acquire.
    assert_eq!((o.unused_slots, o.empty_slots), (0, 0), "{o:#?}");
    assert_ne!(o.largest_free_run.kind, FreeRunKind::Slots);
    // The idle thread's magazine is stranded (so may be the harness's main thread's,
    // which sits waiting for this test), most bytes first.
    let idle_entry = o.stranded.iter().find(|s| s.tid == idle_tid as u64);
    let idle_entry = idle_entry.unwrap_or_else(|| panic!("{:?}", o.stranded));
    assert!(
        idle_entry.bytes >= 64 && !idle_entry.exited,
        "{idle_entry:?}"
    );
    assert!(idle_entry.idle_ns >= 1_000_000_000, "{idle_entry:?}");
    assert!(o.stranded.windows(2).all(|w| w[0].bytes >= w[1].bytes));
    let listed: u64 = o.stranded.iter().map(|s| s.bytes).sum();
    assert!(o.stranded_bytes >= listed && o.threads_seen >= 2);
    assert!(
        o.stranded.iter().all(|s| s.tid != o.tid as u64),
        "the failing thread is busy"
    );
    // The OOM event is in the ring at the recorded sequence number.
    let seq = o.ring_seq.expect("ring sequence");
    let events = common::all_events(&r);
    let ev = events.iter().find(|e| e.seq == seq).expect("the OOM event");
    assert!(
        matches!(ev.kind, slabscope_proto::EventKind::Oom { .. }),
        "{ev:?}"
    );
    // A large request too big for the limit: the report is rewritten.
    assert!(raw::alloc(64 << 20, 4096).is_null());
    let o2 = r.snapshot().unwrap().oom.unwrap();
    assert_eq!(
        (o2.reports, o2.class, o2.request_bytes),
        (2, None, 64 << 20)
    );
    assert_eq!(o2.align, 4096);
    tx.send(()).unwrap();
    idle.join().unwrap();
    for p in kept {
        // SAFETY: blocks allocated above.
        unsafe { raw::free(p) };
    }
}
