//! Slots: 64 KiB pieces of a SuperSlab, each carved into blocks of one class.
//!
//! State machine (the state lives in [`Slot::class_state`]):
//!
//! ```text
//!   UNUSED --acquire (stage 2/3)--> ACTIVE(c) --last block back--> EMPTY(c)
//!      ^                              ^                              |
//!      |                              +------acquire (stage 1)-------+
//!      +----------------release (decommit, other class or SuperSlab empty)--+
//! ```
//!
//! Invariants of an ACTIVE slot (the class lock of its class protects the local list,
//! `carved` and `listed`; the remote list is lock-free):
//! - `in_use` = blocks handed out of the slot (in magazines or user hands); it only
//!   grows under the class lock and only shrinks after the blocks are on the remote list,
//!   so `in_use == 0` seen under the class lock means every block is back.
//! - `capacity == in_use + local blocks + remote blocks + (capacity - carved)` once every
//!   giver has finished its push.
//! - The slot is on its class's partial list iff `listed`; a slot with free blocks is
//!   never left unlisted (the giver re-lists it, see `classes::give_back`).
//!
//! Free blocks are linked through their first word.

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// Slot state: never carved.
pub const UNUSED: u32 = 0;
/// Slot state: carved for a class, some blocks out.
pub const ACTIVE: u32 = 1;
/// Slot state: carved for a class, every block back.
pub const EMPTY: u32 = 2;
/// `class_state` bit of an ACTIVE slot that serves only sampled blocks
/// (`SLABSCOPE_SAMPLE`, see `sampled_slots`). It makes the free fast path's
/// `class_state >> 8 == ACTIVE` test fail, so frees of its blocks take the slow path,
/// which ends their samples.
pub const SAMPLED: u32 = 1 << 16;

/// Metadata of one slot, kept in its SuperSlab's header page (one cache line).
#[repr(C, align(64))]
#[derive(Debug)]
pub struct Slot {
    /// `class | state << 8`, plus [`SAMPLED`] for a sampled slot; written under the
    /// global lock (state changes) and the class lock (the `SAMPLED` bit, set before the
    /// slot's first block is handed out), read by the free fast path to find a block's
    /// class.
    pub class_state: AtomicU32,
    /// 1 while the slot is on its class's partial list, or for a sampled slot on its
    /// class's sampled list (class lock).
    pub listed: AtomicU32,
    /// Blocks the slot holds for its class.
    pub capacity: AtomicU32,
    /// Blocks carved so far by the bump pointer (class lock).
    pub carved: AtomicU32,
    /// Thread index of the thread that last refilled from the slot.
    pub owner: AtomicU32,
    /// Blocks handed out of the slot.
    pub in_use: AtomicU32,
    /// Head of the local free list (class lock).
    pub local_head: AtomicUsize,
    /// Head of the remote list: a Treiber stack pushed by any thread without a lock and
    /// emptied (whole, by `swap`) by the class-lock holder.
    pub remote_head: AtomicUsize,
    /// Next slot on the partial list or the class's EMPTY list.
    pub next: AtomicUsize,
    /// Previous slot on the same list.
    pub prev: AtomicUsize,
}

impl Slot {
    /// State (`UNUSED`, `ACTIVE`, `EMPTY`).
    #[inline(always)]
    pub fn state(&self) -> u32 {
        (self.class_state.load(Ordering::Acquire) >> 8) & 0xff
    }

    /// Class (meaningful for ACTIVE and EMPTY).
    #[inline(always)]
    pub fn class(&self) -> usize {
        (self.class_state.load(Ordering::Acquire) & 0xff) as usize
    }

    /// Sets state and class.
    pub fn set_state(&self, state: u32, class: usize) {
        self.class_state
            .store(class as u32 | state << 8, Ordering::Release);
    }

    /// Resets the block lists for a fresh carve of `capacity` blocks.
    pub fn reset(&self, capacity: u32) {
        self.capacity.store(capacity, Ordering::Relaxed);
        self.carved.store(0, Ordering::Relaxed);
        self.local_head.store(0, Ordering::Relaxed);
        self.remote_head.store(0, Ordering::Relaxed);
        self.in_use.store(0, Ordering::Relaxed);
        self.listed.store(0, Ordering::Relaxed);
    }

    /// Whether the slot has no free block left on its local list and none to carve
    /// (its remote list may still have some). Caller holds the class lock.
    pub fn exhausted(&self) -> bool {
        self.local_head.load(Ordering::Relaxed) == 0
            && self.carved.load(Ordering::Relaxed) == self.capacity.load(Ordering::Relaxed)
    }

    /// Takes up to `out.len()` free blocks: local list first, then the remote list
    /// (collected whole), then fresh blocks carved from `start` (block size `bs`).
    /// Returns how many were written to `out`. Caller holds the class lock.
    pub fn take(&self, start: usize, bs: usize, out: &mut [*mut u8]) -> usize {
        let mut n = 0;
        let mut head = self.local_head.load(Ordering::Relaxed);
        if head == 0 {
            head = self.remote_head.swap(0, Ordering::Acquire);
        }
        while n < out.len() && head != 0 {
            out[n] = head as *mut u8;
            // SAFETY: `head` is a free block of this slot; its first word links the list.
            head = unsafe { read_link(head) };
            n += 1;
        }
        self.local_head.store(head, Ordering::Relaxed);
        let capacity = self.capacity.load(Ordering::Relaxed) as usize;
        let mut carved = self.carved.load(Ordering::Relaxed) as usize;
        while n < out.len() && carved < capacity {
            out[n] = (start + carved * bs) as *mut u8;
            carved += 1;
            n += 1;
        }
        self.carved.store(carved as u32, Ordering::Relaxed);
        self.in_use.fetch_add(n as u32, Ordering::Relaxed);
        n
    }

    /// Pushes the chain `first ..= last` (already linked) onto the remote list.
    ///
    /// # Safety
    /// The blocks must be free blocks of this slot, owned by the caller, linked from
    /// `first` to `last` through their first words.
    pub unsafe fn push_remote(&self, first: usize, last: usize) {
        let mut head = self.remote_head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `last` is a free block the caller owns until the CAS publishes it.
            unsafe { write_link(last, head) };
            match self.remote_head.compare_exchange_weak(
                head,
                first,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }
}

/// Reads the link word of a free block.
///
/// # Safety
/// `block` must be a free block of a live SuperSlab.
#[inline(always)]
pub unsafe fn read_link(block: usize) -> usize {
    // SAFETY: the caller guarantees `block` is mapped, aligned and free.
    unsafe { (block as *const usize).read() }
}

/// Writes the link word of a free block.
///
/// # Safety
/// `block` must be a free block of a live SuperSlab that the caller owns.
#[inline(always)]
pub unsafe fn write_link(block: usize, next: usize) {
    // SAFETY: the caller guarantees `block` is mapped, aligned and owned by it.
    unsafe { (block as *mut usize).write(next) }
}
