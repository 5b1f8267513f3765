//! Publishing: the glue between the allocator and the segment writer of
//! `slabscope-proto`.
//!
//! The segment is created lazily, on the first slow path of a process whose publishing
//! is on (`SLABSCOPE_PUBLISH`, else the binary's default, see
//! [`crate::SlabScope::publish_by_default`]), or the first one after
//! `SLABSCOPE_PUBLISH_AFTER_MS` (an OOM report or a GPU pool creates it at once), with
//! raw system calls and no allocation.
//! If it cannot be created the allocator says so once on stderr and keeps working.
//! At a normal end (`exit`, and `_exit` / `_Exit` through the preload) the segment is
//! closed and unlinked; after a crash or an OOM it stays, and a process creating its
//! segment removes the oldest kept ones beyond `SLABSCOPE_KEEP` (`sweep.rs`).
//!
//! What is written when (all on slow paths; the fast paths never publish):
//! - class records and the thread record (every magazine's fill, drains, frees): when a
//!   thread folds its counters, at most every 10 ms at its interval drains (and from a
//!   refill when the last fold is older), and at every requested or exit drain;
//! - the slot map: at every slot state change, when an owner's slot moves between its
//!   lists (blocks at hand, idle, exhausted), for a few slots of each swept class, and
//!   for every slot of the thread at a requested drain;
//! - totals: whenever mapped bytes, SuperSlab counts, large allocations, OOMs or
//!   foreign frees change;
//! - events: drains (overflow and interval drains summed per thread, class and reason,
//!   published at most every 50 ms and before a requested or exit drain), slot
//!   acquire/empty/release, SuperSlab map/empty/return, large map/unmap, OOM, thread
//!   exit; the heartbeat with every class update outside the interval drain, and with
//!   every fold;
//! - heap errors (`SLABSCOPE_CHECK`): each one as `check` reports it, into the header's
//!   heap error table, its kind's counter and the ring (`heap_error`).

mod lifecycle;
mod segment;
mod sweep;
mod update;

pub(crate) use lifecycle::{after_fork_child, ensure};
pub use lifecycle::{close_for_exit, segment};
pub use segment::mark_preload;
pub(crate) use segment::{current, generation, set_default};
pub(crate) use update::*;
pub use update::{SlabRecord, ThreadRecord};
