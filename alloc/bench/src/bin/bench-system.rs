//! The workloads on the system allocator (glibc malloc, or whatever `LD_PRELOAD` puts in
//! front of it: the driver's `--preload` mode runs this binary).

use std::ffi::{c_void, CStr};
use std::process::ExitCode;

use slabscope_bench::{child_main, AllocatorHooks};

#[global_allocator]
static GLOBAL: std::alloc::System = std::alloc::System;

/// Looks a symbol up in the process's global scope (a preloaded library's exports).
fn symbol(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: `name` is NUL-terminated; RTLD_DEFAULT searches the loaded objects and
    // returns null when the symbol is absent.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

/// Returns free memory to the OS through whichever allocator serves `malloc`: glibc's
/// `malloc_trim`, and, when a preloaded allocator exports one, its own call (mimalloc's
/// `mi_collect`, jemalloc's `arena.4096.purge`, tcmalloc's
/// `MallocExtension_ReleaseFreeMemory`), since a preloaded malloc ignores `malloc_trim`.
fn trim() {
    // SAFETY: malloc_trim takes no pointer and may be called at any time.
    unsafe { libc::malloc_trim(0) };
    if let Some(f) = symbol(c"mi_collect") {
        // SAFETY: mimalloc declares `void mi_collect(bool force)`.
        let f: extern "C" fn(bool) = unsafe { std::mem::transmute(f) };
        f(true);
    }
    if let Some(f) = symbol(c"MallocExtension_ReleaseFreeMemory") {
        // SAFETY: gperftools declares `void MallocExtension_ReleaseFreeMemory(void)`.
        let f: extern "C" fn() = unsafe { std::mem::transmute(f) };
        f();
    }
    if let Some(f) = symbol(c"mallctl") {
        type Mallctl = extern "C" fn(
            *const libc::c_char,
            *mut c_void,
            *mut usize,
            *mut c_void,
            usize,
        ) -> libc::c_int;
        // SAFETY: jemalloc declares `int mallctl(const char *, void *, size_t *, void *,
        // size_t)`.
        let f: Mallctl = unsafe { std::mem::transmute(f) };
        let null = std::ptr::null_mut();
        f(c"arena.4096.purge".as_ptr(), null, null.cast(), null, 0);
    }
}

fn main() -> ExitCode {
    child_main(&AllocatorHooks {
        name: "system",
        trim,
        counters: || None,
    })
}
