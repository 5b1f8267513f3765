//! The checked block layout.
//!
//! ```text
//!   live:   [ requested bytes | canary (CANARY), up to CANARY_MAX | ... | trailer: live tag, slack ]
//!   freed:  [ links (16 B) | pattern (FREED), up to PATTERN_MAX | ... | trailer: freed tag ]
//! ```
//!
//! Every checked request is [`padded`] by the 8-byte trailer (and to at least 24 bytes,
//! so that the block's first 16 bytes, which the slot lists and remote-free containers
//! write while it is free, never reach the trailer). The trailer is the block's last
//! word: the high half is a tag of the block's address and state (live or freed), the
//! low half the slack `block bytes - requested` of a live block. Its state changes
//! with one compare-and-swap, so of two frees of a block, even on two threads, exactly
//! one sees it live.
//!
//! A freed block (small blocks only: a large mapping may be returned at once) is filled
//! with [`FREED`] past its links, up to [`PATTERN_MAX`] bytes, and verified when it is
//! handed out again; a live block's slack is filled with [`CANARY`], up to
//! [`CANARY_MAX`] bytes past the request, and verified at its free. A write further into
//! the slack is found only when it reaches the trailer (the free then finds no live
//! block). A block whose trailer is neither tag (carved fresh, or from before the
//! slot's last reuse) is handed out unverified.
//!
//! The bounds keep the checked mode's cost near the default's: filling and verifying a
//! whole 1 KiB block on every allocation and free made the checked paths five times
//! slower on the benchmark workloads, while misuse mostly writes the first fields of a
//! freed object or the first bytes past the end.
#![deny(unsafe_op_in_unsafe_fn)]

use core::sync::atomic::{AtomicU64, Ordering};

/// The bytes a checked request adds: the trailer word.
pub const TRAILER: usize = 8;
/// The bytes at the start of a free block that the allocator's lists write (a link and a
/// container count): never filled or verified.
pub const LINKS: usize = 16;
/// The most bytes of a freed block filled with the pattern (after its links).
pub const PATTERN_MAX: usize = 64;
/// The most bytes of a live block's slack filled with the canary (from the request on).
pub const CANARY_MAX: usize = 64;
/// The byte freed blocks are filled with.
pub const FREED: u8 = 0xdf;
/// The byte a live block's slack is filled with.
pub const CANARY: u8 = 0xcb;

const LIVE_KEY: u32 = 0xa11c_0c8d;
const FREED_KEY: u32 = 0xf4ee_d00d;

/// The block size a checked request of `size` bytes asks the mechanism for; `None` when
/// it overflows.
#[inline]
pub fn padded(size: usize) -> Option<usize> {
    Some(size.checked_add(TRAILER)?.max(LINKS + TRAILER))
}

fn tag(addr: usize, key: u32) -> u64 {
    let h = ((addr >> 4) as u32).wrapping_mul(0x9e37_79b1) ^ key;
    u64::from(h) << 32
}

/// The trailer of a live block at `addr` with `slack` bytes past its request.
fn live_word(addr: usize, slack: usize) -> u64 {
    tag(addr, LIVE_KEY) | slack.min(u32::MAX as usize) as u64
}

/// The trailer of a freed block at `addr`.
fn freed_word(addr: usize) -> u64 {
    tag(addr, FREED_KEY)
}

/// A live block as its trailer describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Live {
    /// The bytes requested (`None` when the slack did not fit the trailer).
    pub requested: Option<usize>,
}

/// What a free found in a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freed {
    /// The block was live and is now marked freed; `overflow` is the offset of the first
    /// changed canary byte, if any.
    Now {
        /// The bytes requested.
        requested: Option<usize>,
        /// The first slack byte written past the request.
        overflow: Option<usize>,
    },
    /// The block was freed already (it sits in a magazine or on a slot's list).
    Already,
    /// The trailer holds neither tag: the block was never handed out, or its trailer was
    /// overwritten.
    NotLive,
}

/// The trailer word of the block at `p`, `bytes` long.
///
/// # Safety
/// `p .. p + bytes` is a block of the allocator's, at least [`LINKS`] + [`TRAILER`]
/// bytes, 8-aligned, mapped for as long as the reference is used.
unsafe fn trailer<'a>(p: *mut u8, bytes: usize) -> &'a AtomicU64 {
    // SAFETY: the caller's contract: the block's last word is mapped and 8-aligned.
    unsafe { &*p.add(bytes - TRAILER).cast::<AtomicU64>() }
}

/// A word of one repeated byte, read and written unaligned: the canary and the pattern
/// are checked and filled a few wide words at a time (a loop of eight-byte words with a
/// byte tail ran about a hundred instructions per free on larson).
trait Word {
    /// The bits of the word at `q` that differ from a word of `byte`s, little-endian.
    ///
    /// # Safety
    /// The word at `q` is readable.
    unsafe fn differing(q: *const u8, byte: u8) -> u128;
    /// Writes a word of `byte`s at `q`.
    ///
    /// # Safety
    /// The word at `q` is writable.
    unsafe fn store(q: *mut u8, byte: u8);
}

macro_rules! word {
    ($($ty:ty),*) => {$(
        impl Word for $ty {
            #[inline(always)]
            unsafe fn differing(q: *const u8, byte: u8) -> u128 {
                const N: usize = size_of::<$ty>();
                // SAFETY: the caller's contract.
                let w = <$ty>::from_le_bytes(unsafe { q.cast::<[u8; N]>().read_unaligned() });
                u128::from(w ^ <$ty>::from_le_bytes([byte; N]))
            }
            #[inline(always)]
            unsafe fn store(q: *mut u8, byte: u8) {
                const N: usize = size_of::<$ty>();
                // SAFETY: the caller's contract.
                unsafe { q.cast::<[u8; N]>().write_unaligned([byte; N]) };
            }
        }
    )*};
}
word!(u128, u64, u32, u8);

/// The most bytes [`fill`] and [`first_changed`] cover: the pattern's and the canary's.
const RANGE_MAX: usize = 64;
const _: () = assert!(PATTERN_MAX <= RANGE_MAX && CANARY_MAX <= RANGE_MAX);

/// The offset of word `k` of the `N` words of `T` that cover `from .. to` (at least one
/// word long, at most `N` words): every word from `from` on, those past `to` moved back
/// to end at `to` (they overlap the ones before). A constant count of words, so the
/// covering loops unroll into straight stores and loads.
#[inline(always)]
fn word_at<T>(k: usize, from: usize, to: usize) -> usize {
    (from + k * size_of::<T>()).min(to - size_of::<T>())
}

/// [`first_changed`] with `N` words of `T` (`from .. to` at least one word long, at most
/// `N`).
///
/// # Safety
/// As for [`first_changed`].
#[inline(always)]
unsafe fn first_changed_by<T: Word, const N: usize>(
    p: *const u8,
    from: usize,
    to: usize,
    byte: u8,
) -> Option<usize> {
    // SAFETY: every word lies in the caller's range.
    let diff = |k| unsafe { T::differing(p.add(word_at::<T>(k, from, to)), byte) };
    if (0..N).fold(0, |d, k| d | diff(k)) == 0 {
        return None;
    }
    // The lowest differing byte of the first differing word (they ascend) is the first
    // changed one: the bytes a moved-back word shares with the one before were equal.
    (0..N).find_map(|k| {
        let d = diff(k);
        (d != 0).then(|| word_at::<T>(k, from, to) + (d.trailing_zeros() / 8) as usize)
    })
}

/// Whether the 16 bytes at `q` are all `byte`: one vector compare where the target has
/// one.
///
/// # Safety
/// The 16 bytes at `q` are readable.
#[inline(always)]
unsafe fn is_run16(q: *const u8, byte: u8) -> bool {
    // SAFETY: the caller's contract.
    unsafe { q.cast::<[u8; 16]>().read_unaligned() == [byte; 16] }
}

/// Whether `p + from .. p + to` (at most [`RANGE_MAX`] bytes) holds only `byte`: four
/// 16-byte compares without a branch between them when the range is 16 bytes or
/// longer, two 8-byte ones when it is 8 to 15 (the common cases), the word loops of
/// [`locate_changed`] otherwise.
///
/// # Safety
/// The range lies in a block the caller holds.
#[inline(always)]
unsafe fn intact(p: *const u8, from: usize, to: usize, byte: u8) -> bool {
    let len = to.saturating_sub(from);
    debug_assert!(len <= RANGE_MAX, "a checked range longer than its bound");
    if len >= 16 {
        // SAFETY: each word lies in the caller's range (`word_at` moves the last ones
        // back).
        let run = |k| unsafe { is_run16(p.add(word_at::<u128>(k, from, to)), byte) };
        return run(0) & run(1) & run(2) & run(3);
    }
    if len >= 8 {
        // SAFETY: as above.
        let diff = |k| unsafe { u64::differing(p.add(word_at::<u64>(k, from, to)), byte) };
        return diff(0) | diff(1) == 0;
    }
    // SAFETY: the caller's contract.
    unsafe { locate_changed(p, from, to, byte) }.is_none()
}

/// The offset of the first byte in `p + from .. p + to` (at most [`RANGE_MAX`] bytes)
/// that is not `byte`: the straight-line compare of [`intact`] first, the word loops
/// that find the byte only when it failed.
///
/// # Safety
/// The range lies in a block the caller holds.
#[inline(always)]
unsafe fn first_changed(p: *const u8, from: usize, to: usize, byte: u8) -> Option<usize> {
    // SAFETY: the caller's contract.
    if unsafe { intact(p, from, to, byte) } {
        return None;
    }
    // SAFETY: the caller's contract.
    unsafe { locate_changed(p, from, to, byte) }
}

/// [`first_changed`] by word loops over the range (any length up to [`RANGE_MAX`]).
///
/// # Safety
/// The range lies in a block the caller holds.
#[inline(never)]
unsafe fn locate_changed(p: *const u8, from: usize, to: usize, byte: u8) -> Option<usize> {
    // SAFETY: the caller's range, covered by the words picked.
    unsafe {
        match to.saturating_sub(from) {
            0 => None,
            1..=3 => first_changed_by::<u8, 3>(p, from, to, byte),
            4..=7 => first_changed_by::<u32, 2>(p, from, to, byte),
            8..=15 => first_changed_by::<u64, 2>(p, from, to, byte),
            16..=RANGE_MAX => first_changed_by::<u128, 4>(p, from, to, byte),
            _ => crate::pal::fatal(b"a checked range longer than its bound"),
        }
    }
}

/// [`fill`] with `N` words of `T` (`from .. to` at least one word long, at most `N`).
///
/// # Safety
/// As for [`fill`].
#[inline(always)]
unsafe fn fill_by<T: Word, const N: usize>(p: *mut u8, from: usize, to: usize, byte: u8) {
    for k in 0..N {
        // SAFETY: the word lies in the caller's range.
        unsafe { T::store(p.add(word_at::<T>(k, from, to)), byte) };
    }
}

/// Fills `p + from .. p + to` (at most [`RANGE_MAX`] bytes) with `byte`: four 16-byte
/// stores when the range is 16 bytes or longer, two 8-byte ones when it is 8 to 15.
///
/// # Safety
/// The range lies in a block the caller holds.
#[inline(always)]
unsafe fn fill(p: *mut u8, from: usize, to: usize, byte: u8) {
    let len = to.saturating_sub(from);
    if (16..=RANGE_MAX).contains(&len) {
        for k in 0..4 {
            // SAFETY: the word lies in the caller's range.
            unsafe {
                p.add(word_at::<u128>(k, from, to))
                    .cast::<[u8; 16]>()
                    .write_unaligned([byte; 16]);
            }
        }
        return;
    }
    if (8..16).contains(&len) {
        // SAFETY: the caller's range, covered by the two words.
        return unsafe { fill_by::<u64, 2>(p, from, to, byte) };
    }
    // SAFETY: the caller's contract.
    unsafe { fill_short(p, from, to, byte) }
}

/// [`fill`] for a range shorter than 8 bytes.
///
/// # Safety
/// As for [`fill`].
#[inline(never)]
unsafe fn fill_short(p: *mut u8, from: usize, to: usize, byte: u8) {
    // SAFETY: the caller's range, covered by the words picked.
    unsafe {
        match to.saturating_sub(from) {
            0 => {}
            1..=3 => fill_by::<u8, 3>(p, from, to, byte),
            4..=7 => fill_by::<u32, 2>(p, from, to, byte),
            _ => crate::pal::fatal(b"a checked range longer than its bound"),
        }
    }
}

/// Where the canary of a block with `requested` bytes and its trailer at `end` stops.
fn canary_end(requested: usize, end: usize) -> usize {
    end.min(requested.saturating_add(CANARY_MAX))
}

/// Prepares a block the mechanism just handed out for a request of `requested` bytes:
/// verifies the pattern if the block is a `small` one freed in check mode (returns the
/// offset of the first byte written after its free), then fills its slack with the
/// canary and marks it live.
///
/// # Safety
/// `p .. p + bytes` is a block just handed out to the caller (no other thread may touch
/// it), at least [`padded`]`(requested)` bytes, 8-aligned.
#[inline]
pub unsafe fn on_alloc(p: *mut u8, requested: usize, bytes: usize, small: bool) -> Option<usize> {
    let a = p as usize;
    // SAFETY: the caller's contract.
    let t = unsafe { trailer(p, bytes) };
    let end = bytes - TRAILER;
    let written = if small && t.load(Ordering::Relaxed) == freed_word(a) {
        // SAFETY: the pattern range lies inside the block, which the caller holds.
        unsafe { first_changed(p, LINKS, end.min(LINKS + PATTERN_MAX), FREED) }
    } else {
        None
    };
    // SAFETY: `requested .. end` is the block's slack, inside the block.
    unsafe { fill(p, requested, canary_end(requested, end), CANARY) };
    t.store(live_word(a, bytes - requested), Ordering::Release);
    written
}

/// The state of the block at `p` (`bytes` long) as its trailer tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Handed out and not freed since.
    Live(Live),
    /// Freed (in a magazine or on a slot's list).
    Freed,
    /// Neither tag: never handed out in check mode, or its trailer was overwritten.
    Other,
}

/// The block's [`State`].
///
/// # Safety
/// As for [`on_alloc`], except that the block may be anyone's (it is only read).
pub unsafe fn state(p: *mut u8, bytes: usize) -> State {
    // SAFETY: the caller's contract.
    let w = unsafe { trailer(p, bytes) }.load(Ordering::Acquire);
    decode(p as usize, bytes, w)
}

fn decode(a: usize, bytes: usize, w: u64) -> State {
    if w == freed_word(a) {
        return State::Freed;
    }
    if w & !0xffff_ffff != tag(a, LIVE_KEY) {
        return State::Other;
    }
    let slack = (w & 0xffff_ffff) as usize;
    let requested =
        (slack < u32::MAX as usize && (TRAILER..=bytes).contains(&slack)).then(|| bytes - slack);
    State::Live(Live { requested })
}

/// Marks the block at `p` (`bytes` long) freed if it is live, with one compare-and-swap,
/// verifying its canary; `small` blocks are filled with the pattern.
///
/// # Safety
/// As for [`on_alloc`], except that the block is the caller's only if this returns
/// [`Freed::Now`] (another thread may hold it otherwise: only the trailer is read).
#[inline]
pub unsafe fn on_free(p: *mut u8, bytes: usize, small: bool) -> Freed {
    let a = p as usize;
    // SAFETY: the caller's contract.
    let t = unsafe { trailer(p, bytes) };
    let w = t.load(Ordering::Acquire);
    let live = match decode(a, bytes, w) {
        State::Live(live) => live,
        State::Freed => return Freed::Already,
        State::Other => return Freed::NotLive,
    };
    if t.compare_exchange(w, freed_word(a), Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // Another thread freed it between the load and here.
        return Freed::Already;
    }
    let end = bytes - TRAILER;
    let overflow = live.requested.and_then(|r| {
        // SAFETY: the block is the caller's now (its trailer changed to freed here).
        unsafe { first_changed(p, r, canary_end(r, end), CANARY) }
    });
    if small {
        let to = end.min(LINKS + PATTERN_MAX);
        // SAFETY: as above; the pattern range lies inside the block.
        unsafe { fill(p, LINKS, to, FREED) };
    }
    Freed::Now {
        requested: live.requested,
        overflow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(align(16))]
    struct Block([u8; 96]);

    #[test]
    fn a_block_goes_live_freed_and_live_again() {
        let mut b = Block([0; 96]);
        let p = b.0.as_mut_ptr();
        // SAFETY: `b` is a 96-byte, 16-aligned buffer this test owns.
        unsafe {
            assert_eq!(on_alloc(p, 40, 96, true), None, "fresh: nothing verified");
            assert_eq!(
                state(p, 96),
                State::Live(Live {
                    requested: Some(40)
                })
            );
            assert_eq!(
                on_free(p, 96, true),
                Freed::Now {
                    requested: Some(40),
                    overflow: None
                }
            );
            assert_eq!(state(p, 96), State::Freed);
            assert_eq!(on_free(p, 96, true), Freed::Already, "double free");
            assert_eq!(on_alloc(p, 80, 96, true), None, "the pattern is intact");
            *p.add(80) = 1;
            assert_eq!(
                on_free(p, 96, true),
                Freed::Now {
                    requested: Some(80),
                    overflow: Some(80)
                }
            );
            *p.add(50) = 7;
            assert_eq!(
                on_alloc(p, 10, 96, true),
                Some(50),
                "written after its free"
            );
        }
        assert_eq!(padded(0), Some(24));
        assert_eq!(padded(100), Some(108));
        assert_eq!(padded(usize::MAX), None);
    }

    #[test]
    fn fill_and_verify_cover_every_range_exactly() {
        for from in 0..20 {
            for to in from..=(from + RANGE_MAX).min(96) {
                let mut b = Block([0; 96]);
                let p = b.0.as_mut_ptr();
                // SAFETY: `from .. to` lies in the 96-byte buffer this test owns.
                unsafe {
                    fill(p, from, to, FREED);
                    assert_eq!(first_changed(p, from, to, FREED), None);
                    assert!(intact(p, from, to, FREED), "[{from}, {to})");
                }
                for (i, &x) in b.0.iter().enumerate() {
                    let inside = (from..to).contains(&i);
                    assert_eq!(x == FREED, inside, "[{from}, {to}) byte {i}");
                }
                // One changed byte at a time, at every offset: each word is looked at.
                for changed in from..to {
                    b.0[changed] = 0;
                    // SAFETY: as above.
                    let found = unsafe { first_changed(b.0.as_ptr(), from, to, FREED) };
                    assert_eq!(found, Some(changed), "[{from}, {to})");
                    // SAFETY: as above.
                    let whole = unsafe { intact(b.0.as_ptr(), from, to, FREED) };
                    assert!(!whole, "[{from}, {to}) byte {changed}");
                    b.0[changed] = FREED;
                }
                // Every byte changed, the first one found.
                for changed in (from..to).rev() {
                    b.0[changed] = 0;
                    // SAFETY: as above.
                    let found = unsafe { first_changed(b.0.as_ptr(), from, to, FREED) };
                    assert_eq!(found, Some(changed), "[{from}, {to})");
                }
            }
        }
    }

    #[test]
    fn a_foreign_trailer_is_not_live() {
        let mut b = Block([0x5a; 96]);
        let p = b.0.as_mut_ptr();
        // SAFETY: as above.
        unsafe {
            assert_eq!(state(p, 96), State::Other);
            assert_eq!(on_free(p, 96, true), Freed::NotLive);
            assert_eq!(b.0[40], 0x5a, "nothing written");
        }
    }
}
