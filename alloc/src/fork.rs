//! `fork()` support through `pthread_atfork`.
//!
//! - prepare (in the forking thread): take every allocator lock, in lock order (class
//!   locks, the global lock, the large registry lock, the thread pool lock, the sample
//!   lock, then the pagemap's reservation lock and the SuperSlab placement lock, which
//!   are never held with another), so that no other thread is inside a critical section
//!   when the address space is copied. A thread between two of them (a slot it acquired
//!   and has not listed yet, or unlisted and not retired yet) does not survive in the
//!   child, which keeps such a slot as it was and never retires it, as it keeps the
//!   cached blocks of every thread that did not survive;
//! - parent: release them;
//! - child: re-initialise them (only the forking thread exists), keep the forking
//!   thread's state, abandon the states of threads that did not survive (their magazine
//!   blocks stay counted as cached), and detach from the parent's segment: the child
//!   creates its own `slabscope.<child pid>` on its next slow path, and the parent's file
//!   is left alone.
#![forbid(unsafe_code)]

use crate::{large, options, pagemap, placement, publish, sample, superslab, thread, unowned};

/// Registers the handlers (once, from the first slow path).
pub fn register() {
    if !crate::pal::atfork(prepare, parent, child) {
        crate::pal::write_stderr(&[
            b"slabscope: pthread_atfork failed; fork() in a threaded program is unsafe",
        ]);
    }
}

extern "C" fn prepare() {
    options::get();
    for l in unowned::locks() {
        l.lock();
    }
    superslab::lock().lock();
    large::lock().lock();
    thread::pool_lock().lock();
    sample::lock().lock();
    // Taken without any other allocator lock held, never across another: last.
    pagemap::reserve_lock().lock();
    placement::lock().lock();
}

extern "C" fn parent() {
    placement::lock().unlock();
    pagemap::reserve_lock().unlock();
    sample::lock().unlock();
    thread::pool_lock().unlock();
    large::lock().unlock();
    superslab::lock().unlock();
    for l in unowned::locks().rev() {
        l.unlock();
    }
}

extern "C" fn child() {
    for l in unowned::locks() {
        l.reinit_in_child();
    }
    superslab::lock().reinit_in_child();
    large::lock().reinit_in_child();
    sample::lock().reinit_in_child();
    pagemap::reserve_lock().reinit_in_child();
    placement::lock().reinit_in_child();
    crate::pal::unwind_after_fork_child();
    superslab::after_fork_child();
    thread::after_fork_child();
    publish::after_fork_child();
}
