//! A test device for the GPU pool tests: host memory with a byte budget (allocations
//! beyond it fail with out-of-memory), counters of device calls, and frees that can be
//! told to fail.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

use slabscope::gpu::{Backend, DeviceAlloc, DeviceError, DeviceMemory, HostMemory, MemInfo};

/// Host memory that holds at most `limit` bytes.
#[derive(Debug)]
pub struct TestDevice {
    inner: HostMemory,
    limit: u64,
    used: AtomicU64,
    allocs: AtomicU64,
    frees: AtomicU64,
    fail_frees: AtomicBool,
}

impl TestDevice {
    pub fn with_limit(limit: u64) -> Self {
        Self {
            inner: HostMemory::new(),
            limit,
            used: AtomicU64::new(0),
            allocs: AtomicU64::new(0),
            frees: AtomicU64::new(0),
            fail_frees: AtomicBool::new(false),
        }
    }

    pub fn unlimited() -> Self {
        Self::with_limit(u64::MAX / 2)
    }

    /// Bytes currently allocated from this device.
    pub fn used(&self) -> u64 {
        self.used.load(SeqCst)
    }

    /// Successful `allocate` calls so far.
    pub fn allocs(&self) -> u64 {
        self.allocs.load(SeqCst)
    }

    /// `free` calls so far.
    pub fn frees(&self) -> u64 {
        self.frees.load(SeqCst)
    }

    /// From now on, every free releases the memory but reports an error.
    pub fn fail_frees(&self, fail: bool) {
        self.fail_frees.store(fail, SeqCst);
    }
}

impl DeviceMemory for TestDevice {
    fn allocate(&self, bytes: u64) -> Result<DeviceAlloc, DeviceError> {
        let mut cur = self.used.load(SeqCst);
        loop {
            if cur + bytes > self.limit {
                return Err(DeviceError::OutOfMemory {
                    bytes,
                    detail: format!("test device full ({cur} of {} bytes used)", self.limit),
                });
            }
            match self.used.compare_exchange(cur, cur + bytes, SeqCst, SeqCst) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        match self.inner.allocate(bytes) {
            Ok(a) => {
                self.allocs.fetch_add(1, SeqCst);
                Ok(a)
            }
            Err(e) => {
                self.used.fetch_sub(bytes, SeqCst);
                Err(e)
            }
        }
    }

    fn free(&self, alloc: DeviceAlloc) -> Result<(), DeviceError> {
        self.frees.fetch_add(1, SeqCst);
        self.used.fetch_sub(alloc.bytes(), SeqCst);
        let ptr = alloc.ptr();
        self.inner.free(alloc)?;
        if self.fail_frees.load(SeqCst) {
            return Err(DeviceError::Call {
                op: "test free",
                detail: format!("refused {ptr:#x}"),
            });
        }
        Ok(())
    }

    fn mem_info(&self) -> Result<MemInfo, DeviceError> {
        Ok(MemInfo {
            free: self.limit - self.used(),
            total: self.limit,
        })
    }

    fn name(&self) -> &str {
        "test device"
    }

    fn backend(&self) -> Backend {
        Backend::Host
    }

    fn ordinal(&self) -> Option<u32> {
        None
    }
}
