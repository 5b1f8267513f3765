//! The sample-site section (protocol 1.2): written sites read back field for field, a
//! segment without the section reads with no sites, and malformed records are refused.

mod common;

use core::sync::atomic::Ordering;

use slabscope_proto::layout::*;
use slabscope_proto::{ReadError, SampleConfig, SegmentReader, SegmentWriter};

fn sampled(dir: &tempfile::TempDir, pid: u32, max_sites: u32) -> SegmentWriter {
    let cfg = common::config(4, 16);
    let sample = SampleConfig {
        max_sites,
        interval_bytes: 512 << 10,
    };
    SegmentWriter::create_sampled(
        dir.path().as_os_str().as_encoded_bytes(),
        pid,
        &cfg,
        Some(&sample),
    )
    .expect("create sampled segment")
}

#[test]
fn sites_round_trip_field_for_field() {
    let dir = tempfile::tempdir().unwrap();
    let w = sampled(&dir, 4242, 8);
    assert!(w.samples_sites());
    let frames: Vec<u64> = (1..=20).map(|i| 0x40_0000 + i * 16).collect();
    let a = w.claim_sample_site(0xabc, &frames, 100).unwrap();
    let b = w.claim_sample_site(0xdef, &frames[..3], 200).unwrap();
    assert_eq!((a, b), (0, 1));
    w.update_sample_site(a, |s| {
        let r = Ordering::Relaxed;
        s.live_bytes.store(4096, r);
        s.live_samples.store(2, r);
        s.live_estimated_bytes.store(1 << 20, r);
        s.total_bytes.store(8192, r);
        s.total_samples.store(4, r);
        s.last_mono_ns.store(300, r);
    })
    .unwrap();
    let snap = SegmentReader::open(&common::path(&dir, 4242))
        .unwrap()
        .snapshot()
        .unwrap();
    assert!(snap.protocol.minor >= 2, "sample sites are 1.2");
    assert_eq!(snap.sample_interval_bytes, 512 << 10);
    assert_eq!(snap.sites.len(), 2);
    let s = &snap.sites[0];
    assert_eq!(s.index, 0);
    assert_eq!(s.hash, 0xabc);
    assert_eq!(s.frames, frames[..MAX_SAMPLE_FRAMES].to_vec());
    assert_eq!(
        (s.live_bytes, s.live_samples, s.live_estimated_bytes),
        (4096, 2, 1 << 20)
    );
    assert_eq!((s.total_bytes, s.total_samples), (8192, 4));
    assert_eq!((s.first_mono_ns, s.last_mono_ns), (100, 300));
    assert_eq!(snap.sites[1].frames, frames[..3].to_vec());
    assert_eq!(snap.sites[1].live_bytes, 0);
    assert_eq!(snap.sites_overflow, 0);
}

#[test]
fn a_full_site_table_counts_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let w = sampled(&dir, 4243, 2);
    assert!(w.claim_sample_site(1, &[1], 1).is_some());
    assert!(w.claim_sample_site(2, &[2], 1).is_some());
    assert!(w.claim_sample_site(3, &[3], 1).is_none());
    let snap = SegmentReader::open(&common::path(&dir, 4243))
        .unwrap()
        .snapshot()
        .unwrap();
    assert_eq!(snap.sites.len(), 2);
    assert_eq!(snap.sites_overflow, 1);
}

#[test]
fn a_segment_without_the_section_reads_with_no_sites() {
    let dir = tempfile::tempdir().unwrap();
    let w = common::create(&dir, 4244, &common::config(4, 16));
    assert!(!w.samples_sites());
    assert!(w.claim_sample_site(1, &[1], 1).is_none());
    let snap = SegmentReader::open(&common::path(&dir, 4244))
        .unwrap()
        .snapshot()
        .unwrap();
    assert!(snap.sites.is_empty());
    assert_eq!(snap.sample_interval_bytes, 0);
    assert_eq!(snap.sites_overflow, 0);
}

#[test]
fn a_1_1_segment_with_sites_marked_unknown_reads_with_no_sites() {
    // A 1.1 reader's view: the same bytes with the version set back and the section's
    // kind unknown to it read cleanly; here the kind is made unknown (99) to check that a
    // reader skips a section it does not know and still reads everything else.
    let dir = tempfile::tempdir().unwrap();
    let w = sampled(&dir, 4245, 4);
    w.claim_sample_site(7, &[1, 2], 1).unwrap();
    let mut bytes = std::fs::read(common::path(&dir, 4245)).unwrap();
    let table = core::mem::offset_of!(Header, sections);
    let entry = (0..MAX_SECTIONS)
        .map(|i| table + i * core::mem::size_of::<SectionDesc>())
        .find(|&at| bytes[at..at + 4] == 7u32.to_le_bytes())
        .expect("sample-site section in the table");
    bytes[entry..entry + 4].copy_from_slice(&99u32.to_le_bytes());
    let snap = SegmentReader::from_bytes(&bytes)
        .unwrap()
        .snapshot()
        .unwrap();
    assert!(snap.sites.is_empty());
    assert_eq!(snap.unknown_sections, 1);
}

#[test]
fn a_site_with_too_many_frames_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let w = sampled(&dir, 4246, 4);
    let i = w.claim_sample_site(7, &[1, 2], 1).unwrap();
    w.update_sample_site(i, |s| s.frame_count.store(17, Ordering::Relaxed));
    let r = SegmentReader::open(&common::path(&dir, 4246)).unwrap();
    match r.snapshot() {
        Err(ReadError::BadRecord { section, .. }) => assert_eq!(section, "sample site"),
        other => panic!("expected BadRecord, got {other:?}"),
    }
}

#[test]
fn sampling_needs_sites_and_an_interval() {
    let dir = tempfile::tempdir().unwrap();
    let bad = SampleConfig {
        max_sites: 0,
        interval_bytes: 1,
    };
    let e = SegmentWriter::create_sampled(
        dir.path().as_os_str().as_encoded_bytes(),
        4247,
        &common::config(4, 16),
        Some(&bad),
    )
    .unwrap_err();
    assert!(e.to_string().contains("max_sites"));
    // Interval 0: the section is there, nothing is being sampled yet.
    let idle = SampleConfig {
        max_sites: 4,
        interval_bytes: 0,
    };
    let w = SegmentWriter::create_sampled(
        dir.path().as_os_str().as_encoded_bytes(),
        4248,
        &common::config(4, 16),
        Some(&idle),
    )
    .unwrap();
    assert_eq!(
        w.header()
            .totals
            .sample_interval_bytes
            .load(Ordering::Relaxed),
        0
    );
}
