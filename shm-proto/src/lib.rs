//! `slabscope-proto`: the shared-memory segment through which a slabscope allocator
//! shows its live state to `alloc-inspect`.
//!
//! Contract: one writer process (many threads of it) creates the segment
//! `$SLABSCOPE_SHM_DIR/slabscope.<pid>` and updates it with atomics only: no locks, no
//! allocation, safe to call from inside `malloc`. Any number of readers map it read-only,
//! never write to it, take no lock the writer takes, and validate everything they read:
//! a malformed or hostile segment yields a typed error, never a panic. When the event
//! ring is full the writer overwrites the oldest event; readers that fell behind say how
//! many they missed. See docs/PROTOCOL.md for the byte layout and ordering rules.
//!
//! - [`writer`]: [`SegmentWriter`], used by the allocator.
//! - [`reader`]: [`SegmentReader`], used by the inspector.
//! - `sizes`, `layout`, `event`, `ring`, `seqlock`, `heap_error_table`: the wire format
//!   and its protocols; `heap_error`: the heap error vocabulary (protocol 1.4); `oom`:
//!   the OOM report record (1.2).
//! - `snapshot`: the plain values [`SegmentReader::snapshot`] returns.
//! - `raw`: the only module with `unsafe` code (system calls, checked record casts).
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

/// Under loom the writer is not built (its records hold std atomics); its growth
/// bookkeeping is, for its model in `tests/loom.rs`.
#[cfg(loom)]
#[allow(dead_code)]
#[path = "writer/backing.rs"]
pub mod backing;
pub mod event;
pub mod heap_error;
pub mod heap_error_table;
pub mod layout;
pub mod oom;
pub mod raw;
#[cfg(not(loom))]
pub mod reader;
pub mod ring;
pub mod seqlock;
pub mod sizes;
pub mod snapshot;
mod stamp;
mod sync;
mod thread;
#[cfg(not(loom))]
pub mod writer;

pub use event::{DrainReason, Event, EventKind};
pub use heap_error::{HeapError, HeapErrorKind, HeapErrorOp, InvalidReason};
pub use layout::{PROTOCOL_MAJOR, PROTOCOL_MINOR};
pub use raw::Records;
#[cfg(not(loom))]
pub use reader::{
    dir_ok, list_segments, segment_dir, segment_path, CompatInfo, ReadError, SegmentReader,
    MAX_DIR_BYTES,
};
pub use ring::{Cursor, PollStats, PushOutcome};
pub use snapshot::*;
#[cfg(not(loom))]
pub use writer::{
    coarse_monotonic_ns, command_from_proc, gettid, monotonic_ns, realtime_ns, CreateError,
    SampleConfig, SegmentConfig, SegmentWriter,
};
