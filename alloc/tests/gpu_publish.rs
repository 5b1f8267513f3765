//! A pool's counters and events, read back from the segment through the proto reader,
//! match what the pool says about itself.

mod gpu_support;

use std::path::PathBuf;
use std::sync::Arc;

use gpu_support::TestDevice;
use slabscope::gpu::{BucketStats, PoolConfig, Publish, SlabPool};
use slabscope_proto::layout::MAX_CLASSES;
use slabscope_proto::reader::SegmentReader;
use slabscope_proto::writer::{SegmentConfig, SegmentWriter};
use slabscope_proto::{Cursor, EventKind, GpuBackend, GpuBucketSnapshot};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

fn segment(dir: &tempfile::TempDir, max_gpu_pools: u32) -> (Arc<SegmentWriter>, PathBuf) {
    let mut class_sizes = [0u32; MAX_CLASSES];
    class_sizes[0] = 16;
    let cfg = SegmentConfig {
        class_sizes,
        class_count: 1,
        max_threads: 4,
        max_superslabs: 4,
        max_gpu_pools,
        ring_capacity: 256,
        drain_interval: 1024,
        limit_bytes: 0,
        flags: 0,
    };
    let dir_bytes = dir.path().as_os_str().as_encoded_bytes();
    let w = SegmentWriter::create(dir_bytes, std::process::id(), &cfg).expect("create segment");
    let path = PathBuf::from(String::from_utf8(w.path_bytes().to_vec()).unwrap());
    (Arc::new(w), path)
}

fn published(b: &BucketStats) -> GpuBucketSnapshot {
    GpuBucketSnapshot {
        bucket_bytes: b.bucket_bytes,
        live: b.live,
        cached: b.cached,
        hits: b.hits,
        misses: b.misses,
        high_water: b.high_water,
        trimmed: b.trimmed,
    }
}

#[test]
fn published_counters_and_events_match_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, path) = segment(&dir, 2);
    let config = PoolConfig {
        cache_limit: Some(MIB),
        name: Some("staging".into()),
        publish: Publish::Segment(Arc::clone(&writer)),
        ..PoolConfig::default()
    };
    let pool = SlabPool::with_config(TestDevice::with_limit(8 * MIB), config).unwrap();
    assert!(pool.is_published());

    // Misses and a hit in the 8 KiB bucket, an oversize buffer.
    let held: Vec<_> = (0..3).map(|_| pool.alloc(6000).unwrap()).collect();
    drop(held);
    let again = pool.alloc(8 * KIB).unwrap();
    let big = pool.alloc(3 * MIB).unwrap();
    drop(big);
    // Cache limit: the first 1 MiB buffer back evicts the two cached 8 KiB buffers (one
    // trim), the second evicts the first (another), then an explicit trim (a third).
    drop((pool.alloc(MIB).unwrap(), pool.alloc(MIB).unwrap()));
    pool.trim().unwrap();
    let keep: Vec<_> = (0..3).map(|_| pool.alloc(2 * MIB).unwrap()).collect();
    assert!(
        pool.alloc(4 * MIB).is_err(),
        "6 of 8 MiB live: no room for 4 MiB"
    );

    let stats = pool.stats();
    let snap = SegmentReader::open(&path).unwrap().snapshot().unwrap();
    assert!(snap.flags.gpu, "the segment says it has a GPU pool");
    assert_eq!(snap.gpu.len(), 1);
    let g = &snap.gpu[0];
    assert_eq!(
        (g.name.as_str(), g.backend, g.device),
        ("staging", GpuBackend::Host, None)
    );
    assert_eq!(g.cache_limit_bytes, MIB);
    assert_eq!(g.device_total_bytes, 8 * MIB);
    assert_eq!(
        g.device_free_bytes,
        2 * MIB - 8 * KIB,
        "refreshed at the OOM"
    );
    assert_eq!(
        (g.oversize, g.oversize_live_bytes),
        (stats.oversize, stats.oversize_live_bytes)
    );
    assert_eq!((g.trims, g.device_ooms), (stats.trims, stats.device_ooms));
    assert_eq!(
        (g.oversize, g.trims, g.device_ooms),
        (1, 3, 1),
        "a failed oversize is not served"
    );
    let expected: Vec<_> = stats.buckets.iter().map(published).collect();
    assert_eq!(g.buckets, expected);
    let b8 = g
        .buckets
        .iter()
        .find(|b| b.bucket_bytes == 8 * KIB)
        .unwrap();
    assert_eq!(
        (
            b8.live,
            b8.cached,
            b8.hits,
            b8.misses,
            b8.high_water,
            b8.trimmed
        ),
        (1, 0, 1, 3, 3, 2)
    );
    let b1m = g.buckets.iter().find(|b| b.bucket_bytes == MIB).unwrap();
    assert_eq!((b1m.misses, b1m.trimmed, b1m.cached), (2, 2, 0));

    let reader = SegmentReader::open(&path).unwrap();
    let (mut cursor, mut events) = (Cursor::default(), Vec::new());
    let poll = reader.poll_events(&mut cursor, 1024, &mut events);
    assert_eq!((poll.missed, poll.corrupt), (0, 0));
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    let misses = kinds
        .iter()
        .filter(|k| matches!(k, EventKind::GpuMiss { .. }))
        .count() as u64;
    assert_eq!(misses, stats.misses());
    assert!(kinds.contains(&EventKind::GpuMiss {
        pool: 0,
        bucket_bytes: 8 * KIB,
        request: 6000
    }));
    assert!(kinds.contains(&EventKind::GpuOversize {
        pool: 0,
        request: 3 * MIB
    }));
    assert!(kinds.contains(&EventKind::GpuTrim {
        pool: 0,
        bytes: 16 * KIB,
        buffers: 2
    }));
    assert!(kinds.contains(&EventKind::GpuTrim {
        pool: 0,
        bytes: MIB,
        buffers: 1
    }));
    let trims = kinds
        .iter()
        .filter(|k| matches!(k, EventKind::GpuTrim { .. }))
        .count() as u64;
    assert_eq!(trims, stats.trims);
    let oom = kinds
        .iter()
        .find(|k| matches!(k, EventKind::GpuOom { .. }))
        .expect("an OOM event");
    assert_eq!(
        *oom,
        EventKind::GpuOom {
            pool: 0,
            request: 4 * MIB,
            live_bytes: 6 * MIB + 8 * KIB,
            cached_bytes: 0,
            device_free_bytes: 2 * MIB - 8 * KIB,
        }
    );
    assert!(events.iter().all(|e| e.thread != 0));
    drop((again, keep));
}

#[test]
fn a_full_gpu_pool_table_leaves_the_pool_unpublished_but_working() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, path) = segment(&dir, 1);
    let config = || PoolConfig {
        publish: Publish::Segment(Arc::clone(&writer)),
        ..PoolConfig::default()
    };
    let first = SlabPool::with_config(TestDevice::unlimited(), config()).unwrap();
    let second = SlabPool::with_config(TestDevice::unlimited(), config()).unwrap();
    assert!(first.is_published());
    assert!(!second.is_published());
    drop(second.alloc(4 * KIB).unwrap());
    assert_eq!(second.stats().misses(), 1);
    let snap = SegmentReader::open(&path).unwrap().snapshot().unwrap();
    assert_eq!((snap.gpu.len(), snap.overflow.gpu_pools), (1, 1));
}
