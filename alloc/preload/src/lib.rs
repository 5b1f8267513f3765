//! slabscope-preload: slabscope as a drop-in `malloc` for any dynamically linked Linux
//! program.
//!
//! ```text
//! LD_PRELOAD=target/release/libslabscope_preload.so python3 script.py &
//! alloc-inspect $!
//! ```
//!
//! The library exports the C allocation API with C linkage (`malloc`, `free`, `calloc`,
//! `realloc`, `reallocarray`, `posix_memalign`, `aligned_alloc`, `memalign`, `valloc`,
//! `pvalloc`, `malloc_usable_size`, `cfree`, `malloc_trim`, `mallopt`, `mallinfo`,
//! `mallinfo2`), C++'s global `operator new` and `operator delete`, and `_exit` and
//! `_Exit` (which remove the segment first), and serves every call from slabscope's raw API
//! ([`slabscope::raw`]), which publishes the process's allocator state into its segment
//! for `alloc-inspect`.
//!
//! Contract of every entry point (see docs/PRELOAD.md):
//! - it never allocates through the process allocator and never unwinds (the allocator
//!   never panics; `extern "C"` turns a panic into an abort as a last resort), except
//!   that C++'s `operator new` lets the C++ runtime's `std::bad_alloc` pass through its
//!   frame (`extern "C-unwind"`, see `cxx.rs`);
//! - it behaves as glibc's malloc does where the C standard leaves room (`malloc(0)`
//!   returns a unique pointer, `realloc(p, 0)` frees and returns null, failures set
//!   `errno` to `ENOMEM`, `posix_memalign` returns its error instead);
//! - a pointer slabscope did not hand out (*foreign*: from `ld.so`'s start-up allocator,
//!   from `__libc_malloc`, from another allocator) is never written to or handed to the
//!   allocator: `free` ignores it and says so once on stderr, `realloc` copies it
//!   without faulting into a new block, `malloc_usable_size` returns 0.
//!
//! Modules: [`entry`] (malloc, free, calloc, realloc, reallocarray, cfree), [`aligned`]
//! (the aligned family), [`cxx`] (C++'s `operator new` and `operator delete`), [`info`] (usable size, trim, mallopt, mallinfo), [`foreign`]
//! (foreign pointers), [`exit`] (`_exit` and `_Exit`, which remove the segment as a
//! normal exit does), [`sys`] (errno and stderr without allocating), [`init`] (the
//! load-time constructor), `trace_lib` (the tracing sink, `libslabscope_trace.so`,
//! loaded in a process that asks for tracing) and `dl` (the dynamic loader calls it
//! makes).
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod aligned;
pub mod cxx;
mod dl;
pub mod entry;
pub mod exit;
pub mod foreign;
pub mod info;
pub mod init;
pub mod sys;
mod trace_lib;
