//! A mutex that never allocates: a thin wrapper over a statically initialised
//! `pthread_mutex_t` (glibc's fast mutex is a futex word; locking never calls malloc).

use core::cell::UnsafeCell;

/// Tries of a held mutex before [`RawMutex::lock`] sleeps.
pub const SPIN_TRIES: u32 = 64;
/// Spin-loop hints between two tries (a few hundred cycles).
pub const SPIN_PAUSES: u32 = 4;

/// A non-recursive mutex usable in statics, before `main` and inside `malloc`.
pub struct RawMutex {
    inner: UnsafeCell<libc::pthread_mutex_t>,
}

// SAFETY: pthread mutexes are designed to be shared between threads.
unsafe impl Sync for RawMutex {}
// SAFETY: an unlocked pthread mutex may be moved between threads.
unsafe impl Send for RawMutex {}

impl RawMutex {
    /// An unlocked mutex.
    pub const fn new() -> Self {
        Self {
            inner: UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER),
        }
    }

    /// Blocks until the mutex is held by the caller. A held mutex is tried again
    /// [`SPIN_TRIES`] times, [`SPIN_PAUSES`] spin-loop hints apart, before the caller sleeps
    /// in the kernel: the allocator's critical sections are list and counter updates
    /// (no system call runs under its locks), over well before a sleep and a wake-up
    /// would be.
    pub fn lock(&self) {
        for _ in 0..SPIN_TRIES {
            // SAFETY: the mutex was statically initialised and is never moved while in
            // use.
            if unsafe { libc::pthread_mutex_trylock(self.inner.get()) } == 0 {
                return;
            }
            for _ in 0..SPIN_PAUSES {
                core::hint::spin_loop();
            }
        }
        // SAFETY: the mutex was statically initialised and is never moved while in use.
        let rc = unsafe { libc::pthread_mutex_lock(self.inner.get()) };
        if rc != 0 {
            super::fatal(b"pthread_mutex_lock failed");
        }
    }

    /// Releases the mutex; the caller must hold it.
    pub fn unlock(&self) {
        // SAFETY: the caller holds the mutex (lock/unlock are paired by `Guard`).
        unsafe { libc::pthread_mutex_unlock(self.inner.get()) };
    }

    /// Re-initialises the mutex to unlocked in a forked child, where the thread that
    /// held it may not exist any more.
    pub fn reinit_in_child(&self) {
        // SAFETY: in the child only the forking thread runs; nobody else can hold or
        // wait on the mutex, so overwriting its state is sound.
        unsafe { self.inner.get().write(libc::PTHREAD_MUTEX_INITIALIZER) };
    }

    /// Takes the mutex if it is free, without waiting; `None` when another thread (or a
    /// caller further up this thread's stack) holds it.
    pub fn try_guard(&self) -> Option<Guard<'_>> {
        // SAFETY: the mutex was statically initialised and is never moved while in use.
        let rc = unsafe { libc::pthread_mutex_trylock(self.inner.get()) };
        // A guard exists only once the lock is held: one made and dropped on failure
        // would unlock the holder's mutex (`bool::then_some` builds its value first).
        if rc == 0 {
            Some(Guard(self))
        } else {
            None
        }
    }

    /// Locks and returns a guard that unlocks on drop.
    pub fn guard(&self) -> Guard<'_> {
        self.lock();
        Guard(self)
    }
}

impl Default for RawMutex {
    fn default() -> Self {
        Self::new()
    }
}

/// Holds a [`RawMutex`] until dropped.
pub struct Guard<'a>(&'a RawMutex);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.0.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contended_locks_exclude_each_other() {
        struct Counter(core::cell::UnsafeCell<u64>);
        // SAFETY: the cell is only touched with `m` held.
        unsafe impl Sync for Counter {}
        let m = RawMutex::new();
        let n = Counter(core::cell::UnsafeCell::new(0));
        let (m, n) = (&m, &n);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(move || {
                    for _ in 0..100_000 {
                        let _g = m.guard();
                        // SAFETY: `m` is held: no other thread reads or writes the cell.
                        unsafe { *n.0.get() += 1 };
                    }
                });
            }
        });
        // SAFETY: every thread has ended: nothing else touches the cell.
        assert_eq!(unsafe { *n.0.get() }, 400_000);
    }

    #[test]
    fn a_failed_try_leaves_the_holder_holding() {
        let m = RawMutex::new();
        let held = m.try_guard().expect("free at first");
        assert!(m.try_guard().is_none(), "held");
        assert!(m.try_guard().is_none(), "still held after a failed try");
        std::thread::scope(|s| {
            s.spawn(|| assert!(m.try_guard().is_none(), "held for other threads"));
        });
        drop(held);
        assert!(m.try_guard().is_some(), "free once the guard is dropped");
    }
}
