//! Heap errors (protocol 1.4): `SegmentWriter::heap_error` to the reader's snapshot (the
//! table, the counters by kind) and to the ring, from one thread and from many at once.
#![cfg(not(loom))]

mod common;

use std::sync::atomic::Ordering;

use slabscope_proto::layout::*;
use slabscope_proto::*;

#[test]
fn a_heap_error_reaches_the_table_the_counters_and_the_ring() {
    let dir = tempfile::tempdir().unwrap();
    let w = common::create(&dir, 41, &common::config(4, 16));
    let e = common::heap_error(1);
    assert_eq!(w.heap_error(&e), Some(0));
    let r = SegmentReader::open(&common::path(&dir, 41)).unwrap();
    assert_eq!(r.compat(), CompatInfo::default(), "the table is known");
    let s = r.snapshot().unwrap();
    assert_eq!(s.heap_errors, vec![e]);
    assert_eq!(s.heap_error_counts.get(e.kind), 1);
    assert_eq!(s.heap_error_counts.total(), 1);
    assert_eq!(s.busy_records, 0);
    let mut cur = Cursor::default();
    let mut out = Vec::new();
    assert_eq!(
        r.poll_events(&mut cur, usize::MAX, &mut out),
        PollStats::default()
    );
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].time_ns, out[0].thread), (e.time_ns, e.thread));
    assert_eq!(out[0].kind, e.as_event());
    let EventKind::HeapError { error } = out[0].kind else {
        panic!("{:?}", out[0].kind)
    };
    assert_eq!(
        (error.kind, error.address, error.offset),
        (e.kind, e.address, e.offset)
    );
}

#[test]
fn time_and_thread_are_filled_in_when_zero() {
    let dir = tempfile::tempdir().unwrap();
    let w = common::create(&dir, 42, &common::config(4, 16));
    let before = monotonic_ns();
    w.heap_error(&HeapError {
        time_ns: 0,
        thread: 0,
        ..common::heap_error(0)
    });
    let s = SegmentReader::open(&common::path(&dir, 42))
        .unwrap()
        .snapshot()
        .unwrap();
    let e = s.heap_errors[0];
    assert!(e.time_ns >= before && e.time_ns <= monotonic_ns());
    assert_eq!(e.thread, gettid());
}

#[test]
fn the_table_keeps_the_latest_errors_and_the_counters_every_one() {
    let dir = tempfile::tempdir().unwrap();
    let w = common::create(&dir, 43, &common::config(4, 64));
    let n = HEAP_ERROR_SLOTS as u64 * 2 + 3;
    for i in 0..n {
        assert_eq!(w.heap_error(&common::heap_error(i)), Some(i));
    }
    let s = SegmentReader::open(&common::path(&dir, 43))
        .unwrap()
        .snapshot()
        .unwrap();
    let want: Vec<HeapError> = (n - HEAP_ERROR_SLOTS as u64..n)
        .map(common::heap_error)
        .collect();
    assert_eq!(s.heap_errors, want, "the latest, most recent last");
    assert_eq!(s.heap_error_counts, HeapErrorCounts([9, 9, 9, 8]));
    assert_eq!(s.heap_error_counts.total(), n);
    let json = serde_json::to_value(s.heap_error_counts).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"double_free": 9, "invalid_free": 9, "write_after_free": 9, "overflow": 8})
    );
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["heap_errors"][0]["kind"], "overflow");
    assert_eq!(v["heap_errors"].as_array().unwrap().len(), HEAP_ERROR_SLOTS);
}

#[test]
fn many_threads_report_at_once_and_nothing_torn_is_read() {
    const THREADS: u64 = 8;
    const EACH: u64 = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let w = common::create(&dir, 44, &common::config(4, 1024));
    let r = SegmentReader::open(&common::path(&dir, 44)).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let w = &w;
            scope.spawn(move || {
                for i in 0..EACH {
                    // Every field a function of the address: a torn copy would mix two.
                    let k = t * EACH + i;
                    w.heap_error(&HeapError {
                        address: k,
                        block_bytes: k * 3,
                        requested: Some(k * 5),
                        offset: Some(k * 7),
                        // Never 0: 0 asks the writer to fill in the time and thread.
                        time_ns: k + 1,
                        thread: k as u32 + 1,
                        ..common::heap_error(t)
                    });
                }
            });
        }
        scope.spawn(|| {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) || reads < 10 {
                let s = r.snapshot().unwrap();
                assert!(s.heap_errors.len() <= HEAP_ERROR_SLOTS);
                for e in &s.heap_errors {
                    let k = e.address;
                    assert_eq!(
                        (e.block_bytes, e.requested, e.offset, e.time_ns, e.thread),
                        (k * 3, Some(k * 5), Some(k * 7), k + 1, k as u32 + 1),
                        "torn record"
                    );
                }
                reads += 1;
            }
        });
        // The scope joins the writers before the reader can finish its last reads.
        std::thread::sleep(std::time::Duration::from_millis(50));
        done.store(true, Ordering::Relaxed);
    });
    let s = r.snapshot().unwrap();
    assert_eq!(
        s.heap_error_counts.total(),
        THREADS * EACH,
        "every one counted"
    );
    let next = w.heap_error_table().next.load(Ordering::Relaxed);
    assert_eq!(next, THREADS * EACH);
    assert!(!s.heap_errors.is_empty());
}

#[test]
fn a_growing_segment_has_its_table_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let w = SegmentWriter::create_growing(
        dir.path().as_os_str().as_encoded_bytes(),
        45,
        &common::config(4, 1024),
        None,
    )
    .unwrap();
    w.heap_error(&common::heap_error(2));
    let s = SegmentReader::open(&common::path(&dir, 45))
        .unwrap()
        .snapshot()
        .unwrap();
    assert_eq!(s.heap_errors, vec![common::heap_error(2)]);
}

#[test]
fn the_header_grows_by_the_table_only() {
    assert_eq!(HEAP_ERROR_TABLE_OFFSET, 616);
    assert_eq!(HEADER_BYTES, 616 + 8 + 64 * HEAP_ERROR_SLOTS);
    let dir = tempfile::tempdir().unwrap();
    let _w = common::create(&dir, 46, &common::config(4, 16));
    let bytes = std::fs::read(common::path(&dir, 46)).unwrap();
    let header_size = u32::from_le_bytes(bytes[12..16].try_into().unwrap());
    assert_eq!(header_size as usize, HEADER_BYTES);
    assert_eq!(
        SegmentReader::from_bytes(&bytes).unwrap().version(),
        ProtocolVersion { major: 1, minor: 4 }
    );
}
