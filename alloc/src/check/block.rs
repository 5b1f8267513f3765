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
//! with [`FREED`], its links and up to [`PATTERN_MAX`] bytes past them; the links are
//! verified when the block leaves the quarantine (before the lists write them), the rest
//! when it is handed out again; a live block's slack is filled with [`CANARY`], up to
//! [`CANARY_MAX`] bytes past the request, and verified at its free. A write further into
//! the slack is found only when it reaches the trailer (the free then finds no live
//! block). A block whose trailer is neither tag (carved fresh, or from before the
//! slot's last reuse) is handed out unverified.
//!
//! The bounds keep the checked mode's cost near the default's: filling and verifying a
//! whole 1 KiB block on every allocation and free made the checked paths five times
//! slower on the benchmark workloads, while misuse mostly writes the first fields of a
//! freed object or the first bytes past the end. Both ranges are filled and compared as
//! four 16-byte words ending at the range's end, whatever its length (a compare's
//! result is masked to the range): a small block's canary words may also write the
//! bytes before the request's end at its allocation, and its pattern words its links at
//! its free, both before anyone reads them.
#![deny(unsafe_op_in_unsafe_fn)]

use core::sync::atomic::{AtomicU64, Ordering};

/// The bytes a checked request adds: the trailer word.
pub const TRAILER: usize = 8;
/// The bytes at the start of a free block that the allocator's lists write (a link and a
/// container count): filled at the free and verified when the block leaves the
/// quarantine ([`links_changed`]), which is before any list writes them.
pub const LINKS: usize = 16;
/// The most bytes of a freed block filled with the pattern (after its links).
pub const PATTERN_MAX: usize = 64;
/// The most bytes of a live block's slack filled with the canary (from the request on).
pub const CANARY_MAX: usize = 64;
/// The byte freed blocks are filled with.
pub const FREED: u8 = 0xdf;
/// The byte a live block's slack is filled with.
pub const CANARY: u8 = 0xcb;

// A remote batch's containers keep their block addresses clear of the pattern and of
// the trailer in check mode (`remote::container_layout`).
const _: () = assert!(LINKS + PATTERN_MAX <= crate::slot::CHECKED_FIRST_ADDRESS * 8);
const _: () = assert!(TRAILER == 8);

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
    if bytes < LINKS + TRAILER {
        // Every checked block is padded to at least this (`padded`); the word compares
        // and fills rely on it.
        crate::pal::fatal(b"a checked block shorter than its layout");
    }
    // SAFETY: the caller's contract: the block's last word is mapped and 8-aligned.
    unsafe { &*p.add(bytes - TRAILER).cast::<AtomicU64>() }
}

/// The most bytes a checked range spans (the pattern's and the canary's), and the
/// 16-byte words that cover one.
const RANGE_MAX: usize = 64;
const WORDS: usize = RANGE_MAX / 16;
const _: () = assert!(PATTERN_MAX <= RANGE_MAX && CANARY_MAX <= RANGE_MAX);

/// The block offsets of the [`WORDS`] 16-byte words that cover a range ending at `to`
/// (`to >= 16`, the range at most [`RANGE_MAX`] bytes), and the offset `lo` their
/// bytes count from: from `lo = to - RANGE_MAX` on, 16 bytes apart, when the block
/// reaches back that far (the common case, a constant layout); otherwise from the
/// block's start, the last ones moved back to end at `to` (they overlap). A fixed count
/// of words, so that no branch depends on the range's length: with random request
/// sizes, length-dependent branches mispredicted on about every other checked call.
#[inline(always)]
fn words(to: usize) -> (usize, [usize; WORDS]) {
    if to >= RANGE_MAX {
        let lo = to - RANGE_MAX;
        return (lo, core::array::from_fn(|k| lo + 16 * k));
    }
    (0, core::array::from_fn(|k| (16 * k).min(to - 16)))
}

/// Bit `i` set for each byte `lo + i` at `from` or later (`lo <= from <= lo + 64`).
#[inline(always)]
fn bytes_from(lo: usize, from: usize) -> u64 {
    u64::MAX.checked_shl((from - lo) as u32).unwrap_or(0)
}

/// Bit `j` set for each byte `j` of the 16 at `q` that is not `byte`: a byte compare
/// and a move of its mask on x86-64.
///
/// # Safety
/// The 16 bytes at `q` are readable.
#[inline(always)]
unsafe fn differing(q: *const u8, byte: u8) -> u16 {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        // SAFETY: the caller's contract (an unaligned load); SSE2 is part of x86-64.
        let same = unsafe {
            _mm_movemask_epi8(_mm_cmpeq_epi8(
                _mm_loadu_si128(q.cast()),
                _mm_set1_epi8(byte as i8),
            ))
        };
        !(same as u16)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: the caller's contract.
        let w = unsafe { q.cast::<[u8; 16]>().read_unaligned() };
        (0..16).fold(0u16, |m, j| m | (u16::from(w[j] != byte) << j))
    }
}

/// The offset of the first byte in `p + from .. p + to` that is not `byte` (`16 <= to`,
/// `to - from <= RANGE_MAX`): four 16-byte compares with no branch between them, their
/// results gathered into one word of a bit per byte and masked to the range.
///
/// # Safety
/// `p .. p + to` lies in a block the caller holds.
#[inline(always)]
unsafe fn first_changed(p: *const u8, from: usize, to: usize, byte: u8) -> Option<usize> {
    debug_assert!(
        to >= 16 && from <= to && to - from <= RANGE_MAX,
        "a checked range out of bounds"
    );
    let (lo, at) = words(to);
    let mut bits = 0u64;
    if to >= RANGE_MAX {
        // The common layout, spelt out so that the shifts are constants.
        for (k, o) in at.into_iter().enumerate() {
            // SAFETY: every word lies in `p .. p + to`.
            bits |= u64::from(unsafe { differing(p.add(o), byte) }) << (16 * k);
        }
    } else {
        for o in at {
            // SAFETY: every word lies in `p .. p + to`; `o - lo + 16 <= 64`.
            bits |= u64::from(unsafe { differing(p.add(o), byte) }) << (o - lo);
        }
    }
    let bits = bits & bytes_from(lo, from);
    (bits != 0).then(|| lo + bits.trailing_zeros() as usize)
}

/// Fills `p + from .. p + to` with `byte` (`16 <= to`, `to - from <= RANGE_MAX`) by
/// four 16-byte stores. Unless `exact`, bytes before `from` down to `to - RANGE_MAX`
/// (or the block's start) are overwritten too: for a block the caller has just taken,
/// whose bytes there mean nothing yet. `exact` keeps them (a load and a blend per
/// word): for a large allocation, whose zeroed bytes `calloc` relies on.
///
/// # Safety
/// `p .. p + to` lies in a block the caller holds.
#[inline(always)]
unsafe fn fill(p: *mut u8, from: usize, to: usize, byte: u8, exact: bool) {
    debug_assert!(
        to >= 16 && from <= to && to - from <= RANGE_MAX,
        "a checked range out of bounds"
    );
    let (lo, at) = words(to);
    if !exact {
        for o in at {
            // SAFETY: the word lies in `p .. p + to`, which the caller holds.
            unsafe { p.add(o).cast::<[u8; 16]>().write_unaligned([byte; 16]) };
        }
        return;
    }
    let keep = !bytes_from(lo, from);
    for o in at {
        // SAFETY: the word lies in `p .. p + to`, which the caller holds.
        unsafe {
            let q = p.add(o).cast::<[u8; 16]>();
            let mut w = q.read_unaligned();
            for (j, b) in w.iter_mut().enumerate() {
                if keep >> (o - lo + j) & 1 == 0 {
                    *b = byte;
                }
            }
            q.write_unaligned(w);
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
#[inline(always)]
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
    // SAFETY: `requested .. end` is the block's slack, inside the block; a small block's
    // bytes before its slack mean nothing yet, a large one's are kept.
    unsafe { fill(p, requested, canary_end(requested, end), CANARY, !small) };
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

#[inline(always)]
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
#[inline(always)]
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
        // SAFETY: as above; the pattern range and the links (`LINKS <= end`, as
        // `padded` makes every block) lie inside the block.
        unsafe {
            fill(p, LINKS, to, FREED, false);
            fill(p, 0, LINKS, FREED, false);
        }
    }
    Freed::Now {
        requested: live.requested,
        overflow,
    }
}

/// The first of a freed small block's links (its first [`LINKS`] bytes, filled by
/// [`on_free`]) that is no longer the pattern: a write after free, found when the block
/// leaves the quarantine, before the allocator's lists write there.
///
/// # Safety
/// `p` is a small block freed by [`on_free`] and held in the caller's quarantine since.
pub unsafe fn links_changed(p: *const u8) -> Option<usize> {
    // SAFETY: the caller's contract; `LINKS` bytes lie in every block.
    unsafe { first_changed(p, 0, LINKS, FREED) }
}

/// Fills a freed small block's pattern again after [`links_changed`] reported a write
/// into it, so that the write is not reported a second time when the block is handed
/// out (a write made after this still is).
///
/// # Safety
/// As for [`links_changed`]; `bytes` is the block's size.
pub unsafe fn refill_freed(p: *mut u8, bytes: usize) {
    let to = (bytes - TRAILER).min(LINKS + PATTERN_MAX);
    // SAFETY: the caller's contract; the range lies inside the block.
    unsafe { fill(p, LINKS, to, FREED, false) };
}

/// Resizes the live block at `p` (`bytes` long) in place to `requested` bytes (at most
/// `bytes - TRAILER`): moves the trailer's slack to the new request with one
/// compare-and-swap (so that a racing free finds the block live at most once), then
/// verifies the canary of the old request and fills the new one's (the bytes before
/// it are kept). `None`, with nothing changed, when the block is not live; else the old
/// request and the offset of the first canary byte written past it, if any.
///
/// # Safety
/// As for [`on_free`]; the block is the caller's once the compare-and-swap succeeded.
#[inline]
pub unsafe fn on_resize(p: *mut u8, bytes: usize, requested: usize) -> Option<Resized> {
    let a = p as usize;
    let end = bytes - TRAILER;
    debug_assert!(requested <= end, "a resize past the block");
    // SAFETY: the caller's contract.
    let t = unsafe { trailer(p, bytes) };
    let w = t.load(Ordering::Acquire);
    let State::Live(live) = decode(a, bytes, w) else {
        return None;
    };
    let now = live_word(a, bytes - requested);
    if t.compare_exchange(w, now, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // Freed by another thread meanwhile.
        return None;
    }
    // SAFETY: the block is the caller's now; its old canary is untouched until the fill.
    let overflow = live
        .requested
        .and_then(|r| unsafe { first_changed(p, r, canary_end(r, end), CANARY) });
    // SAFETY: as above; the bytes before the new request are kept.
    unsafe { fill(p, requested, canary_end(requested, end), CANARY, true) };
    Some(Resized {
        requested: live.requested,
        overflow,
    })
}

/// What [`on_resize`] found in a live block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resized {
    /// The bytes requested before the resize.
    pub requested: Option<usize>,
    /// The first canary byte written past the old request.
    pub overflow: Option<usize>,
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
        for to in 16usize..=96 {
            for from in to.saturating_sub(RANGE_MAX)..=to {
                for exact in [true, false] {
                    let mut b = Block([0; 96]);
                    let p = b.0.as_mut_ptr();
                    // SAFETY: `0 .. to` lies in the 96-byte buffer this test owns.
                    unsafe {
                        fill(p, from, to, FREED, exact);
                        assert_eq!(first_changed(p, from, to, FREED), None);
                    }
                    for (i, &x) in b.0.iter().enumerate() {
                        if (from..to).contains(&i) {
                            assert_eq!(x, FREED, "[{from}, {to}) byte {i}");
                        } else if exact || i >= to || i < to.saturating_sub(RANGE_MAX) {
                            assert_eq!(x, 0, "[{from}, {to}) exact {exact}: byte {i}");
                        }
                    }
                    // One changed byte at a time, at every offset: each word is looked at.
                    for changed in from..to {
                        b.0[changed] = 0;
                        // SAFETY: as above.
                        let found = unsafe { first_changed(b.0.as_ptr(), from, to, FREED) };
                        assert_eq!(found, Some(changed), "[{from}, {to})");
                        b.0[changed] = FREED;
                    }
                    // Bytes outside the range are not looked at.
                    b.0.iter_mut().take(from).for_each(|x| *x = 1);
                    b.0.iter_mut().skip(to).for_each(|x| *x = 1);
                    // SAFETY: as above.
                    let found = unsafe { first_changed(b.0.as_ptr(), from, to, FREED) };
                    assert_eq!(found, None, "[{from}, {to})");
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
    }

    #[test]
    fn every_canary_and_pattern_byte_of_every_layout_is_checked() {
        #[repr(align(16))]
        struct Big([u8; 1024]);
        let mut b = Big([0; 1024]);
        let p = b.0.as_mut_ptr();
        for bytes in (24..=1024).step_by(8) {
            let end = bytes - TRAILER;
            for requested in (0..=end).step_by(3) {
                let canary = requested..canary_end(requested, end);
                for at in canary.clone() {
                    // SAFETY: `p .. p + bytes` lies in the buffer this test owns.
                    unsafe {
                        on_alloc(p, requested, bytes, true);
                        assert!(b.0[canary.clone()].iter().all(|&x| x == CANARY));
                        *p.add(at) ^= 1;
                        let freed = on_free(p, bytes, true);
                        let want = Freed::Now {
                            requested: Some(requested),
                            overflow: Some(at),
                        };
                        assert_eq!(freed, want, "{bytes} B, {requested} requested");
                    }
                }
                let pattern = LINKS..end.min(LINKS + PATTERN_MAX);
                for at in pattern {
                    // SAFETY: as above.
                    unsafe {
                        on_alloc(p, requested, bytes, true);
                        on_free(p, bytes, true);
                        *p.add(at) ^= 1;
                        assert_eq!(on_alloc(p, requested, bytes, true), Some(at), "{bytes} B");
                        on_free(p, bytes, true);
                    }
                }
                // Nothing past the block is written.
                assert!(b.0[bytes..].iter().all(|&x| x == 0), "{bytes} B");
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
