//! The OOM flight recorder: when an allocation fails, a report of the allocator's state
//! goes into the segment's OOM report section and, shortened to one screen, to stderr.
//!
//! `oom::report` (called where the failure happens, often under the class lock and the
//! global lock) only notes the request (an `oom::Pending`, kept per thread by `oom`);
//! the report itself is built by [`flush`] at the end of the same slow path, when no
//! allocator lock is held: it takes the global lock for one walk of the SuperSlab
//! registry (32 slot records per SuperSlab, no block lists), reads the class counters
//! and the segment's thread records, and writes. Nothing here allocates; the stderr
//! text is built in fixed buffers and written with `write(2)`.
//!
//! Definitions (also in docs/DEBUGGING.md):
//! - per class, from the class counters and the walk: `capacity` = blocks of the ACTIVE
//!   and EMPTY slots of the class (walk), `out` = blocks handed out of slots, clamped to
//!   `capacity`, `cached` = blocks in magazines as last folded, clamped to `out`;
//!   live = `out - cached`, cached, free = `capacity - out`, each times the block size;
//! - identity: `superslabs * 2 MiB == header_bytes + unused_bytes + tail_bytes + sum of
//!   (live + cached + free)` holds exactly (both sides come from one walk under the
//!   global lock) and `mapped_bytes == large_bytes + superslabs * 2 MiB` whenever no
//!   other thread is mapping or unmapping at that moment;
//! - stranded: blocks in magazines (fill as last published in the thread's segment
//!   record, times the block size) of threads whose record is EXITED, or that are alive
//!   but ran no slow path for [`collect::IDLE_NS`]; the failing thread is never counted;
//! - largest free run: the most bytes at contiguous addresses that no block occupies and
//!   that the allocator could reuse without mapping: either a run of consecutive UNUSED
//!   or EMPTY slots of one SuperSlab (slot 0, the header slot, never counts), or the
//!   never-carved tail of one ACTIVE slot. Free blocks on free lists are not runs (they
//!   are scattered and the lists are not walked).
//!
//! - `collect`: the walk and the numbers ([`collect::Report`]).
//! - `write`: the segment record and the stderr text.
//! - `line`: a fixed-buffer line builder with a tiny number formatter.
//! - `activity`: when each thread last ran a slow path.

mod activity;
mod collect;
mod line;
mod write;

pub(crate) use activity::touch;
pub(crate) use write::flush;
