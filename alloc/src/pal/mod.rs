//! The platform layer: everything slabscope asks of the operating system.
//!
//! Memory mapping (`mmap`, `munmap`, `madvise`, `mremap`), the page size, raw writes to
//! stderr, process and thread ids, the environment, pthread keys, `pthread_atfork`, a
//! mutex that never allocates, small files and one directory listed without allocating,
//! and the thread-local word of the fast paths ([`tls`]).
//! No function here allocates through the process allocator, so all of them are safe to
//! call from inside `malloc`.

mod dir;
mod file;
mod linux;
mod lock;
pub mod tls;

pub use dir::{process_gone, Dir};
pub use file::{geteuid, lstat, read_small, FileStat};
pub use linux::*;
pub use lock::RawMutex;
