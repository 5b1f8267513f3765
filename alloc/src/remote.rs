//! Remote frees, batched per slot: a thread that frees a block of a slot it does not
//! own adds it to an open batch for that slot, and pushes the batch onto the slot's
//! remote list with one CAS when it holds [`FLUSH_AT`] blocks, when a block of another
//! slot maps to its entry of the table, and at every interval, requested or exit drain.
//!
//! A batch is a chain of *containers* (`Slot::push_remote`): the first block freed
//! becomes a container, the next ones are written into it as addresses until it is
//! full, then the next block starts a new container. The freeing thread writes into
//! one block per container and never into the others, and the owner, when it takes the
//! batch, reads only the containers: the other blocks' cache lines are not moved
//! between the two threads by the free (a linked list would move each of them twice).
//!
//! The freed block never enters the freeing thread's magazine (which would hand it out
//! again on this thread: cache lines written by two threads). A batched block counts as
//! out of its slot (`used`) until the owner collects it, so the slot and its SuperSlab
//! stay alive meanwhile; the push is the freeing thread's last access to the slot.

use crate::slot::{write_link, Slot};
use crate::superslab::slot_at;

/// Open batches (distinct slots) at once: a direct-mapped table, so that finding a
/// block's batch is one index, not a search.
pub const CHAINS: usize = 128;
/// Blocks a batch holds before it is pushed.
pub const FLUSH_AT: u32 = 32;

/// One thread's open batches. Only that thread touches it (all-zero: no batch open).
#[derive(Debug)]
#[repr(C)]
pub struct RemoteBatch {
    /// Slot record address of each batch (0: unused entry).
    slot: [usize; CHAINS],
    /// The newest container (the one being filled).
    head: [usize; CHAINS],
    /// The oldest container.
    tail: [usize; CHAINS],
    /// Blocks in the batch, containers included.
    count: [u32; CHAINS],
    /// Addresses in the newest container.
    fill: [u16; CHAINS],
    /// Addresses a container of this batch's class holds.
    room: [u16; CHAINS],
}

impl RemoteBatch {
    /// Adds `block`, a block of `bs` bytes of slot `s`, which the caller gives up and
    /// does not own the slot of.
    ///
    /// # Safety
    /// `block` must be a live block start of `s` (block size `bs`) that the caller
    /// gives up.
    #[inline]
    pub unsafe fn add(&mut self, s: &Slot, block: usize, bs: usize) {
        let key = s as *const Slot as usize;
        // Direct-mapped by slot: records are 64 bytes apart inside a SuperSlab header,
        // and the SuperSlab's own bits spread slots of different SuperSlabs.
        let j = (key >> 6 ^ key >> 21) % CHAINS;
        if self.slot[j] != key {
            self.flush(j);
            self.slot[j] = key;
            self.head[j] = 0;
            self.tail[j] = block;
            self.count[j] = 0;
            self.fill[j] = 0;
            self.room[j] = (bs / 8 - 2).min(u16::MAX as usize) as u16;
        }
        let head = self.head[j];
        if head != 0 && self.fill[j] < self.room[j] {
            // SAFETY: `head` is a container of this batch (a block given up by this
            // thread) with room for another address.
            unsafe {
                (head as *mut usize)
                    .add(2 + self.fill[j] as usize)
                    .write(block)
            };
            self.fill[j] += 1;
        } else {
            self.seal(j);
            // SAFETY: the caller gives `block` up: it becomes the newest container,
            // linked to the previous one.
            unsafe { write_link(block, head) };
            self.head[j] = block;
            self.fill[j] = 0;
        }
        self.count[j] += 1;
        if self.count[j] >= FLUSH_AT {
            self.flush(j);
        }
    }

    /// Writes the newest container's count of addresses.
    fn seal(&mut self, j: usize) {
        let head = self.head[j];
        if head != 0 {
            // SAFETY: `head` is a container of this batch, at least 16 bytes.
            unsafe { (head as *mut usize).add(1).write(self.fill[j] as usize) };
        }
    }

    fn flush(&mut self, j: usize) {
        let key = core::mem::take(&mut self.slot[j]);
        if key == 0 {
            return;
        }
        self.seal(j);
        let s = slot_at(key);
        // SAFETY: the batch holds `count` blocks of `s`, given up by this thread, in
        // containers linked head -> tail with their counts written.
        unsafe { s.push_remote(self.head[j], self.tail[j], self.count[j]) };
        self.count[j] = 0;
    }

    /// Pushes every open batch.
    pub fn flush_all(&mut self) {
        for j in 0..CHAINS {
            self.flush(j);
        }
    }
}
