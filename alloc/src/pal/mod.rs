//! The platform layer: everything slabscope asks of the operating system.
//!
//! Memory mapping (`mmap`, `munmap`, `madvise`, `mremap`), the page size, raw writes to
//! stderr, process and thread ids, the environment, pthread keys, `pthread_atfork`, a
//! mutex that never allocates, small files and one directory listed without allocating,
//! the thread-local word of the fast paths ([`tls`]), and the calling thread's return
//! addresses ([`backtrace()`], from the modules' DWARF call-frame information).
//! No function here allocates through the process allocator, so all of them are safe to
//! call from inside `malloc`; the one exception, [`backtrace()`] on a module registered at
//! run time, is described in `pal/system_unwind.rs`.

mod backtrace;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod cached_walk;
mod dir;
mod file;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod frame_rule;
mod linux;
mod lock;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod rule_cache;
mod system_unwind;
pub mod tls;

pub use backtrace::{backtrace, unwind_after_fork_child};
pub use dir::{process_gone, tmpfs_entries, Dir};
pub use file::{geteuid, lstat, read_small, FileStat};
pub use linux::*;
pub use lock::RawMutex;
