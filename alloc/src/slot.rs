//! Slots: 64 KiB pieces of a SuperSlab, each carved into blocks of one class, and the
//! block lists of one slot.
//!
//! State machine (the state is in the slot's *meta word*, see [`meta`]):
//!
//! ```text
//!   UNUSED --acquire (stage 2/3)--> ACTIVE(c, owner) --all blocks back, retired--> EMPTY(c)
//!      ^                              |      ^                                       |
//!      |                  owner exits |      | adopt                                 |
//!      |                              v      |                                       |
//!      |                         ACTIVE(c, abandoned)                                |
//!      |                              ^-------------acquire (stage 1)----------------+
//!      +-----------release (other class needs the slot, or SuperSlab empty)----------+
//! ```
//!
//! A slot has at most one *holder*, the only thread that may touch its block lists,
//! `used`, `carved` and list links: its owner thread while ACTIVE and owned; the holder
//! of its class lock while abandoned or SAMPLED and on its class's list (`unowned`,
//! `sampled_slots`), and the thread alone that acquired such a slot and has not listed it
//! yet, or took it off the list with no block out to retire it; the holder of the global
//! lock while EMPTY or UNUSED (`superslab`). Those fields are atomics
//! accessed `Relaxed` (plain loads and stores in the machine code): the hand-over between
//! holders is ordered by the lock or by the meta-word store that changes the owner.
//! Every other thread may only push onto [`Slot::remote`] (a remote free).
//!
//! Invariants of an ACTIVE slot, kept by its holder:
//! - `used` = blocks taken out of the slot and not yet back on its local list or its
//!   collected containers: in the owner's magazine, in user hands, in a thread's remote
//!   batch, or on the remote list;
//! - `capacity == used + (blocks on the local list) + (blocks in collected containers)
//!   + (capacity - carved)` at all times; the remote list's count (in its head word) is
//!   part of `used` until collected;
//! - blocks are the multiples of the block size inside the slot's 64 KiB window, so "is
//!   `a` a block start?" is a divisibility test (slot 0 of a SuperSlab holds its header
//!   and is never carved).
//!
//! Lifetime rule: a thread that is not the holder touches a slot only while it owns a
//! block of it (which keeps `used > 0`, so the slot cannot become EMPTY and its
//! SuperSlab cannot be returned); its last access is the push that gives the block
//! back. Free blocks are linked through their first word.
#![deny(unsafe_op_in_unsafe_fn)]

use core::sync::atomic::Ordering::*;

use crate::size_class::{is_block_start, CLASS_COUNT, CLASS_SHIFT};
use crate::sync::{remote_push_delay, AtomicU16, AtomicU32, AtomicU64, AtomicUsize};

/// Slot state: never carved.
pub const UNUSED: u32 = 0;
/// Slot state: carved for a class, owned by a thread or abandoned.
pub const ACTIVE: u32 = 1;
/// Slot state: carved for a class, every block back, no owner.
pub const EMPTY: u32 = 2;
/// Slot state: ACTIVE for a class, serving only sampled blocks (`sampled_slots`), no
/// owner. A state of its own, so that the free fast path's owner test fails for it.
pub const SAMPLED: u32 = 3;
/// Slot state of slot 0 of every SuperSlab: it holds the SuperSlab's header and never
/// serves blocks.
pub const HEADER: u32 = 4;
/// Owner field of a slot no thread owns (abandoned, sampled, EMPTY, UNUSED, HEADER).
pub const NO_OWNER: u32 = 0xffff;
/// The largest owner id a meta word holds (thread state indexes beyond it get no
/// state: their threads take the global path).
pub const MAX_OWNER: u32 = NO_OWNER - 1;

/// Bits of the meta word below the state: the class field.
const STATE_SHIFT: u32 = 13;
/// Bits of the meta word below the owner.
const OWNER_SHIFT: u32 = 16;
/// The class field's mask (also the largest result of [`owned_offset`]).
const CLASS_FIELD: u64 = (1 << STATE_SHIFT) - 1;

/// The meta word of a slot, 32 bits kept in the pagemap (`crate::pagemap`): `class <<
/// CLASS_SHIFT | state << 13 | owner << 16` (the class field is the byte offset of the
/// class's magazine among the owner's, so the free fast path gets the magazine from
/// the owner test with no multiply). Written by the holder when the state or the owner
/// changes (`Release`), read by every `free` (`Relaxed`: a thread that sees its own
/// index there made that store itself). Never 0 (a mapped SuperSlab's UNUSED slots hold
/// [`NO_OWNER`]): 0 is the pagemap's "no SuperSlab here".
#[inline(always)]
pub const fn meta(state: u32, class: usize, owner: u32) -> u64 {
    (class as u64) << CLASS_SHIFT
        | (state as u64) << STATE_SHIFT
        | ((owner & NO_OWNER) as u64) << OWNER_SHIFT
}

// Every class's field fits below the state bits.
const _: () = assert!((((CLASS_COUNT - 1) << CLASS_SHIFT) as u64) <= CLASS_FIELD);

/// State of a meta word.
#[inline(always)]
pub const fn meta_state(w: u64) -> u32 {
    ((w >> STATE_SHIFT) & 7) as u32
}

/// Class of a meta word.
#[inline(always)]
pub const fn meta_class(w: u64) -> usize {
    ((w & CLASS_FIELD) >> CLASS_SHIFT) as usize
}

/// The class of the block that starts `offset` bytes into its slot (the address's
/// offset in the slot's 64 KiB window) when the slot's meta word `w` is ACTIVE and
/// `offset` is a block start of its class; `None` otherwise (another state, an interior
/// pointer, no SuperSlab).
#[inline(always)]
pub fn active_block_class(w: u64, offset: usize) -> Option<usize> {
    let c = meta_class(w);
    let start = meta_state(w) == ACTIVE && c < CLASS_COUNT && is_block_start(offset, c);
    start.then_some(c)
}

/// Owner of a meta word ([`NO_OWNER`] when no thread owns the slot).
#[inline(always)]
pub const fn meta_owner(w: u64) -> u32 {
    ((w >> OWNER_SHIFT) as u32) & NO_OWNER
}

/// The key of thread `owner`: the meta word of an ACTIVE slot it owns, class bits 0.
#[inline(always)]
pub const fn owned_key(owner: u32) -> u64 {
    meta(ACTIVE, 0, owner)
}

/// The free fast path's one test (state and owner at once): `Some(class <<
/// CLASS_SHIFT)` when `w` is the meta word of an ACTIVE slot whose owner has `key`
/// ([`owned_key`]), `None` for every other word (other owners, other states, the
/// header slot, 0 where no SuperSlab lies).
#[inline(always)]
pub const fn owned_offset(w: u64, key: u64) -> Option<usize> {
    let x = w ^ key;
    if x <= CLASS_FIELD {
        Some(x as usize)
    } else {
        None
    }
}

/// Which list a slot is on ([`Slot::list`]).
pub mod list {
    // u16: a slot record has room for two bytes of tag.
    /// On no list.
    pub const NONE: u16 = 0;
    /// Its owner's list of slots with blocks to hand out.
    pub const AVAIL: u16 = 1;
    /// Its owner's list of exhausted slots.
    pub const FULL: u16 = 2;
    /// Its class's list of abandoned slots (class lock).
    pub const ABANDONED: u16 = 3;
    /// Its class's list of EMPTY slots (global lock).
    pub const EMPTY: u16 = 4;
    /// Its class's list of sampled slots with a free block (class lock).
    pub const SAMPLED: u16 = 5;
    /// Its owner's list of idle slots (every block back).
    pub const IDLE: u16 = 6;
}

/// Bits of the remote list's head word that hold the block address (the count of
/// blocks on the list is in the bits above).
const PTR_BITS: u32 = 48;
const PTR_MASK: u64 = (1 << PTR_BITS) - 1;

/// The record of one slot, in its SuperSlab's header (one cache line).
#[repr(C, align(64))]
#[derive(Debug)]
pub struct Slot {
    /// The remote list: blocks given back by threads that are not the holder. A
    /// Treiber stack whose head word packs the first block's address (low 48 bits) and
    /// the number of blocks on the list (high 16 bits; a slot has at most 4,096
    /// blocks). Pushed with one CAS by any thread ([`Slot::push_remote`]); taken whole
    /// with one swap by the holder ([`Slot::collect`]).
    pub remote: AtomicU64,
    /// Head of the local free list (holder).
    pub free: AtomicUsize,
    /// Address of block 0 (set when the slot is carved for a class).
    pub start: AtomicUsize,
    /// Blocks out of the slot (see the module invariants; holder).
    pub used: AtomicU32,
    /// Blocks the slot holds for its class.
    pub capacity: AtomicU32,
    /// Blocks carved so far by the bump pointer (holder).
    pub carved: AtomicU32,
    /// Interval sweeps its owner made since the slot became idle (`used == 0`); see
    /// `owned::RETIRE_SWEEPS`.
    pub retire: AtomicU16,
    /// Which list the slot is on ([`list`]).
    pub list: AtomicU16,
    /// Collected remote frees not handed out yet: a list of *containers* (see
    /// [`Slot::push_remote`]), consumed lazily by [`Slot::take`] (holder).
    pub ctrs: AtomicUsize,
    /// Next slot on the same list (address of its record, 0 at the end).
    pub next: AtomicUsize,
    /// Previous slot on the same list.
    pub prev: AtomicUsize,
}

#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<Slot>() == 64);

impl Slot {
    /// A slot record outside any SuperSlab header, carving `capacity` blocks from
    /// `start`: the slots of the unit tests and the loom models (a SuperSlab's records
    /// are its header's memory, zeroed by the mapping).
    #[cfg(any(test, loom))]
    pub fn detached(start: usize, capacity: u32) -> Self {
        let s = Slot {
            remote: AtomicU64::new(0),
            free: AtomicUsize::new(0),
            start: AtomicUsize::new(0),
            used: AtomicU32::new(0),
            capacity: AtomicU32::new(0),
            carved: AtomicU32::new(0),
            retire: AtomicU16::new(0),
            list: AtomicU16::new(0),
            ctrs: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            prev: AtomicUsize::new(0),
        };
        s.reset(start, capacity);
        s
    }

    /// Resets the block lists for a fresh carve of `capacity` blocks from `start`.
    /// Holder only; no block of the slot is out.
    pub fn reset(&self, start: usize, capacity: u32) {
        self.start.store(start, Relaxed);
        self.capacity.store(capacity, Relaxed);
        self.carved.store(0, Relaxed);
        self.free.store(0, Relaxed);
        self.ctrs.store(0, Relaxed);
        self.remote.store(0, Relaxed);
        self.used.store(0, Relaxed);
        self.retire.store(0, Relaxed);
    }

    /// Blocks out of the slot (holder).
    #[inline]
    pub fn used(&self) -> u32 {
        self.used.load(Relaxed)
    }

    /// Whether the holder can hand out a block without collecting the remote list.
    #[inline]
    pub fn has_local(&self) -> bool {
        self.free.load(Relaxed) != 0
            || self.ctrs.load(Relaxed) != 0
            || self.carved.load(Relaxed) < self.capacity.load(Relaxed)
    }

    /// Whether other threads gave blocks back since the last collect.
    #[inline]
    pub fn has_remote(&self) -> bool {
        self.remote.load(Relaxed) != 0
    }

    /// Takes up to `out.len()` blocks of size `bs`: the local list first, then the
    /// collected containers, then the remote list (collected whole when both are
    /// empty), then fresh blocks carved by the bump pointer. Only the blocks handed out
    /// from the local list and the containers themselves are read; a block a container
    /// names is not touched. Returns how many were written to `out`, and how many
    /// blocks the remote list gave back on the way (for the holder's accounting).
    /// Holder only.
    pub fn take(&self, bs: usize, out: &mut [*mut u8]) -> (usize, u32) {
        let mut n = 0;
        let mut head = self.free.load(Relaxed);
        while n < out.len() && head != 0 {
            out[n] = head as *mut u8;
            // SAFETY: `head` is a free block of this slot (on its local list), which the
            // holder owns; its first word links the list.
            head = unsafe { read_link(head) };
            n += 1;
        }
        self.free.store(head, Relaxed);
        let mut collected = 0;
        if n < out.len() && self.ctrs.load(Relaxed) == 0 && self.has_remote() {
            collected = self.collect();
        }
        n += self.take_from_containers(&mut out[n..]);
        let capacity = self.capacity.load(Relaxed) as usize;
        let mut carved = self.carved.load(Relaxed) as usize;
        if n < out.len() && carved < capacity {
            let start = self.start.load(Relaxed);
            while n < out.len() && carved < capacity {
                out[n] = (start + carved * bs) as *mut u8;
                carved += 1;
                n += 1;
            }
            self.carved.store(carved as u32, Relaxed);
        }
        self.used.store(self.used() + n as u32, Relaxed);
        (n, collected)
    }

    /// Hands out blocks named by the collected containers, newest first, each
    /// container last of its own blocks. Holder only.
    fn take_from_containers(&self, out: &mut [*mut u8]) -> usize {
        let mut n = 0;
        let mut c = self.ctrs.load(Relaxed);
        while n < out.len() && c != 0 {
            // SAFETY: `c` is a container of this slot (a free block the holder owns):
            // word 0 links the next container, word 1 counts the block addresses
            // ([`count_word`]) and names the word they start at.
            unsafe {
                let cells = c as *mut usize;
                let w = cells.add(1).read();
                let (mut k, first) = (w & 0xffff_ffff, w >> 32);
                while n < out.len() && k != 0 {
                    k -= 1;
                    out[n] = cells.add(first + k).read() as *mut u8;
                    n += 1;
                }
                cells.add(1).write(count_word(k, first));
                if k == 0 && n < out.len() {
                    out[n] = c as *mut u8;
                    n += 1;
                    c = cells.read();
                }
            }
            if n == out.len() {
                break;
            }
        }
        self.ctrs.store(c, Relaxed);
        n
    }

    /// Gives `block` back to the local list. Returns `false`, and changes nothing, when
    /// the slot has no block out (the block was given back already). Holder only.
    ///
    /// # Safety
    /// `block` must be a block start of this slot that the caller owns.
    #[inline]
    pub unsafe fn give(&self, block: usize) -> bool {
        let used = self.used();
        if used == 0 {
            return false;
        }
        // SAFETY: the caller owns `block`, a block of this slot.
        unsafe { write_link(block, self.free.load(Relaxed)) };
        self.free.store(block, Relaxed);
        self.used.store(used - 1, Relaxed);
        true
    }

    /// Collects the remote list whole (one swap) onto the list of containers. Returns
    /// the number of blocks collected (the count in the head word: nothing is walked,
    /// unless containers collected earlier are still there, to link the two lists).
    /// Holder only.
    pub fn collect(&self) -> u32 {
        if !self.has_remote() {
            return 0;
        }
        let word = self.remote.swap(0, Acquire);
        let first = (word & PTR_MASK) as usize;
        let n = (word >> PTR_BITS) as u32;
        let older = self.ctrs.load(Relaxed);
        if older != 0 {
            let mut last = first;
            // SAFETY: the collected containers are free blocks of this slot, now the
            // holder's; their chain ends with a 0 link (the list was empty at the first
            // push).
            unsafe {
                loop {
                    let next = read_link(last);
                    if next == 0 {
                        break;
                    }
                    last = next;
                }
                write_link(last, older);
            }
        }
        self.ctrs.store(first, Relaxed);
        let used = self.used();
        if n > used {
            crate::pal::fatal(b"more blocks given back to a slot than it handed out");
        }
        self.used.store(used - n, Relaxed);
        n
    }

    /// Pushes the chain of containers `first ..= last`, holding `k` blocks in all,
    /// onto the remote list: a remote free. The push is the caller's last access to the
    /// slot.
    ///
    /// A *container* is one of the blocks given back, carrying the others' addresses,
    /// so that the freeing thread writes into one block of a batch and the owner reads
    /// one: word 0 links the next container (written here for `last`), word 1 counts
    /// the addresses that follow from word 2 on (at most `block size / 8 - 2`; a
    /// 16-byte block is a container of itself alone).
    ///
    /// # Safety
    /// The containers and the blocks they name must be blocks of this slot that the
    /// caller owns, linked from `first` to `last` through their first words, with
    /// their counts written; `k` is the number of blocks (containers included).
    pub unsafe fn push_remote(&self, first: usize, last: usize, k: u32) {
        remote_push_delay();
        let mut head = self.remote.load(Relaxed);
        loop {
            // SAFETY: `last` is a block the caller owns until the CAS publishes it.
            unsafe { write_link(last, (head & PTR_MASK) as usize) };
            let new = first as u64 | ((head >> PTR_BITS) + k as u64) << PTR_BITS;
            match self
                .remote
                .compare_exchange_weak(head, new, Release, Relaxed)
            {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }
}

/// The word of a container where its block addresses start in check mode
/// (`SLABSCOPE_CHECK`): past the freed pattern that the checked layout keeps in bytes
/// 16 to 80 of a freed block. Its last word (the checked trailer) is never used either.
pub const CHECKED_FIRST_ADDRESS: usize = 10;

/// A container's count word: `count` block addresses from word `first` on.
#[inline(always)]
pub fn count_word(count: usize, first: usize) -> usize {
    count | first << 32
}

/// Makes `block` a container of itself alone (see [`Slot::push_remote`]).
///
/// # Safety
/// `block` must be a block of at least 16 bytes that the caller owns.
#[inline]
pub unsafe fn single_container(block: usize) {
    // SAFETY: the caller owns the block's first two words.
    unsafe { (block as *mut usize).add(1).write(0) };
}

/// Reads the link word of a free block.
///
/// # Safety
/// `block` must be a free block of a live SuperSlab that the caller owns.
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_of_an_active_slot_gets_the_class_offset() {
        for owner in [0, 1, 4095, MAX_OWNER] {
            let key = owned_key(owner);
            for c in [0, 1, CLASS_COUNT - 1] {
                let w = meta(ACTIVE, c, owner);
                assert_eq!(owned_offset(w, key), Some(c << CLASS_SHIFT));
                assert_eq!(
                    (meta_state(w), meta_class(w), meta_owner(w)),
                    (ACTIVE, c, owner)
                );
                for state in [UNUSED, EMPTY, SAMPLED, HEADER] {
                    assert_eq!(owned_offset(meta(state, c, owner), key), None);
                }
                assert_eq!(owned_offset(meta(ACTIVE, c, owner ^ 1), key), None);
                assert_eq!(owned_offset(meta(ACTIVE, c, NO_OWNER), key), None);
                // The key of an idle record (`pal::tls::IDLE`) matches no word.
                assert_eq!(owned_offset(w, u64::MAX), None);
            }
            // Where no SuperSlab lies the pagemap reads 0.
            assert_eq!(owned_offset(0, key), None);
        }
        assert_eq!(owned_offset(0, u64::MAX), None);
        // Every word of a mapped SuperSlab is non-zero and fits the pagemap's 32 bits.
        for w in [
            meta(UNUSED, 0, NO_OWNER),
            meta(HEADER, 0, NO_OWNER),
            meta(EMPTY, CLASS_COUNT - 1, NO_OWNER),
            meta(ACTIVE, CLASS_COUNT - 1, MAX_OWNER),
        ] {
            assert!(w != 0 && w <= u64::from(u32::MAX), "{w:#x}");
        }
    }
}
