//! C++'s `operator new` and `operator delete` (the replaceable global forms, Itanium
//! C++ ABI names), so that a C++ program's allocations reach slabscope without the C++
//! runtime's `operator new` calling `malloc` through the PLT: in mimalloc-bench's
//! alloc-test those two wrappers took 4 % of the run's time.
//!
//! `new` serves what slabscope can from its own paths. When slabscope has no memory
//! for the request, the C++ runtime's own `operator new` of the same form (the next
//! definition after this library, `dlsym(RTLD_NEXT)`, looked up then) does what the
//! standard asks: it calls the new-handler and `malloc` (slabscope's) until either
//! succeeds, then throws `std::bad_alloc`, or returns null for the `nothrow` forms. The
//! exception passes through this library's frame: the entry points have the
//! `C-unwind` ABI and hold nothing to drop. Each entry point calls its miss function
//! directly (tests/cxx.rs checks the exception arrives): sharing the four bodies
//! through a helper taking the miss as a closure made a debug build abort on the
//! exception instead. A process without a C++ runtime that
//! calls them gets a message and `abort` instead of a null `new` never returns.
//!
//! `delete` is `free` in every form (sized and `nothrow` ones included). The aligned
//! forms (`std::align_val_t`) are left to the C++ runtime, which serves them with
//! `aligned_alloc` and `free`, both slabscope's.
// The exported names are the C++ ABI's.
#![allow(non_snake_case)]

use core::ffi::{c_char, c_void};
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use slabscope::raw;

use crate::sys::say;

/// `operator new(std::size_t)` and `operator new[](std::size_t)`.
type New = unsafe extern "C-unwind" fn(usize) -> *mut c_void;
/// The `nothrow` forms: `operator new(std::size_t, const std::nothrow_t&)`.
type NewNothrow = unsafe extern "C-unwind" fn(usize, *const c_void) -> *mut c_void;

/// The C++ runtime's definition of one form, looked up on the first failure.
struct Next {
    /// The symbol, NUL-terminated.
    name: &'static [u8],
    /// The function's address once looked up (0: not yet).
    addr: AtomicUsize,
}

impl Next {
    const fn new(name: &'static [u8]) -> Self {
        Next {
            name,
            addr: AtomicUsize::new(0),
        }
    }

    /// The next definition's address; says so and aborts when there is none.
    #[cold]
    fn get(&self) -> usize {
        let cached = self.addr.load(Relaxed);
        if cached != 0 {
            return cached;
        }
        // SAFETY: `name` is a NUL-terminated symbol name; `dlsym` only reads it. Its
        // own allocations (if any) reach slabscope's `malloc`, which holds no lock here.
        let addr = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr().cast::<c_char>()) };
        if addr.is_null() {
            say(&[
                b"slabscope: operator new: out of memory, and no C++ runtime defines ",
                &self.name[..self.name.len() - 1],
                b" to report it: aborting",
            ]);
            // SAFETY: `abort` has no preconditions.
            unsafe { libc::abort() };
        }
        self.addr.store(addr as usize, Relaxed);
        addr as usize
    }
}

static NEW: Next = Next::new(b"_Znwm\0");
static NEW_ARRAY: Next = Next::new(b"_Znam\0");
static NEW_NOTHROW: Next = Next::new(b"_ZnwmRKSt9nothrow_t\0");
static NEW_ARRAY_NOTHROW: Next = Next::new(b"_ZnamRKSt9nothrow_t\0");

/// `new` past the magazine: slabscope's slow path, then the C++ runtime's `new`.
#[cold]
#[inline(never)]
fn new_miss(size: usize, next: &Next) -> *mut c_void {
    let p = raw::alloc_miss(size, 0);
    if !p.is_null() {
        return p.cast();
    }
    // SAFETY: `next` names a throwing form of `operator new`, whose type is `New`.
    let f = unsafe { core::mem::transmute::<usize, New>(next.get()) };
    // SAFETY: the C++ runtime's `operator new` takes any size.
    unsafe { f(size) }
}

/// The `nothrow` forms past the magazine, as [`new_miss`].
#[cold]
#[inline(never)]
fn new_nothrow_miss(size: usize, tag: *const c_void, next: &Next) -> *mut c_void {
    let p = raw::alloc_miss(size, 0);
    if !p.is_null() {
        return p.cast();
    }
    // SAFETY: `next` names a `nothrow` form of `operator new`, whose type is
    // `NewNothrow`.
    let f = unsafe { core::mem::transmute::<usize, NewNothrow>(next.get()) };
    // SAFETY: the C++ runtime's `operator new` takes any size, and `tag` is the
    // caller's `std::nothrow_t` reference, passed on.
    unsafe { f(size, tag) }
}

/// `operator new(std::size_t)`.
#[no_mangle]
pub extern "C-unwind" fn _Znwm(size: usize) -> *mut c_void {
    match raw::alloc_hit(size) {
        Some(p) => p.as_ptr().cast(),
        None => new_miss(size, &NEW),
    }
}

/// `operator new[](std::size_t)`.
#[no_mangle]
pub extern "C-unwind" fn _Znam(size: usize) -> *mut c_void {
    match raw::alloc_hit(size) {
        Some(p) => p.as_ptr().cast(),
        None => new_miss(size, &NEW_ARRAY),
    }
}

/// `operator new(std::size_t, const std::nothrow_t&)`.
#[no_mangle]
pub extern "C-unwind" fn _ZnwmRKSt9nothrow_t(size: usize, tag: *const c_void) -> *mut c_void {
    match raw::alloc_hit(size) {
        Some(p) => p.as_ptr().cast(),
        None => new_nothrow_miss(size, tag, &NEW_NOTHROW),
    }
}

/// `operator new[](std::size_t, const std::nothrow_t&)`.
#[no_mangle]
pub extern "C-unwind" fn _ZnamRKSt9nothrow_t(size: usize, tag: *const c_void) -> *mut c_void {
    match raw::alloc_hit(size) {
        Some(p) => p.as_ptr().cast(),
        None => new_nothrow_miss(size, tag, &NEW_ARRAY_NOTHROW),
    }
}

/// `operator delete(void*)`.
///
/// # Safety
/// As for `free`.
#[no_mangle]
pub unsafe extern "C" fn _ZdlPv(p: *mut c_void) {
    // SAFETY: forwarded caller contract (`free`'s).
    unsafe { raw::free(p.cast()) }
}

/// `operator delete[](void*)`.
///
/// # Safety
/// As for `free`.
#[no_mangle]
pub unsafe extern "C" fn _ZdaPv(p: *mut c_void) {
    // SAFETY: forwarded caller contract (`free`'s).
    unsafe { raw::free(p.cast()) }
}

/// `operator delete(void*, std::size_t)`.
///
/// # Safety
/// As for `free`.
#[no_mangle]
pub unsafe extern "C" fn _ZdlPvm(p: *mut c_void, _size: usize) {
    // SAFETY: forwarded caller contract (`free`'s).
    unsafe { raw::free(p.cast()) }
}

/// `operator delete[](void*, std::size_t)`.
///
/// # Safety
/// As for `free`.
#[no_mangle]
pub unsafe extern "C" fn _ZdaPvm(p: *mut c_void, _size: usize) {
    // SAFETY: forwarded caller contract (`free`'s).
    unsafe { raw::free(p.cast()) }
}

/// `operator delete(void*, const std::nothrow_t&)`.
///
/// # Safety
/// As for `free`.
#[no_mangle]
pub unsafe extern "C" fn _ZdlPvRKSt9nothrow_t(p: *mut c_void, _tag: *const c_void) {
    // SAFETY: forwarded caller contract (`free`'s).
    unsafe { raw::free(p.cast()) }
}

/// `operator delete[](void*, const std::nothrow_t&)`.
///
/// # Safety
/// As for `free`.
#[no_mangle]
pub unsafe extern "C" fn _ZdaPvRKSt9nothrow_t(p: *mut c_void, _tag: *const c_void) {
    // SAFETY: forwarded caller contract (`free`'s).
    unsafe { raw::free(p.cast()) }
}
