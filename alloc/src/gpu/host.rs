//! [`HostMemory`]: page-aligned anonymous `mmap` memory behind the [`DeviceMemory`] trait.
//!
//! For machines with no GPU, for tests, and as a pool of page-aligned host staging
//! buffers. Each allocation is its own mapping, so a free really returns the pages to
//! the OS (`munmap`), the way `cuMemFree` returns device memory.

use super::memory::{Backend, DeviceAlloc, DeviceError, DeviceMemory, MemInfo};

/// Page-aligned host memory from anonymous private `mmap`s.
#[derive(Debug)]
pub struct HostMemory {
    page_size: u64,
}

impl HostMemory {
    /// Host memory with the OS page size.
    pub fn new() -> Self {
        // SAFETY: sysconf has no memory-safety preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        Self {
            page_size: u64::try_from(page)
                .ok()
                .filter(|p| p.is_power_of_two())
                .unwrap_or(4096),
        }
    }

    /// The page size every allocation is aligned to and rounded up to.
    pub fn page_size(&self) -> u64 {
        self.page_size
    }

    fn mapping_len(&self, bytes: u64) -> Option<usize> {
        let len = bytes.checked_add(self.page_size - 1)? & !(self.page_size - 1);
        usize::try_from(len)
            .ok()
            .filter(|&l| l > 0 && l <= isize::MAX as usize)
    }
}

impl Default for HostMemory {
    fn default() -> Self {
        Self::new()
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Reads `MemAvailable` and `MemTotal` from `/proc/meminfo` (kB lines).
fn proc_meminfo() -> Option<MemInfo> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        kb.checked_mul(1024)
    };
    Some(MemInfo {
        free: field("MemAvailable:")?,
        total: field("MemTotal:")?,
    })
}

impl DeviceMemory for HostMemory {
    fn allocate(&self, bytes: u64) -> Result<DeviceAlloc, DeviceError> {
        let len = self.mapping_len(bytes).ok_or(DeviceError::Call {
            op: "mmap",
            detail: format!("cannot map {bytes} bytes (zero or too large)"),
        })?;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing
        // touches no existing memory; the result is checked against MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            let e = errno();
            let detail = format!(
                "mmap of {len} bytes: {}",
                std::io::Error::from_raw_os_error(e)
            );
            return Err(if e == libc::ENOMEM {
                DeviceError::OutOfMemory { bytes, detail }
            } else {
                DeviceError::Call { op: "mmap", detail }
            });
        }
        // SAFETY: `ptr` is the start of a fresh mapping covering `bytes` (rounded up to
        // `len`), owned by nothing else; `free` below recomputes `len` from `bytes`.
        Ok(unsafe { DeviceAlloc::from_raw(ptr as u64, bytes) })
    }

    fn free(&self, alloc: DeviceAlloc) -> Result<(), DeviceError> {
        let len = self.mapping_len(alloc.bytes()).ok_or(DeviceError::Call {
            op: "munmap",
            detail: format!("bad allocation size {}", alloc.bytes()),
        })?;
        // SAFETY: the token owns a mapping of `len` bytes at `ptr` made by a HostMemory
        // (DeviceAlloc::from_raw's contract) and is consumed here, so nothing uses the
        // range after it is unmapped.
        let rc = unsafe { libc::munmap(alloc.ptr() as *mut libc::c_void, len) };
        if rc != 0 {
            return Err(DeviceError::Call {
                op: "munmap",
                detail: format!(
                    "munmap({:#x}, {len}): {}",
                    alloc.ptr(),
                    std::io::Error::from_raw_os_error(errno())
                ),
            });
        }
        Ok(())
    }

    fn mem_info(&self) -> Result<MemInfo, DeviceError> {
        proc_meminfo().ok_or(DeviceError::Call {
            op: "read /proc/meminfo",
            detail: "MemAvailable/MemTotal not found".to_owned(),
        })
    }

    fn name(&self) -> &str {
        "host memory"
    }

    fn backend(&self) -> Backend {
        Backend::Host
    }

    fn ordinal(&self) -> Option<u32> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_are_page_aligned_writable_and_freed() {
        let m = HostMemory::new();
        let a = m.allocate(5000).unwrap();
        assert_eq!(a.ptr() % m.page_size(), 0);
        assert_eq!(a.bytes(), 5000);
        // SAFETY: the mapping is 5000 bytes rounded up to whole pages, readable and
        // writable, and owned by `a` for the duration of the write.
        unsafe { std::ptr::write_bytes(a.ptr() as *mut u8, 0xab, 5000) };
        m.free(a).unwrap();
    }

    #[test]
    fn zero_bytes_is_an_error_not_a_mapping() {
        let err = HostMemory::new().allocate(0).unwrap_err();
        assert!(matches!(err, DeviceError::Call { op: "mmap", .. }), "{err}");
    }

    #[test]
    fn mem_info_reports_total_at_least_free() {
        let info = HostMemory::new().mem_info().unwrap();
        assert!(info.total > 0 && info.free <= info.total, "{info:?}");
    }
}
