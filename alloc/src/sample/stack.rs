//! The calling thread's return addresses, by walking frame pointers.
//!
//! Every frame pointer is validated before it is dereferenced: 8-aligned, at or above
//! the current stack pointer, strictly increasing, at most [`MAX_FRAME_BYTES`] above the
//! previous one, and with its 16-byte frame record below the top of the calling thread's
//! stack (from `pthread_getattr_np`, once per thread). Memory between the stack pointer
//! and the stack's top is always mapped, so no read can fault, whatever garbage a
//! function compiled without frame pointers left in the frame-pointer register: such a
//! frame ends the walk early or contributes a wrong address, never a crash.

use core::cell::Cell;

/// Largest distance between two consecutive frame records accepted.
const MAX_FRAME_BYTES: usize = 8 << 20;

thread_local! {
    /// `(top of the calling thread's stack, 1)` once known; `(0, 0)` before; `(0, 1)`
    /// when it could not be found (no frames are then recorded).
    static STACK_TOP: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// The top (highest address, exclusive) of the calling thread's stack. May allocate
/// (glibc's `pthread_getattr_np` does): call it only where a nested allocation is safe.
fn stack_top() -> usize {
    let (top, known) = STACK_TOP.with(|c| c.get());
    if known != 0 {
        return top;
    }
    let top = query_stack_top().unwrap_or(0);
    STACK_TOP.with(|c| c.set((top, 1)));
    top
}

fn query_stack_top() -> Option<usize> {
    let mut attr = core::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: `attr` is written by pthread_getattr_np before it is used, and destroyed
    // exactly once after that succeeds.
    unsafe {
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = core::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let rc = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size);
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        (rc == 0 && !addr.is_null()).then(|| addr as usize + size)
    }
}

/// The frame pointer of the calling function (this function is always inlined).
#[inline(always)]
fn frame_pointer() -> usize {
    let fp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads a register; no memory access.
    unsafe {
        core::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads a register; no memory access.
    unsafe {
        core::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        fp = 0;
    }
    fp
}

/// Fills `out` with the return addresses of the calling function's callers, innermost
/// first, skipping the first `skip`; returns how many were written.
#[inline(never)]
pub fn capture(out: &mut [u64], skip: usize) -> usize {
    let top = stack_top();
    let mut fp = frame_pointer();
    let sp = &fp as *const usize as usize;
    let mut n = 0;
    let mut seen = 0;
    while n < out.len() {
        let fits = fp >= sp && fp.is_multiple_of(8) && fp.checked_add(16).is_some_and(|e| e <= top);
        if !fits {
            break;
        }
        // SAFETY: [fp, fp + 16) lies between this thread's stack pointer and the top of
        // its stack, which is mapped and readable; frame records are two words.
        let (next, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if ret == 0 {
            break;
        }
        if seen >= skip {
            out[n] = ret as u64;
            n += 1;
        }
        seen += 1;
        if next <= fp || next - fp > MAX_FRAME_BYTES {
            break;
        }
        fp = next;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn depth(n: u32, out: &mut [u64]) -> usize {
        if n == 0 {
            capture(out, 0)
        } else {
            let r = depth(n - 1, out);
            core::hint::black_box(r)
        }
    }

    #[test]
    fn a_deep_stack_fills_every_frame_and_a_shallow_one_stops() {
        let mut out = [0u64; 16];
        let n = depth(40, &mut out);
        assert_eq!(n, 16, "40 nested frames fill 16 entries");
        assert!(out.iter().all(|&a| a != 0));
        // The recursion's return addresses repeat: frames 1.. are all inside `depth`.
        assert_eq!(out[2], out[3]);
        let mut few = [0u64; 16];
        let k = std::thread::spawn(move || {
            let n = capture(&mut few, 0);
            (n, few)
        })
        .join()
        .unwrap();
        assert!(k.0 < 16, "a fresh thread's stack is shallow: {}", k.0);
    }
}
