//! GPU slab pool: power-of-two buckets of device memory, handed out as RAII buffers and
//! shown to `alloc-inspect` beside the host allocator.
//!
//! - [`DeviceMemory`] is where buffers come from: `CudaMemory` (CUDA driver API through
//!   cudarc, loaded at run time, so the crate builds and runs with no GPU; the `gpu`
//!   feature, on by default) or [`HostMemory`] (page-aligned `mmap`).
//! - [`SlabPool`] caches buffers in buckets from 4 KiB up to a ceiling (default 2 MiB);
//!   [`SlabPool::alloc`] returns a [`PooledBuffer`] that goes back to its own bucket on
//!   drop. Larger requests go straight to the device. `trim`, a `cache_limit`, and a trim
//!   and retry on device out-of-memory keep the cache in check; a final OOM error is an
//!   [`OomReport`] that says what was asked and what every bucket holds.
//! - [`Publish`] puts the pool's counters and events into a segment.
//!
//! ```
//! use slabscope::gpu::{HostMemory, SlabPool};
//!
//! let pool = SlabPool::new(HostMemory::new());
//! let a = pool.alloc(5000).unwrap(); // 8 KiB bucket, from the device
//! assert_eq!(a.bucket_bytes(), Some(8192));
//! let ptr = a.device_ptr();
//! drop(a); // back to the 8 KiB bucket
//! let b = pool.alloc(8000).unwrap(); // same bucket: a cache hit, same buffer
//! assert_eq!(b.device_ptr(), ptr);
//! assert_eq!(pool.stats().hits(), 1);
//! ```
//!
//! See docs/GPU.md for the design, the OOM message and benchmark numbers.

#[cfg(feature = "gpu")]
mod cuda;
mod error;
mod host;
mod memory;
mod pool;
mod publish;
mod stats;

#[cfg(feature = "gpu")]
pub use cuda::{cuda_library_present, CudaMemory};
pub use error::{human_bytes, OomReport, PoolError, MAX_DEFERRED_ERRORS};
pub use host::HostMemory;
pub use memory::{Backend, DeviceAlloc, DeviceError, DeviceMemory, MemInfo};
pub use pool::{
    PoolConfig, PooledBuffer, SlabPool, TrimReport, DEFAULT_MAX_BUCKET_BYTES, MAX_MAX_BUCKET_BYTES,
    MIN_BUCKET_BYTES,
};
pub use publish::Publish;
pub use stats::{BucketStats, PoolStats};
