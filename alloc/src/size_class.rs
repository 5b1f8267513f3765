//! The size-class table and the O(1) size -> class lookup.
//!
//! Classes (60 in all, block sizes in bytes):
//! - 16 to 128 in steps of 16 (8 classes);
//! - fine classes up to 4 KiB: 8 per doubling above 128 (step = 1/8 of the lower power
//!   of two), so a request above 128 B wastes at most 1/9 (11.1 %) of its block;
//! - medium classes up to 32 KiB: 4 per doubling (at most 20 % waste).
//!
//! Every block size is a multiple of 16, so every block is 16-byte aligned; a block of
//! a power-of-two size `s` <= 4 KiB is `s`-aligned (slots start 4 KiB aligned), which is
//! how the slab path honours alignments up to 4 KiB. Larger requests go to `large`.
#![forbid(unsafe_code)]

/// Number of size classes.
pub const CLASS_COUNT: usize = 60;
/// A class's offset in per-class arrays of 128-byte entries is `class << CLASS_SHIFT`:
/// the class lookup table holds these offsets, slot meta words carry them, and a
/// thread's magazines are such an array (`magazine` asserts their size).
pub const CLASS_SHIFT: u32 = 7;
/// Largest request served from slots.
pub const SMALL_MAX: usize = 32 << 10;
/// Largest alignment every block guarantees.
pub const MIN_ALIGN: usize = 16;
/// Largest alignment the slab path serves (larger goes to `large`).
pub const SLAB_ALIGN_MAX: usize = 4096;

const fn build_sizes() -> [u32; CLASS_COUNT] {
    let mut t = [0u32; CLASS_COUNT];
    let mut i = 0;
    while i < 8 {
        t[i] = 16 * (i as u32 + 1);
        i += 1;
    }
    let mut base = 128u32;
    while base < 4096 {
        let step = base / 8;
        let mut k = 1;
        while k <= 8 {
            t[i] = base + step * k;
            i += 1;
            k += 1;
        }
        base *= 2;
    }
    while base < SMALL_MAX as u32 {
        let step = base / 4;
        let mut k = 1;
        while k <= 4 {
            t[i] = base + step * k;
            i += 1;
            k += 1;
        }
        base *= 2;
    }
    assert!(i == CLASS_COUNT);
    t
}

/// Block size of every class, ascending.
pub static CLASS_SIZES: [u32; CLASS_COUNT] = build_sizes();

const LOOKUP_LEN: usize = SMALL_MAX / 16 + 1;

const fn build_lookup() -> [u16; LOOKUP_LEN] {
    let sizes = build_sizes();
    let mut t = [0u16; LOOKUP_LEN];
    let mut idx = 0;
    let mut c = 0;
    while idx < LOOKUP_LEN {
        let size = (idx * 16) as u32;
        while sizes[c] < size {
            c += 1;
        }
        t[idx] = (c as u16) << CLASS_SHIFT;
        idx += 1;
    }
    t
}

// `const`, not `static`: each crate that inlines `class_of` gets its own copy, read
// PC-relative (a `static` of this crate is reached through the GOT from the LD_PRELOAD
// shim, one more load per malloc).
// Entries are `class << CLASS_SHIFT`, so the allocation fast path reads its magazine's
// offset with no scaling.
const LOOKUP: [u16; LOOKUP_LEN] = build_lookup();

/// The class of a request of `size` bytes (`size <= SMALL_MAX`; 0 maps to class 0).
#[inline(always)]
pub fn class_of(size: usize) -> usize {
    class_offset(size) >> CLASS_SHIFT
}

/// `class_of(size) << CLASS_SHIFT` (`size <= SMALL_MAX`).
#[inline(always)]
pub fn class_offset(size: usize) -> usize {
    debug_assert!(size <= SMALL_MAX);
    LOOKUP[(size + 15) >> 4] as usize
}

/// The class serving `size` bytes at alignment `align` (a power of two), or `None` when
/// the request must go to the large path.
#[inline]
pub fn class_for(size: usize, align: usize) -> Option<usize> {
    if align <= MIN_ALIGN {
        return (size <= SMALL_MAX).then(|| class_of(size));
    }
    if align > SLAB_ALIGN_MAX {
        return None;
    }
    let rounded = size.max(1).checked_add(align - 1)? & !(align - 1);
    if rounded > SMALL_MAX {
        return None;
    }
    let mut c = class_of(rounded);
    while c < CLASS_COUNT {
        // `align` is a power of two: a mask, not a division.
        if CLASS_SIZES[c] as usize & (align - 1) == 0 {
            return Some(c);
        }
        c += 1;
    }
    None
}

/// Block size of class `c`.
#[inline(always)]
pub const fn block_size(c: usize) -> usize {
    CLASS_SIZES[c] as usize
}

/// Bytes of the window every slot's blocks are laid out in (a slot).
const WINDOW: usize = 64 << 10;

/// Per class, `(m, limit)` for the block-start test [`is_block_start`]: `m` is
/// `ceil(2^64 / block size)` and `limit` bounds the block index to the window.
const fn build_block_start() -> [(u64, u64); 256] {
    let sizes = build_sizes();
    // 256 entries, so that a class taken from a meta word's byte needs no bounds check;
    // the entries past the last class refuse every offset.
    let mut t = [(0u64, 0u64); 256];
    let mut c = 0;
    while c < CLASS_COUNT {
        let bs = sizes[c] as u64;
        let m = u64::MAX / bs + 1;
        let e = bs.wrapping_mul(m);
        let blocks = WINDOW as u64 / bs;
        t[c] = (m, if e == 0 { 1 } else { blocks * e });
        c += 1;
    }
    t
}

const BLOCK_START: [(u64, u64); 256] = build_block_start();

/// Whether `off` (an offset inside a 64 KiB slot window, `< 65536`) is the start of a
/// block of class `c`: a multiple of the block size whose block fits in the window.
/// One multiply and one compare, no division (Lemire, Kaser and Kurz: for `n < 2^32`,
/// `n` is a multiple of `d` iff `n * ceil(2^64 / d) mod 2^64 < ceil(2^64 / d)`; for a
/// multiple `q * d` the product is `q * e` with `e = d * m mod 2^64 < d`, which orders
/// the block indexes, so `limit = blocks * e` also keeps the index in the window).
#[inline(always)]
pub fn is_block_start(off: usize, c: usize) -> bool {
    let (m, limit) = BLOCK_START[c as u8 as usize];
    (off as u64).wrapping_mul(m) < limit
}

/// The constants `(m, limit)` of [`is_block_start`] for class `c` (the magazines keep a
/// copy beside their top pointer for the free fast path).
pub fn block_start_test(c: usize) -> (u64, u64) {
    BLOCK_START[c as u8 as usize]
}

/// Magazine capacity of class `c` given the `SLABSCOPE_MAGAZINE` limit: about 64 KiB of
/// blocks, at least 4 and at most `limit`.
pub const fn magazine_capacity(c: usize, limit: usize) -> usize {
    let fits = MAGAZINE_BYTES / block_size(c);
    let limit = if limit > 4 { limit } else { 4 };
    if fits < 4 {
        4
    } else if fits > limit {
        limit
    } else {
        fits
    }
}

/// Bytes of blocks one magazine aims to hold.
pub const MAGAZINE_BYTES: usize = 64 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_ascending_multiple_of_16_and_lookup_is_tightest_fit() {
        for w in CLASS_SIZES.windows(2) {
            assert!(w[0] < w[1]);
        }
        assert_eq!(CLASS_SIZES[CLASS_COUNT - 1] as usize, SMALL_MAX);
        for s in 0..=SMALL_MAX {
            let c = class_of(s);
            assert!(block_size(c) >= s, "size {s}");
            assert!(c == 0 || block_size(c - 1) < s, "size {s} not tightest");
            assert_eq!(block_size(c) % 16, 0);
        }
    }

    #[test]
    fn waste_bounds_hold() {
        for s in 129..=SMALL_MAX {
            let b = block_size(class_of(s));
            let waste = (b - s) as f64 / b as f64;
            let bound = if s <= 4096 { 0.125 } else { 0.2 };
            assert!(waste <= bound, "size {s} block {b} waste {waste}");
        }
    }

    #[test]
    fn block_start_test_is_exact_for_every_class_and_offset() {
        for c in 0..CLASS_COUNT {
            let bs = block_size(c);
            for off in 0..WINDOW {
                let expect = off % bs == 0 && off / bs < WINDOW / bs;
                assert_eq!(is_block_start(off, c), expect, "class {c} offset {off}");
            }
        }
    }

    #[test]
    fn aligned_classes_are_multiples_of_the_alignment() {
        let mut a = 32;
        while a <= SLAB_ALIGN_MAX {
            for s in [1, a - 1, a, a + 1, 3 * a, SMALL_MAX - a] {
                if let Some(c) = class_for(s, a) {
                    assert!(block_size(c) >= s && block_size(c).is_multiple_of(a));
                }
            }
            a *= 2;
        }
        assert_eq!(class_for(1, 8192), None);
        assert_eq!(class_for(SMALL_MAX + 1, 8), None);
    }
}
