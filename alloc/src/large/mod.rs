//! Large allocations: requests above the largest class, or with an alignment the slab
//! path cannot serve, are served by whole mappings of their own.
//!
//! A registry (an open-addressing hash table with linear probing, in its own mapping,
//! doubled when half full) maps each live user address to its mapping length. It answers
//! "is this one of ours?" for `free` and `usable_size`, so a foreign pointer is never
//! dereferenced. One lock guards the table and the cache.
//!
//! Freed mappings go to a bounded cache ([`cache`]) instead of `munmap`,
//! and allocations of the same rounded size take them back without a system call: a
//! program that churns 64 KiB - 1 MiB buffers no longer pays an `mmap`/`munmap` pair per
//! buffer. Cached bytes stay in `mapped_bytes` (and count against `SLABSCOPE_LIMIT`; a
//! refused reservation empties the cache and tries again) but not in `large_bytes`,
//! which counts live large allocations only; [`crate::stats::LARGE_CACHED_BYTES`] says how many.
//! `LargeMap` / `LargeUnmap` events mean real `mmap` / `munmap` calls.
//!
//! A fresh mapping is zeroed by the kernel and is not written by `alloc_zeroed`; a cached
//! entry handed to `alloc_zeroed` is cleared first (written when small, decommitted
//! when large) unless it was decommitted in the cache already.
//!
//! Files: `table` (the registry), `cache` (the cache's bookkeeping), `map` (allocation,
//! free, resize, and the system calls).

mod cache;
mod map;
mod table;

pub use map::{
    alloc, free, holds_inside, is_cached, lock, release_all, remap, reserve_or_release,
    usable_size, with_live,
};
