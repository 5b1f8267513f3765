//! The segment's life as the allocator sees it: what is published into it at each step
//! of its writer's life (`segment`: creation, fork, close), from above both (`update`
//! holds what is published).
//!
//! - Created: the class records and totals are published at once, and the normal end's
//!   close is registered (`atexit`), once per process.
//! - Forked: the child forgets the flags a vanished thread may have held, then stops
//!   writing to the parent's segment.
//! - Ending normally: the final totals, then the close (and removal).

use core::sync::atomic::{AtomicU8, Ordering};

use slabscope_proto::SegmentWriter;

use super::segment as writer;
use super::update;
use crate::pal;
use crate::stats::USED_CLASSES;

/// Set once the normal end's close is registered.
static AT_EXIT: AtomicU8 = AtomicU8::new(0);

/// The process's segment, created now if publishing is on and it does not exist yet.
/// `None` when publishing is off or the segment could not be created. Works whether or
/// not `SlabScope` is the global allocator (the GPU pool uses it too).
pub fn segment() -> Option<&'static SegmentWriter> {
    let (w, created) = writer::segment();
    if created {
        on_created();
    }
    w
}

/// Creates the segment if publishing is on and it does not exist. Called at the start
/// of slow paths, with no allocator lock held. Returns `true` when the caller must
/// publish the SuperSlabs (again): once per segment (those mapped before it existed),
/// and after a SuperSlab record claim was put off for lack of allocated records (this
/// call allocated the next ones).
#[inline]
pub(crate) fn ensure() -> bool {
    let (republish, created) = writer::ensure();
    if created {
        on_created();
    }
    republish
}

#[cold]
#[inline(never)]
fn on_created() {
    if AT_EXIT.swap(1, Ordering::AcqRel) == 0 {
        pal::at_exit(close_at_exit);
    }
    // The records of the classes that have had a slot (the others' counters are 0, as
    // the new segment's records are), then one heartbeat (not one clock read per
    // class). At a process's first allocation that is none: the per-class counters
    // are not read, and their pages are first touched by the allocator's own writes.
    let mut used = USED_CLASSES.load(Ordering::Relaxed);
    while used != 0 {
        update::class_record(used.trailing_zeros() as usize);
        used &= used - 1;
    }
    update::heartbeat(slabscope_proto::monotonic_ns());
    update::totals();
}

extern "C" fn close_at_exit() {
    close_for_exit();
}

/// The process ends normally (`exit`, or `_exit` / `_Exit` through the preload): the
/// final totals are published and the segment is marked closed and removed, unless an
/// allocation failed for lack of memory (it keeps the OOM report for `alloc-inspect
/// --postmortem`). Nothing is done in a process that is not the segment's writer (a
/// `vfork` child).
pub fn close_for_exit() {
    if let Some(w) = writer::own() {
        update::totals();
        writer::close(w);
    }
}

/// In a forked child: clears the flags a vanished thread may have held, stops writing
/// to the parent's segment, and lets the next slow path create the child's own.
pub(crate) fn after_fork_child() {
    update::after_fork_child();
    writer::after_fork_child();
}
