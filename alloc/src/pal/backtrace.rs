//! The calling thread's return addresses, for sampled allocations.
//!
//! On x86-64 Linux a cached walk ([`super::cached_walk`]) steps through the frames by
//! rules read once per code address from the modules' DWARF call-frame information;
//! elsewhere, and for any frame those rules do not fit (signal frames, code without an
//! entry), the system unwinder walks the whole stack ([`super::system_unwind`]). Both
//! read `.eh_frame`, which every C, C++ and Rust binary on Linux carries whether or not
//! it keeps frame pointers, so stacks are complete in `-O2` builds.

/// Fills `out` with the return addresses of the calling function's callers, innermost
/// first (the first is a return address into the function that called `backtrace`),
/// skipping the first `skip`; returns how many were written. Bounded by `out`'s length;
/// a frame without call-frame information ends the stack.
#[inline(never)]
pub fn backtrace(out: &mut [u64], skip: usize) -> usize {
    if out.is_empty() {
        return 0;
    }
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let start = super::cached_walk::Start::here();
        if let Some(n) = super::cached_walk::walk(start, out, skip) {
            return n;
        }
    }
    // The system unwinder's first frame is this function's own.
    super::system_unwind::system_backtrace(out, skip + 1)
}

/// Re-initialises the walk's rule table lock in a forked child (the thread that held
/// it may not exist there).
pub fn unwind_after_fork_child() {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    super::rule_cache::reinit_in_child();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn depth(n: u32, out: &mut [u64]) -> usize {
        if n == 0 {
            backtrace(out, 0)
        } else {
            let r = depth(n - 1, out);
            core::hint::black_box(r)
        }
    }

    #[test]
    fn a_deep_stack_fills_the_buffer_and_a_shallow_one_ends() {
        let mut out = [0u64; 16];
        let n = depth(40, &mut out);
        assert_eq!(n, 16, "40 nested frames fill 16 entries");
        assert!(out.iter().all(|&a| a != 0));
        // The recursion's return addresses repeat: frames 1.. are all inside `depth`.
        assert_eq!(out[2], out[3]);
        let k = std::thread::spawn(|| {
            let mut few = [0u64; 64];
            backtrace(&mut few, 0)
        })
        .join()
        .unwrap();
        assert!(k > 0 && k < 64, "a fresh thread's stack is shallow: {k}");
    }

    #[test]
    fn the_first_address_is_in_the_caller_and_skip_drops_frames() {
        let mut a = [0u64; 8];
        let mut b = [0u64; 8];
        let here =
            the_first_address_is_in_the_caller_and_skip_drops_frames as *const () as usize as u64;
        let n = backtrace(&mut a, 0);
        let m = backtrace(&mut b, 1);
        assert!(n >= 2 && m >= 1);
        assert!(
            a[0] > here && a[0] - here < 4096,
            "{:#x} vs {here:#x}",
            a[0]
        );
        assert_eq!(a[1], b[0]);
        assert_eq!(backtrace(&mut [], 0), 0);
    }

    /// The cached walk (called directly, so that a fallback cannot hide a failure) and
    /// the system unwinder agree frame for frame, on a fresh thread (whose stack ends at
    /// the thread's first function) and through recursion.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn the_cached_walk_gives_the_system_unwinders_stack() {
        use crate::pal::cached_walk::{walk, Start};
        #[inline(never)]
        fn both(n: u32) -> (Vec<u64>, Vec<u64>) {
            if n > 0 {
                return core::hint::black_box(both(n - 1));
            }
            let mut fast = [0u64; 64];
            let mut slow = [0u64; 64];
            let k = walk(Start::here(), &mut fast, 0).expect("the cached walk covers Rust code");
            let j = crate::pal::system_unwind::system_backtrace(&mut slow, 0);
            (fast[..k].to_vec(), slow[..j].to_vec())
        }
        for depth in [0, 3, 12] {
            for _ in 0..2 {
                // Twice: rules derived, then rules from the table.
                let (fast, slow) = std::thread::spawn(move || both(depth)).join().unwrap();
                // The walk starts in `both`'s own frame, the system unwinder in a
                // callee's: its first address is the return into `both`.
                assert!(fast.len() > depth as usize, "{fast:x?}");
                assert_eq!(fast[..], slow[1..], "{fast:x?} / {slow:x?}");
            }
        }
    }

    /// A walk from a signal handler crosses the kernel's signal frame: the cached walk
    /// gives it to the system unwinder (the frame's CFA is a DWARF expression), which
    /// finds the interrupted function and its callers.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn a_stack_through_a_signal_handler_is_whole() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static FOUND: [AtomicUsize; 32] = [const { AtomicUsize::new(0) }; 32];
        static CACHED: AtomicUsize = AtomicUsize::new(usize::MAX);
        extern "C" fn handler(_: libc::c_int) {
            let mut out = [0u64; 32];
            let n = backtrace(&mut out, 0);
            for (slot, &a) in FOUND.iter().zip(&out[..n]) {
                slot.store(a as usize, Ordering::Relaxed);
            }
            let mut fast = [0u64; 32];
            let start = crate::pal::cached_walk::Start::here();
            let cached = crate::pal::cached_walk::walk(start, &mut fast, 0);
            CACHED.store(cached.map_or(0, |_| 1), Ordering::Relaxed);
        }
        #[inline(never)]
        fn raise_here() -> u64 {
            // SAFETY: raises a signal whose handler was installed by the test; the handler
            // only walks the stack and stores atomics.
            unsafe { libc::raise(libc::SIGUSR2) };
            core::hint::black_box(raise_here as *const () as u64)
        }
        // SAFETY: installs a handler for a signal nothing else in the tests uses; the
        // handler is async-signal-safe (no allocation, no lock).
        unsafe {
            let mut act: libc::sigaction = core::mem::zeroed();
            act.sa_sigaction = handler as *const () as usize;
            libc::sigemptyset(&mut act.sa_mask);
            assert_eq!(
                libc::sigaction(libc::SIGUSR2, &act, core::ptr::null_mut()),
                0
            );
        }
        let here = raise_here();
        let found: Vec<u64> = FOUND
            .iter()
            .map(|a| a.load(Ordering::Relaxed) as u64)
            .take_while(|&a| a != 0)
            .collect();
        assert_eq!(
            CACHED.load(Ordering::Relaxed),
            0,
            "the cached walk hands over"
        );
        assert!(
            found.iter().any(|&a| a > here && a - here < 256),
            "the interrupted function {here:#x} is on the stack: {found:x?}"
        );
        assert!(
            found.len() > 4,
            "and its callers below the signal frame: {found:x?}"
        );
    }
}
