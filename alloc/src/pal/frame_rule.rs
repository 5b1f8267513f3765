//! How to step from one x86-64 call frame to its caller's, read from the module's DWARF
//! call-frame information (`.eh_frame`) once per code address and then kept
//! ([`super::rule_cache`]).
//!
//! libgcc's `_Unwind_Find_FDE` finds the frame description entry (FDE) that covers an
//! address (by glibc's lock-free `_dl_find_object` and the module's `.eh_frame_hdr`
//! index, without allocating for modules the dynamic linker loaded); gimli runs the
//! entry's call-frame program up to the address, on the stack, and the row it ends with
//! is cut down to a [`Rule`]: where the caller's stack pointer (the canonical frame
//! address, CFA), return address and frame pointer are. A row the three fields cannot
//! hold (a CFA computed by a DWARF expression, as in the kernel's signal frames; a
//! register saved in another register) is [`Step::Unsupported`], and the caller falls
//! back to the system unwinder, which handles every case.

use core::ffi::c_void;

use gimli::{
    BaseAddresses, CfaRule, EhFrame, EhFrameOffset, NativeEndian, Register, RegisterRule,
    UnwindContext, UnwindContextStorage, UnwindSection, UnwindTableRow, X86_64,
};

/// Where one frame's caller state is, relative to the frame's own registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The CFA is `rbp + cfa_offset` (else `rsp + cfa_offset`).
    pub cfa_from_rbp: bool,
    /// Added to `rsp` or `rbp` to give the CFA.
    pub cfa_offset: i32,
    /// The return address is saved at `CFA + ra_offset`.
    pub ra_offset: i32,
    /// The caller's `rbp` is saved at `CFA + rbp_offset`; `None`: `rbp` is unchanged.
    pub rbp_offset: Option<i32>,
}

/// What the call-frame information says about one code address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// An ordinary frame.
    Frame(Rule),
    /// The outermost frame (its return address is undefined: `_start`, a thread's
    /// first function).
    End,
    /// No entry covers the address, or its row does not fit a [`Rule`].
    Unsupported,
}

/// libgcc's `struct dwarf_eh_bases`, filled by `_Unwind_Find_FDE`.
#[repr(C)]
struct EhBases {
    tbase: usize,
    dbase: usize,
    func: usize,
}

#[cfg_attr(all(target_os = "linux", target_env = "gnu"), link(name = "gcc_s"))]
extern "C" {
    fn _Unwind_Find_FDE(pc: *mut c_void, bases: *mut EhBases) -> *const c_void;
}

/// Register rules one row holds: x86-64 code saves at most the six callee-saved
/// registers and the return address; a program that sets more is refused
/// (`Unsupported`) rather than stored.
const MAX_RULES: usize = 16;
/// `DW_CFA_remember_state` nesting depth kept (compilers use one level).
const MAX_STATES: usize = 4;

/// gimli's unwind context kept on the stack (about 4 KiB), never on the heap.
struct OnStack;

impl UnwindContextStorage<usize> for OnStack {
    type Rules = [(Register, RegisterRule<usize>); MAX_RULES];
    type Stack = [UnwindTableRow<usize, Self>; MAX_STATES];
}

/// Reads the 4-byte length or CIE-pointer word at `addr`.
///
/// # Safety
/// `addr..addr + 4` must be readable.
unsafe fn word(addr: usize) -> u32 {
    // SAFETY: the caller guarantees the four bytes are readable; `.eh_frame` words
    // need not be aligned.
    unsafe { core::ptr::read_unaligned(addr as *const u32) }
}

/// The [`Step`] for code address `addr`: a return address minus one, or the exact
/// address of the walk's first frame.
#[inline(never)]
pub fn step_for(addr: usize) -> Step {
    let mut bases = EhBases {
        tbase: 0,
        dbase: 0,
        func: 0,
    };
    // SAFETY: `_Unwind_Find_FDE` only reads the process's unwind tables and writes the
    // bases it is given.
    let fde = unsafe { _Unwind_Find_FDE(addr as *mut c_void, &mut bases) } as usize;
    if fde == 0 {
        return Step::Unsupported;
    }
    // SAFETY: an FDE starts with its 4-byte length and 4-byte CIE pointer, inside the
    // `.eh_frame` section `_Unwind_Find_FDE` found it in.
    let (len, cie_pointer) = unsafe { (word(fde), word(fde + 4)) };
    // 0xffffffff announces a 64-bit length, which `.eh_frame` never uses; 0 ends a
    // section. A CIE pointer is subtracted: the CIE lies before its FDE.
    let cie = (fde + 4).wrapping_sub(cie_pointer as usize);
    if len == 0 || len == u32::MAX || cie_pointer == 0 || cie >= fde {
        return Step::Unsupported;
    }
    // SAFETY: the CIE is in the same `.eh_frame` section as its FDE, before it, and
    // starts with its length.
    let cie_len = unsafe { word(cie) };
    if cie_len == u32::MAX || cie + 4 + cie_len as usize > fde {
        return Step::Unsupported;
    }
    let end = fde + 4 + len as usize;
    // SAFETY: `cie..end` runs from the CIE to the end of the FDE inside one contiguous
    // `.eh_frame` section of a loaded module, which stays mapped while code on this
    // thread's stack belongs to it.
    let section = unsafe { core::slice::from_raw_parts(cie as *const u8, end - cie) };
    let eh_frame = EhFrame::new(section, NativeEndian);
    let bases = BaseAddresses::default()
        .set_eh_frame(cie as u64)
        .set_text(bases.tbase as u64)
        .set_got(bases.dbase as u64);
    let Ok(entry) =
        eh_frame.fde_from_offset(&bases, EhFrameOffset(fde - cie), EhFrame::cie_from_offset)
    else {
        return Step::Unsupported;
    };
    let mut ctx = UnwindContext::<usize, OnStack>::new_in();
    match entry.unwind_info_for_address(&eh_frame, &bases, &mut ctx, addr as u64) {
        Ok(row) => step_of(row),
        Err(_) => Step::Unsupported,
    }
}

/// A row cut down to a [`Step`].
fn step_of<S: UnwindContextStorage<usize>>(row: &UnwindTableRow<usize, S>) -> Step {
    let (cfa_from_rbp, cfa_offset) = match *row.cfa() {
        CfaRule::RegisterAndOffset { register, offset } if register == X86_64::RSP => {
            (false, offset)
        }
        CfaRule::RegisterAndOffset { register, offset } if register == X86_64::RBP => {
            (true, offset)
        }
        _ => return Step::Unsupported,
    };
    let ra_offset = match row.register(X86_64::RA) {
        Some(RegisterRule::Offset(o)) => o,
        Some(RegisterRule::Undefined) => return Step::End,
        _ => return Step::Unsupported,
    };
    let rbp_offset = match row.register(X86_64::RBP) {
        None | Some(RegisterRule::SameValue) => None,
        Some(RegisterRule::Offset(o)) => Some(o),
        Some(_) => return Step::Unsupported,
    };
    let narrow = |v: i64| i32::try_from(v).ok();
    let (Some(cfa_offset), Some(ra_offset)) = (narrow(cfa_offset), narrow(ra_offset)) else {
        return Step::Unsupported;
    };
    let rbp_offset = match rbp_offset.map(narrow) {
        None => None,
        Some(Some(o)) => Some(o),
        Some(None) => return Step::Unsupported,
    };
    Step::Frame(Rule {
        cfa_from_rbp,
        cfa_offset,
        ra_offset,
        rbp_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn here() -> usize {
        let pc: usize;
        // SAFETY: reads the instruction pointer into a register; touches no memory.
        unsafe { core::arch::asm!("lea {}, [rip]", out(reg) pc, options(nomem, nostack)) };
        pc
    }

    #[test]
    fn code_of_this_binary_has_an_ordinary_rule() {
        let Step::Frame(rule) = step_for(here()) else {
            panic!("no rule for {:#x}", here());
        };
        // Whatever the frame's shape, x86-64 keeps the return address just below the
        // CFA.
        assert_eq!(rule.ra_offset, -8, "{rule:?}");
        assert!(rule.cfa_offset >= 8, "{rule:?}");
    }

    #[test]
    fn addresses_outside_every_module_are_unsupported() {
        assert_eq!(step_for(0), Step::Unsupported);
        assert_eq!(step_for(usize::MAX - 4096), Step::Unsupported);
        let stack_local = 0u8;
        assert_eq!(
            step_for(&stack_local as *const u8 as usize),
            Step::Unsupported
        );
    }
}
