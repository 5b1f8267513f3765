//! A raw block of memory from the global allocator: what `malloc(size)` is to C.
//!
//! Workloads go through [`Block`] so that every request reaches the allocator under
//! test with a known size and alignment 8 (the alignment `malloc` gives small blocks;
//! Rust's `System` allocator forwards such requests to `malloc` itself). A block is
//! freed when dropped, by whichever thread drops it: handing a block to another thread
//! makes its free a remote free.

use std::alloc::{alloc, dealloc, handle_alloc_error, realloc, Layout};
use std::ptr::NonNull;

/// Alignment of every block.
pub const ALIGN: usize = 8;

/// One live allocation of `size` bytes (`size >= 1`), freed on drop.
#[derive(Debug)]
pub struct Block {
    ptr: NonNull<u8>,
    size: usize,
}

// SAFETY: a Block is the sole owner of its allocation (no aliasing pointer exists), and
// global allocators accept frees from any thread.
unsafe impl Send for Block {}

fn layout(size: usize) -> Layout {
    match Layout::from_size_align(size.max(1), ALIGN) {
        Ok(l) => l,
        Err(_) => panic!("block size {size} overflows a Layout"),
    }
}

impl Block {
    /// Allocates `size` bytes and writes the first byte (a program touches what it
    /// allocates). Aborts through `handle_alloc_error` when the allocator fails.
    #[inline]
    pub fn new(size: usize) -> Self {
        let l = layout(size);
        // SAFETY: `l` has a non-zero size (clamped to at least 1 byte).
        let raw = unsafe { alloc(l) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(l)
        };
        // SAFETY: the allocation holds at least one byte, and we own it.
        unsafe { ptr.as_ptr().write(size as u8) };
        Self {
            ptr,
            size: l.size(),
        }
    }

    /// Size in bytes, as requested.
    #[inline]
    pub fn size(&self) -> usize {
        self.size
    }

    /// Address of the first byte (for checks only: never dereferenced).
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Grows (or shrinks) the block to `new_size` bytes with `realloc`, keeping its
    /// contents, then writes its last byte. Aborts when the allocator fails.
    pub fn resize(&mut self, new_size: usize) {
        let new_size = new_size.max(1);
        let old = layout(self.size);
        let new = layout(new_size);
        // SAFETY: `ptr` was allocated by the global allocator with layout `old`, and
        // `new_size` is non-zero and forms a valid layout with the same alignment.
        let raw = unsafe { realloc(self.ptr.as_ptr(), old, new_size) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(new)
        };
        self.ptr = ptr;
        self.size = new_size;
        // SAFETY: the block now holds `new_size` bytes, so `new_size - 1` is in bounds.
        unsafe { ptr.as_ptr().add(new_size - 1).write(1) };
    }

    /// Writes every byte of the block once (`memset`): makes all its pages resident.
    pub fn fill(&mut self, byte: u8) {
        // SAFETY: the block owns `size` writable bytes starting at `ptr`.
        unsafe { self.ptr.as_ptr().write_bytes(byte, self.size) };
    }

    /// Writes every byte of the block `rounds` times, each write followed by a read of
    /// the byte written, with volatile accesses that the compiler cannot merge
    /// (cache-scratch: the cost is in the cache lines written). Byte `k` gets the value
    /// `k as u8`, as in Hoard's cache-scratch, so the loop never reads what a previous
    /// owner of the memory left there.
    ///
    /// An earlier version incremented each byte: every iteration's first reads then
    /// waited for the previous iteration's last writes whenever the allocator handed the
    /// same block back without writing to it (a magazine holds the block's address),
    /// while an allocator that links freed blocks through their first word broke that
    /// chain with its own store, so the figures measured store forwarding through stale
    /// bytes rather than the allocator.
    ///
    /// Never inlined: inlined into the worker, the loop was compiled around the
    /// allocator's calls differently in each benchmark binary (about 1,150 instructions
    /// an iteration with slabscope and mimalloc, 1,310 with jemalloc and the system's,
    /// under callgrind), so the benchmark's own code, not the allocator, set part of the
    /// ratios. Out of line it is the same machine code in every binary.
    #[inline(never)]
    pub fn scribble(&mut self, rounds: usize) {
        let p = self.ptr.as_ptr();
        for _ in 0..rounds {
            for i in 0..self.size {
                // SAFETY: `i < size`, so `p + i` is inside the block we own.
                unsafe {
                    let b = p.add(i);
                    b.write_volatile(i as u8);
                    b.read_volatile();
                }
            }
        }
    }

    /// Reads the first byte (keeps a block's contents observable).
    pub fn first(&self) -> u8 {
        // SAFETY: the block holds at least one byte, written by `new` or `fill`.
        unsafe { self.ptr.as_ptr().read() }
    }
}

impl Drop for Block {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `ptr` was allocated by the global allocator with `layout(size)` and is
        // freed exactly once, here.
        unsafe { dealloc(self.ptr.as_ptr(), layout(self.size)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_contents_across_resize_and_threads() {
        let mut b = Block::new(100);
        assert_eq!(b.first(), 100);
        b.fill(7);
        b.resize(100_000);
        assert_eq!(b.first(), 7);
        assert_eq!(b.size(), 100_000);
        assert_eq!(b.addr() % ALIGN, 0);
        b.scribble(3);
        assert_eq!(b.first(), 0);
        let b = std::thread::spawn(move || b).join().unwrap();
        drop(b);
        let zero = Block::new(0);
        assert_eq!(zero.size(), 1);
    }
}
