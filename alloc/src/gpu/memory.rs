//! The [`DeviceMemory`] trait: where a [`SlabPool`](super::SlabPool) gets its buffers.
//!
//! An implementation hands out raw allocations as [`DeviceAlloc`] tokens and takes them
//! back in [`DeviceMemory::free`]. A token is not `Clone`, so an allocation is freed at
//! most once; only an implementation creates tokens (through the `unsafe`
//! [`DeviceAlloc::from_raw`]), which is what makes `free` safe to call.

use std::fmt;

/// Which kind of memory a [`DeviceMemory`] hands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// CUDA device memory (`cuMemAlloc`), see `gpu::CudaMemory` (the `gpu` feature).
    Cuda,
    /// Page-aligned host memory (`mmap`), see [`HostMemory`](super::HostMemory).
    Host,
}

impl Backend {
    /// Short lower-case name: `cuda` or `host`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cuda => "cuda",
            Self::Host => "host",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Free and total memory of a device, in bytes, as the device reported them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// Bytes the device could still hand out.
    pub free: u64,
    /// Bytes the device has in all.
    pub total: u64,
}

/// A failed call on a [`DeviceMemory`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceError {
    /// The backend cannot be used on this machine (no driver library, no device).
    NotAvailable {
        /// The backend that is missing.
        backend: Backend,
        /// Why, in words (for example `libcuda not found: ...`).
        reason: String,
    },
    /// The device has no memory left for an allocation of `bytes`.
    OutOfMemory {
        /// Bytes asked of the device.
        bytes: u64,
        /// What the device said.
        detail: String,
    },
    /// Any other failed call.
    Call {
        /// The operation that failed (`cuMemAlloc`, `munmap`, ...).
        op: &'static str,
        /// What the device or OS said.
        detail: String,
    },
}

impl DeviceError {
    /// True for [`DeviceError::OutOfMemory`]: the pool trims and retries these.
    pub const fn is_out_of_memory(&self) -> bool {
        matches!(self, Self::OutOfMemory { .. })
    }
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAvailable { backend, reason } => {
                write!(f, "{backend} memory is not available: {reason}")
            }
            Self::OutOfMemory { bytes, detail } => {
                write!(f, "device out of memory allocating {bytes} bytes: {detail}")
            }
            Self::Call { op, detail } => write!(f, "{op} failed: {detail}"),
        }
    }
}

impl std::error::Error for DeviceError {}

/// One live allocation of a [`DeviceMemory`]: its address and its size.
///
/// Owning the token is owning the allocation; giving it to [`DeviceMemory::free`] ends
/// it. Dropping a token without freeing it leaks the allocation (never unsound).
#[derive(Debug, PartialEq, Eq)]
#[must_use = "dropping a DeviceAlloc leaks the allocation"]
pub struct DeviceAlloc {
    ptr: u64,
    bytes: u64,
}

impl DeviceAlloc {
    /// Wraps a raw allocation.
    ///
    /// # Safety
    /// `ptr` must be the start of a live allocation of `bytes` bytes made by the
    /// [`DeviceMemory`] that will free this token (or by one that frees the same way, such
    /// as another [`HostMemory`](super::HostMemory)), and no other token may describe the
    /// same allocation: the token is its only owner.
    pub const unsafe fn from_raw(ptr: u64, bytes: u64) -> Self {
        Self { ptr, bytes }
    }

    /// Address of the allocation (a device address for CUDA, a host address for host
    /// memory).
    pub const fn ptr(&self) -> u64 {
        self.ptr
    }

    /// Bytes asked for when it was allocated.
    pub const fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// A source of device buffers for a [`SlabPool`](super::SlabPool).
///
/// Implementations are thread-safe: the pool calls them from any thread, without a lock.
pub trait DeviceMemory: Send + Sync {
    /// Allocates `bytes` (> 0) bytes. A device that is full answers
    /// [`DeviceError::OutOfMemory`], which the pool answers by trimming and retrying.
    fn allocate(&self, bytes: u64) -> Result<DeviceAlloc, DeviceError>;

    /// Gives an allocation back to the device. On error the allocation is lost (leaked),
    /// never double-freed.
    fn free(&self, alloc: DeviceAlloc) -> Result<(), DeviceError>;

    /// Free and total memory of the device.
    fn mem_info(&self) -> Result<MemInfo, DeviceError>;

    /// The device's name (`NVIDIA H100 80GB HBM3`, `host memory`).
    fn name(&self) -> &str;

    /// The kind of memory handed out.
    fn backend(&self) -> Backend;

    /// Device ordinal, `None` for memory that belongs to no device (host memory).
    fn ordinal(&self) -> Option<u32>;
}

macro_rules! forward_device_memory {
    ($($ty:ty),*) => {$(
impl<M: DeviceMemory + ?Sized> DeviceMemory for $ty {
    fn allocate(&self, bytes: u64) -> Result<DeviceAlloc, DeviceError> {
        (**self).allocate(bytes)
    }
    fn free(&self, alloc: DeviceAlloc) -> Result<(), DeviceError> {
        (**self).free(alloc)
    }
    fn mem_info(&self) -> Result<MemInfo, DeviceError> {
        (**self).mem_info()
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    fn backend(&self) -> Backend {
        (**self).backend()
    }
    fn ordinal(&self) -> Option<u32> {
        (**self).ordinal()
    }
}
    )*};
}

forward_device_memory!(std::sync::Arc<M>, Box<M>);
