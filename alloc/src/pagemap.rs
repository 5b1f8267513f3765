//! The pagemap: the meta word ([`crate::slot::meta`]) of every 64 KiB slot of the low
//! terabyte of the address space, where SuperSlabs are placed ([`crate::placement`]),
//! one 32-bit word per slot. A word is 0 where no SuperSlab lies;
//! inside a mapped SuperSlab it is the meta word of the slot there (slot 0 holds the
//! SuperSlab's header and reads `HEADER`). It answers, with one load and no access to
//! the address itself, both questions of `free`: "is this one of our blocks?" and "whose
//! slot, of which class?". A foreign pointer reads 0 (or lies beyond the map) and is
//! never dereferenced.
//!
//! The map is 2^24 words (64 MiB of address space, covering 1 TiB) reserved once,
//! read-only and without swap reserved, when the first SuperSlab is mapped: a read of a
//! page nobody wrote reads the kernel's shared zero page, and only the pages that hold
//! the words of mapped SuperSlabs are made writable (4 KiB covers 64 MiB of address
//! space). Under an address-space limit (`RLIMIT_AS`, `ulimit -v`) the map takes at most
//! 1/64 of it, and where the kernel refuses the map, a smaller one is tried (down to
//! 4 MiB, covering 64 GiB); the placement region shrinks with it.
//!
//! [`meta_in`] is the free fast path's lookup: a shift, a bound compare and one load,
//! against the thread's own copy of the map's address and length ([`view`]). The
//! length is 0 until the map exists, so no word is read before then. Words are written
//! by a slot's holder when its state or owner changes (`Release`, see
//! [`crate::slot::meta`]) and cleared under the global lock before a SuperSlab is
//! unmapped.
#![deny(unsafe_op_in_unsafe_fn)]

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::pal::{self, RawMutex};

/// log2 of the bytes of address space per word (one slot).
pub const GRAIN_SHIFT: u32 = 16;
/// Bytes of address space the default map covers (1 TiB).
pub const DEFAULT_COVER: usize = 1 << 40;
/// Words of the default map (64 MiB of them).
const DEFAULT: usize = DEFAULT_COVER >> GRAIN_SHIFT;
/// The smallest map tried when the kernel refuses a larger one: 4 MiB of words over the
/// lowest 64 GiB of address space.
const SMALLEST: usize = 1 << 20;

/// The map: where its words are, and how many (0 until it exists). One line, read by
/// every `free`.
#[repr(C, align(64))]
struct Map {
    words: AtomicUsize,
    len: AtomicUsize,
}

static MAP: Map = Map {
    words: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
};

/// Held while the map is reserved (once per process).
static RESERVE: RawMutex = RawMutex::new();

/// The reservation lock (taken by `fork`'s prepare handler).
pub fn reserve_lock() -> &'static RawMutex {
    &RESERVE
}

/// The map as it stands: the address of its words and how many there are, `(0, 0)`
/// before it exists. A thread keeps a copy in its hot record for [`meta_in`]; the map
/// never moves or shrinks, so a copy stays valid for the life of the process.
#[inline]
pub fn view() -> (usize, usize) {
    // `Acquire` pairs with the `Release` that publishes `len` after `words`.
    let len = MAP.len.load(Ordering::Acquire);
    (MAP.words.load(Ordering::Relaxed), len)
}

/// The meta word of the slot holding `addr` in the map `(words, len)`: 0 when no
/// SuperSlab lies there, `None` when the map has no word for `addr`. `Relaxed`: the free
/// fast path compares the word with its own key and reads nothing it guards. The view
/// is plain values the caller keeps (the thread's copy), so the fast path reads no
/// shared line to find the map.
///
/// # Safety
/// `(words, len)` is a [`view`] (or `(0, 0)`).
#[inline(always)]
pub unsafe fn meta_in(words: usize, len: usize, addr: usize) -> Option<u64> {
    let i = addr >> GRAIN_SHIFT;
    if i >= len {
        return None;
    }
    // SAFETY: `i < len` of a view: the word lies in the reservation at `words`, readable
    // for the life of the process (never unmapped).
    Some(u64::from(unsafe {
        (*(words as *const AtomicU32).add(i)).load(Ordering::Relaxed)
    }))
}

/// The meta word of the slot holding `addr` (0 when no SuperSlab lies there), loaded
/// with `Acquire`: for a slow path that goes on to read the SuperSlab header a non-zero
/// word stands for (pairs with the `Release` of [`set`] after the header was
/// initialised).
#[inline]
pub fn meta_acquire(addr: usize) -> u64 {
    word_at(addr).map_or(0, |w| u64::from(w.load(Ordering::Acquire)))
}

/// Reserves the map, once; outside every allocator lock (it maps memory). `false` when
/// the kernel refused even the smallest map.
pub fn reserve() -> bool {
    if MAP.len.load(Ordering::Acquire) != 0 {
        return true;
    }
    let _g = RESERVE.guard();
    if MAP.len.load(Ordering::Acquire) != 0 {
        return true;
    }
    let mut len = first_len(pal::address_space_limit());
    while len >= SMALLEST {
        if let Some(p) = pal::reserve_readable(len * 4) {
            MAP.words.store(p as usize, Ordering::Relaxed);
            MAP.len.store(len, Ordering::Release);
            return true;
        }
        len /= 2;
    }
    false
}

/// The words of the first map tried: the default map, or under an address-space limit
/// a map of at most 1/64 of the limit (at least [`SMALLEST`]), so that the map never
/// takes a share of the limit the program would notice. A smaller map still covers 256
/// times the limit's bytes of low address space.
fn first_len(limit: Option<usize>) -> usize {
    match limit {
        None => DEFAULT,
        Some(bytes) => {
            let words = (bytes / 64 / 4).max(SMALLEST);
            // The largest power of two not above `words`.
            (1usize << (usize::BITS - 1 - words.leading_zeros())).min(DEFAULT)
        }
    }
}

/// Bytes of address space the map covers, from 0 (0 before it exists).
pub fn covered_bytes() -> usize {
    MAP.len.load(Ordering::Acquire) << GRAIN_SHIFT
}

/// Whether the map has words for the `bytes` of address space at `base`.
pub fn covers(base: usize, bytes: usize) -> bool {
    let end = base.saturating_add(bytes - 1) >> GRAIN_SHIFT;
    end < MAP.len.load(Ordering::Acquire)
}

/// Makes the words of the `bytes` of address space at `base` (covered by the map)
/// writable. Outside every allocator lock (a system call). `false` when the kernel
/// refuses (the commit limit).
pub fn prepare(base: usize, bytes: usize) -> bool {
    debug_assert!(covers(base, bytes));
    let page = pal::page_size();
    let words = MAP.words.load(Ordering::Relaxed);
    let first = words + (base >> GRAIN_SHIFT) * 4;
    let last = words + ((base + bytes - 1) >> GRAIN_SHIFT) * 4;
    let start = first & !(page - 1);
    let end = (last & !(page - 1)) + page;
    // SAFETY: `[start, end)` lies in the reservation (the words of covered addresses,
    // rounded out to whole pages of it).
    unsafe { pal::make_writable(start as *mut u8, end - start) }
}

/// Sets the word of the slot at `addr` (a slot base in a SuperSlab whose words were
/// [`prepare`]d) to `w` (a meta word: never 0 for a mapped SuperSlab).
pub fn set(addr: usize, w: u64) {
    debug_assert!(w != 0 && w <= u64::from(u32::MAX));
    word(addr).store(w as u32, Ordering::Release);
}

/// Clears the words of the `bytes` of address space at `base` (a SuperSlab leaving the
/// map before it is unmapped). The caller holds the global lock.
pub fn clear(base: usize, bytes: usize) {
    for a in (base..base + bytes).step_by(1 << GRAIN_SHIFT) {
        word(a).store(0, Ordering::Release);
    }
}

/// The word of `addr` in the map as it stands (`None` beyond it).
fn word_at(addr: usize) -> Option<&'static AtomicU32> {
    let (words, len) = view();
    let i = addr >> GRAIN_SHIFT;
    // SAFETY: `i < len` of the current view: the word lies in the reservation, which
    // is never unmapped.
    (i < len).then(|| unsafe { &*(words as *const AtomicU32).add(i) })
}

/// The word a writer sets or clears: covered by the map, or the process stops.
fn word(addr: usize) -> &'static AtomicU32 {
    word_at(addr).unwrap_or_else(|| pal::fatal(b"a pagemap word written beyond the map"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_clear_the_words_of_one_superslab() {
        assert!(reserve());
        let (words, len) = view();
        // SAFETY: a view.
        let meta = |a| unsafe { meta_in(words, len, a) };
        assert_eq!(meta(usize::MAX), None, "beyond the map");
        // Below the placement region (which starts at a quarter of the covered space).
        let base = (covered_bytes() / 8) & !((2 << 20) - 1);
        assert!(covers(base, 2 << 20));
        assert!(prepare(base, 2 << 20));
        assert_eq!(meta(base), Some(0));
        set(base + (5 << 16), 0x1234_2080);
        assert_eq!(meta(base + (5 << 16) + 100), Some(0x1234_2080));
        assert_eq!(meta_acquire(base + (6 << 16) - 1), 0x1234_2080);
        assert_eq!(meta(base + (6 << 16)), Some(0), "the next slot");
        assert_eq!(
            meta(base + (4 << 16) + 0xffff),
            Some(0),
            "the previous slot"
        );
        clear(base, 2 << 20);
        assert_eq!(meta(base + (5 << 16)), Some(0));
        assert_eq!(meta(1 << 41), None);
        assert_eq!(meta_acquire(1 << 41), 0);
    }

    #[test]
    fn an_address_space_limit_sizes_the_map_to_a_sixty_fourth_of_it() {
        assert_eq!(first_len(None), DEFAULT);
        // 1 GiB: 16 MiB of words, over 256 GiB of address space.
        assert_eq!(first_len(Some(1 << 30)) * 4, 16 << 20);
        assert_eq!(first_len(Some(3 << 30)) * 4, 32 << 20, "rounded down");
        assert_eq!(
            first_len(Some(64 << 20)),
            SMALLEST,
            "never below the smallest"
        );
        assert_eq!(
            first_len(Some(usize::MAX)),
            DEFAULT,
            "never above the default map"
        );
    }
}
