//! The workloads on jemalloc (crate `tikv-jemallocator`, statically linked).

use std::process::ExitCode;

use slabscope_bench::{child_main, AllocatorHooks};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// `arena.<MALLCTL_ARENAS_ALL>.purge`: return every arena's unused dirty pages.
const PURGE_ALL: &std::ffi::CStr = c"arena.4096.purge";

fn trim() {
    // SAFETY: PURGE_ALL is a NUL-terminated mallctl name that takes no old or new value,
    // so null pointers and a zero length are what it expects.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            PURGE_ALL.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        eprintln!("bench-jemalloc: mallctl arena.4096.purge failed: {rc}");
    }
}

fn main() -> ExitCode {
    child_main(&AllocatorHooks {
        name: "jemalloc",
        trim,
        counters: || None,
    })
}
