//! The dynamic loader, for loading `libslabscope_trace.so`: the file this library was
//! loaded from, `dlopen` and `dlsym`, and calls into the loaded library. Used only in a
//! process that asks for tracing, from the load-time constructor or a thread of its own,
//! never from inside a `malloc` (the loader allocates, and may be half way through a
//! `dlopen` of its own on the calling thread).

use core::ffi::{c_char, c_void};

use slabscope_trace_sink::abi::{FingerprintFn, RawBatch, WriteFn};

/// Copies the path this library was loaded from (as the loader was given it) into
/// `buf`; returns its length, or `None` if the loader cannot tell or it does not fit.
pub fn own_path(buf: &mut [u8]) -> Option<usize> {
    // SAFETY: an all-zero `Dl_info` (null pointers, zero address) is a valid value for
    // dladdr to overwrite.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    let here = own_path as *const c_void;
    // SAFETY: `here` is an address inside this library and `info` a valid out-pointer.
    if unsafe { libc::dladdr(here, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dladdr set `dli_fname` to the loader's NUL-terminated name of the object,
    // which lives as long as the object (this library: never unloaded).
    let name = unsafe { core::ffi::CStr::from_ptr(info.dli_fname) }.to_bytes();
    let out = buf.get_mut(..name.len())?;
    out.copy_from_slice(name);
    Some(name.len())
}

/// A library opened with `dlopen` (never closed: its thread-local destructors may run
/// until the process ends).
#[derive(Clone, Copy)]
pub struct Library(*mut c_void);

/// Opens `path` (NUL-terminated) with `RTLD_NOW | RTLD_LOCAL`; on failure copies the
/// loader's message into `why` and returns its length.
pub fn open(path: &[u8], why: &mut [u8]) -> Result<Library, usize> {
    if path.last() != Some(&0) {
        return Err(0);
    }
    // SAFETY: `path` is NUL-terminated; the caller is the load-time constructor or a
    // thread of its own, so no dlopen is half done on this thread.
    let handle = unsafe { libc::dlopen(path.as_ptr().cast(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if !handle.is_null() {
        return Ok(Library(handle));
    }
    // SAFETY: dlerror has no preconditions; it returns null or this thread's message.
    let msg = unsafe { libc::dlerror() };
    if msg.is_null() {
        return Err(0);
    }
    // SAFETY: a non-null dlerror result is a NUL-terminated string valid until the next
    // dl* call on this thread.
    let msg = unsafe { core::ffi::CStr::from_ptr(msg as *const c_char) }.to_bytes();
    let n = msg.len().min(why.len());
    why[..n].copy_from_slice(&msg[..n]);
    Err(n)
}

/// The library's tracing entry points, once its fingerprint matched.
#[derive(Clone, Copy)]
pub struct Entry {
    write: WriteFn,
}

impl Library {
    /// Its `slabscope_trace_write`, if it has one and `slabscope_trace_fingerprint`
    /// returns `fingerprint`.
    pub fn entry(self, fingerprint: u64) -> Option<Entry> {
        let print = self.symbol(slabscope_trace_sink::abi::FINGERPRINT_SYMBOL)?;
        // SAFETY: the symbol named FINGERPRINT_SYMBOL has the type FingerprintFn (the
        // ABI every slabscope tracing library exports).
        let print: FingerprintFn =
            unsafe { core::mem::transmute::<*mut c_void, FingerprintFn>(print) };
        // SAFETY: a FingerprintFn takes nothing and only returns a constant.
        if unsafe { print() } != fingerprint {
            return None;
        }
        let write = self.symbol(slabscope_trace_sink::abi::WRITE_SYMBOL)?;
        // SAFETY: the symbol named WRITE_SYMBOL has the type WriteFn, in a library whose
        // fingerprint (the layout of the records it takes) is this build's.
        let write: WriteFn = unsafe { core::mem::transmute::<*mut c_void, WriteFn>(write) };
        Some(Entry { write })
    }

    fn symbol(self, name: &[u8]) -> Option<*mut c_void> {
        // SAFETY: the handle came from dlopen and is never closed; `name` is one of the
        // ABI's NUL-terminated symbol names.
        let p = unsafe { libc::dlsym(self.0, name.as_ptr().cast()) };
        (!p.is_null()).then_some(p)
    }
}

impl Entry {
    /// Writes `batch` through the library; `false` when tracing must go off.
    pub fn write(self, batch: &RawBatch) -> bool {
        // SAFETY: `write` is the library's WriteFn (fingerprint checked) and `batch` is
        // a valid RawBatch whose pointers (from `RawBatch::of`) outlive the call.
        unsafe { (self.write)(batch) != 0 }
    }
}
