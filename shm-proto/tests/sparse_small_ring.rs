//! A growing segment stays sparse whatever its sizes: with a ring no larger than the
//! events allocated at creation (`SLABSCOPE_RING=64`, the least the allocator takes),
//! the rest of the file is still allocated only as the tables fill.

mod common;

use slabscope_proto::SegmentWriter;

#[test]
fn a_ring_allocated_whole_at_creation_leaves_the_file_sparse() {
    let dir = tempfile::tempdir().unwrap();
    let create = |pid: u32, ring: u32| {
        let mut cfg = common::config(4, ring);
        cfg.max_threads = 256;
        cfg.max_superslabs = 1024;
        let w = SegmentWriter::create_growing(
            dir.path().as_os_str().as_encoded_bytes(),
            pid,
            &cfg,
            None,
        )
        .unwrap();
        (
            w.header()
                .total_size
                .load(std::sync::atomic::Ordering::Relaxed),
            common::allocated(&dir, pid),
        )
    };
    let (total, small_ring) = create(51, 64);
    let (_, large_ring) = create(52, 65_536);
    let page = u64::from(slabscope_proto::raw::sys::page_size());
    assert!(
        small_ring <= large_ring + page,
        "ring of 64: {small_ring} bytes allocated of {total}; ring of 65,536: {large_ring}"
    );
    assert!(
        small_ring < total / 4,
        "ring of 64: {small_ring} bytes allocated of {total}"
    );
}
