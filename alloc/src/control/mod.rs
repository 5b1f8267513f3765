//! The control channel: commands from `alloc-inspect ctl` (or the inspector's keys) to
//! a running process, through a small file beside its segment.
//!
//! The inspector writes `<SLABSCOPE_SHM_DIR>/slabscope.<pid>.ctl` atomically (a temporary
//! file created `O_EXCL` with mode 0600 in the same directory, then renamed over it). The
//! allocator looks at it from the interval drain, a slow path every thread runs every
//! `SLABSCOPE_DRAIN_INTERVAL` frees, at most every 100 ms process-wide; the allocation
//! and free fast paths never touch it. A file version is handled once: it must be a
//! regular file (not a symbolic link, opened `O_NOFOLLOW`) owned by the process's
//! effective user, at most 4 KiB, parse whole (see [`parse`] for the syntax), and carry a
//! `seq` newer than both the process's start and the last file it accepted. It is then
//! acted on whole, or refused whole, and either way acknowledged by one
//! `EventKind::ControlAck` in the ring. Nothing here allocates.
//!
//! Commands: `log=<filter>` (stored for the tracing layer: [`log_filter`]),
//! `sample=<bytes>` (leak sampling follows it: [`sample_rate`], each thread from its
//! next sampled allocation, interval drain or magazine refill), `drain` (every thread
//! drains all its magazines at its next interval drain, the polling thread at once),
//! `trim` (free memory goes back to the OS, as [`crate::raw::trim`]), `check=<1|abort>`
//! (the heap checks' reaction, in a process started with them).
//! docs/FLEET.md describes the channel and its security model.

pub mod parse;
mod poll;

pub use crate::settings::{
    drain_epoch, log_filter, log_filter_generation, sample_rate, sample_rate_generation, LogFilter,
};
pub(crate) use poll::poll;
pub use poll::POLL_INTERVAL_NS;
