//! The calling thread's return addresses, by the system unwinder: the general path of
//! [`super::backtrace()`], and its whole path on targets without the cached walk.
//!
//! `_Unwind_Backtrace` (libgcc's, which the Rust standard library links on Linux) steps
//! through the call frames with each module's DWARF call-frame information
//! (`.eh_frame`), which every C, C++ and Rust binary on Linux carries whether or not it
//! keeps frame pointers, and knows the kernel's signal frames. It finds a module's table
//! with glibc's `_dl_find_object` (lock-free, since glibc 2.35) or, on older systems,
//! `dl_iterate_phdr` behind a small cache, and binary-searches the module's
//! `.eh_frame_hdr` index; it does not allocate for modules that have that index (every
//! one the linker makes). A module registered at run time with `__register_frame_info`
//! (some JIT compilers) may make it allocate once, to sort that module's table: callers
//! hold the allocator's re-entrancy guard, which sends such a nested allocation to the
//! global path. It costs about 2,000 instructions a frame (it interprets each frame's
//! call-frame program again every time).
//!
//! Bounded: the walk stops after the caller's buffer is full, and at the first frame
//! without call-frame information (JIT code, a corrupt stack), which ends the stack.

use core::ffi::{c_int, c_void};

/// libgcc's `struct _Unwind_Context`, only ever behind a pointer.
#[repr(C)]
struct UnwindContext {
    _opaque: [u8; 0],
}

/// `_Unwind_Reason_Code`: keep walking.
const URC_NO_REASON: c_int = 0;
/// `_Unwind_Reason_Code`: stop here.
const URC_NORMAL_STOP: c_int = 4;

type TraceFn = extern "C" fn(*mut UnwindContext, *mut c_void) -> c_int;

#[cfg_attr(all(target_os = "linux", target_env = "gnu"), link(name = "gcc_s"))]
extern "C" {
    fn _Unwind_Backtrace(trace: TraceFn, arg: *mut c_void) -> c_int;
    fn _Unwind_GetIPInfo(ctx: *mut UnwindContext, ip_before_insn: *mut c_int) -> usize;
}

/// The walk's state, passed to [`step`] through `_Unwind_Backtrace`'s argument.
struct Walk<'a> {
    out: &'a mut [u64],
    n: usize,
    skip: usize,
}

/// Frames of this module between the caller and the unwinder: [`system_backtrace`]
/// itself.
const OWN_FRAMES: usize = 1;

extern "C" fn step(ctx: *mut UnwindContext, arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `&mut Walk` that `system_backtrace` passed to `_Unwind_Backtrace`,
    // alive and not otherwise borrowed until that call returns.
    let walk = unsafe { &mut *arg.cast::<Walk<'_>>() };
    let mut before: c_int = 0;
    // SAFETY: `ctx` is the live context the unwinder passes to this callback.
    let ip = unsafe { _Unwind_GetIPInfo(ctx, &mut before) };
    if ip == 0 {
        return URC_NORMAL_STOP;
    }
    if walk.skip > 0 {
        walk.skip -= 1;
        return URC_NO_REASON;
    }
    // A signal frame's IP is the interrupted instruction itself; make it look like a
    // return address, as every other entry is (readers subtract one).
    let addr = if before != 0 { ip + 1 } else { ip };
    let Some(slot) = walk.out.get_mut(walk.n) else {
        return URC_NORMAL_STOP;
    };
    *slot = addr as u64;
    walk.n += 1;
    if walk.n == walk.out.len() {
        URC_NORMAL_STOP
    } else {
        URC_NO_REASON
    }
}

/// Fills `out` with the return addresses of the calling function's callers, innermost
/// first (the first is a return address into the function that called
/// `system_backtrace`), skipping the first `skip`; returns how many were written.
#[inline(never)]
pub fn system_backtrace(out: &mut [u64], skip: usize) -> usize {
    if out.is_empty() {
        return 0;
    }
    let mut walk = Walk {
        out,
        n: 0,
        skip: skip + OWN_FRAMES,
    };
    // SAFETY: `step` matches `_Unwind_Trace_Fn` and only reads the context it is given;
    // `walk` outlives the call.
    unsafe { _Unwind_Backtrace(step, (&mut walk as *mut Walk<'_>).cast()) };
    walk.n
}
