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

use crate::size_class::{block_size, CLASS_COUNT};
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
///
/// The common add writes one address at `cursor` and moves it on, while `cursor !=
/// stop`: `stop` ends the newest container's room, or comes earlier, one address before
/// the batch would hold `limit` blocks, so that the add that fills the batch takes the
/// slow path and pushes it. `cursor == stop == 0` while the batch has no container.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Batch {
    /// Slot record address (0: unused entry).
    slot: usize,
    /// Where the next address goes in the newest container.
    cursor: usize,
    /// Where the common add stops (see above).
    stop: usize,
    /// The newest container (the one being filled).
    head: usize,
    /// The oldest container.
    tail: usize,
    /// Blocks in the batch other than the addresses in the newest container: the
    /// containers, and the addresses of the older ones.
    sealed: u16,
    /// Blocks at which the batch is pushed (see [`FLUSH_BYTES`]; at most [`FLUSH_AT`]).
    limit: u8,
    /// The word of a container where its addresses start ([`container_layout`]).
    first: u8,
    /// Addresses a container of this batch's class holds ([`container_layout`]: fewer in
    /// check mode, none in blocks under 96 bytes).
    room: u16,
    /// The slot's class.
    class: u8,
}

// One entry a cache line: the common add touches one line of the table.
const _: () = assert!(core::mem::size_of::<Batch>() == 64);

impl Batch {
    /// Addresses in the newest container.
    fn fill(&self) -> usize {
        if self.head == 0 {
            0
        } else {
            (self.cursor - self.head) / 8 - usize::from(self.first)
        }
    }

    /// Writes the newest container's count of addresses; returns the blocks in the
    /// batch.
    fn seal(&self) -> u32 {
        let fill = self.fill();
        if self.head != 0 {
            // SAFETY: `head` is a container of this batch, at least 16 bytes.
            unsafe {
                (self.head as *mut usize)
                    .add(1)
                    .write(count_word(fill, self.first.into()))
            };
        }
        u32::from(self.sealed) + fill as u32
    }
}

/// One thread's open batches. Only that thread touches it (all-zero: no batch open).
/// Invariant: bit `j` of `open` is set exactly when `batches[j].slot != 0`. Aligned to a
/// cache line, so that each entry is one.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct RemoteBatch {
    /// Bit `j` set: entry `j` holds an open batch.
    open: [u64; OPEN_WORDS],
    /// Blocks pushed per class since the last [`take_pushed`](Self::take_pushed): the
    /// thread's remote frees, counted a batch at a time.
    pushed: [u32; CLASS_COUNT],
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
    /// No batch open (a thread's state starts all-zero, which is the same).
    #[cfg(test)]
    pub const fn new() -> Self {
        const UNUSED: Batch = Batch {
            slot: 0,
            cursor: 0,
            stop: 0,
            head: 0,
            tail: 0,
            sealed: 0,
            limit: 0,
            first: 0,
            room: 0,
            class: 0,
        };
        Self {
            open: [0; OPEN_WORDS],
            pushed: [0; CLASS_COUNT],
            batches: [UNUSED; CHAINS],
        }
    }

    /// Adds `block`, a block of slot `s`, which the caller gives up and does not own the
    /// slot of, as an address in the open batch of `s` when its newest container has
    /// room for it before the batch fills. Returns `false`, having changed nothing,
    /// otherwise: then [`add`](Self::add) takes the block.
    ///
    /// # Safety
    /// `block` must be a live block start of `s` that the caller gives up when this
    /// returns `true`.
    #[inline(always)]
    pub unsafe fn try_add(&mut self, s: &Slot, block: usize) -> bool {
        let key = s as *const Slot as usize;
        let b = &mut self.batches[entry(key)];
        if b.slot != key || b.cursor == b.stop {
            return false;
        }
        // SAFETY: `cursor` is a word of the batch's newest container (a block given up
        // by this thread) before its room ends.
        unsafe { (b.cursor as *mut usize).write(block) };
        b.cursor += 8;
        true
    }

    /// Adds `block`, a block of class `c` of slot `s`, which the caller gives up and
    /// does not own the slot of.
    ///
    /// # Safety
    /// `block` must be a live block start of `s` (class `c`) that the caller gives up.
    #[inline]
    pub unsafe fn add(&mut self, s: &Slot, block: usize, c: usize) {
        // SAFETY: as the caller's.
        if !unsafe { self.try_add(s, block) } {
            let key = s as *const Slot as usize;
            // SAFETY: as the caller's.
            unsafe { self.add_slow(entry(key), key, block, c) }
        }
    }

    /// [`add`](Self::add) when [`try_add`](Self::try_add) did not take the block: the
    /// first block of a batch, a block that starts a new container (the newest one is
    /// full, or holds no address at all: blocks under 24 bytes, and under 96 bytes in
    /// check mode), and the block that fills the batch.
    ///
    /// # Safety
    /// As [`add`](Self::add)'s; `j` is the entry of `key`, the slot's record.
    #[cold]
    #[inline(never)]
    unsafe fn add_slow(&mut self, j: usize, key: usize, block: usize, c: usize) {
        if self.batches[j].slot != key {
            self.flush(j);
            self.open[j / 64] |= 1 << (j % 64);
            let bs = block_size(c);
            let (first, room) = container_layout(bs);
            self.batches[j] = Batch {
                slot: key,
                cursor: 0,
                stop: 0,
                head: 0,
                tail: block,
                sealed: 0,
                limit: (FLUSH_BYTES / bs).clamp(1, FLUSH_AT as usize) as u8,
                first: first as u8,
                room: room.min(u16::MAX as usize) as u16,
                class: c as u8,
            };
        }
        let b = &mut self.batches[j];
        let mut fill = b.fill();
        if b.head != 0 && fill < usize::from(b.room) {
            // SAFETY: `cursor` is a word of the newest container before its room ends.
            unsafe { (b.cursor as *mut usize).write(block) };
            b.cursor += 8;
            fill += 1;
        } else {
            b.sealed = b.seal() as u16 + 1;
            // SAFETY: the caller gives `block` up: it becomes the newest container,
            // linked to the previous one.
            unsafe { write_link(block, b.head) };
            b.head = block;
            b.cursor = block + 8 * usize::from(b.first);
            fill = 0;
        }
        let count = usize::from(b.sealed) + fill;
        if count >= usize::from(b.limit) {
            return self.flush(j);
        }
        let room_left = usize::from(b.room) - fill;
        let before_limit = usize::from(b.limit) - count - 1;
        b.stop = b.cursor + 8 * room_left.min(before_limit);
    }

    fn flush(&mut self, j: usize) {
        self.open[j / 64] &= !(1 << (j % 64));
        let b = &mut self.batches[j];
        if b.slot == 0 {
            return;
        }
        let count = b.seal();
        let (class, head, tail) = (usize::from(b.class), b.head, b.tail);
        let s = slot_at(core::mem::take(&mut b.slot));
        b.cursor = 0;
        b.stop = 0;
        self.pushed[class] += count;
        // SAFETY: the batch held `count` blocks of `s`, given up by this thread, in
        // containers linked head -> tail with their counts written.
        unsafe { s.push_remote(head, tail, count) };
    }

    /// Pushes every open batch.
    pub fn flush_all(&mut self) {
        for w in 0..OPEN_WORDS {
            while self.open[w] != 0 {
                self.flush(w * 64 + self.open[w].trailing_zeros() as usize);
            }
        }
    }

    /// Calls `count(c, blocks)` for each class `c` of which `blocks` were pushed since
    /// the last call: the remote frees to count.
    pub fn take_pushed(&mut self, mut count: impl FnMut(usize, u32)) {
        for (c, n) in self.pushed.iter_mut().enumerate() {
            if *n != 0 {
                count(c, core::mem::take(n));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::superslab::{SLOTS, SUPERSLAB_BYTES};

    /// A slot record of `capacity` blocks of class `c`, carved from a buffer of its
    /// own, every block handed out (to the caller).
    fn slot_with_blocks_out(c: usize, capacity: usize) -> (&'static Slot, Vec<usize>) {
        let bs = block_size(c);
        let start = Box::leak(vec![0u64; capacity * bs / 8].into_boxed_slice()).as_mut_ptr();
        let s: &'static Slot = Box::leak(Box::new(Slot::detached(start as usize, capacity as u32)));
        let mut out = vec![core::ptr::null_mut(); capacity];
        assert_eq!(s.take(bs, &mut out), (capacity, 0));
        (s, out.into_iter().map(|p| p as usize).collect())
    }

    /// Takes every block of `s` back as its holder would (collecting its remote list).
    fn take_all(s: &Slot, c: usize, n: usize) -> Vec<usize> {
        let mut out = vec![core::ptr::null_mut(); n];
        let (got, collected) = s.take(block_size(c), &mut out);
        assert_eq!((got, collected as usize), (n, n), "class {c}");
        let mut v: Vec<usize> = out.into_iter().map(|p| p as usize).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn every_block_added_reaches_the_slot_once() {
        // The smallest class (a container of itself alone), classes whose containers
        // fill before the batch does and whose batches fill first, and the largest
        // (one block a batch, by `FLUSH_BYTES`); two slots of one class freed into
        // alternately, in an order that is not the carving order.
        for c in [0, 1, 2, 5, 9, 20, 30, CLASS_COUNT - 1] {
            let n = 3 * usize::from(FLUSH_AT) + 7;
            let (a, blocks_a) = slot_with_blocks_out(c, n);
            let (b, blocks_b) = slot_with_blocks_out(c, n);
            let mut batch = Box::new(RemoteBatch::new());
            for i in 0..n {
                let k = (i * 7) % n;
                // SAFETY: each block is a live block start of its slot, given up once.
                unsafe {
                    batch.add(a, blocks_a[k], c);
                    batch.add(b, blocks_b[n - 1 - k], c);
                }
            }
            batch.flush_all();
            assert!(batch.open.iter().all(|&w| w == 0));
            let mut counted = 0;
            batch.take_pushed(|k, blocks| {
                assert_eq!(k, c, "counted under another class");
                counted += blocks as usize;
            });
            assert_eq!(counted, 2 * n, "class {c}: blocks counted as pushed");
            batch.take_pushed(|k, _| panic!("class {k} counted twice"));
            for (s, mut blocks) in [(a, blocks_a), (b, blocks_b)] {
                blocks.sort_unstable();
                assert_eq!(take_all(s, c, n), blocks, "class {c}");
            }
        }
    }

    #[test]
    fn a_batch_is_pushed_when_it_holds_its_limit() {
        let c = 5;
        let limit = (FLUSH_BYTES / block_size(c)).clamp(1, FLUSH_AT.into());
        let (s, blocks) = slot_with_blocks_out(c, limit + 1);
        let mut batch = Box::new(RemoteBatch::new());
        for &p in &blocks[..limit - 1] {
            // SAFETY: as above.
            unsafe { batch.add(s, p, c) };
        }
        assert!(!s.has_remote(), "pushed before its limit");
        // SAFETY: as above.
        unsafe { batch.add(s, blocks[limit - 1], c) };
        assert!(s.has_remote(), "not pushed at its limit");
        assert!(batch.open.iter().all(|&w| w == 0));
        // SAFETY: as above.
        unsafe { batch.add(s, blocks[limit], c) };
        batch.flush_all();
        assert_eq!(take_all(s, c, limit + 1), blocks);
    }

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
