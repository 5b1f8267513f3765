//! [`CudaMemory`]: CUDA device memory through cudarc's driver API.
//!
//! Layers, as in cudarc itself: `cudarc::driver::sys` is the raw FFI (loaded at run time,
//! `dynamic-loading`), `cudarc::driver::result` wraps each call in a `Result`, and this
//! module is the safe owned type. The crate builds everywhere; libcuda is only opened
//! when a `CudaMemory` is created.
//!
//! cudarc panics when it cannot load libcuda, so [`CudaMemory::new`] first asks
//! `is_culib_present()` and answers [`DeviceError::NotAvailable`] when the library is
//! missing; every driver call also runs under `catch_unwind`, so a panic inside cudarc
//! (a symbol missing from an old driver, say) becomes an error instead of unwinding
//! into the caller.

use std::panic::{catch_unwind, AssertUnwindSafe};

use cudarc::driver::{result, sys, DriverError};

use super::memory::{Backend, DeviceAlloc, DeviceError, DeviceMemory, MemInfo};

/// CUDA device memory of one device, allocated with `cuMemAlloc` in the device's primary
/// context and freed with `cuMemFree`.
#[derive(Debug)]
pub struct CudaMemory {
    ordinal: u32,
    device: sys::CUdevice,
    ctx: sys::CUcontext,
    name: String,
}

// SAFETY: a CUDA context handle may be used from any thread (the driver API is
// thread-safe; each call below makes the primary context current on the calling thread
// first), and the struct holds no thread-affine state besides it.
unsafe impl Send for CudaMemory {}
// SAFETY: as for Send: every method makes the context current on its own thread and the
// driver serialises concurrent calls internally; no field is mutated after creation.
unsafe impl Sync for CudaMemory {}

fn not_available(reason: impl Into<String>) -> DeviceError {
    DeviceError::NotAvailable {
        backend: Backend::Cuda,
        reason: reason.into(),
    }
}

fn call_error(op: &'static str, e: DriverError) -> DeviceError {
    DeviceError::Call {
        op,
        detail: describe(e),
    }
}

/// `CUDA_ERROR_OUT_OF_MEMORY (2): out of memory`, from the driver's own strings.
fn describe(e: DriverError) -> String {
    let code = e.0 as i32;
    let name = e.error_name().map(|s| s.to_string_lossy().into_owned());
    let text = e.error_string().map(|s| s.to_string_lossy().into_owned());
    match (name, text) {
        (Ok(n), Ok(t)) => format!("{n} ({code}): {t}"),
        (Ok(n), Err(_)) => format!("{n} ({code})"),
        _ => format!("CUresult {code}"),
    }
}

/// Runs one driver call, turning a panic inside cudarc into a [`DeviceError`].
fn guarded<T>(
    op: &'static str,
    f: impl FnOnce() -> Result<T, DeviceError>,
) -> Result<T, DeviceError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(DeviceError::Call {
                op,
                detail: format!("cudarc panicked: {msg}"),
            })
        }
    }
}

/// Is libcuda loadable? (`false` means no NVIDIA driver on this machine.)
pub fn cuda_library_present() -> bool {
    // SAFETY: is_culib_present only tries dlopen on the candidate library names and
    // closes what it opened; loading libcuda runs no code of ours.
    catch_unwind(|| unsafe { sys::is_culib_present() }).unwrap_or(false)
}

impl CudaMemory {
    /// Opens device `ordinal`: loads libcuda, `cuInit`, and retains the device's primary
    /// context. No driver library, no device, or a bad ordinal is an `Err` saying so.
    pub fn new(ordinal: u32) -> Result<Self, DeviceError> {
        if !cuda_library_present() {
            return Err(not_available(
                "libcuda not found: no NVIDIA driver library (libcuda.so) could be loaded",
            ));
        }
        guarded("cuInit", || Self::open(ordinal))
    }

    /// Number of CUDA devices (`Err` when there is no driver or `cuInit` fails).
    pub fn device_count() -> Result<u32, DeviceError> {
        if !cuda_library_present() {
            return Err(not_available("libcuda not found"));
        }
        guarded("cuDeviceGetCount", || {
            result::init().map_err(|e| not_available(format!("cuInit: {}", describe(e))))?;
            let n = result::device::get_count().map_err(|e| call_error("cuDeviceGetCount", e))?;
            Ok(u32::try_from(n).unwrap_or(0))
        })
    }

    fn open(ordinal: u32) -> Result<Self, DeviceError> {
        result::init().map_err(|e| not_available(format!("cuInit: {}", describe(e))))?;
        let count = result::device::get_count().map_err(|e| call_error("cuDeviceGetCount", e))?;
        if count <= 0 {
            return Err(not_available("the driver reports no CUDA device"));
        }
        let idx = i32::try_from(ordinal)
            .ok()
            .filter(|&i| i < count)
            .ok_or_else(|| {
                not_available(format!(
                    "no CUDA device {ordinal}: the driver reports {count}"
                ))
            })?;
        let device = result::device::get(idx).map_err(|e| call_error("cuDeviceGet", e))?;
        let name =
            result::device::get_name(device).map_err(|e| call_error("cuDeviceGetName", e))?;
        // SAFETY: `device` was just returned by cuDeviceGet.
        let ctx = unsafe { result::primary_ctx::retain(device) }
            .map_err(|e| call_error("cuDevicePrimaryCtxRetain", e))?;
        Ok(Self {
            ordinal,
            device,
            ctx,
            name,
        })
    }

    /// Makes this device's primary context current on the calling thread.
    fn make_current(&self) -> Result<(), DeviceError> {
        // SAFETY: `ctx` is the primary context retained in `open` and released only in
        // Drop, so it is alive.
        unsafe { result::ctx::set_current(self.ctx) }.map_err(|e| call_error("cuCtxSetCurrent", e))
    }
}

impl DeviceMemory for CudaMemory {
    fn allocate(&self, bytes: u64) -> Result<DeviceAlloc, DeviceError> {
        let len = usize::try_from(bytes).map_err(|_| DeviceError::Call {
            op: "cuMemAlloc",
            detail: format!("{bytes} bytes does not fit in usize"),
        })?;
        guarded("cuMemAlloc", || {
            self.make_current()?;
            // SAFETY: the context is current; the returned memory is uninitialised device
            // memory, which we never read on the host.
            match unsafe { result::malloc_sync(len) } {
                Ok(ptr) => {
                    // SAFETY: `ptr` is a fresh cuMemAlloc allocation of `bytes`, owned by
                    // nothing else; it is freed with cuMemFree in the same context.
                    Ok(unsafe { DeviceAlloc::from_raw(ptr, bytes) })
                }
                Err(e) if e.0 == sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY => {
                    Err(DeviceError::OutOfMemory {
                        bytes,
                        detail: describe(e),
                    })
                }
                Err(e) => Err(call_error("cuMemAlloc", e)),
            }
        })
    }

    fn free(&self, alloc: DeviceAlloc) -> Result<(), DeviceError> {
        guarded("cuMemFree", || {
            self.make_current()?;
            // SAFETY: the token owns a cuMemAlloc allocation (DeviceAlloc::from_raw's
            // contract) and is consumed here, so it is freed once; the pool only hands a
            // buffer back after its owner dropped it.
            unsafe { result::free_sync(alloc.ptr()) }.map_err(|e| call_error("cuMemFree", e))
        })
    }

    fn mem_info(&self) -> Result<MemInfo, DeviceError> {
        guarded("cuMemGetInfo", || {
            self.make_current()?;
            let (free, total) =
                result::mem_get_info().map_err(|e| call_error("cuMemGetInfo", e))?;
            Ok(MemInfo {
                free: free as u64,
                total: total as u64,
            })
        })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn backend(&self) -> Backend {
        Backend::Cuda
    }

    fn ordinal(&self) -> Option<u32> {
        Some(self.ordinal)
    }
}

impl Drop for CudaMemory {
    fn drop(&mut self) {
        // A failure here has no caller to report to; the context is the driver's to reclaim
        // at process exit either way.
        let _ = guarded("cuDevicePrimaryCtxRelease", || {
            // SAFETY: `device` came from cuDeviceGet and its primary context was retained
            // once in `open`; this is the matching release.
            unsafe { result::primary_ctx::release(self.device) }
                .map_err(|e| call_error("cuDevicePrimaryCtxRelease", e))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_driver_is_an_error_never_a_panic() {
        match CudaMemory::new(0) {
            Ok(m) => assert_eq!(m.backend(), Backend::Cuda),
            Err(e) => assert!(matches!(e, DeviceError::NotAvailable { .. }), "{e}"),
        }
    }

    #[test]
    fn bad_ordinal_is_an_error() {
        if let Err(e) = CudaMemory::new(u32::MAX) {
            assert!(matches!(e, DeviceError::NotAvailable { .. }), "{e}");
        } else {
            panic!("device u32::MAX opened");
        }
    }
}
