//! A growing segment allocates a GPU pool record's pages when the record is claimed: a
//! process without GPU pools (every program under the preload) allocates none of the
//! table, and one with pools shows each of them.

mod common;

use slabscope_proto::layout::{GPU_BACKEND_CUDA, GPU_BACKEND_HOST};
use slabscope_proto::{SegmentReader, SegmentWriter};

#[test]
fn gpu_pool_records_are_allocated_when_claimed() {
    const POOLS: u32 = 16;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(4, 1024);
    cfg.max_gpu_pools = POOLS;
    let w =
        SegmentWriter::create_growing(dir.path().as_os_str().as_encoded_bytes(), 47, &cfg, None)
            .unwrap();
    let at_creation = common::allocated(&dir, 47);
    // The same segment without a GPU pool table allocates as much at creation (a page
    // more at most: the sections after the table start elsewhere in their pages).
    let page = u64::from(slabscope_proto::raw::sys::page_size());
    let without = {
        let mut none = cfg;
        none.max_gpu_pools = 0;
        let _w = SegmentWriter::create_growing(
            dir.path().as_os_str().as_encoded_bytes(),
            48,
            &none,
            None,
        )
        .unwrap();
        common::allocated(&dir, 48)
    };
    assert!(
        at_creation <= without + page,
        "{at_creation} bytes allocated with the table, {without} without"
    );
    for i in 0..POOLS {
        let backend = if i % 2 == 0 {
            GPU_BACKEND_CUDA
        } else {
            GPU_BACKEND_HOST
        };
        let device = (backend == GPU_BACKEND_CUDA).then_some(i);
        let name = format!("pool {i}");
        assert_eq!(
            w.claim_gpu_pool(device, backend, name.as_bytes(), &[4096, 8192]),
            Some(i)
        );
    }
    assert_eq!(
        w.claim_gpu_pool(None, GPU_BACKEND_HOST, b"one more", &[]),
        None
    );
    let grown = common::allocated(&dir, 47);
    let s = SegmentReader::open(&common::path(&dir, 47))
        .unwrap()
        .snapshot()
        .unwrap();
    let names: Vec<_> = s.gpu.iter().map(|g| g.name.clone()).collect();
    let expected: Vec<_> = (0..POOLS).map(|i| format!("pool {i}")).collect();
    assert_eq!(names, expected, "every claimed pool shows");
    assert_eq!(s.overflow.gpu_pools, 1, "the refused claim is counted");
    assert!(
        grown > at_creation,
        "claims allocated the table's pages: {at_creation} -> {grown} bytes"
    );
}
