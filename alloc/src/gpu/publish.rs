//! Shows a pool in the segment: one `GpuPoolRecord` per pool, and ring events for
//! misses, oversize requests, trims and device out-of-memory.
//!
//! The record's counters are changed by `stats.rs` together with the pool's own; this
//! module claims the record, keeps the device memory figures fresh, and writes events.
//! Every write is a relaxed atomic on the shared mapping: no lock, no allocation.
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use slabscope_proto::layout::{GpuPoolRecord, FLAG_GPU, GPU_BACKEND_CUDA, GPU_BACKEND_HOST};
use slabscope_proto::writer::{gettid, monotonic_ns, SegmentWriter};
use slabscope_proto::EventKind;

use super::memory::{Backend, DeviceMemory, MemInfo};

/// Where a [`SlabPool`](super::SlabPool) shows its state.
#[derive(Clone, Default)]
pub enum Publish {
    /// In this process's segment (the one `alloc-inspect <pid>` attaches to), created if
    /// need be, when publishing is on (`SLABSCOPE_PUBLISH`); nowhere when it is off or
    /// the segment cannot be created. The default.
    #[default]
    Process,
    /// Nowhere.
    Off,
    /// In a segment the caller created (tests, tools that manage their own segment).
    Segment(Arc<SegmentWriter>),
    /// In a segment that lives for the rest of the process.
    Static(&'static SegmentWriter),
}

impl fmt::Debug for Publish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Process => f.write_str("Process"),
            Self::Off => f.write_str("Off"),
            Self::Segment(w) => write!(f, "Segment({})", String::from_utf8_lossy(w.path_bytes())),
            Self::Static(w) => write!(f, "Static({})", String::from_utf8_lossy(w.path_bytes())),
        }
    }
}

enum SegmentRef {
    Shared(Arc<SegmentWriter>),
    Static(&'static SegmentWriter),
}

impl SegmentRef {
    fn writer(&self) -> &SegmentWriter {
        match self {
            Self::Shared(w) => w,
            Self::Static(w) => w,
        }
    }
}

/// A pool's claimed record in a segment.
pub(crate) struct Publisher {
    segment: SegmentRef,
    index: u32,
    pool_id: u32,
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("index", &self.index)
            .field("pool_id", &self.pool_id)
            .finish()
    }
}

impl Publisher {
    /// Claims a record for a pool; `None` when publishing is off or the segment's GPU
    /// pool table is full (the segment counts that overflow).
    pub(crate) fn register(
        publish: &Publish,
        memory: &dyn DeviceMemory,
        name: &str,
        bucket_bytes: &[u64],
        cache_limit: Option<u64>,
    ) -> Option<Self> {
        let segment = match publish {
            Publish::Off => return None,
            Publish::Process => SegmentRef::Static(crate::publish::segment()?),
            Publish::Segment(w) => SegmentRef::Shared(Arc::clone(w)),
            Publish::Static(w) => SegmentRef::Static(w),
        };
        let backend = match memory.backend() {
            Backend::Cuda => GPU_BACKEND_CUDA,
            Backend::Host => GPU_BACKEND_HOST,
        };
        let w = segment.writer();
        let index = w.claim_gpu_pool(memory.ordinal(), backend, name.as_bytes(), bucket_bytes)?;
        let rec = w.gpu_pool(index)?;
        w.set_flag(FLAG_GPU);
        rec.cache_limit_bytes
            .store(cache_limit.unwrap_or(0), Relaxed);
        let pool_id = rec.pool_id.load(Relaxed);
        let p = Self {
            segment,
            index,
            pool_id,
        };
        p.refresh_mem_info(memory);
        Some(p)
    }

    /// The pool's record.
    pub(crate) fn record(&self) -> Option<&GpuPoolRecord> {
        self.segment.writer().gpu_pool(self.index)
    }

    fn refresh_mem_info(&self, memory: &dyn DeviceMemory) {
        if let Ok(info) = memory.mem_info() {
            self.store_mem_info(info);
        }
    }

    fn store_mem_info(&self, info: MemInfo) {
        if let Some(r) = self.record() {
            r.device_free_bytes.store(info.free, Relaxed);
            r.device_total_bytes.store(info.total, Relaxed);
        }
    }

    fn event(&self, kind: &EventKind) {
        crate::trace::emit_now(kind, crate::thread::trace_turn);
        let w = self.segment.writer();
        let now = monotonic_ns();
        // A full ring overwrites its oldest event and counts what it drops: nothing to do.
        let _ = w.push_event(now, gettid(), kind);
        w.heartbeat(now);
    }

    /// A miss went to the device.
    pub(crate) fn miss(&self, bucket_bytes: u64, request: u64, memory: &dyn DeviceMemory) {
        self.event(&EventKind::GpuMiss {
            pool: self.pool_id,
            bucket_bytes,
            request,
        });
        self.refresh_mem_info(memory);
    }

    /// An oversize request went to the device.
    pub(crate) fn oversize(&self, request: u64) {
        self.event(&EventKind::GpuOversize {
            pool: self.pool_id,
            request,
        });
    }

    /// Cached buffers went back to the device.
    pub(crate) fn trim(&self, bytes: u64, buffers: u64, memory: &dyn DeviceMemory) {
        self.event(&EventKind::GpuTrim {
            pool: self.pool_id,
            bytes,
            buffers,
        });
        self.refresh_mem_info(memory);
    }

    /// An allocation failed after the trim and retry.
    pub(crate) fn oom(
        &self,
        request: u64,
        live_bytes: u64,
        cached_bytes: u64,
        info: Option<MemInfo>,
    ) {
        if let Some(info) = info {
            self.store_mem_info(info);
        }
        self.event(&EventKind::GpuOom {
            pool: self.pool_id,
            request,
            live_bytes,
            cached_bytes,
            device_free_bytes: info.map_or(0, |i| i.free),
        });
    }
}
