//! The informational and tuning entry points: `malloc_usable_size`, `malloc_trim`,
//! `mallopt`, `mallinfo2` and `mallinfo`. Answers are honest figures from slabscope's
//! own counters ([`slabscope::raw::stats`]); tuning requests slabscope has no use for
//! are accepted as no-ops only when ignoring them cannot change what a program observes.

use core::ffi::{c_int, c_void};

use slabscope::raw;

/// `malloc_usable_size(3)`: the bytes usable at `p` (at least what was asked for); 0
/// for null and for pointers slabscope did not hand out.
#[no_mangle]
pub extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    raw::usable_size(p.cast()).unwrap_or(0)
}

/// `malloc_trim(3)`: drains the calling thread's magazines, then gives back to the OS
/// the pages of every EMPTY slot and every cached empty SuperSlab and large mapping
/// (`raw::trim`). Returns 1 when memory was given back, else 0. `pad` is ignored (nothing
/// is kept at the top of a heap).
#[no_mangle]
pub extern "C" fn malloc_trim(_pad: usize) -> c_int {
    raw::drain_thread();
    c_int::from(raw::trim() != 0)
}

/// Test hook (not part of any C API): every remote free spins `spins` times before its
/// push, widening the window in which a slot could be retired under a thread that
/// still gives a block back if the lifetime rule were broken. The preload's
/// regression tests find it with `dlsym`; 0 turns it off.
#[no_mangle]
pub extern "C" fn slabscope_test_set_remote_push_delay(spins: u32) {
    raw::set_remote_push_delay(spins);
}

/// `M_MXFAST`.
const M_MXFAST: c_int = 1;
/// `M_TRIM_THRESHOLD`.
const M_TRIM_THRESHOLD: c_int = -1;
/// `M_TOP_PAD`.
const M_TOP_PAD: c_int = -2;
/// `M_MMAP_THRESHOLD`.
const M_MMAP_THRESHOLD: c_int = -3;
/// `M_MMAP_MAX`.
const M_MMAP_MAX: c_int = -4;
/// `M_ARENA_TEST`.
const M_ARENA_TEST: c_int = -7;
/// `M_ARENA_MAX`.
const M_ARENA_MAX: c_int = -8;

/// `mallopt(3)`: returns 1 (accepted, no effect) for glibc's performance hints
/// (`M_MXFAST`, `M_TRIM_THRESHOLD`, `M_TOP_PAD`, `M_MMAP_THRESHOLD`, `M_MMAP_MAX`,
/// `M_ARENA_TEST`, `M_ARENA_MAX`), which change no observable behaviour; returns 0
/// (unsupported) for everything else, including `M_CHECK_ACTION` and `M_PERTURB`,
/// whose effects slabscope does not provide. Use the `SLABSCOPE_*` variables to tune.
#[no_mangle]
pub extern "C" fn mallopt(param: c_int, _value: c_int) -> c_int {
    match param {
        M_MXFAST | M_TRIM_THRESHOLD | M_TOP_PAD | M_MMAP_THRESHOLD | M_MMAP_MAX | M_ARENA_TEST
        | M_ARENA_MAX => 1,
        _ => 0,
    }
}

/// glibc's `struct mallinfo2`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MallInfo2 {
    /// Bytes mapped for SuperSlabs.
    pub arena: usize,
    /// Free blocks inside slots.
    pub ordblks: usize,
    /// Blocks cached in thread magazines.
    pub smblks: usize,
    /// Live large (directly mapped) allocations.
    pub hblks: usize,
    /// Bytes in live large allocations.
    pub hblkhd: usize,
    /// Always 0 (as in glibc).
    pub usmblks: usize,
    /// Bytes cached in thread magazines.
    pub fsmblks: usize,
    /// Bytes of SuperSlab blocks in user hands.
    pub uordblks: usize,
    /// `arena - uordblks`: SuperSlab bytes not in user hands (free in slots, cached in
    /// magazines, slots not carved yet, headers).
    pub fordblks: usize,
    /// Bytes of empty SuperSlabs that `malloc_trim` would return to the OS.
    pub keepcost: usize,
}

/// SuperSlab size, for `keepcost`.
const SUPERSLAB_BYTES: u64 = 2 << 20;

/// `mallinfo2(3)`: slabscope's counters in glibc's shape (block counts of the other
/// threads' magazines are as of their last drain).
#[no_mangle]
pub extern "C" fn mallinfo2() -> MallInfo2 {
    let s = raw::stats();
    let t = s.totals;
    let arena = t.mapped_bytes.saturating_sub(t.large_bytes);
    let (mut free, mut cached, mut cached_bytes, mut live_bytes) = (0u64, 0u64, 0u64, 0u64);
    for c in s.classes.iter() {
        let bs = u64::from(c.block_size);
        free += c.free_blocks;
        cached += c.cached_blocks;
        cached_bytes += c.cached_blocks * bs;
        live_bytes += c.live_blocks * bs;
    }
    MallInfo2 {
        arena: arena as usize,
        ordblks: free as usize,
        smblks: cached as usize,
        hblks: t.large_count as usize,
        hblkhd: t.large_bytes as usize,
        usmblks: 0,
        fsmblks: cached_bytes as usize,
        uordblks: live_bytes as usize,
        fordblks: arena.saturating_sub(live_bytes) as usize,
        keepcost: (t.superslabs_cached * SUPERSLAB_BYTES) as usize,
    }
}

/// glibc's deprecated `struct mallinfo` (`int` fields).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MallInfo {
    /// As [`MallInfo2::arena`].
    pub arena: c_int,
    /// As [`MallInfo2::ordblks`].
    pub ordblks: c_int,
    /// As [`MallInfo2::smblks`].
    pub smblks: c_int,
    /// As [`MallInfo2::hblks`].
    pub hblks: c_int,
    /// As [`MallInfo2::hblkhd`].
    pub hblkhd: c_int,
    /// As [`MallInfo2::usmblks`].
    pub usmblks: c_int,
    /// As [`MallInfo2::fsmblks`].
    pub fsmblks: c_int,
    /// As [`MallInfo2::uordblks`].
    pub uordblks: c_int,
    /// As [`MallInfo2::fordblks`].
    pub fordblks: c_int,
    /// As [`MallInfo2::keepcost`].
    pub keepcost: c_int,
}

/// `mallinfo(3)`: [`mallinfo2`] with every field clamped to `INT_MAX` (glibc wraps
/// them instead; clamping keeps them meaningful).
#[no_mangle]
pub extern "C" fn mallinfo() -> MallInfo {
    let m = mallinfo2();
    let c = |v: usize| v.min(c_int::MAX as usize) as c_int;
    MallInfo {
        arena: c(m.arena),
        ordblks: c(m.ordblks),
        smblks: c(m.smblks),
        hblks: c(m.hblks),
        hblkhd: c(m.hblkhd),
        usmblks: c(m.usmblks),
        fsmblks: c(m.fsmblks),
        uordblks: c(m.uordblks),
        fordblks: c(m.fordblks),
        keepcost: c(m.keepcost),
    }
}
