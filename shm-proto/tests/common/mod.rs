//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use slabscope_proto::heap_error::HEAP_ERROR_LARGE;
use slabscope_proto::layout::*;
use slabscope_proto::{
    DrainReason, EventKind, HeapError, HeapErrorKind, HeapErrorOp, InvalidReason, SegmentConfig,
    SegmentWriter,
};

/// A small configuration: `classes` classes of 16, 32, 48, ... bytes.
pub fn config(classes: u32, ring_capacity: u32) -> SegmentConfig {
    let mut class_sizes = [0; MAX_CLASSES];
    for (i, s) in class_sizes.iter_mut().enumerate().take(classes as usize) {
        *s = 16 * (i as u32 + 1);
    }
    SegmentConfig {
        class_sizes,
        class_count: classes,
        max_threads: 4,
        max_superslabs: 4,
        max_gpu_pools: 2,
        ring_capacity,
        drain_interval: 4096,
        limit_bytes: 64 << 20,
        flags: FLAG_PRELOAD,
    }
}

/// Creates a segment for `pid` in `dir`.
pub fn create(dir: &tempfile::TempDir, pid: u32, cfg: &SegmentConfig) -> SegmentWriter {
    SegmentWriter::create(dir.path().as_os_str().as_encoded_bytes(), pid, cfg)
        .expect("create segment")
}

/// The segment path of `pid` in `dir`.
pub fn path(dir: &tempfile::TempDir, pid: u32) -> PathBuf {
    dir.path().join(format!("slabscope.{pid}"))
}

/// Bytes of the segment file of `pid` in `dir` that are allocated (a growing segment is
/// sparse).
pub fn allocated(dir: &tempfile::TempDir, pid: u32) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path(dir, pid)).unwrap().blocks() * 512
}

/// One event of every kind this version knows (classes < 4).
pub fn all_kinds() -> Vec<EventKind> {
    vec![
        EventKind::MagazineDrain {
            class: 3,
            blocks: 17,
            reason: DrainReason::Interval,
        },
        EventKind::SlotAcquire {
            superslab: 0x20_0000,
            slot: 31,
            class: 2,
            stage: 3,
        },
        EventKind::SlotEmpty {
            superslab: 0x40_0000,
            slot: 0,
            class: 1,
        },
        EventKind::SlotRelease {
            superslab: 0x40_0000,
            slot: 5,
            class: 1,
        },
        EventKind::SuperSlabMap {
            superslab: 0x60_0000,
            mapped_bytes: 4 << 20,
        },
        EventKind::SuperSlabEmpty {
            superslab: 0x60_0000,
        },
        EventKind::SuperSlabReturn {
            superslab: 0x60_0000,
            mapped_bytes: 2 << 20,
        },
        EventKind::LargeMap {
            addr: 0x7000_0000,
            bytes: 1 << 20,
            align: 4096,
        },
        EventKind::LargeUnmap {
            addr: 0x7000_0000,
            bytes: 1 << 20,
        },
        EventKind::Oom {
            request: 99,
            align: 8,
            class: Some(0),
            mapped_bytes: 1 << 30,
            limit_bytes: 1 << 30,
        },
        EventKind::Oom {
            request: 1 << 40,
            align: 8,
            class: None,
            mapped_bytes: 0,
            limit_bytes: 0,
        },
        EventKind::GpuMiss {
            pool: 1,
            bucket_bytes: 8192,
            request: 5000,
        },
        EventKind::GpuOversize {
            pool: 1,
            request: 1 << 30,
        },
        EventKind::GpuTrim {
            pool: 1,
            bytes: 1 << 20,
            buffers: 4,
        },
        EventKind::GpuOom {
            pool: 0,
            request: 1 << 30,
            live_bytes: 5,
            cached_bytes: 6,
            device_free_bytes: 7,
        },
        EventKind::ThreadExit { blocks: 12 },
        EventKind::ControlAck {
            seq: 42,
            accepted: true,
            commands: slabscope_proto::event::control_command::DRAIN,
            reason: slabscope_proto::event::ControlReason::Accepted,
            line: 0,
            sample_bytes: 0,
            log_hash: 0,
            trimmed: 0,
        },
        HeapError {
            kind: HeapErrorKind::DoubleFree,
            op: HeapErrorOp::Free,
            reason: InvalidReason::None,
            address: 0x20_1040,
            class: 3,
            block_bytes: 64,
            requested: Some(50),
            offset: None,
            thread: 0,
            site: None,
            time_ns: 0,
        }
        .as_event(),
        HeapError {
            kind: HeapErrorKind::InvalidFree,
            op: HeapErrorOp::Realloc,
            reason: InvalidReason::Header,
            address: 0x20_0010,
            class: slabscope_proto::heap_error::HEAP_ERROR_NO_CLASS,
            block_bytes: 0,
            requested: None,
            offset: None,
            thread: 0,
            site: None,
            time_ns: 0,
        }
        .as_event(),
        EventKind::MagazineDrain {
            class: 0,
            blocks: 1,
            reason: DrainReason::ThreadExit,
        },
        EventKind::MagazineDrain {
            class: 1,
            blocks: 2,
            reason: DrainReason::Requested,
        },
        EventKind::MagazineDrain {
            class: 2,
            blocks: 3,
            reason: DrainReason::Overflow,
        },
    ]
}

/// A segment with something in every section and one event of every kind; returns the
/// writer and the events pushed.
pub fn populated(dir: &tempfile::TempDir, pid: u32) -> (SegmentWriter, Vec<EventKind>) {
    let w = create(dir, pid, &config(4, 32));
    let r = std::sync::atomic::Ordering::Relaxed;
    let h = w.header();
    h.totals.mapped_bytes.store(6 << 20, r);
    h.totals.peak_mapped_bytes.store(8 << 20, r);
    h.totals.superslabs.store(2, r);
    h.totals.superslabs_cached.store(1, r);
    h.totals.superslabs_mapped_total.store(5, r);
    h.totals.superslabs_returned_total.store(3, r);
    h.totals.large_bytes.store(1 << 20, r);
    h.totals.large_count.store(1, r);
    h.totals.oom_count.store(2, r);
    h.totals.foreign_frees.store(7, r);
    for i in 0..4 {
        let c = w.class(i).unwrap();
        c.capacity_blocks.store(1000 + i as u64, r);
        c.free_blocks.store(100, r);
        c.cached_blocks.store(50, r);
        c.allocs.store(5000, r);
        c.frees.store(4100, r);
        c.remote_frees.store(10, r);
        c.slots_active.store(2, r);
        c.slots_empty.store(1, r);
        c.refills.store(30, r);
        c.drains.store(20, r);
        c.acquire_stage1.store(1, r);
        c.acquire_stage2.store(2, r);
        c.acquire_stage3.store(3, r);
    }
    // The last class: more cached + free than capacity (a racy fold): live saturates at 0.
    w.class(3).unwrap().free_blocks.store(5000, r);
    let t0 = w.claim_thread(1001, b"main").unwrap();
    w.update_thread(t0, |t| {
        t.drains.store(4, r);
        t.frees.store(400, r);
        t.magazines[0].store(10 | 64 << 32, r);
        t.magazines[2].store(3 | 32 << 32, r);
    });
    let t1 = w.claim_thread(1002, b"worker-with-a-long-name").unwrap();
    w.exit_thread(t1);
    let s0 = w.claim_superslab(0x20_0000).unwrap();
    w.update_superslab(s0, |s| {
        s.slots[0].store(pack_slot(SLOT_ACTIVE, 0, 4096, 100), r);
        s.slots[1].store(pack_slot(SLOT_EMPTY, 3, 1024, 0), r);
    });
    // Slot 0 is owned by thread 4242 (1.3).
    w.set_slot_owner(s0, 0, 4242);
    let s1 = w.claim_superslab(0x40_0000).unwrap();
    w.update_superslab(s1, |s| s.state.store(SUPERSLAB_EMPTY, r));
    let s2 = w.claim_superslab(0x60_0000).unwrap();
    w.release_superslab(s2);
    let g = w
        .claim_gpu_pool(Some(0), GPU_BACKEND_CUDA, b"NVIDIA H100", &[4096, 8192])
        .unwrap();
    let p = w.gpu_pool(g).unwrap();
    p.oversize.store(1, r);
    p.oversize_live_bytes.store(1 << 30, r);
    p.trims.store(2, r);
    p.device_ooms.store(3, r);
    p.cache_limit_bytes.store(1 << 32, r);
    p.device_total_bytes.store(80 << 30, r);
    p.device_free_bytes.store(70 << 30, r);
    p.buckets[1].live.store(4, r);
    p.buckets[1].cached.store(2, r);
    p.buckets[1].hits.store(10, r);
    p.buckets[1].misses.store(6, r);
    p.buckets[1].high_water.store(6, r);
    p.buckets[1].trimmed.store(1, r);
    w.claim_gpu_pool(None, GPU_BACKEND_HOST, b"host", &[])
        .unwrap();
    w.heartbeat(123_456);
    w.set_flag(FLAG_OOM | FLAG_GPU);
    let kinds = all_kinds();
    for (i, k) in kinds.iter().enumerate() {
        w.push_event(1_000 + i as u64, 1001, k);
    }
    (w, kinds)
}

/// Heap error `i` of a sequence that cycles through the kinds (classes < 4).
pub fn heap_error(i: u64) -> HeapError {
    let kind = HeapErrorKind::ALL[(i % 4) as usize];
    HeapError {
        kind,
        op: match i % 3 {
            0 => HeapErrorOp::Free,
            1 => HeapErrorOp::Alloc,
            _ => HeapErrorOp::Realloc,
        },
        reason: if kind == HeapErrorKind::InvalidFree {
            InvalidReason::Interior
        } else {
            InvalidReason::None
        },
        address: 0x20_0000 + 0x1_0000 + i * 64,
        class: if i % 5 == 4 {
            HEAP_ERROR_LARGE
        } else {
            (i % 4) as u32
        },
        block_bytes: 16 * (i % 4 + 1),
        requested: i.is_multiple_of(2).then_some(10 + i),
        offset: matches!(
            kind,
            HeapErrorKind::WriteAfterFree | HeapErrorKind::Overflow
        )
        .then_some(8),
        thread: 1001 + (i % 2) as u32,
        site: (i % 7 == 6).then_some(i as u32),
        time_ns: 5_000 + i,
    }
}
