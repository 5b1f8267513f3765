//! A writer thread hammering the ring, a thread record and the slot map while three
//! reader threads poll and snapshot: no torn record or event is ever returned, and every
//! event written is accounted for exactly (returned + missed + abandoned).
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use slabscope_proto::layout::*;
use slabscope_proto::*;

const EVENTS: u64 = 50_000;
const RING: u32 = 64;
const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// The event written as number `i`: every field derives from `i`, so a torn event
/// (fields from two different writes) cannot pass `check_event`.
fn event(i: u64) -> EventKind {
    if i.is_multiple_of(2) {
        EventKind::LargeMap {
            addr: i,
            bytes: i.wrapping_mul(K),
            align: i ^ K,
        }
    } else {
        EventKind::GpuOom {
            pool: (i % 1000) as u32,
            request: i,
            live_bytes: i.wrapping_mul(K),
            cached_bytes: !i,
            device_free_bytes: i.rotate_left(17),
        }
    }
}

fn check_event(ev: &Event) {
    let i = ev.time_ns;
    assert_eq!(ev.seq, i, "sequence and payload agree");
    assert_eq!(ev.thread, (i as u32) ^ 0x5a5a, "thread field of event {i}");
    assert_eq!(ev.kind, event(i), "payload of event {i}");
}

/// Thread record contents for update `n`: drains, frees and every magazine derive from n.
fn check_thread(t: &ThreadSnapshot) {
    let n = t.drains;
    assert_eq!(t.frees, n.wrapping_mul(3) ^ K, "frees of update {n}");
    assert_eq!(t.tid, 7, "tid");
    let fill = (n % 1000) as u32;
    let want: Vec<MagazineSnapshot> = (0..4)
        .map(|c| MagazineSnapshot {
            class: c,
            fill,
            capacity: fill + c + 1,
        })
        .collect();
    assert_eq!(t.magazines, want, "magazines of update {n}");
}

/// SuperSlab record contents for update `n` of record `r`.
fn check_superslab(s: &SuperSlabSnapshot) {
    let n = s.base >> 21;
    // The cycled record, just claimed and not updated yet: complete, every slot UNUSED.
    if n % 1024 == 1023 && s.slots.iter().all(|slot| slot.state == SlotState::Unused) {
        return;
    }
    for (k, slot) in s.slots.iter().enumerate() {
        let class = ((n + k as u64) % 4) as u32;
        assert_eq!(slot.state, SlotState::Active, "slot {k} of update {n}");
        assert_eq!(slot.class, class, "slot {k} of update {n}");
        assert_eq!(slot.used, n as u32, "slot {k} of update {n}");
        assert_eq!(slot.capacity, (n % 60_000) as u32, "slot {k} of update {n}");
    }
}

#[test]
fn readers_never_see_torn_records_and_account_for_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let w = Arc::new(common::create(&dir, 321, &common::config(4, RING)));
    let path = common::path(&dir, 321);
    let done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(4));

    let writer = {
        let (w, done, start) = (w.clone(), done.clone(), start.clone());
        std::thread::spawn(move || {
            let r = Ordering::Relaxed;
            let t = w.claim_thread(7, b"hammer").unwrap();
            let ss = [
                w.claim_superslab(1 << 21).unwrap(),
                w.claim_superslab(2 << 21).unwrap(),
            ];
            start.wait();
            for i in 0..EVENTS {
                assert_eq!(
                    w.push_event(i, (i as u32) ^ 0x5a5a, &event(i)),
                    PushOutcome::Written(i)
                );
                if i % 4 == 0 {
                    w.update_thread(t, |rec| {
                        rec.drains.store(i, r);
                        rec.frees.store(i.wrapping_mul(3) ^ K, r);
                        let fill = i % 1000;
                        for c in 0..4u64 {
                            rec.magazines[c as usize].store(fill | (fill + c + 1) << 32, r);
                        }
                    });
                }
                if i % 4 == 2 {
                    let idx = ss[(i / 4 % 2) as usize];
                    w.update_superslab(idx, |rec| {
                        rec.base.store(i << 21, r);
                        for (k, slot) in rec.slots.iter().enumerate() {
                            let class = ((i + k as u64) % 4) as u8;
                            slot.store(
                                pack_slot(SLOT_ACTIVE, class, (i % 60_000) as u16, i as u32),
                                r,
                            );
                        }
                    });
                }
                if i % 64 == 63 {
                    // Let the readers run on a machine with few cores.
                    std::thread::yield_now();
                }
                if i % 1024 == 1023 {
                    // Cycle a third SuperSlab record through FREE and back.
                    if let Some(x) = w.claim_superslab(i << 21) {
                        w.update_superslab(x, |rec| {
                            for (k, slot) in rec.slots.iter().enumerate() {
                                let class = ((i + k as u64) % 4) as u8;
                                let word =
                                    pack_slot(SLOT_ACTIVE, class, (i % 60_000) as u16, i as u32);
                                slot.store(word, r);
                            }
                        });
                        w.release_superslab(x);
                    }
                }
            }
            done.store(true, Ordering::Release);
            w.close();
        })
    };

    let readers: Vec<_> = (0..3)
        .map(|n| {
            let (done, start, path) = (done.clone(), start.clone(), path.clone());
            std::thread::spawn(move || {
                let r = SegmentReader::open(&path).unwrap();
                let mut cur = Cursor::default();
                let mut out = Vec::new();
                let mut returned = 0u64;
                let (mut snaps, mut threads_seen, mut superslabs_seen) = (0u64, 0u64, 0u64);
                start.wait();
                loop {
                    let finished = done.load(Ordering::Acquire);
                    // Each reader polls in differently sized batches.
                    r.poll_events(&mut cur, 16 << n, &mut out);
                    for ev in out.drain(..) {
                        check_event(&ev);
                        returned += 1;
                    }
                    if snaps % (n as u64 + 1) == 0 || finished {
                        let s = r.snapshot().unwrap();
                        for t in &s.threads {
                            if t.drains > 0 {
                                check_thread(t);
                                threads_seen += 1;
                            }
                        }
                        for ss in &s.superslabs {
                            if ss.base >> 21 > 2 {
                                check_superslab(ss);
                                superslabs_seen += 1;
                            }
                        }
                    }
                    snaps += 1;
                    if finished && cur.next_seq() == EVENTS {
                        break;
                    }
                }
                (returned, cur.totals, threads_seen, superslabs_seen)
            })
        })
        .collect();

    writer.join().unwrap();
    let reader = SegmentReader::open(&path).unwrap();
    let s = reader.snapshot().unwrap();
    assert_eq!(s.ring.head, EVENTS);
    assert_eq!(
        s.ring.dropped, 0,
        "a single writer is never lapped by itself"
    );
    for h in readers {
        let (returned, totals, threads_seen, superslabs_seen) = h.join().unwrap();
        eprintln!("reader: returned {returned}, {totals:?}, {threads_seen} thread and {superslabs_seen} SuperSlab records checked");
        assert_eq!(
            returned + totals.missed + totals.abandoned,
            EVENTS,
            "every event is returned, missed or abandoned: {returned} {totals:?}"
        );
        assert_eq!((totals.corrupt, totals.unknown), (0, 0));
        assert!(returned >= RING as u64, "at least the last lap is read");
        assert!(threads_seen > 0 && superslabs_seen > 0, "records were read");
    }
    // The final state is exact.
    let t = &s.threads[0];
    check_thread(t);
    assert_eq!(t.drains, (EVENTS - 1) / 4 * 4);
}
