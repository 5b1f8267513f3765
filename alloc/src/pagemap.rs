//! The pagemap: one byte per 2 MiB of the 47-bit user address space, non-zero while a
//! SuperSlab is mapped there. It answers "is this address in one of our SuperSlabs?"
//! for `free`, `realloc` and `usable_size` without touching the address itself, so a
//! foreign pointer is recognised and never read.
//!
//! The map is a static array (64 MiB of `.bss`, address space only: the kernel maps a
//! page of it when a byte in it is first set, so a process with SuperSlabs in one 8 GiB
//! region touches one page, and a read of an untouched page reads the shared zero
//! page). A byte rather than a bit per region makes the free fast path's test a shift,
//! a bound compare and one byte compare (the bitmap it replaced took a word load, a
//! shift and a bit test more). A static needs no pointer load and no null test.
//! Bytes are set and cleared under the global lock (`superslab`); readers load them
//! with `Acquire`, pairing with the `Release` that publishes a SuperSlab's header.

#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU8, Ordering};

/// Entries in the map: 2^47 bytes / 2 MiB.
const ENTRIES: usize = 1 << (47 - 21);

static MAP: [AtomicU8; ENTRIES] = [const { AtomicU8::new(0) }; ENTRIES];

/// Whether the 2 MiB region containing `addr` holds one of our SuperSlabs.
#[inline(always)]
pub fn contains(addr: usize) -> bool {
    let i = addr >> 21;
    if i >= ENTRIES {
        return false;
    }
    // `i < ENTRIES` proves the index in range: no bounds-check branch is emitted.
    MAP[i].load(Ordering::Acquire) != 0
}

/// Sets (`on`) or clears the entry of the 2 MiB region at `base`. `false` when `base`
/// lies beyond the map (not a 47-bit user address). The caller holds the global lock.
pub fn set(base: usize, on: bool) -> bool {
    let Some(entry) = MAP.get(base >> 21) else {
        return false;
    };
    entry.store(u8::from(on), Ordering::Release);
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
