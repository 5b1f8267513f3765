//! Random and mutated bytes fed to the reader: it returns an error or a valid snapshot
//! and valid events, and never panics.
//!
//! Case counts are sized for CI; set `PROPTEST_CASES` to run longer (the same inputs are
//! what `fuzz/fuzz_targets/reader.rs` feeds the reader under libFuzzer).
#![cfg(not(loom))]

mod common;

use std::sync::OnceLock;

use proptest::prelude::*;
use slabscope_proto::layout::*;
use slabscope_proto::*;

/// Cases per property: `PROPTEST_CASES`, or `default`.
fn cases(default: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A valid segment with something in every section and a lapped ring.
fn valid_segment() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (w, kinds) = common::populated(&dir, 4242);
        for (i, k) in kinds.iter().enumerate().take(20) {
            w.push_event(2_000 + i as u64, 1001, k);
        }
        // A lapped heap error table (1.4).
        for i in 0..(HEAP_ERROR_SLOTS as u64 + 5) {
            w.heap_error(&common::heap_error(i));
        }
        std::fs::read(common::path(&dir, 4242)).unwrap()
    })
}

/// Feeds `bytes` to every reader entry point and checks what comes back.
fn exercise(bytes: &[u8]) {
    let r = match SegmentReader::from_bytes(bytes) {
        Ok(r) => r,
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty() && !msg.contains('\n'));
            return;
        }
    };
    assert_eq!(r.version().major, PROTOCOL_MAJOR);
    match r.snapshot() {
        Ok(s) => check_snapshot(&s),
        Err(e) => assert!(!e.to_string().contains('\n')),
    }
    let mut cur = Cursor::default();
    let mut out = Vec::new();
    let mut total = PollStats::default();
    for max in [3, usize::MAX, usize::MAX] {
        total.add(r.poll_events(&mut cur, max, &mut out));
    }
    let classes = match r.snapshot() {
        Ok(s) => s.classes.len() as u32,
        Err(_) => MAX_CLASSES as u32,
    };
    for ev in &out {
        assert!(ev.kind.code() != 0);
        assert!(!matches!(ev.kind, EventKind::Unknown { .. }));
        match ev.kind {
            EventKind::MagazineDrain { class, .. }
            | EventKind::SlotAcquire { class, .. }
            | EventKind::SlotEmpty { class, .. }
            | EventKind::SlotRelease { class, .. } => assert!(class < classes),
            _ => {}
        }
        if let EventKind::SlotAcquire { stage, slot, .. } = ev.kind {
            assert!((1..=3).contains(&stage) && slot < 32);
        }
        if let EventKind::HeapError { error } = ev.kind {
            assert!(heap_error_table::class_ok(error.class, classes));
        }
    }
    for w in out.windows(2) {
        assert!(w[0].seq < w[1].seq, "events in sequence order");
    }
}

fn check_snapshot(s: &Snapshot) {
    assert!(!s.classes.is_empty() && s.classes.len() <= MAX_CLASSES);
    for (i, c) in s.classes.iter().enumerate() {
        assert_eq!(c.class as usize, i);
        assert!(c.block_size > 0);
        assert!(c.live <= c.counters.capacity_blocks);
    }
    for t in &s.threads {
        for m in &t.magazines {
            assert!((m.class as usize) < s.classes.len() && m.capacity > 0);
        }
    }
    for ss in &s.superslabs {
        assert_eq!(ss.slots.len(), SLOTS_PER_SUPERSLAB);
        for slot in &ss.slots {
            match slot.state {
                SlotState::Unused => assert_eq!(slot.class, 0),
                _ => assert!((slot.class as usize) < s.classes.len()),
            }
        }
    }
    for g in &s.gpu {
        assert!(g.buckets.len() <= MAX_GPU_BUCKETS);
    }
    assert!(s.ring.capacity.is_power_of_two());
    assert!(s.unknown_sections as usize <= MAX_SECTIONS);
    assert!(s.heap_errors.len() <= HEAP_ERROR_SLOTS);
    for e in &s.heap_errors {
        assert!(heap_error_table::class_ok(e.class, s.classes.len() as u32));
        assert_eq!(e.reason, InvalidReason::from_u8(e.reason as u8));
    }
}

/// One change to a valid segment.
#[derive(Clone, Debug)]
enum Mutation {
    Xor { at: usize, bits: u8 },
    Word32 { at: usize, value: u32 },
    Word64 { at: usize, value: u64 },
    Truncate { len: usize },
}

/// Offsets worth aiming at: every header field (the heap error table included) and
/// section descriptor field.
fn interesting_offset() -> impl Strategy<Value = usize> {
    let header: Vec<usize> = (0..HEADER_BYTES / 4).map(|i| i * 4).collect();
    prop_oneof![
        3 => proptest::sample::select(header),
        2 => (0..MAX_SECTIONS, proptest::sample::select(vec![0usize, 4, 8, 16, 20, 24]))
            .prop_map(|(i, f)| 360 + 32 * i + f),
        3 => any::<usize>(),
    ]
}

fn edge_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        proptest::sample::select(vec![
            0,
            1,
            2,
            3,
            5,
            7,
            8,
            63,
            64,
            65,
            4096,
            u32::MAX,
            1 << 31
        ]),
        any::<u32>(),
    ]
}

fn edge_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        proptest::sample::select(vec![
            0,
            1,
            64,
            616,
            640,
            HEADER_BYTES as u64,
            1664,
            u64::MAX,
            u64::MAX - 63,
            1 << 63,
            1 << 32,
            MAGIC,
        ]),
        any::<u64>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (interesting_offset(), 1..=255u8).prop_map(|(at, bits)| Mutation::Xor { at, bits }),
        3 => (interesting_offset(), edge_u32()).prop_map(|(at, value)| Mutation::Word32 { at, value }),
        3 => (interesting_offset(), edge_u64()).prop_map(|(at, value)| Mutation::Word64 { at, value }),
        1 => any::<usize>().prop_map(|len| Mutation::Truncate { len }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len();
    match *m {
        Mutation::Xor { at, bits } => bytes[at % n] ^= bits,
        Mutation::Word32 { at, value } => {
            let at = (at % (n - 4)) & !3;
            bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        Mutation::Word64 { at, value } => {
            let at = (at % (n - 8)) & !7;
            bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
        }
        Mutation::Truncate { len } => bytes.truncate(len % (n + 1)),
    }
}

#[test]
fn the_valid_segment_reads() {
    let r = SegmentReader::from_bytes(valid_segment()).unwrap();
    let s = r.snapshot().unwrap();
    check_snapshot(&s);
    assert!(!s.threads.is_empty() && !s.superslabs.is_empty() && !s.gpu.is_empty());
    exercise(valid_segment());
}

proptest! {
    #![proptest_config(cases(2000))]
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
    }
}

proptest! {
    #![proptest_config(cases(1000))]
    #[test]
    fn random_bodies_behind_a_valid_magic_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..4096),
        minor in any::<u16>(),
    ) {
        let mut bytes = MAGIC.to_le_bytes().to_vec();
        bytes.extend_from_slice(&(1u32 << 16 | minor as u32).to_le_bytes());
        bytes.extend_from_slice(&body);
        exercise(&bytes);
    }
}

proptest! {
    #![proptest_config(cases(1500))]
    #[test]
    fn mutated_segments_never_panic(muts in proptest::collection::vec(mutation(), 1..6)) {
        let mut bytes = valid_segment().to_vec();
        for m in &muts {
            if bytes.len() > 8 {
                apply(&mut bytes, m);
            }
        }
        exercise(&bytes);
    }
}
