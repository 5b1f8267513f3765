//! Compatibility: a reader for protocol 1.x reads a hand-built 1.(x+1) segment with a
//! longer header, longer records, an unknown section kind, unknown event kinds and an
//! unknown flag, skipping and counting what it does not know; another major is refused
//! with a message naming both versions.
#![cfg(not(loom))]

use core::mem::{offset_of, size_of};

use slabscope_proto::layout::*;
use slabscope_proto::*;

const EXTRA_HEADER: usize = 64;
const NEW_FLAG: u32 = 1 << 20;
const UNKNOWN_KIND: u32 = 9;

struct Buf(Vec<u8>);

impl Buf {
    fn put32(&mut self, at: usize, v: u32) {
        self.0[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn put64(&mut self, at: usize, v: u64) {
        self.0[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
    fn fill(&mut self, at: usize, len: usize, byte: u8) {
        self.0[at..at + len].fill(byte);
    }
}

const fn align64(v: usize) -> usize {
    (v + 63) & !63
}

/// Sections of the newer segment: (kind, capacity, stride), in table order.
const SECTIONS: [(u32, usize, usize); 6] = [
    (
        SectionKind::Classes as u32,
        2,
        size_of::<ClassRecord>() + 24,
    ),
    (
        SectionKind::Threads as u32,
        2,
        size_of::<ThreadRecord>() + 32,
    ),
    (UNKNOWN_KIND, 3, 48),
    (
        SectionKind::SuperSlabs as u32,
        2,
        size_of::<SuperSlabRecord>() + 40,
    ),
    (
        SectionKind::GpuPools as u32,
        1,
        size_of::<GpuPoolRecord>() + 8,
    ),
    (SectionKind::Ring as u32, 8, size_of::<EventRecord>() + 32),
];

/// Builds a segment of protocol `major.minor` as a newer writer would lay it out: the
/// 1.4 header (with one heap error in its table) and `EXTRA_HEADER` bytes more.
fn newer_segment(major: u16, minor: u16) -> Vec<u8> {
    segment(major, minor, HEADER_BYTES + EXTRA_HEADER)
}

/// A 1.3 segment: a 616-byte header, no heap error table (junk where 1.4 counts heap
/// errors, which a 1.3 writer kept zero: not read without the table).
fn older_segment() -> Vec<u8> {
    let mut b = segment(1, 3, size_of::<Header>());
    let counters = offset_of!(Header, totals) + offset_of!(Totals, heap_errors);
    b[counters..counters + 32].fill(0x11);
    b
}

fn segment(major: u16, minor: u16, header_size: usize) -> Vec<u8> {
    let mut offsets = [0usize; 6];
    let mut at = align64(header_size);
    for (i, &(_, cap, stride)) in SECTIONS.iter().enumerate() {
        offsets[i] = at;
        at = align64(at + cap * stride);
    }
    let total = at;
    // Unknown bytes everywhere (trailing record fields, new sections) are junk-filled.
    let mut b = Buf(vec![0xAB; total]);
    let known = if header_size >= HEADER_BYTES {
        HEADER_BYTES
    } else {
        size_of::<Header>()
    };
    b.fill(0, known, 0);
    b.fill(known, header_size - known, 0xCD);
    if known == HEADER_BYTES {
        // One double free in the heap error table (error 0, in record 0), counted.
        let t = HEAP_ERROR_TABLE_OFFSET;
        let r = t + offset_of!(HeapErrorTable, records);
        b.put64(t + offset_of!(HeapErrorTable, next), 1);
        b.put64(r + offset_of!(HeapErrorRecord, stamp), 2);
        b.put64(r + offset_of!(HeapErrorRecord, time_ns), 40);
        b.put64(r + offset_of!(HeapErrorRecord, address), 0x4000_1000);
        b.put64(r + offset_of!(HeapErrorRecord, block_bytes), 32);
        b.put64(r + offset_of!(HeapErrorRecord, requested), u64::MAX);
        b.put64(r + offset_of!(HeapErrorRecord, offset), u64::MAX);
        b.put32(r + offset_of!(HeapErrorRecord, what), 1 | 2 << 8);
        b.put32(r + offset_of!(HeapErrorRecord, class), 1);
        b.put32(r + offset_of!(HeapErrorRecord, thread), 4444);
        b.put32(r + offset_of!(HeapErrorRecord, site), u32::MAX);
        b.put64(
            offset_of!(Header, totals) + offset_of!(Totals, heap_errors),
            1,
        );
    }
    b.put64(offset_of!(Header, magic), MAGIC);
    b.put32(
        offset_of!(Header, version),
        (major as u32) << 16 | minor as u32,
    );
    b.put32(offset_of!(Header, header_size), header_size as u32);
    b.put64(offset_of!(Header, total_size), total as u64);
    b.put32(offset_of!(Header, pid), 777);
    b.put32(offset_of!(Header, flags), FLAG_OOM | NEW_FLAG);
    b.put32(offset_of!(Header, page_size), 4096);
    b.put32(offset_of!(Header, class_count), 2);
    b.put32(offset_of!(Header, slots_per_superslab), 32);
    b.put64(offset_of!(Header, superslab_bytes), SUPERSLAB_BYTES);
    b.put64(
        offset_of!(Header, command),
        u64::from_le_bytes(*b"newer\0\0\0"),
    );
    b.put64(
        offset_of!(Header, totals) + offset_of!(Totals, mapped_bytes),
        4 << 20,
    );
    b.put64(offset_of!(Header, ring) + offset_of!(RingControl, head), 6);
    b.put32(offset_of!(Header, section_count), SECTIONS.len() as u32);
    for (i, &(kind, cap, stride)) in SECTIONS.iter().enumerate() {
        let d = offset_of!(Header, sections) + i * size_of::<SectionDesc>();
        b.put32(d + offset_of!(SectionDesc, kind), kind);
        b.put32(d + offset_of!(SectionDesc, stride), stride as u32);
        b.put64(d + offset_of!(SectionDesc, offset), offsets[i] as u64);
        b.put32(d + offset_of!(SectionDesc, capacity), cap as u32);
        let used = if kind == SectionKind::Ring as u32 {
            0
        } else {
            1
        };
        b.put32(d + offset_of!(SectionDesc, used), used);
        b.put64(d + offset_of!(SectionDesc, overflow), 0);
    }
    // Classes: the known prefix of each (longer) record.
    for c in 0..2 {
        let r = offsets[0] + c * SECTIONS[0].2;
        b.fill(r, size_of::<ClassRecord>(), 0);
        b.put32(r + offset_of!(ClassRecord, block_size), 16 << c);
        b.put32(r + offset_of!(ClassRecord, class), c as u32);
        b.put64(r + offset_of!(ClassRecord, capacity_blocks), 100);
        b.put64(r + offset_of!(ClassRecord, free_blocks), 10);
        b.put64(r + offset_of!(ClassRecord, cached_blocks), 5);
    }
    // One live thread.
    let t = offsets[1];
    b.fill(t, size_of::<ThreadRecord>(), 0);
    b.put64(t + offset_of!(ThreadRecord, seq), 2);
    b.put64(t + offset_of!(ThreadRecord, tid), 4444);
    b.put32(t + offset_of!(ThreadRecord, state), THREAD_LIVE);
    b.put32(t + offset_of!(ThreadRecord, class_count), 2);
    b.put64(
        t + offset_of!(ThreadRecord, name),
        u64::from_le_bytes(*b"worker\0\0"),
    );
    b.put64(t + offset_of!(ThreadRecord, magazines) + 8, 7 | 16 << 32);
    // One SuperSlab.
    let s = offsets[3];
    b.fill(s, size_of::<SuperSlabRecord>(), 0);
    b.put64(s + offset_of!(SuperSlabRecord, seq), 4);
    b.put64(s + offset_of!(SuperSlabRecord, base), 0x4000_0000);
    b.put32(s + offset_of!(SuperSlabRecord, state), SUPERSLAB_MAPPED);
    b.put64(
        s + offset_of!(SuperSlabRecord, slots) + 5 * 8,
        pack_slot(SLOT_ACTIVE, 1, 2048, 9),
    );
    // One GPU pool.
    let g = offsets[4];
    b.fill(g, size_of::<GpuPoolRecord>(), 0);
    b.put64(g + offset_of!(GpuPoolRecord, seq), 2);
    b.put32(g + offset_of!(GpuPoolRecord, device), u32::MAX);
    b.put32(g + offset_of!(GpuPoolRecord, backend), GPU_BACKEND_HOST);
    b.put32(g + offset_of!(GpuPoolRecord, bucket_count), 1);
    b.put64(g + offset_of!(GpuPoolRecord, buckets), 4096);
    // Six events: known, unknown (code 300), known, unknown (301), known, known.
    let codes = [
        event::code::THREAD_EXIT,
        300,
        event::code::SUPERSLAB_EMPTY,
        301,
        1,
        15,
    ];
    for (seq, &code) in codes.iter().enumerate() {
        let e = offsets[5] + seq * SECTIONS[5].2;
        b.fill(e, size_of::<EventRecord>(), 0);
        b.put64(e + offset_of!(EventRecord, stamp), (seq as u64 + 1) << 1);
        b.put64(e + offset_of!(EventRecord, time_ns), 50 + seq as u64);
        b.put64(
            e + offset_of!(EventRecord, kind_thread),
            code as u64 | 4444 << 32,
        );
        b.put64(e + offset_of!(EventRecord, args), seq as u64 % 2);
    }
    b.0
}

fn check_newer(r: &SegmentReader) {
    assert_eq!(
        r.version(),
        ProtocolVersion {
            major: 1,
            minor: PROTOCOL_MINOR + 1
        }
    );
    assert_eq!(
        r.compat(),
        CompatInfo {
            header_extra_bytes: EXTRA_HEADER as u32,
            wider_sections: 5,
            unknown_sections: 1
        }
    );
    let s = r.snapshot().unwrap();
    assert_eq!((s.pid, s.command.as_str()), (777, "newer"));
    assert!(
        s.flags.oom && !s.flags.closed,
        "unknown flag bits are ignored"
    );
    assert_eq!(s.unknown_sections, 1);
    assert_eq!(s.totals.mapped_bytes, 4 << 20);
    assert_eq!(s.classes.len(), 2);
    assert_eq!((s.classes[1].block_size, s.classes[1].live), (32, 85));
    assert_eq!(s.threads.len(), 1);
    assert_eq!(
        (s.threads[0].tid, s.threads[0].name.as_str()),
        (4444, "worker")
    );
    assert_eq!(
        s.threads[0].magazines,
        vec![MagazineSnapshot {
            class: 1,
            fill: 7,
            capacity: 16
        }]
    );
    assert_eq!(s.superslabs.len(), 1);
    assert_eq!(s.superslabs[0].base, 0x4000_0000);
    assert_eq!(
        s.superslabs[0].slots[5],
        SlotSnapshot {
            state: SlotState::Active,
            class: 1,
            used: 9,
            capacity: 2048,
            owner: SlotOwner::None,
        }
    );
    assert_eq!(s.gpu.len(), 1);
    assert_eq!((s.gpu[0].device, s.gpu[0].buckets.len()), (None, 1));
    assert_eq!(s.busy_records, 0);
    assert_eq!(
        s.heap_errors,
        vec![HeapError {
            kind: HeapErrorKind::DoubleFree,
            op: HeapErrorOp::Free,
            reason: InvalidReason::None,
            address: 0x4000_1000,
            class: 1,
            block_bytes: 32,
            requested: None,
            offset: None,
            thread: 4444,
            site: None,
            time_ns: 40,
        }]
    );
    assert_eq!(s.heap_error_counts, HeapErrorCounts([1, 0, 0, 0]));

    let mut cur = Cursor::default();
    let mut out = Vec::new();
    let st = r.poll_events(&mut cur, usize::MAX, &mut out);
    assert_eq!(st.unknown, 2, "unknown event kinds are skipped and counted");
    assert_eq!((st.missed, st.corrupt), (0, 0));
    assert_eq!(
        out.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![0, 2, 4, 5]
    );
    assert_eq!(out[0].kind, EventKind::ThreadExit { blocks: 0 });
    assert_eq!(out[1].kind, EventKind::SuperSlabEmpty { superslab: 0 });
    assert_eq!(out[3].kind, EventKind::ThreadExit { blocks: 1 });
    assert_eq!(out[3].thread, 4444);
    assert_eq!(cur.next_seq(), 6);
}

#[test]
fn a_newer_minor_is_read_with_its_unknowns_skipped_and_counted() {
    let bytes = newer_segment(1, PROTOCOL_MINOR + 1);
    check_newer(&SegmentReader::from_bytes(&bytes).unwrap());
}

#[test]
fn a_newer_minor_is_read_through_a_mapped_file() {
    let bytes = newer_segment(1, PROTOCOL_MINOR + 1);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("slabscope.777");
    std::fs::write(&p, &bytes).unwrap();
    check_newer(&SegmentReader::open(&p).unwrap());
}

#[test]
fn an_older_minor_without_the_heap_error_table_shows_no_heap_errors() {
    let r = SegmentReader::from_bytes(&older_segment()).unwrap();
    assert_eq!(r.version(), ProtocolVersion { major: 1, minor: 3 });
    assert_eq!(r.compat().header_extra_bytes, 0);
    let s = r.snapshot().unwrap();
    assert_eq!(s.threads.len(), 1);
    assert!(s.heap_errors.is_empty());
    assert_eq!(s.heap_error_counts, HeapErrorCounts::default());
    assert_eq!(s.heap_error_counts.total(), 0);
}

#[test]
fn another_major_is_refused_naming_both_versions() {
    let bytes = newer_segment(2, 3);
    let err = SegmentReader::from_bytes(&bytes).unwrap_err();
    assert!(matches!(
        err,
        ReadError::WrongMajor {
            found: ProtocolVersion { major: 2, minor: 3 },
            supported: ProtocolVersion { major: 1, .. },
        }
    ));
    let msg = err.to_string();
    assert!(msg.contains("2.3") && msg.contains("1.x"), "{msg}");
    assert!(msg.contains("upgrade alloc-inspect"), "{msg}");
    // A major-2 header may be shorter than ours: still reported as the wrong major.
    let short = SegmentReader::from_bytes(&bytes[..16]).unwrap_err();
    assert!(matches!(short, ReadError::WrongMajor { .. }), "{short}");
    let older = SegmentReader::from_bytes(&newer_segment(0, 9)).unwrap_err();
    let msg = older.to_string();
    assert!(
        msg.contains("0.9") && msg.contains("upgrade slabscope"),
        "{msg}"
    );
}

#[test]
fn a_newer_minor_may_not_shrink_what_this_reader_knows() {
    let mut bytes = newer_segment(1, 1);
    let d = offset_of!(Header, sections) + size_of::<SectionDesc>();
    let short_stride = (size_of::<ThreadRecord>() - 8) as u32;
    bytes[d + 4..d + 8].copy_from_slice(&short_stride.to_le_bytes());
    assert!(matches!(
        SegmentReader::from_bytes(&bytes),
        Err(ReadError::BadSection { kind: 2, .. })
    ));
    let mut bytes = newer_segment(1, 1);
    let h = offset_of!(Header, header_size);
    bytes[h..h + 4].copy_from_slice(&(size_of::<Header>() as u32 - 8).to_le_bytes());
    assert!(matches!(
        SegmentReader::from_bytes(&bytes),
        Err(ReadError::BadHeader(_))
    ));
}
