//! [`SlabPool`]: power-of-two buckets of device buffers, handed out as RAII
//! [`PooledBuffer`]s.
//!
//! Contract:
//! - A request of `n` bytes is served from the bucket of the next power of two at or
//!   above `max(n, 4 KiB)`; above `max_bucket_bytes` it is *oversize* and goes straight to
//!   the device, and its buffer straight back on drop.
//! - Each bucket is a LIFO stack of cached buffers behind its own mutex; the device is
//!   never called with a bucket lock held. Counters are atomics (see `stats.rs`).
//! - A [`PooledBuffer`] borrows its pool (so the pool outlives every buffer) and knows
//!   its own bucket: dropping it is the only way to give it back.
//! - `cache_limit` bounds the bytes held in the cache: a buffer coming back that would
//!   exceed it first evicts the oldest buffer of the largest non-empty bucket, and is
//!   itself given back to the device when nothing else can go.
//! - On device out-of-memory the pool gives back every cached buffer and retries once;
//!   if that fails too, the error is an [`OomReport`].
//! - A free the device refuses inside `Drop` (or a cache-limit eviction) cannot be
//!   reported there; it is kept and returned by the pool's next `alloc` or `trim`.
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};

use slabscope_proto::layout::{GpuPoolRecord, MAX_GPU_BUCKETS};

use super::error::{OomReport, PoolError, MAX_DEFERRED_ERRORS};
use super::memory::{Backend, DeviceAlloc, DeviceError, DeviceMemory};
use super::publish::{Publish, Publisher};
use super::stats::{Counters, PoolStats};

/// The smallest bucket: requests below 4 KiB are served from it.
pub const MIN_BUCKET_BYTES: u64 = 4 << 10;
/// The default largest bucket (2 MiB); larger requests are oversize.
pub const DEFAULT_MAX_BUCKET_BYTES: u64 = 2 << 20;
/// The largest `max_bucket_bytes` a pool accepts (the segment describes 24 buckets).
pub const MAX_MAX_BUCKET_BYTES: u64 = MIN_BUCKET_BYTES << (MAX_GPU_BUCKETS - 1);

/// How to build a [`SlabPool`].
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Largest bucket, a power of two from 4 KiB to [`MAX_MAX_BUCKET_BYTES`]; requests
    /// above it bypass the pool. Default 2 MiB.
    pub max_bucket_bytes: u64,
    /// Most bytes kept cached (`None`: no limit, the default). `Some(0)` caches nothing.
    pub cache_limit: Option<u64>,
    /// Name shown by the inspector; default: the device's name.
    pub name: Option<String>,
    /// Where the pool shows its state. Default: the process's segment when publishing
    /// is on ([`Publish::Process`]).
    pub publish: Publish,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_bucket_bytes: DEFAULT_MAX_BUCKET_BYTES,
            cache_limit: None,
            name: None,
            publish: Publish::default(),
        }
    }
}

/// What a trim gave back to the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrimReport {
    /// Buffers given back.
    pub buffers: u64,
    /// Their bytes.
    pub bytes: u64,
}

#[derive(Debug, Default)]
struct Deferred {
    errors: Vec<DeviceError>,
    more: u64,
}

/// A thread-safe caching pool of device buffers (see the module docs for the contract).
pub struct SlabPool<M: DeviceMemory> {
    memory: M,
    /// Per bucket, the cached buffers, most recently returned last.
    buckets: Box<[Mutex<Vec<DeviceAlloc>>]>,
    bucket_bytes: Box<[u64]>,
    max_bucket_bytes: u64,
    cache_limit: Option<u64>,
    /// Bytes cached plus bytes reserved by returns on their way into a bucket; never
    /// above `cache_limit`.
    cache_bytes: AtomicU64,
    counters: Counters,
    has_deferred: AtomicBool,
    deferred: Mutex<Deferred>,
    publisher: Option<Publisher>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a bucket lock leaves a Vec that is still valid: carry on.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<M: DeviceMemory> SlabPool<M> {
    /// A pool with the default configuration: 2 MiB ceiling, no cache limit, shown in
    /// the process's segment when publishing is on.
    pub fn new(memory: M) -> Self {
        Self::build(memory, PoolConfig::default())
    }

    /// A pool with `config`; an invalid `max_bucket_bytes` is an error.
    pub fn with_config(memory: M, config: PoolConfig) -> Result<Self, PoolError> {
        let max = config.max_bucket_bytes;
        if !max.is_power_of_two() || !(MIN_BUCKET_BYTES..=MAX_MAX_BUCKET_BYTES).contains(&max) {
            return Err(PoolError::InvalidConfig(format!(
                "max_bucket_bytes must be a power of two from {MIN_BUCKET_BYTES} to \
                 {MAX_MAX_BUCKET_BYTES}, got {max}"
            )));
        }
        Ok(Self::build(memory, config))
    }

    fn build(memory: M, config: PoolConfig) -> Self {
        let count = (config.max_bucket_bytes / MIN_BUCKET_BYTES).trailing_zeros() as usize + 1;
        let bucket_bytes: Box<[u64]> = (0..count).map(|i| MIN_BUCKET_BYTES << i).collect();
        let name = config.name.unwrap_or_else(|| memory.name().to_owned());
        let publisher = Publisher::register(
            &config.publish,
            &memory,
            &name,
            &bucket_bytes,
            config.cache_limit,
        );
        Self {
            buckets: (0..count).map(|_| Mutex::new(Vec::new())).collect(),
            counters: Counters::new(bucket_bytes.to_vec()),
            bucket_bytes,
            max_bucket_bytes: config.max_bucket_bytes,
            cache_limit: config.cache_limit,
            cache_bytes: AtomicU64::new(0),
            has_deferred: AtomicBool::new(false),
            deferred: Mutex::new(Deferred::default()),
            publisher,
            memory,
        }
    }

    /// The bucket a request of `bytes` is served from; `None` when it is oversize.
    pub fn bucket_for(&self, bytes: u64) -> Option<u64> {
        self.bucket_index(bytes).map(|b| self.bucket_bytes[b])
    }

    fn bucket_index(&self, bytes: u64) -> Option<usize> {
        let rounded = bytes.max(MIN_BUCKET_BYTES).checked_next_power_of_two()?;
        (rounded <= self.max_bucket_bytes)
            .then(|| (rounded / MIN_BUCKET_BYTES).trailing_zeros() as usize)
    }

    fn rec(&self) -> Option<&GpuPoolRecord> {
        self.publisher.as_ref().and_then(Publisher::record)
    }

    /// A buffer of at least `bytes` bytes (`0` gets a 4 KiB buffer): from its bucket's
    /// cache when one is there, else from the device; oversize requests always go to the
    /// device. Returns an earlier deferred free error instead, if there is one.
    pub fn alloc(&self, bytes: u64) -> Result<PooledBuffer<'_, M>, PoolError> {
        self.take_deferred()?;
        let Some(b) = self.bucket_index(bytes) else {
            let alloc = self.allocate_device(bytes, None)?;
            self.counters.oversize_alloc(bytes, self.rec());
            if let Some(p) = &self.publisher {
                p.oversize(bytes);
            }
            return Ok(PooledBuffer {
                pool: self,
                alloc: Some(alloc),
                requested: bytes,
                bucket: None,
            });
        };
        let cached = {
            let mut list = lock(&self.buckets[b]);
            let hit = list.pop();
            if hit.is_some() {
                self.counters.hit(b, self.rec());
            }
            hit
        };
        let alloc = match cached {
            Some(a) => {
                self.cache_bytes.fetch_sub(self.bucket_bytes[b], Relaxed);
                a
            }
            None => {
                let a = self.allocate_device(bytes, Some(b))?;
                self.counters.miss(b, self.rec());
                if let Some(p) = &self.publisher {
                    p.miss(self.bucket_bytes[b], bytes, &self.memory);
                }
                a
            }
        };
        Ok(PooledBuffer {
            pool: self,
            alloc: Some(alloc),
            requested: bytes,
            bucket: Some(b),
        })
    }

    /// Allocates from the device; on out-of-memory trims everything and retries once.
    #[cold]
    fn allocate_device(
        &self,
        request: u64,
        bucket: Option<usize>,
    ) -> Result<DeviceAlloc, PoolError> {
        let size = bucket.map_or(request, |b| self.bucket_bytes[b]);
        match self.memory.allocate(size) {
            Ok(a) => return Ok(a),
            Err(e) if e.is_out_of_memory() => {}
            Err(source) => return Err(PoolError::Device { request, source }),
        }
        let (trimmed, errors) = self.trim_all();
        self.defer(errors);
        let source = match self.memory.allocate(size) {
            Ok(a) => return Ok(a),
            Err(e) if e.is_out_of_memory() => e,
            Err(source) => return Err(PoolError::Device { request, source }),
        };
        self.counters.device_oom(self.rec());
        let mem_info = self.memory.mem_info().ok();
        let stats = self.stats();
        if let Some(p) = &self.publisher {
            p.oom(request, stats.live_bytes(), stats.cached_bytes(), mem_info);
        }
        Err(PoolError::OutOfMemory(Box::new(OomReport {
            request,
            bucket_bytes: bucket.map(|b| self.bucket_bytes[b]),
            backend: self.memory.backend(),
            device: self.memory.ordinal(),
            device_name: self.memory.name().to_owned(),
            mem_info,
            trimmed_buffers: trimmed.buffers,
            trimmed_bytes: trimmed.bytes,
            stats,
            source,
        })))
    }

    /// Gives every cached buffer back to the device. Errors are the frees the device
    /// refused now, or, when there are none, earlier deferred ones.
    pub fn trim(&self) -> Result<TrimReport, PoolError> {
        let (report, errors) = self.trim_all();
        if !errors.is_empty() {
            let more = errors.len().saturating_sub(MAX_DEFERRED_ERRORS) as u64;
            let errors = errors.into_iter().take(MAX_DEFERRED_ERRORS).collect();
            return Err(PoolError::FreeFailed {
                deferred: false,
                errors,
                more,
            });
        }
        self.take_deferred()?;
        Ok(report)
    }

    fn trim_all(&self) -> (TrimReport, Vec<DeviceError>) {
        let mut report = TrimReport::default();
        let mut errors = Vec::new();
        for (b, bucket) in self.buckets.iter().enumerate() {
            let taken = {
                let mut list = lock(bucket);
                for _ in 0..list.len() {
                    self.counters.release(b, true, self.rec());
                }
                std::mem::take(&mut *list)
            };
            let bytes = taken.len() as u64 * self.bucket_bytes[b];
            self.cache_bytes.fetch_sub(bytes, Relaxed);
            report.buffers += taken.len() as u64;
            report.bytes += bytes;
            for a in taken {
                if let Err(e) = self.memory.free(a) {
                    self.counters.free_error();
                    errors.push(e);
                }
            }
        }
        self.note_trim(report);
        (report, errors)
    }

    fn note_trim(&self, report: TrimReport) {
        if report.buffers > 0 {
            self.counters.trim(self.rec());
            if let Some(p) = &self.publisher {
                p.trim(report.bytes, report.buffers, &self.memory);
            }
        }
    }

    /// Takes a buffer back from a dropped [`PooledBuffer`].
    fn give_back(&self, alloc: DeviceAlloc, bucket: Option<usize>) {
        let Some(b) = bucket else {
            self.counters.oversize_free(alloc.bytes(), self.rec());
            if let Err(e) = self.memory.free(alloc) {
                self.counters.free_error();
                self.defer(vec![e]);
            }
            return;
        };
        let bytes = self.bucket_bytes[b];
        if !self.reserve_cache(bytes) {
            // No room in the cache even after evicting: the buffer goes to the device.
            self.counters.release(b, false, self.rec());
            self.note_trim(TrimReport { buffers: 1, bytes });
            if let Err(e) = self.memory.free(alloc) {
                self.counters.free_error();
                self.defer(vec![e]);
            }
            return;
        }
        let mut list = lock(&self.buckets[b]);
        list.push(alloc);
        self.counters.cache(b, self.rec());
    }

    /// Reserves `bytes` of cache under the limit, evicting older buffers as needed;
    /// false when the buffer cannot be cached.
    fn reserve_cache(&self, bytes: u64) -> bool {
        let Some(limit) = self.cache_limit else {
            self.cache_bytes.fetch_add(bytes, Relaxed);
            return true;
        };
        if bytes > limit {
            return false;
        }
        let mut evicted = TrimReport::default();
        let mut errors = Vec::new();
        let fits = loop {
            let cur = self.cache_bytes.load(Relaxed);
            if cur + bytes <= limit {
                if self
                    .cache_bytes
                    .compare_exchange(cur, cur + bytes, Relaxed, Relaxed)
                    .is_ok()
                {
                    break true;
                }
                continue;
            }
            match self.evict_one() {
                Some((freed, err)) => {
                    evicted.buffers += 1;
                    evicted.bytes += freed;
                    errors.extend(err);
                }
                None => break false,
            }
        };
        self.note_trim(evicted);
        self.defer(errors);
        fits
    }

    /// Gives the oldest cached buffer of the largest non-empty bucket back to the device.
    fn evict_one(&self) -> Option<(u64, Option<DeviceError>)> {
        for b in (0..self.buckets.len()).rev() {
            let victim = {
                let mut list = lock(&self.buckets[b]);
                if list.is_empty() {
                    continue;
                }
                self.counters.release(b, true, self.rec());
                list.remove(0)
            };
            self.cache_bytes.fetch_sub(self.bucket_bytes[b], Relaxed);
            let err = self.memory.free(victim).err();
            if err.is_some() {
                self.counters.free_error();
            }
            return Some((self.bucket_bytes[b], err));
        }
        None
    }

    fn defer(&self, errors: Vec<DeviceError>) {
        if errors.is_empty() {
            return;
        }
        let mut d = lock(&self.deferred);
        for e in errors {
            if d.errors.len() < MAX_DEFERRED_ERRORS {
                d.errors.push(e);
            } else {
                d.more += 1;
            }
        }
        self.has_deferred.store(true, Relaxed);
    }

    fn take_deferred(&self) -> Result<(), PoolError> {
        if !self.has_deferred.load(Relaxed) {
            return Ok(());
        }
        let mut d = lock(&self.deferred);
        self.has_deferred.store(false, Relaxed);
        let taken = std::mem::take(&mut *d);
        if taken.errors.is_empty() {
            return Ok(());
        }
        Err(PoolError::FreeFailed {
            deferred: true,
            errors: taken.errors,
            more: taken.more,
        })
    }

    /// The pool's counters, now.
    pub fn stats(&self) -> PoolStats {
        self.counters.snapshot(
            self.memory.backend(),
            self.max_bucket_bytes,
            self.cache_limit,
        )
    }

    /// The memory the pool allocates from.
    pub fn memory(&self) -> &M {
        &self.memory
    }

    /// The largest bucket.
    pub fn max_bucket_bytes(&self) -> u64 {
        self.max_bucket_bytes
    }

    /// The cached-bytes budget.
    pub fn cache_limit(&self) -> Option<u64> {
        self.cache_limit
    }

    /// Bucket sizes, smallest first.
    pub fn bucket_sizes(&self) -> &[u64] {
        &self.bucket_bytes
    }

    /// True when the pool has a record in a segment.
    pub fn is_published(&self) -> bool {
        self.rec().is_some()
    }
}

impl<M: DeviceMemory> fmt::Debug for SlabPool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlabPool")
            .field("device", &self.memory.name())
            .field("backend", &self.memory.backend())
            .field("max_bucket_bytes", &self.max_bucket_bytes)
            .field("cache_limit", &self.cache_limit)
            .field("published", &self.is_published())
            .finish_non_exhaustive()
    }
}

impl<M: DeviceMemory> Drop for SlabPool<M> {
    fn drop(&mut self) {
        // No caller is left to hear about refused frees; they are counted in the
        // pool's `free_errors` (its `stats()`; the segment record has no such field).
        let _ = self.trim_all();
    }
}

/// A buffer from a [`SlabPool`]; goes back to its own bucket (or, oversize, to the
/// device) when dropped.
pub struct PooledBuffer<'p, M: DeviceMemory> {
    pool: &'p SlabPool<M>,
    /// Always `Some` until `Drop` takes it.
    alloc: Option<DeviceAlloc>,
    requested: u64,
    bucket: Option<usize>,
}

impl<M: DeviceMemory> PooledBuffer<'_, M> {
    /// Address of the buffer (device address for CUDA, host address for host memory).
    pub fn device_ptr(&self) -> u64 {
        self.alloc.as_ref().map_or(0, DeviceAlloc::ptr)
    }

    /// Bytes requested.
    pub fn len(&self) -> u64 {
        self.requested
    }

    /// True when zero bytes were requested.
    pub fn is_empty(&self) -> bool {
        self.requested == 0
    }

    /// Usable bytes: the bucket size, or the request for an oversize buffer.
    pub fn capacity(&self) -> u64 {
        self.bucket_bytes().unwrap_or(self.requested)
    }

    /// The bucket the buffer belongs to; `None` for an oversize buffer.
    pub fn bucket_bytes(&self) -> Option<u64> {
        self.bucket.map(|b| self.pool.bucket_bytes[b])
    }

    /// True for a buffer above the pool's ceiling (not pooled).
    pub fn is_oversize(&self) -> bool {
        self.bucket.is_none()
    }

    /// The backend the buffer lives on.
    pub fn backend(&self) -> Backend {
        self.pool.memory.backend()
    }
}

impl<M: DeviceMemory> fmt::Debug for PooledBuffer<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledBuffer")
            .field("device_ptr", &format_args!("{:#x}", self.device_ptr()))
            .field("len", &self.requested)
            .field("bucket_bytes", &self.bucket_bytes())
            .finish()
    }
}

impl<M: DeviceMemory> Drop for PooledBuffer<'_, M> {
    fn drop(&mut self) {
        if let Some(a) = self.alloc.take() {
            self.pool.give_back(a, self.bucket);
        }
    }
}
