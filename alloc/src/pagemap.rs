//! The pagemap: one bit per 2 MiB of the 47-bit user address space, set while a
//! SuperSlab is mapped there. It answers "is this address in one of our SuperSlabs?"
//! for `free`, `realloc` and `usable_size` without touching the address itself, so a
//! foreign pointer is recognised and never read.
//!
//! The bitmap is a static array (8 MiB of `.bss`: the kernel maps its pages when a bit
//! in them is first set, so a process with SuperSlabs in one 64 GiB region touches one
//! page). A static needs no pointer load and no null test on the free fast path.
//! Bits are set and cleared under the global lock (`superslab`); readers load them with
//! `Acquire`, pairing with the `Release` that publishes a SuperSlab's header.

#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};

/// Bits in the map: 2^47 bytes / 2 MiB.
const ENTRIES: usize = 1 << (47 - 21);

static MAP: [AtomicU64; ENTRIES / 64] = [const { AtomicU64::new(0) }; ENTRIES / 64];

/// Whether the 2 MiB region containing `addr` holds one of our SuperSlabs.
#[inline(always)]
pub fn contains(addr: usize) -> bool {
    let i = addr >> 21;
    if i >= ENTRIES {
        return false;
    }
    // `i < ENTRIES` proves the index in range: no bounds-check branch is emitted.
    let word = MAP[i / 64].load(Ordering::Acquire);
    word >> (i % 64) & 1 != 0
}

/// Sets (`on`) or clears the bit of the 2 MiB region at `base`. `false` when `base`
/// lies beyond the map (not a 47-bit user address). The caller holds the global lock.
pub fn set(base: usize, on: bool) -> bool {
    let i = base >> 21;
    let Some(word) = MAP.get(i / 64) else {
        return false;
    };
    if i >= ENTRIES {
        return false;
    }
    let bit = 1u64 << (i % 64);
    if on {
        word.fetch_or(bit, Ordering::Release);
    } else {
        word.fetch_and(!bit, Ordering::Release);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_clear_one_region() {
        let base = 0x3f00_0000_0000usize;
        assert!(!contains(base));
        assert!(set(base, true));
        assert!(contains(base) && contains(base + (2 << 20) - 1));
        assert!(!contains(base + (2 << 20)) && !contains(base - 1));
        assert!(set(base, false));
        assert!(!contains(base));
        assert!(!set(1 << 47, true));
        assert!(!contains(usize::MAX));
    }
}
