//! Remote frees, batched per slot: a thread that frees a block of a slot it does not
//! own links the block into a short chain for that slot, and pushes the chain onto the
//! slot's remote list with one CAS when it reaches [`FLUSH_AT`] blocks, when a block of
//! a fifth slot needs its place, and at every interval, requested or exit drain.
//!
//! The freed block never enters the freeing thread's magazine (which would hand it out
//! again on this thread: cache lines written by two threads), and a producer that frees
//! runs of blocks of one slot pays one atomic per run instead of one per block. A
//! batched block counts as out of its slot (`used`) until the owner collects it, so the
//! slot and its SuperSlab stay alive meanwhile; the push is the freeing thread's last
//! access to the slot.

use crate::slot::{write_link, Slot};
use crate::superslab::slot_at;

/// Open chains (distinct slots) at once.
pub const CHAINS: usize = 4;
/// Blocks a chain holds before it is pushed.
pub const FLUSH_AT: u32 = 32;

/// One thread's open chains. Only that thread touches it.
#[derive(Debug, Default)]
#[repr(C)]
pub struct RemoteBatch {
    slot: [usize; CHAINS],
    head: [usize; CHAINS],
    tail: [usize; CHAINS],
    count: [u32; CHAINS],
    victim: u32,
}

impl RemoteBatch {
    /// Adds `block`, a block of slot `s` that the caller gives up and does not own the
    /// slot of.
    ///
    /// # Safety
    /// `block` must be a live block start of `s` that the caller gives up.
    #[inline]
    pub unsafe fn add(&mut self, s: &Slot, block: usize) {
        let key = s as *const Slot as usize;
        for j in 0..CHAINS {
            if self.slot[j] == key {
                // SAFETY: the caller gives `block` up; its first word is ours now.
                unsafe { write_link(block, self.head[j]) };
                self.head[j] = block;
                self.count[j] += 1;
                if self.count[j] >= FLUSH_AT {
                    self.flush(j);
                }
                return;
            }
        }
        let j = match self.slot.iter().position(|&k| k == 0) {
            Some(j) => j,
            None => {
                let j = self.victim as usize % CHAINS;
                self.victim = self.victim.wrapping_add(1);
                self.flush(j);
                j
            }
        };
        self.slot[j] = key;
        self.head[j] = block;
        self.tail[j] = block;
        self.count[j] = 1;
    }

    fn flush(&mut self, j: usize) {
        let key = core::mem::take(&mut self.slot[j]);
        if key == 0 {
            return;
        }
        let s = slot_at(key);
        // SAFETY: the chain holds `count` blocks of `s`, given up by this thread and
        // linked head -> tail.
        unsafe { s.push_remote(self.head[j], self.tail[j], self.count[j]) };
        self.count[j] = 0;
    }

    /// Pushes every open chain.
    pub fn flush_all(&mut self) {
        for j in 0..CHAINS {
            self.flush(j);
        }
    }
}
