//! The OOM report section (protocol 1.2): a written report reads back field for field
//! (and as JSON), a segment without the section (1.1) reads with `oom == None`, a segment
//! without an OOM reads `None`, and out-of-range values are refused.
#![cfg(not(loom))]

mod common;

use core::mem::{offset_of, size_of};
use core::sync::atomic::Ordering;

use slabscope_proto::layout::*;
use slabscope_proto::oom::*;
use slabscope_proto::{ReadError, SegmentReader, SegmentWriter};

fn writer(dir: &tempfile::TempDir, pid: u32) -> SegmentWriter {
    common::create(dir, pid, &common::config(4, 16))
}

/// Writes a report of a class-2 request with known numbers.
fn write_report(w: &SegmentWriter) {
    w.update_oom_report(|r| {
        let o = Ordering::Relaxed;
        r.reports.fetch_add(1, o);
        r.time_mono_ns.store(77, o);
        r.tid.store(1234, o);
        r.cause.store(OOM_CAUSE_LIMIT, o);
        r.request_bytes.store(40, o);
        r.align.store(16, o);
        r.class.store(2, o);
        r.class_count.store(4, o);
        r.mapped_bytes.store(3 << 21, o);
        r.limit_bytes.store(3 << 21, o);
        r.peak_mapped_bytes.store(3 << 21, o);
        r.large_bytes.store(1 << 21, o);
        r.large_count.store(1, o);
        r.superslabs.store(2, o);
        r.header_bytes.store(8192, o);
        r.unused_slots.store(3, o);
        r.unused_bytes.store(3 << 16, o);
        r.tail_bytes.store(48, o);
        r.empty_slots.store(1, o);
        r.empty_bytes.store(65520, o);
        r.stranded_bytes.store(4096, o);
        r.stranded_threads.store(1, o);
        r.threads_seen.store(3, o);
        r.largest_free_run_bytes.store(2 << 16, o);
        r.largest_free_run_superslab.store(0x20_0000, o);
        r.largest_free_run_slot.store(5, o);
        r.largest_free_run_kind.store(FREE_RUN_SLOTS, o);
        r.ring_seq.store(9, o);
        r.class_live_bytes[0].store(1600, o);
        r.class_cached_bytes[0].store(160, o);
        r.class_free_bytes[0].store(16, o);
        r.class_free_bytes[2].store(65520, o);
        r.class_empty_slots[2].store(1, o);
        r.class_empty_bytes[2].store(65520, o);
        r.stranded[0].tid.store(99, o);
        r.stranded[0].bytes.store(4096, o);
        r.stranded[0].idle_ns.store(2_000_000_000, o);
        r.stranded[0].state.store(STRANDED_IDLE, o);
    })
    .expect("the segment has an OOM report record");
}

#[test]
fn a_segment_without_an_oom_reads_none() {
    let dir = tempfile::tempdir().unwrap();
    let _w = writer(&dir, 501);
    let snap = SegmentReader::open(&common::path(&dir, 501))
        .unwrap()
        .snapshot()
        .unwrap();
    assert_eq!(snap.oom, None);
    assert!(snap.protocol.minor >= 2, "the OOM report is 1.2");
}

#[test]
fn a_report_round_trips_field_for_field() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer(&dir, 502);
    write_report(&w);
    let snap = SegmentReader::open(&common::path(&dir, 502))
        .unwrap()
        .snapshot()
        .unwrap();
    let o = snap.oom.expect("report");
    assert_eq!(o.reports, 1);
    assert_eq!((o.tid, o.cause, o.class), (1234, OomCause::Limit, Some(2)));
    assert_eq!((o.request_bytes, o.align, o.time_mono_ns), (40, 16, 77));
    assert_eq!((o.mapped_bytes, o.limit_bytes), (3 << 21, 3 << 21));
    assert_eq!(
        (o.large_bytes, o.large_count, o.superslabs),
        (1 << 21, 1, 2)
    );
    assert_eq!(
        (o.header_bytes, o.unused_slots, o.unused_bytes),
        (8192, 3, 3 << 16)
    );
    assert_eq!((o.tail_bytes, o.empty_slots, o.empty_bytes), (48, 1, 65520));
    assert_eq!(
        (o.stranded_bytes, o.stranded_threads, o.threads_seen),
        (4096, 1, 3)
    );
    assert_eq!(
        o.largest_free_run,
        FreeRun {
            bytes: 2 << 16,
            superslab: 0x20_0000,
            slot: 5,
            kind: FreeRunKind::Slots
        }
    );
    assert_eq!(o.ring_seq, Some(9));
    assert_eq!(
        o.classes,
        vec![
            OomClass {
                class: 0,
                live_bytes: 1600,
                cached_bytes: 160,
                free_bytes: 16,
                empty_slots: 0,
                empty_bytes: 0
            },
            OomClass {
                class: 2,
                live_bytes: 0,
                cached_bytes: 0,
                free_bytes: 65520,
                empty_slots: 1,
                empty_bytes: 65520
            },
        ]
    );
    assert_eq!(o.class_bytes(), 1600 + 160 + 16 + 65520);
    assert_eq!(
        o.stranded,
        vec![StrandedThread {
            tid: 99,
            bytes: 4096,
            idle_ns: 2_000_000_000,
            exited: false
        }]
    );
    let json = serde_json::to_value(&o).unwrap();
    assert_eq!(json["cause"], "limit");
    assert_eq!(json["largest_free_run"]["kind"], "slots");
    assert_eq!(json["classes"][1]["empty_slots"], 1);
}

#[test]
fn a_1_1_segment_without_the_section_reads_with_no_report() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer(&dir, 503);
    write_report(&w);
    let mut bytes = std::fs::read(common::path(&dir, 503)).unwrap();
    // Rewrite it as a 1.1 writer laid it out: no OOM report entry in the section table.
    let put32 =
        |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put32(
        &mut bytes,
        offset_of!(Header, version),
        (PROTOCOL_MAJOR as u32) << 16 | 1,
    );
    let count_at = offset_of!(Header, section_count);
    let count = u32::from_le_bytes(bytes[count_at..count_at + 4].try_into().unwrap()) as usize;
    let entry = |i: usize| offset_of!(Header, sections) + i * size_of::<SectionDesc>();
    let oom = (0..count)
        .find(|&i| {
            u32::from_le_bytes(bytes[entry(i)..entry(i) + 4].try_into().unwrap())
                == SectionKind::OomReport as u32
        })
        .expect("a 1.2 writer lays out the OOM report section");
    for i in oom..count - 1 {
        let (a, b) = (entry(i), entry(i + 1));
        bytes.copy_within(b..b + size_of::<SectionDesc>(), a);
    }
    bytes[entry(count - 1)..entry(count)].fill(0);
    put32(&mut bytes, count_at, count as u32 - 1);
    let r = SegmentReader::from_bytes(&bytes).unwrap();
    assert_eq!(r.version().minor, 1);
    let snap = r.snapshot().unwrap();
    assert_eq!(snap.oom, None);
    assert_eq!(snap.unknown_sections, 0);
}

type Spoil = fn(&OomReportRecord);

#[test]
fn out_of_range_values_are_refused() {
    let cases: [(&str, Spoil); 4] = [
        ("cause", |r| r.cause.store(7, Ordering::Relaxed)),
        ("class", |r| r.class.store(4, Ordering::Relaxed)),
        ("classes", |r| r.class_count.store(5, Ordering::Relaxed)),
        ("kind", |r| {
            r.largest_free_run_kind.store(9, Ordering::Relaxed)
        }),
    ];
    for (i, (what, spoil)) in cases.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let pid = 510 + i as u32;
        let w = writer(&dir, pid);
        write_report(&w);
        w.update_oom_report(spoil);
        let err = SegmentReader::open(&common::path(&dir, pid))
            .unwrap()
            .snapshot()
            .unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::BadRecord {
                    section: "OOM report",
                    ..
                }
            ),
            "{what}: {err}"
        );
        assert!(err.to_string().contains(what), "{what}: {err}");
    }
}
