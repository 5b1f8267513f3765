//! The fast path of [`super::backtrace()`] on x86-64 Linux: a walk up the calling
//! thread's stack by the frame rules of [`super::rule_cache`], a table lookup and two
//! loads a frame once each code address has been seen (the system unwinder interprets
//! the call-frame program of every frame again on every walk).
//!
//! The walk trusts the modules' call-frame information as the system unwinder does, and
//! checks what it can besides: each caller's frame lies above the one before (the CFA
//! rises), within [`MAX_STACK_BYTES`] of the first, and the saved words read lie inside
//! the frame being left. A frame the rules do not cover gives `None`, and the caller
//! walks again with the system unwinder.

use super::frame_rule::{step_for, Step};
use super::rule_cache;

/// Farthest the walk goes above its first frame: a check against bad call-frame
/// information, far above any thread stack in practice.
const MAX_STACK_BYTES: usize = 1 << 30;

/// The registers a walk starts from: an instruction address of the frame and its stack
/// and frame pointers at that instruction.
#[derive(Clone, Copy, Debug)]
pub struct Start {
    pc: usize,
    sp: usize,
    fp: usize,
}

impl Start {
    /// The calling function's own frame, at the instruction after this (inlined) call.
    #[inline(always)]
    pub fn here() -> Self {
        let (pc, sp, fp): (usize, usize, usize);
        // SAFETY: copies the instruction, stack and frame pointers into registers;
        // reads and writes no memory and leaves the stack alone.
        unsafe {
            core::arch::asm!(
                "lea {pc}, [rip]",
                "mov {sp}, rsp",
                "mov {fp}, rbp",
                pc = out(reg) pc,
                sp = out(reg) sp,
                fp = out(reg) fp,
                options(nomem, nostack, preserves_flags),
            );
        }
        Self { pc, sp, fp }
    }
}

/// Reads the word saved at `at`.
///
/// # Safety
/// `at..at + 8` must lie in the calling thread's live stack.
unsafe fn saved(at: usize) -> usize {
    // SAFETY: the caller guarantees the word is inside this thread's live stack, which
    // is mapped and not written by anyone while the walk reads it.
    unsafe { core::ptr::read_volatile(at as *const usize) }
}

/// Fills `out` with the return addresses above the frame `start` describes, innermost
/// first, after skipping `skip`; `None` when a frame needs the system unwinder (no rule
/// fits it, or a check failed), `Some(n)` with `n` written otherwise.
pub fn walk(start: Start, out: &mut [u64], mut skip: usize) -> Option<usize> {
    let mut cache = rule_cache::open();
    let Start { pc, mut sp, mut fp } = start;
    let floor = sp;
    // The first frame is at `pc` itself; a return address is looked up one byte back,
    // inside the call instruction (the call may be a function's last instruction).
    let mut addr = pc;
    let mut n = 0;
    while n < out.len() {
        let step = match cache.as_mut() {
            Some(c) => c.step(addr),
            None => step_for(addr),
        };
        let rule = match step {
            Step::Frame(rule) => rule,
            Step::End => break,
            Step::Unsupported => return None,
        };
        let base = if rule.cfa_from_rbp { fp } else { sp };
        let cfa = base.wrapping_add_signed(rule.cfa_offset as isize);
        if cfa <= sp || cfa % 8 != 0 || cfa - floor > MAX_STACK_BYTES {
            return None;
        }
        let within = |offset: i32| {
            let at = cfa.wrapping_add_signed(offset as isize);
            (at >= sp && at <= cfa - 8).then_some(at)
        };
        let ra_at = within(rule.ra_offset)?;
        // SAFETY: `sp..cfa` is the frame being left, part of this thread's live stack
        // (`sp` is the frame's stack pointer and `cfa` its caller's, above it), and
        // `ra_at` was checked to lie in it.
        let ra = unsafe { saved(ra_at) };
        if let Some(offset) = rule.rbp_offset {
            let fp_at = within(offset)?;
            // SAFETY: as for the return address.
            fp = unsafe { saved(fp_at) };
        }
        sp = cfa;
        if ra == 0 {
            break;
        }
        if skip > 0 {
            skip -= 1;
        } else {
            out[n] = ra as u64;
            n += 1;
        }
        addr = ra - 1;
    }
    Some(n)
}
