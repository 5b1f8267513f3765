//! Writer to reader round trip of every section and every event kind, through a real
//! segment file.
#![cfg(not(loom))]

mod common;

use slabscope_proto::event::code;
use slabscope_proto::*;

#[test]
fn every_section_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = common::populated(&dir, 4321);
    let r = SegmentReader::open(&common::path(&dir, 4321)).unwrap();
    assert_eq!(r.pid(), 4321);
    assert_eq!(
        r.version(),
        ProtocolVersion {
            major: PROTOCOL_MAJOR,
            minor: PROTOCOL_MINOR
        }
    );
    assert_eq!(r.compat(), CompatInfo::default());
    let s = r.snapshot().unwrap();
    assert_eq!(s.pid, 4321);
    assert!(!s.command.is_empty());
    let exe = std::env::args().next().unwrap();
    assert!(
        exe.starts_with(&s.command) || s.command.starts_with(&exe),
        "{}",
        s.command
    );
    assert_eq!(
        s.flags,
        Flags {
            closed: false,
            oom: true,
            preload: true,
            gpu: true
        }
    );
    assert!(s.start_unix_ns > 0 && s.start_mono_ns > 0);
    assert_eq!(s.heartbeat_mono_ns, 123_456);
    assert!(s.page_size.is_power_of_two());
    assert_eq!(s.drain_interval, 4096);
    assert_eq!(
        s.totals,
        TotalsSnapshot {
            mapped_bytes: 6 << 20,
            peak_mapped_bytes: 8 << 20,
            superslabs: 2,
            superslabs_cached: 1,
            superslabs_mapped_total: 5,
            superslabs_returned_total: 3,
            large_bytes: 1 << 20,
            large_count: 1,
            limit_bytes: 64 << 20,
            oom_count: 2,
            foreign_frees: 7,
        }
    );
    let kinds = common::all_kinds().len() as u64;
    assert_eq!(
        s.ring,
        RingSnapshot {
            head: kinds,
            dropped: 0,
            capacity: 32
        }
    );

    assert_eq!(s.classes.len(), 4);
    for (i, c) in s.classes.iter().enumerate() {
        assert_eq!(c.class, i as u32);
        assert_eq!(c.block_size, 16 * (i as u32 + 1));
        assert_eq!(c.counters.capacity_blocks, 1000 + i as u64);
        assert_eq!(c.counters.allocs, 5000);
        assert_eq!(c.counters.frees, 4100);
        assert_eq!(c.counters.remote_frees, 10);
        assert_eq!(c.counters.slots_active, 2);
        assert_eq!(c.counters.slots_empty, 1);
        assert_eq!(c.counters.refills, 30);
        assert_eq!(c.counters.drains, 20);
        assert_eq!(
            (
                c.counters.acquire_stage1,
                c.counters.acquire_stage2,
                c.counters.acquire_stage3
            ),
            (1, 2, 3)
        );
        let want_live = if i == 3 { 0 } else { 1000 + i as u64 - 150 };
        assert_eq!(c.live, want_live, "class {i}");
    }

    assert_eq!(
        s.threads,
        vec![
            ThreadSnapshot {
                tid: 1001,
                state: ThreadState::Live,
                name: "main".into(),
                drains: 4,
                frees: 400,
                magazines: vec![
                    MagazineSnapshot {
                        class: 0,
                        fill: 10,
                        capacity: 64
                    },
                    MagazineSnapshot {
                        class: 2,
                        fill: 3,
                        capacity: 32
                    },
                ],
            },
            ThreadSnapshot {
                tid: 1002,
                state: ThreadState::Exited,
                name: "worker-with-a-lo".into(),
                drains: 0,
                frees: 0,
                magazines: vec![],
            },
        ]
    );

    assert_eq!(s.superslabs.len(), 2, "the released record is not shown");
    let ss = &s.superslabs[0];
    assert_eq!((ss.base, ss.state), (0x20_0000, SuperSlabState::Mapped));
    assert_eq!(ss.slots.len(), 32);
    assert_eq!(
        ss.slots[0],
        SlotSnapshot {
            state: SlotState::Active,
            class: 0,
            used: 100,
            capacity: 4096,
            owner: SlotOwner::Thread(4242),
        }
    );
    assert_eq!(
        ss.slots[1],
        SlotSnapshot {
            state: SlotState::Empty,
            class: 3,
            used: 0,
            capacity: 1024,
            owner: SlotOwner::None,
        }
    );
    assert!(ss.slots[2..].iter().all(|x| x.state == SlotState::Unused));
    assert_eq!(
        (s.superslabs[1].base, s.superslabs[1].state),
        (0x40_0000, SuperSlabState::Empty)
    );

    assert_eq!(s.gpu.len(), 2);
    let g = &s.gpu[0];
    assert_eq!(
        (g.pool, g.device, g.backend, g.name.as_str()),
        (0, Some(0), GpuBackend::Cuda, "NVIDIA H100")
    );
    assert_eq!(
        (g.oversize, g.oversize_live_bytes, g.trims, g.device_ooms),
        (1, 1 << 30, 2, 3)
    );
    assert_eq!(
        (
            g.cache_limit_bytes,
            g.device_total_bytes,
            g.device_free_bytes
        ),
        (1 << 32, 80 << 30, 70 << 30)
    );
    assert_eq!(
        g.buckets,
        vec![
            GpuBucketSnapshot {
                bucket_bytes: 4096,
                ..Default::default()
            },
            GpuBucketSnapshot {
                bucket_bytes: 8192,
                live: 4,
                cached: 2,
                hits: 10,
                misses: 6,
                high_water: 6,
                trimmed: 1
            },
        ]
    );
    let h = &s.gpu[1];
    assert_eq!(
        (h.pool, h.device, h.backend, h.name.as_str()),
        (1, None, GpuBackend::Host, "host")
    );
    assert_eq!(s.overflow, OverflowSnapshot::default());
    assert_eq!((s.busy_records, s.unknown_sections), (0, 0));
    drop(w);
}

#[test]
fn every_event_kind_round_trips_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (_w, kinds) = common::populated(&dir, 77);
    let mut codes: Vec<u16> = kinds.iter().map(|k| k.code()).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(
        codes,
        (1..=code::MAX_KNOWN).collect::<Vec<_>>(),
        "every kind"
    );
    let r = SegmentReader::open(&common::path(&dir, 77)).unwrap();
    let mut cur = Cursor::default();
    let mut out = Vec::new();
    // In two batches, to exercise `max`.
    let st1 = r.poll_events(&mut cur, 5, &mut out);
    assert_eq!(out.len(), 5);
    let st2 = r.poll_events(&mut cur, usize::MAX, &mut out);
    assert_eq!(st1, PollStats::default());
    assert_eq!(st2, PollStats::default());
    assert_eq!(out.len(), kinds.len());
    for (i, (ev, k)) in out.iter().zip(&kinds).enumerate() {
        assert_eq!(ev.seq, i as u64);
        assert_eq!(ev.time_ns, 1_000 + i as u64);
        assert_eq!(ev.thread, 1001);
        assert_eq!(&ev.kind, k);
    }
    assert_eq!(cur.next_seq(), kinds.len() as u64);
    assert!(r.poll_events(&mut cur, usize::MAX, &mut out) == PollStats::default());
    assert_eq!(out.len(), kinds.len(), "nothing new");
}

#[test]
fn overflowing_tables_and_a_lapped_ring_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let w = common::create(&dir, 5, &common::config(2, 8));
    for tid in 0..6 {
        w.claim_thread(tid, b"t");
    }
    for i in 0..7 {
        w.claim_superslab(i << 21);
    }
    for _ in 0..3 {
        w.claim_gpu_pool(None, layout::GPU_BACKEND_HOST, b"h", &[]);
    }
    for i in 0..20 {
        w.push_event(i, 1, &EventKind::ThreadExit { blocks: i });
    }
    let r = SegmentReader::open(&common::path(&dir, 5)).unwrap();
    let s = r.snapshot().unwrap();
    assert_eq!(
        s.overflow,
        OverflowSnapshot {
            threads: 2,
            superslabs: 3,
            gpu_pools: 1
        }
    );
    assert_eq!(
        (s.threads.len(), s.superslabs.len(), s.gpu.len()),
        (4, 4, 2)
    );
    let mut cur = Cursor::default();
    let mut out = Vec::new();
    let st = r.poll_events(&mut cur, usize::MAX, &mut out);
    assert_eq!(st.missed, 12);
    assert_eq!(out.first().map(|e| e.seq), Some(12));
    assert_eq!(out.len(), 8);
}

#[test]
fn a_closed_segment_gives_up_on_unwritten_slots_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let w = common::create(&dir, 6, &common::config(1, 8));
    w.push_event(1, 1, &EventKind::ThreadExit { blocks: 1 });
    // A writer that reserved sequence 1 and died before publishing it.
    w.header()
        .ring
        .head
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    w.push_event(3, 1, &EventKind::ThreadExit { blocks: 3 });
    let r = SegmentReader::open(&common::path(&dir, 6)).unwrap();
    let mut cur = Cursor::default();
    let mut out = Vec::new();
    let st = r.poll_events(&mut cur, usize::MAX, &mut out);
    assert_eq!(
        (st.abandoned, out.len()),
        (0, 1),
        "a live writer is waited for"
    );
    w.close();
    assert!(r.is_closed());
    assert!(r.snapshot().unwrap().flags.closed);
    let st = r.poll_events(&mut cur, usize::MAX, &mut out);
    assert_eq!(st.abandoned, 1);
    assert_eq!(out.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![0, 2]);
}

#[test]
fn a_post_mortem_copy_reads_like_the_live_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (w, kinds) = common::populated(&dir, 8);
    let path = common::path(&dir, 8);
    let live = SegmentReader::open(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    drop(w);
    let copy = SegmentReader::from_bytes(&bytes).unwrap();
    assert_eq!(live.snapshot().unwrap(), copy.snapshot().unwrap());
    let mut cur = Cursor::default();
    let mut out = Vec::new();
    copy.poll_events(&mut cur, usize::MAX, &mut out);
    assert_eq!(out.len(), kinds.len());
}

#[test]
fn segments_are_listed_and_found_by_pid() {
    let dir = tempfile::tempdir().unwrap();
    let _a = common::create(&dir, 30, &common::config(1, 8));
    let _b = common::create(&dir, 4, &common::config(1, 8));
    let got = list_segments(dir.path()).unwrap();
    assert_eq!(
        got,
        vec![(4, common::path(&dir, 4)), (30, common::path(&dir, 30))]
    );
}

#[cfg(feature = "serde")]
#[test]
fn a_snapshot_serialises_to_json() {
    let dir = tempfile::tempdir().unwrap();
    let (_w, _) = common::populated(&dir, 9);
    let r = SegmentReader::open(&common::path(&dir, 9)).unwrap();
    let v = serde_json::to_value(r.snapshot().unwrap()).unwrap();
    assert_eq!(v["pid"], 9);
    assert_eq!(v["classes"][0]["capacity_blocks"], 1000);
    assert_eq!(v["threads"][0]["state"], "live");
    let mut cur = Cursor::default();
    let mut out = Vec::new();
    r.poll_events(&mut cur, 1, &mut out);
    let e = serde_json::to_value(out[0]).unwrap();
    assert_eq!(e["kind"], "magazine_drain");
    assert_eq!(e["reason"], "interval");
}
