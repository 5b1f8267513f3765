//! The OOM report and the GPU pools in JSON schema 1, converted from the protocol's
//! types by exhaustive destructuring (a field added there stops the build here).

use serde::Serialize;
use slabscope_proto::{GpuBackend, GpuBucketSnapshot, GpuPoolSnapshot, OomCause, OomReport};

/// The OOM report.
#[derive(Debug, Serialize)]
pub struct Oom {
    /// OOMs reported so far (this is the latest).
    pub reports: u64,
    /// `CLOCK_MONOTONIC` of the failure.
    pub time_ns: u64,
    /// The failing thread.
    pub tid: u32,
    /// `"limit"` (`SLABSCOPE_LIMIT`) or `"mmap_failed"` (the kernel refused).
    pub cause: &'static str,
    /// Requested size.
    pub request_bytes: u64,
    /// Requested alignment.
    pub align_bytes: u64,
    /// Class of the request (null for a large request).
    pub class: Option<u32>,
    /// Mapped bytes.
    pub mapped_bytes: u64,
    /// Limit in force (0 = none).
    pub limit_bytes: u64,
    /// Highest mapped bytes.
    pub peak_mapped_bytes: u64,
    /// Bytes of live large allocations.
    pub large_bytes: u64,
    /// Live large allocations.
    pub large_count: u64,
    /// SuperSlabs mapped.
    pub superslabs: u64,
    /// Empty SuperSlabs cached.
    pub superslabs_cached: u64,
    /// SuperSlab header bytes.
    pub header_bytes: u64,
    /// UNUSED slots.
    pub unused_slots: u64,
    /// Bytes of UNUSED slots.
    pub unused_bytes: u64,
    /// Bytes of slot tails too short for a block.
    pub tail_bytes: u64,
    /// EMPTY slots not yet returned.
    pub empty_slots: u64,
    /// Block bytes of EMPTY slots.
    pub empty_bytes: u64,
    /// Bytes in magazines of idle or exited threads.
    pub stranded_bytes: u64,
    /// Threads counted in `stranded_bytes`.
    pub stranded_threads: u32,
    /// Thread records looked at.
    pub threads_seen: u32,
    /// The largest run of contiguous free bytes inside the SuperSlabs.
    pub largest_free_run: FreeRun,
    /// Ring sequence number of the OOM event (null when it was not written).
    pub ring_seq: Option<u64>,
    /// Classes with any bytes, in class order.
    pub classes: Vec<OomClass>,
    /// Threads with the most stranded bytes, most first.
    pub stranded: Vec<StrandedThread>,
}

/// The largest free run.
#[derive(Debug, Serialize)]
pub struct FreeRun {
    /// Its bytes.
    pub bytes: u64,
    /// Base address of its SuperSlab.
    pub superslab_addr: u64,
    /// Its first slot.
    pub slot: u32,
    /// `"none"`, `"slots"` (UNUSED or EMPTY slots) or `"uncarved"` (a slot's tail).
    pub kind: &'static str,
}

/// One class at the OOM.
#[derive(Debug, Serialize)]
pub struct OomClass {
    /// Class.
    pub class: u32,
    /// In user hands.
    pub live_bytes: u64,
    /// In thread magazines.
    pub cached_bytes: u64,
    /// Free inside slots.
    pub free_bytes: u64,
    /// EMPTY slots.
    pub empty_slots: u64,
    /// Block bytes of EMPTY slots.
    pub empty_bytes: u64,
}

/// A thread whose magazines held blocks at the OOM.
#[derive(Debug, Serialize)]
pub struct StrandedThread {
    /// Kernel tid.
    pub tid: u64,
    /// Bytes in its magazines.
    pub bytes: u64,
    /// Since its last slow path.
    pub idle_ns: u64,
    /// Whether it had exited.
    pub exited: bool,
}

/// One GPU pool.
#[derive(Debug, Serialize)]
pub struct GpuPool {
    /// Pool id.
    pub pool: u32,
    /// Device ordinal (null for host memory).
    pub device: Option<u32>,
    /// `"cuda"` or `"host"`.
    pub backend: &'static str,
    /// Device name.
    pub name: String,
    /// Requests above the largest bucket.
    pub oversize_requests: u64,
    /// Bytes of live oversize buffers.
    pub oversize_live_bytes: u64,
    /// Trims performed.
    pub trims: u64,
    /// Out-of-memory errors the device returned.
    pub device_ooms: u64,
    /// Cache limit (0 = none).
    pub cache_limit_bytes: u64,
    /// Device memory in all.
    pub device_total_bytes: u64,
    /// Device memory free.
    pub device_free_bytes: u64,
    /// Buckets, smallest first.
    pub buckets: Vec<GpuBucket>,
}

/// One bucket of a GPU pool.
#[derive(Debug, Serialize)]
pub struct GpuBucket {
    /// Buffer size of the bucket.
    pub bucket_bytes: u64,
    /// Buffers handed out.
    pub live_buffers: u64,
    /// Buffers cached.
    pub cached_buffers: u64,
    /// Allocations served from the cache.
    pub hits: u64,
    /// Allocations that went to the device.
    pub misses: u64,
    /// Highest live plus cached buffers.
    pub high_water_buffers: u64,
    /// Buffers released by trims.
    pub trimmed_buffers: u64,
}

impl From<&OomReport> for Oom {
    fn from(r: &OomReport) -> Self {
        let OomReport {
            reports,
            time_mono_ns,
            tid,
            cause,
            request_bytes,
            align,
            class,
            mapped_bytes,
            limit_bytes,
            peak_mapped_bytes,
            large_bytes,
            large_count,
            superslabs,
            superslabs_cached,
            header_bytes,
            unused_slots,
            unused_bytes,
            tail_bytes,
            empty_slots,
            empty_bytes,
            stranded_bytes,
            stranded_threads,
            threads_seen,
            largest_free_run,
            ring_seq,
            classes,
            stranded,
        } = r;
        let slabscope_proto::FreeRun {
            bytes,
            superslab,
            slot,
            kind,
        } = *largest_free_run;
        Self {
            reports: *reports,
            time_ns: *time_mono_ns,
            tid: *tid,
            cause: match cause {
                OomCause::Limit => "limit",
                OomCause::MmapFailed => "mmap_failed",
            },
            request_bytes: *request_bytes,
            align_bytes: *align,
            class: *class,
            mapped_bytes: *mapped_bytes,
            limit_bytes: *limit_bytes,
            peak_mapped_bytes: *peak_mapped_bytes,
            large_bytes: *large_bytes,
            large_count: *large_count,
            superslabs: *superslabs,
            superslabs_cached: *superslabs_cached,
            header_bytes: *header_bytes,
            unused_slots: *unused_slots,
            unused_bytes: *unused_bytes,
            tail_bytes: *tail_bytes,
            empty_slots: *empty_slots,
            empty_bytes: *empty_bytes,
            stranded_bytes: *stranded_bytes,
            stranded_threads: *stranded_threads,
            threads_seen: *threads_seen,
            largest_free_run: FreeRun {
                bytes,
                superslab_addr: superslab,
                slot,
                kind: match kind {
                    slabscope_proto::FreeRunKind::None => "none",
                    slabscope_proto::FreeRunKind::Slots => "slots",
                    slabscope_proto::FreeRunKind::Uncarved => "uncarved",
                },
            },
            ring_seq: *ring_seq,
            classes: classes
                .iter()
                .map(|c| {
                    let slabscope_proto::OomClass {
                        class,
                        live_bytes,
                        cached_bytes,
                        free_bytes,
                        empty_slots,
                        empty_bytes,
                    } = *c;
                    OomClass {
                        class,
                        live_bytes,
                        cached_bytes,
                        free_bytes,
                        empty_slots,
                        empty_bytes,
                    }
                })
                .collect(),
            stranded: stranded
                .iter()
                .map(|t| {
                    let slabscope_proto::StrandedThread {
                        tid,
                        bytes,
                        idle_ns,
                        exited,
                    } = *t;
                    StrandedThread {
                        tid,
                        bytes,
                        idle_ns,
                        exited,
                    }
                })
                .collect(),
        }
    }
}

impl From<&GpuPoolSnapshot> for GpuPool {
    fn from(p: &GpuPoolSnapshot) -> Self {
        let GpuPoolSnapshot {
            pool,
            device,
            backend,
            name,
            oversize,
            oversize_live_bytes,
            trims,
            device_ooms,
            cache_limit_bytes,
            device_total_bytes,
            device_free_bytes,
            buckets,
        } = p;
        Self {
            pool: *pool,
            device: *device,
            backend: match backend {
                GpuBackend::Cuda => "cuda",
                GpuBackend::Host => "host",
            },
            name: name.clone(),
            oversize_requests: *oversize,
            oversize_live_bytes: *oversize_live_bytes,
            trims: *trims,
            device_ooms: *device_ooms,
            cache_limit_bytes: *cache_limit_bytes,
            device_total_bytes: *device_total_bytes,
            device_free_bytes: *device_free_bytes,
            buckets: buckets.iter().map(bucket).collect(),
        }
    }
}

fn bucket(b: &GpuBucketSnapshot) -> GpuBucket {
    let GpuBucketSnapshot {
        bucket_bytes,
        live,
        cached,
        hits,
        misses,
        high_water,
        trimmed,
    } = *b;
    GpuBucket {
        bucket_bytes,
        live_buffers: live,
        cached_buffers: cached,
        hits,
        misses,
        high_water_buffers: high_water,
        trimmed_buffers: trimmed,
    }
}
