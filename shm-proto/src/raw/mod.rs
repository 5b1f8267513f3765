//! The only module of this crate with `unsafe` code.
//!
//! - [`sys`]: thin wrappers over the system calls the writer makes (`open`, `ftruncate`,
//!   `mmap`, `munmap`, `unlink`, `clock_gettime`, `gettid`, `read` of
//!   `/proc/self/cmdline`), none of which allocates.
//! - [`args`]: the command line, copied from the arguments glibc passes to `.init_array`
//!   functions before `main`.
//! - [`region`]: bounds- and alignment-checked casts from a mapped byte range to the
//!   all-atomic `#[repr(C)]` records of `layout.rs`, and strided record arrays.
//! - [`mapping`]: the writer's owned shared mapping (unmapped on drop) and the reader's
//!   read-only views of a `memmap2::MmapRaw` or of an owned word buffer.
//!
//! Nothing here ever forms a `&[u8]` over shared memory: the other process writes it
//! concurrently, so it is only ever touched through atomics.

#[cfg(not(loom))]
pub mod args;
#[cfg(not(loom))]
pub mod mapping;
pub mod region;
#[cfg(not(loom))]
pub mod sys;

pub use region::Records;
#[cfg(not(loom))]
pub use region::{Record, Region};
