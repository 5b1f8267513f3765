//! Writes a [`Synthetic`] state into a real segment with the protocol's
//! `SegmentWriter`: the refresh benchmark and the process-level tests read it back
//! through the same reader a live attach uses.

use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;

use slabscope_proto::layout::{pack_slot, MAX_CLASSES, SUPERSLAB_EMPTY};
use slabscope_proto::{
    monotonic_ns, CreateError, GpuBackend, SegmentConfig, SegmentWriter, SlotState, SuperSlabState,
};

use crate::synthetic::{Synthetic, CLASS_SIZES};

/// Creates `dir/slabscope.<pid>` and fills it with `syn` at `tick`: classes, threads,
/// SuperSlabs, GPU pools, totals, heap errors (each also an event), the last events,
/// and a heartbeat of now.
pub fn write(
    dir: &Path,
    pid: u32,
    syn: &Synthetic,
    tick: u64,
) -> Result<SegmentWriter, CreateError> {
    let snap = syn.snapshot(tick);
    let mut class_sizes = [0u32; MAX_CLASSES];
    class_sizes[..CLASS_SIZES.len()].copy_from_slice(&CLASS_SIZES);
    let cfg = SegmentConfig {
        class_sizes,
        class_count: CLASS_SIZES.len() as u32,
        max_threads: syn.threads.max(1) as u32,
        max_superslabs: syn.superslabs.max(1) as u32,
        max_gpu_pools: 2,
        ring_capacity: syn.ring_capacity.next_power_of_two() as u32,
        drain_interval: snap.drain_interval,
        limit_bytes: 0,
        flags: 0,
    };
    let w = SegmentWriter::create(dir.as_os_str().as_encoded_bytes(), pid, &cfg)?;
    for c in &snap.classes {
        if let Some(r) = w.class(c.class as usize) {
            r.store_counters(&c.counters);
        }
    }
    for t in &snap.threads {
        let Some(idx) = w.claim_thread(t.tid, t.name.as_bytes()) else {
            break;
        };
        w.update_thread(idx, |r| {
            r.drains.store(t.drains, Relaxed);
            r.frees.store(t.frees, Relaxed);
            for m in &t.magazines {
                let word = u64::from(m.fill) | u64::from(m.capacity) << 32;
                r.magazines[m.class as usize].store(word, Relaxed);
            }
        });
    }
    for ss in &snap.superslabs {
        let Some(idx) = w.claim_superslab(ss.base) else {
            break;
        };
        w.update_superslab(idx, |r| {
            if ss.state == SuperSlabState::Empty {
                r.state.store(SUPERSLAB_EMPTY, Relaxed);
            }
            for (word, s) in r.slots.iter().zip(&ss.slots) {
                let state = match s.state {
                    SlotState::Unused => 0,
                    SlotState::Active => 1,
                    SlotState::Empty => 2,
                };
                word.store(
                    pack_slot(state, s.class as u8, s.capacity as u16, s.used),
                    Relaxed,
                );
            }
        });
        for (k, s) in ss.slots.iter().enumerate() {
            w.set_slot_owner(idx, k, s.owner.word());
        }
    }
    for p in &snap.gpu {
        let backend = match p.backend {
            GpuBackend::Cuda => slabscope_proto::layout::GPU_BACKEND_CUDA,
            GpuBackend::Host => slabscope_proto::layout::GPU_BACKEND_HOST,
        };
        let sizes: Vec<u64> = p.buckets.iter().map(|b| b.bucket_bytes).collect();
        let Some(idx) = w.claim_gpu_pool(p.device, backend, p.name.as_bytes(), &sizes) else {
            break;
        };
        if let Some(g) = w.gpu_pool(idx) {
            g.oversize.store(p.oversize, Relaxed);
            g.oversize_live_bytes.store(p.oversize_live_bytes, Relaxed);
            g.trims.store(p.trims, Relaxed);
            g.cache_limit_bytes.store(p.cache_limit_bytes, Relaxed);
            g.device_total_bytes.store(p.device_total_bytes, Relaxed);
            g.device_free_bytes.store(p.device_free_bytes, Relaxed);
            for (r, b) in g.buckets.iter().zip(&p.buckets) {
                r.live.store(b.live, Relaxed);
                r.cached.store(b.cached, Relaxed);
                r.hits.store(b.hits, Relaxed);
                r.misses.store(b.misses, Relaxed);
                r.high_water.store(b.high_water, Relaxed);
                r.trimmed.store(b.trimmed, Relaxed);
            }
        }
    }
    let t = &w.header().totals;
    t.mapped_bytes.store(snap.totals.mapped_bytes, Relaxed);
    t.peak_mapped_bytes
        .store(snap.totals.peak_mapped_bytes, Relaxed);
    t.superslabs.store(snap.totals.superslabs, Relaxed);
    t.superslabs_mapped_total
        .store(snap.totals.superslabs_mapped_total, Relaxed);
    t.superslabs_returned_total
        .store(snap.totals.superslabs_returned_total, Relaxed);
    t.large_bytes.store(snap.totals.large_bytes, Relaxed);
    t.large_count.store(snap.totals.large_count, Relaxed);
    for e in &snap.heap_errors {
        w.heap_error(e);
    }
    let head = syn.head(tick);
    for seq in head.saturating_sub(syn.ring_capacity.min(256))..head {
        let e = syn.event(seq);
        w.push_event(monotonic_ns(), e.thread, &e.kind);
    }
    w.heartbeat(monotonic_ns());
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use slabscope_proto::SegmentReader;

    #[test]
    fn a_written_segment_reads_back_as_the_synthetic_state() {
        let dir = tempfile::tempdir().unwrap();
        let syn = Synthetic {
            gpu: true,
            ..Default::default()
        };
        let w = write(dir.path(), 77, &syn, 3).unwrap();
        let r = SegmentReader::open(&dir.path().join("slabscope.77")).unwrap();
        let got = r.snapshot().unwrap();
        let want = syn.snapshot(3);
        assert_eq!(got.pid, 77);
        assert_eq!(got.classes, want.classes);
        assert_eq!(got.superslabs, want.superslabs);
        assert_eq!(got.threads.len(), want.threads.len());
        assert_eq!(got.threads[1].magazines, want.threads[1].magazines);
        assert_eq!(got.gpu[0].buckets, want.gpu[0].buckets);
        assert_eq!(got.totals.mapped_bytes, want.totals.mapped_bytes);
        assert!(got.heap_errors.is_empty());
        drop(w);
    }

    #[test]
    fn heap_errors_written_by_the_writer_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let syn = Synthetic {
            heap_errors: true,
            ..Default::default()
        };
        let w = write(dir.path(), 78, &syn, 0).unwrap();
        let got = SegmentReader::open(&dir.path().join("slabscope.78"))
            .unwrap()
            .snapshot()
            .unwrap();
        let want = syn.snapshot(0);
        assert_eq!(got.heap_errors, want.heap_errors);
        assert_eq!(got.heap_error_counts, want.heap_error_counts);
        assert_eq!(got.protocol.to_string(), "1.4");
        drop(w);
    }
}
