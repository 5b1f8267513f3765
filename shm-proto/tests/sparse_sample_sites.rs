//! A growing segment made while its process does not sample allocates no page for
//! sample sites: they get their first pages before sampling starts
//! (`SegmentWriter::prepare_sample_sites`), or, if a site is claimed first, at the next
//! grow (that one site counts as overflow).

mod common;

use slabscope_proto::{SampleConfig, SegmentReader, SegmentWriter};

fn create(dir: &tempfile::TempDir, pid: u32, interval_bytes: u64) -> SegmentWriter {
    let sample = SampleConfig {
        max_sites: 256,
        interval_bytes,
    };
    SegmentWriter::create_growing(
        dir.path().as_os_str().as_encoded_bytes(),
        pid,
        &common::config(4, 1024),
        Some(&sample),
    )
    .unwrap()
}

fn sites(dir: &tempfile::TempDir, pid: u32) -> (usize, u64) {
    let s = SegmentReader::open(&common::path(dir, pid))
        .unwrap()
        .snapshot()
        .unwrap();
    (s.sites.len(), s.sites_overflow)
}

#[test]
fn sample_sites_get_pages_when_sampling_starts() {
    let dir = tempfile::tempdir().unwrap();
    let sampling = create(&dir, 51, 512 << 10);
    let with_sites = common::allocated(&dir, 51);
    assert!(sampling
        .claim_sample_site(1, &[0x1000, 0x2000], 5)
        .is_some());

    let quiet = create(&dir, 52, 0);
    let without = common::allocated(&dir, 52);
    let page = u64::from(slabscope_proto::raw::sys::page_size());
    if with_sites == without {
        // The file system allocated both files whole (no MADV_POPULATE_WRITE here):
        // every record has its page, and there is nothing sparse to check.
        eprintln!("segments allocated whole: the sparse path is not exercised here");
        return;
    }
    assert_eq!(
        without + page,
        with_sites,
        "not sampling: one page fewer than sampling"
    );
    assert!(quiet.prepare_sample_sites());
    assert_eq!(
        common::allocated(&dir, 52),
        with_sites,
        "the sites' page, once"
    );
    assert!(
        quiet.prepare_sample_sites(),
        "a second call changes nothing"
    );
    assert_eq!(quiet.claim_sample_site(7, &[0x1000], 9), Some(0));
    assert_eq!(sites(&dir, 52), (1, 0));
}

#[test]
fn a_site_claimed_before_the_pages_is_counted_and_asks_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let w = create(&dir, 53, 0);
    let before = common::allocated(&dir, 53);
    if w.claim_sample_site(3, &[0x1000], 1).is_some() {
        // Allocated whole (no MADV_POPULATE_WRITE): every record has its page.
        eprintln!("segment allocated whole: the sparse path is not exercised here");
        return;
    }
    assert_eq!(sites(&dir, 53), (0, 1), "the refused site is counted");
    w.grow();
    assert!(
        common::allocated(&dir, 53) > before,
        "the grow allocated the first sites"
    );
    assert_eq!(w.claim_sample_site(4, &[0x1000], 2), Some(0));
    assert_eq!(sites(&dir, 53), (1, 1));
}
