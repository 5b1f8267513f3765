//! Remote frees, batched per slot: a thread that frees a block of a slot it does not
//! own adds it to an open batch for that slot, and pushes the batch onto the slot's
//! remote list with one CAS when it holds [`FLUSH_AT`] blocks or [`FLUSH_BYTES`] of
//! them, when a block of another slot maps to its entry of the table, when the thread
//! folds its counters, and at a requested or exit drain.
//!
//! A batch is a chain of *containers* (`Slot::push_remote`): the first block freed
//! becomes a container, the next ones are written into it as addresses until it is
//! full, then the next block starts a new container. The freeing thread writes into
//! one block per container and never into the others, and the owner, when it takes the
//! batch, reads only the containers: the other blocks' cache lines are not moved
//! between the two threads by the free (a linked list would move each of them twice).
//!
//! In check mode (`SLABSCOPE_CHECK`) a container's addresses start at its 80th byte
//! (bytes 16 to 80 of a freed block hold the freed pattern) and stop before its last
//! word (the checked trailer); a block under 96 bytes is a container of itself alone.
//!
//! The freed block never enters the freeing thread's magazine (which would hand it out
//! again on this thread: cache lines written by two threads). A batched block counts as
//! out of its slot (`used`) until the owner collects it, so the slot and its SuperSlab
//! stay alive meanwhile; the push is the freeing thread's last access to the slot.

use crate::slot::{count_word, write_link, Slot, CHECKED_FIRST_ADDRESS};
use crate::superslab::slot_at;

/// Open batches (distinct slots) at once: a direct-mapped table, so that finding a
/// block's batch is one index, not a search. Large enough for the slots a thread frees
/// into between two folds when it takes over another thread's blocks of every
/// class (larson's pattern: with 128 entries, 9 flushes in 10 were of a batch whose
/// entry another slot took, at 2 to 5 blocks a batch); an entry is touched only once a
/// batch uses it, and [`RemoteBatch::flush_all`] visits only the open ones.
pub const CHAINS: usize = 512;
/// Blocks a batch holds before it is pushed.
pub const FLUSH_AT: u16 = 32;
const _: () = assert!(FLUSH_AT <= u8::MAX as u16);
/// Bytes of blocks a batch holds before it is pushed (fewer than [`FLUSH_AT`] blocks of
/// a class above 512 bytes, at least one block): what a thread keeps from other threads
/// between two folds stays below `CHAINS x FLUSH_BYTES` (8 MiB) whatever the classes.
/// Without it, batches of large classes held up to 32 blocks each, a whole slot's
/// worth, and a program handing blocks of up to 16 KB between threads (mimalloc-bench's
/// rptest) peaked at 39-47 MiB instead of 19-36.
pub const FLUSH_BYTES: usize = 16 << 10;

const OPEN_WORDS: usize = CHAINS / 64;
// The hash needs a power of two, the bitmap whole words.
const _: () = assert!(CHAINS.is_power_of_two() && CHAINS >= 64);

/// One open batch: the blocks a thread freed into one slot it does not own, not pushed
/// yet. All-zero: unused.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Batch {
    /// Slot record address (0: unused entry).
    slot: usize,
    /// The newest container (the one being filled).
    head: usize,
    /// The oldest container.
    tail: usize,
    /// Blocks in the batch, containers included.
    count: u16,
    /// Blocks at which the batch is pushed (see [`FLUSH_BYTES`]; at most [`FLUSH_AT`]).
    limit: u8,
    /// The word of a container where its addresses start ([`container_layout`]).
    first: u8,
    /// Addresses in the newest container.
    fill: u16,
    /// Addresses a container of this batch's class holds ([`container_layout`]: fewer in
    /// check mode, none in blocks under 96 bytes).
    room: u16,
}

// Two entries a cache line: adding a block touches one line of the table.
const _: () = assert!(core::mem::size_of::<Batch>() == 32);

/// One thread's open batches. Only that thread touches it (all-zero: no batch open).
/// Invariant: bit `j` of `open` is set exactly when `batches[j].slot != 0`. Aligned to a
/// cache line, so that no entry straddles two.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct RemoteBatch {
    /// Bit `j` set: entry `j` holds an open batch.
    open: [u64; OPEN_WORDS],
    batches: [Batch; CHAINS],
}

/// The table entry of the slot record at `key`. Records are 64 bytes apart in a
/// SuperSlab header and SuperSlabs lie next to each other, so the record index is a
/// dense counter in its low bits: a multiplicative (Fibonacci) hash spreads it over the
/// table, where folding in higher bits by `xor` sent neighbouring slots of neighbouring
/// SuperSlabs to one entry.
#[inline(always)]
fn entry(key: usize) -> usize {
    ((key as u64 >> 6).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - CHAINS.trailing_zeros()))
        as usize
}

/// Where a container of `bs`-byte blocks holds block addresses: the first word and how
/// many (after the link and the count word; in check mode after the freed pattern too,
/// and before the trailer). Read once per batch: each container's count word carries
/// the first word to the holder that takes its blocks (`slot::count_word`).
fn container_layout(bs: usize) -> (usize, usize) {
    if crate::check::on() {
        let room = (bs / 8).saturating_sub(CHECKED_FIRST_ADDRESS + 1);
        (CHECKED_FIRST_ADDRESS, room)
    } else {
        (2, bs / 8 - 2)
    }
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
        let j = entry(key);
        if self.batches[j].slot != key {
            self.flush(j);
            self.open[j / 64] |= 1 << (j % 64);
            let (first, room) = container_layout(bs);
            self.batches[j] = Batch {
                slot: key,
                head: 0,
                tail: block,
                count: 0,
                limit: (FLUSH_BYTES / bs).clamp(1, FLUSH_AT as usize) as u8,
                first: first as u8,
                fill: 0,
                room: room.min(u16::MAX as usize) as u16,
            };
        }
        let b = &mut self.batches[j];
        if b.head != 0 && b.fill < b.room {
            // SAFETY: `b.head` is a container of this batch (a block given up by this
            // thread) with room for another address.
            unsafe {
                (b.head as *mut usize)
                    .add(usize::from(b.first) + usize::from(b.fill))
                    .write(block)
            };
            b.fill += 1;
        } else {
            seal(b);
            // SAFETY: the caller gives `block` up: it becomes the newest container,
            // linked to the previous one.
            unsafe { write_link(block, b.head) };
            b.head = block;
            b.fill = 0;
        }
        b.count += 1;
        if b.count >= u16::from(b.limit) {
            self.flush(j);
        }
    }

    fn flush(&mut self, j: usize) {
        self.open[j / 64] &= !(1 << (j % 64));
        let b = &mut self.batches[j];
        if b.slot == 0 {
            return;
        }
        seal(b);
        let s = slot_at(core::mem::take(&mut b.slot));
        // SAFETY: the batch holds `count` blocks of `s`, given up by this thread, in
        // containers linked head -> tail with their counts written.
        unsafe { s.push_remote(b.head, b.tail, u32::from(b.count)) };
        b.count = 0;
    }

    /// Pushes every open batch.
    pub fn flush_all(&mut self) {
        for w in 0..OPEN_WORDS {
            while self.open[w] != 0 {
                self.flush(w * 64 + self.open[w].trailing_zeros() as usize);
            }
        }
    }
}

/// Writes the newest container's count of addresses.
fn seal(b: &Batch) {
    if b.head != 0 {
        // SAFETY: `b.head` is a container of this batch, at least 16 bytes.
        unsafe {
            (b.head as *mut usize)
                .add(1)
                .write(count_word(b.fill.into(), b.first.into()))
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::superslab::{SLOTS, SUPERSLAB_BYTES};

    #[test]
    fn neighbouring_slots_of_neighbouring_superslabs_get_their_own_entries() {
        // The slot records of 8 SuperSlabs side by side (a thread's first 16 MiB), as
        // `add` sees them (slot 0 is the header slot, never a batch's): 248 open
        // batches should need few shared entries.
        let base = 0x7f3a_0000_0000usize;
        let keys = (0..8).flat_map(|ss| {
            (1..SLOTS).map(move |i| base + ss * SUPERSLAB_BYTES + i * size_of::<Slot>())
        });
        let mut used = [false; CHAINS];
        let mut distinct = 0;
        for k in keys {
            let j = entry(k);
            distinct += usize::from(!used[j]);
            used[j] = true;
        }
        // Folding the SuperSlab bits in by `xor` gave 32 entries for these 248 slots;
        // the hash gives 241 here, and at least 236 from any SuperSlab-aligned base.
        assert!(distinct >= 230, "{distinct} entries for 248 slots");
    }
}
