//! Counters of a [`SlabPool`](super::SlabPool) and their plain-number snapshot.
//!
//! Every counter lives twice: in the pool (always) and, when the pool publishes, in its
//! `GpuPoolRecord` of the segment. Both copies are changed together, by the same
//! `Relaxed` read-modify-write, in the methods below, which are named after what
//! happened (a hit, a miss, a trim), so the two copies cannot drift apart.
//!
//! Invariants, per bucket, at quiescence: `live + cached == held` (buffers this bucket
//! holds from the device), `high_water >= held`, `hits + misses` = allocations served.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use slabscope_proto::layout::{GpuBucketRecord, GpuPoolRecord};

use super::memory::Backend;

/// One bucket, as numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BucketStats {
    /// Bucket size in bytes (a power of two).
    pub bucket_bytes: u64,
    /// Buffers handed out and not yet dropped.
    pub live: u64,
    /// Buffers cached in the pool, ready for reuse.
    pub cached: u64,
    /// Allocations served from the cache.
    pub hits: u64,
    /// Allocations that went to the device.
    pub misses: u64,
    /// Most buffers (`live + cached`) this bucket held from the device at once.
    pub high_water: u64,
    /// Cached buffers given back to the device (trims, cache limit, OOM retry).
    pub trimmed: u64,
}

impl BucketStats {
    /// Bytes in live buffers (bucket-rounded).
    pub const fn live_bytes(&self) -> u64 {
        self.live * self.bucket_bytes
    }

    /// Bytes in cached buffers.
    pub const fn cached_bytes(&self) -> u64 {
        self.cached * self.bucket_bytes
    }
}

/// A pool, as numbers: see [`SlabPool::stats`](super::SlabPool::stats).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Backend of the pool's memory.
    pub backend: Backend,
    /// Largest bucket; larger requests are oversize.
    pub max_bucket_bytes: u64,
    /// Cached-bytes budget, `None` for no limit.
    pub cache_limit: Option<u64>,
    /// Buckets, smallest (4 KiB) first.
    pub buckets: Vec<BucketStats>,
    /// Oversize requests sent straight to the device.
    pub oversize: u64,
    /// Oversize buffers live now.
    pub oversize_live: u64,
    /// Bytes in live oversize buffers.
    pub oversize_live_bytes: u64,
    /// Trims that released at least one buffer (explicit, cache limit, OOM retry).
    pub trims: u64,
    /// Bytes given back to the device by trims.
    pub trimmed_bytes: u64,
    /// Allocations that failed for lack of device memory after the trim and retry.
    pub device_ooms: u64,
    /// Frees the device refused (the buffers are lost; see `PoolError::FreeFailed`).
    pub free_errors: u64,
    /// Most bytes (bucketed and oversize) held from the device at once.
    pub high_water_bytes: u64,
}

impl PoolStats {
    /// Bytes in live buffers: bucketed (bucket-rounded) plus oversize.
    pub fn live_bytes(&self) -> u64 {
        self.buckets
            .iter()
            .map(BucketStats::live_bytes)
            .sum::<u64>()
            + self.oversize_live_bytes
    }

    /// Bytes in cached buffers.
    pub fn cached_bytes(&self) -> u64 {
        self.buckets.iter().map(BucketStats::cached_bytes).sum()
    }

    /// Cache hits over all buckets.
    pub fn hits(&self) -> u64 {
        self.buckets.iter().map(|b| b.hits).sum()
    }

    /// Cache misses over all buckets.
    pub fn misses(&self) -> u64 {
        self.buckets.iter().map(|b| b.misses).sum()
    }

    /// The bucket of `bucket_bytes`, if the pool has one.
    pub fn bucket(&self, bucket_bytes: u64) -> Option<&BucketStats> {
        self.buckets.iter().find(|b| b.bucket_bytes == bucket_bytes)
    }
}

#[derive(Debug, Default)]
struct BucketCounters {
    live: AtomicU64,
    cached: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    /// `live + cached`, kept on its own so the high-water mark sees one consistent sum.
    held: AtomicU64,
    high_water: AtomicU64,
    trimmed: AtomicU64,
}

/// The live counters of one pool (see the module docs).
#[derive(Debug)]
pub(crate) struct Counters {
    bucket_bytes: Vec<u64>,
    buckets: Vec<BucketCounters>,
    oversize: AtomicU64,
    oversize_live: AtomicU64,
    oversize_live_bytes: AtomicU64,
    trims: AtomicU64,
    trimmed_bytes: AtomicU64,
    device_ooms: AtomicU64,
    free_errors: AtomicU64,
    held_bytes: AtomicU64,
    high_water_bytes: AtomicU64,
}

fn add(local: &AtomicU64, remote: Option<&AtomicU64>, n: u64) {
    local.fetch_add(n, Relaxed);
    if let Some(r) = remote {
        r.fetch_add(n, Relaxed);
    }
}

fn sub(local: &AtomicU64, remote: Option<&AtomicU64>, n: u64) {
    local.fetch_sub(n, Relaxed);
    if let Some(r) = remote {
        r.fetch_sub(n, Relaxed);
    }
}

impl Counters {
    pub(crate) fn new(bucket_bytes: Vec<u64>) -> Self {
        Self {
            buckets: bucket_bytes
                .iter()
                .map(|_| BucketCounters::default())
                .collect(),
            bucket_bytes,
            oversize: AtomicU64::new(0),
            oversize_live: AtomicU64::new(0),
            oversize_live_bytes: AtomicU64::new(0),
            trims: AtomicU64::new(0),
            trimmed_bytes: AtomicU64::new(0),
            device_ooms: AtomicU64::new(0),
            free_errors: AtomicU64::new(0),
            held_bytes: AtomicU64::new(0),
            high_water_bytes: AtomicU64::new(0),
        }
    }

    fn held_bytes_add(&self, n: u64) {
        let now = self.held_bytes.fetch_add(n, Relaxed) + n;
        self.high_water_bytes.fetch_max(now, Relaxed);
    }

    fn bucket_rec(rec: Option<&GpuPoolRecord>, b: usize) -> Option<&GpuBucketRecord> {
        rec.and_then(|r| r.buckets.get(b))
    }

    /// An allocation of bucket `b` was served from the cache.
    pub(crate) fn hit(&self, b: usize, rec: Option<&GpuPoolRecord>) {
        let (c, r) = (&self.buckets[b], Self::bucket_rec(rec, b));
        add(&c.hits, r.map(|r| &r.hits), 1);
        sub(&c.cached, r.map(|r| &r.cached), 1);
        add(&c.live, r.map(|r| &r.live), 1);
    }

    /// An allocation of bucket `b` got a new buffer from the device.
    pub(crate) fn miss(&self, b: usize, rec: Option<&GpuPoolRecord>) {
        let (c, r) = (&self.buckets[b], Self::bucket_rec(rec, b));
        add(&c.misses, r.map(|r| &r.misses), 1);
        add(&c.live, r.map(|r| &r.live), 1);
        let held = c.held.fetch_add(1, Relaxed) + 1;
        c.high_water.fetch_max(held, Relaxed);
        if let Some(r) = r {
            r.high_water.fetch_max(held, Relaxed);
        }
        self.held_bytes_add(self.bucket_bytes[b]);
    }

    /// A live buffer of bucket `b` went back to the cache.
    pub(crate) fn cache(&self, b: usize, rec: Option<&GpuPoolRecord>) {
        let (c, r) = (&self.buckets[b], Self::bucket_rec(rec, b));
        sub(&c.live, r.map(|r| &r.live), 1);
        add(&c.cached, r.map(|r| &r.cached), 1);
    }

    /// A buffer of bucket `b` was given back to the device by a trim, a cache-limit
    /// eviction or an OOM retry (or lost to a failed free): `from_cache` says whether it
    /// was cached or came straight from a caller's drop.
    pub(crate) fn release(&self, b: usize, from_cache: bool, rec: Option<&GpuPoolRecord>) {
        let (c, r) = (&self.buckets[b], Self::bucket_rec(rec, b));
        if from_cache {
            sub(&c.cached, r.map(|r| &r.cached), 1);
        } else {
            sub(&c.live, r.map(|r| &r.live), 1);
        }
        add(&c.trimmed, r.map(|r| &r.trimmed), 1);
        self.trimmed_bytes.fetch_add(self.bucket_bytes[b], Relaxed);
        c.held.fetch_sub(1, Relaxed);
        self.held_bytes.fetch_sub(self.bucket_bytes[b], Relaxed);
    }

    /// An oversize buffer of `bytes` was allocated.
    pub(crate) fn oversize_alloc(&self, bytes: u64, rec: Option<&GpuPoolRecord>) {
        add(&self.oversize, rec.map(|r| &r.oversize), 1);
        self.oversize_live.fetch_add(1, Relaxed);
        add(
            &self.oversize_live_bytes,
            rec.map(|r| &r.oversize_live_bytes),
            bytes,
        );
        self.held_bytes_add(bytes);
    }

    /// An oversize buffer of `bytes` was given back.
    pub(crate) fn oversize_free(&self, bytes: u64, rec: Option<&GpuPoolRecord>) {
        self.oversize_live.fetch_sub(1, Relaxed);
        sub(
            &self.oversize_live_bytes,
            rec.map(|r| &r.oversize_live_bytes),
            bytes,
        );
        self.held_bytes.fetch_sub(bytes, Relaxed);
    }

    /// A trim pass released at least one buffer.
    pub(crate) fn trim(&self, rec: Option<&GpuPoolRecord>) {
        add(&self.trims, rec.map(|r| &r.trims), 1);
    }

    /// An allocation failed for lack of device memory.
    pub(crate) fn device_oom(&self, rec: Option<&GpuPoolRecord>) {
        add(&self.device_ooms, rec.map(|r| &r.device_ooms), 1);
    }

    /// The device refused a free.
    pub(crate) fn free_error(&self) {
        self.free_errors.fetch_add(1, Relaxed);
    }

    /// A snapshot of every counter.
    pub(crate) fn snapshot(
        &self,
        backend: Backend,
        max_bucket_bytes: u64,
        cache_limit: Option<u64>,
    ) -> PoolStats {
        PoolStats {
            backend,
            max_bucket_bytes,
            cache_limit,
            buckets: self
                .buckets
                .iter()
                .zip(&self.bucket_bytes)
                .map(|(c, &bucket_bytes)| BucketStats {
                    bucket_bytes,
                    live: c.live.load(Relaxed),
                    cached: c.cached.load(Relaxed),
                    hits: c.hits.load(Relaxed),
                    misses: c.misses.load(Relaxed),
                    high_water: c.high_water.load(Relaxed),
                    trimmed: c.trimmed.load(Relaxed),
                })
                .collect(),
            oversize: self.oversize.load(Relaxed),
            oversize_live: self.oversize_live.load(Relaxed),
            oversize_live_bytes: self.oversize_live_bytes.load(Relaxed),
            trims: self.trims.load(Relaxed),
            trimmed_bytes: self.trimmed_bytes.load(Relaxed),
            device_ooms: self.device_ooms.load(Relaxed),
            free_errors: self.free_errors.load(Relaxed),
            high_water_bytes: self.high_water_bytes.load(Relaxed),
        }
    }
}
