//! Per-class central state: the class lock and the partial list of ACTIVE slots with
//! free blocks. Magazines refill from here and drain back to here.
//!
//! A refill (class lock held) takes blocks from the partial slots, acquiring a new slot
//! (3 stages, `superslab::acquire_slot`) when none is left. A drain gives blocks back
//! *without* the class lock: blocks are chained by slot (no sort) and each chain is
//! pushed onto the slot's lock-free remote list; the lock is taken only when a slot must be re-listed
//! (it had been exhausted) or has become empty (its `in_use` reached zero).

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::pal::RawMutex;
use crate::size_class::{block_size, CLASS_COUNT};
use crate::slot::{write_link, Slot, ACTIVE};
use crate::stats::{add, CLASSES};
use crate::superslab::{self, locate, slot_at, slot_list_push, slot_list_remove};

struct Central {
    lock: RawMutex,
    partial: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const CENTRAL_INIT: Central = Central {
    lock: RawMutex::new(),
    partial: AtomicUsize::new(0),
};

static CENTRAL: [Central; CLASS_COUNT] = [CENTRAL_INIT; CLASS_COUNT];

/// The class locks, in lock order (for `fork` handlers).
pub fn locks() -> impl DoubleEndedIterator<Item = &'static RawMutex> {
    CENTRAL.iter().map(|c| &c.lock)
}

/// The class lock of class `c` (also guards its sampled slots, see `sampled_slots`).
pub fn lock(c: usize) -> &'static RawMutex {
    &CENTRAL[c].lock
}

/// Takes up to `out.len()` blocks of class `c` for thread `me` (thread index, used to
/// tell local from remote frees). Returns how many; 0 means out of memory (`request` is
/// the size reported in the OOM event).
pub fn refill(c: usize, out: &mut [*mut u8], me: u32, request: usize) -> usize {
    let bs = block_size(c);
    let central = &CENTRAL[c];
    let _g = central.lock.guard();
    let mut n = 0;
    while n < out.len() {
        let head = central.partial.load(Ordering::Relaxed);
        let s = if head != 0 {
            slot_at(head)
        } else {
            match superslab::acquire_slot(c, request) {
                Some(s) => {
                    slot_list_push(&central.partial, s);
                    s.listed.store(1, Ordering::SeqCst);
                    s
                }
                None => break,
            }
        };
        let (ss, i) = locate(s);
        s.owner.store(me, Ordering::Relaxed);
        n += s.take(ss.slot_start(i), bs, &mut out[n..]);
        if s.exhausted() {
            // Exhausted for now. Unlist unless a giver pushed meanwhile; a giver that
            // pushes after this store sees `listed == 0` and re-lists (SeqCst pairs).
            s.listed.store(0, Ordering::SeqCst);
            if s.remote_head.load(Ordering::SeqCst) == 0 {
                slot_list_remove(&central.partial, s);
            } else {
                s.listed.store(1, Ordering::SeqCst);
            }
        }
        crate::publish::slot(ss, i);
    }
    add(&CLASSES[c].out, n as i64);
    add(&CLASSES[c].refills, 1);
    n
}

/// Open chains [`give_back`] builds at once (distinct slots among the blocks of one
/// drain are few: a magazine refills from one or two slots at a time).
const CHAINS: usize = 8;

/// Gives `blocks` (all of class `c`, owned by the caller, at most a magazine full) back
/// to their slots for thread `me`.
///
/// The blocks are grouped by slot without sorting: each block is linked in front of
/// the open chain of its slot (up to [`CHAINS`] open at once; when a block of one more
/// slot comes, every chain is pushed first), and each chain goes onto its slot's remote
/// list with one CAS. (Sorting the blocks by address cost 10 % of all instructions of
/// the random-mixed benchmark.)
pub fn give_back(c: usize, blocks: &mut [*mut u8], me: u32) {
    if blocks.is_empty() {
        return;
    }
    let mut keys = [0usize; CHAINS];
    let mut heads = [0usize; CHAINS];
    let mut tails = [0usize; CHAINS];
    let mut counts = [0u32; CHAINS];
    let mut open = 0;
    let mut remote = 0u64;
    for &b in blocks.iter() {
        let b = b as usize;
        let key = b >> 16;
        match keys[..open].iter().position(|&k| k == key) {
            Some(j) => {
                // SAFETY: `b` is a block of class `c` the caller gives back.
                unsafe { write_link(b, heads[j]) };
                heads[j] = b;
                counts[j] += 1;
            }
            None => {
                if open == CHAINS {
                    for j in 0..open {
                        remote += push_chain(c, heads[j], tails[j], counts[j], me);
                    }
                    open = 0;
                }
                keys[open] = key;
                heads[open] = b;
                tails[open] = b;
                counts[open] = 1;
                open += 1;
            }
        }
    }
    for j in 0..open {
        remote += push_chain(c, heads[j], tails[j], counts[j], me);
    }
    add(&CLASSES[c].out, -(blocks.len() as i64));
    if remote != 0 {
        add(&CLASSES[c].remote_frees, remote as i64);
    }
}

/// Pushes the chain `first ..= last` of `k` blocks of one slot onto that slot's remote
/// list and settles the slot if it became empty or must be re-listed. Returns `k` when
/// the slot belongs to another thread (remote frees), else 0.
fn push_chain(c: usize, first: usize, last: usize, k: u32, me: u32) -> u64 {
    let Some(ss) = superslab::lookup(first) else {
        crate::pal::fatal(b"magazine block outside every SuperSlab");
    };
    let i = (first - ss.base()) / superslab::SLOT_BYTES;
    let s = &ss.slots[i];
    let remote = if s.owner.load(Ordering::Relaxed) != me {
        k as u64
    } else {
        0
    };
    // SAFETY: the chain is linked by the caller, its blocks belong to slot `s`, and the
    // caller owns them.
    unsafe { s.push_remote(first, last) };
    let before = s.in_use.fetch_sub(k, Ordering::AcqRel);
    if before < k {
        crate::pal::fatal(b"more blocks given back than handed out (double free?)");
    }
    if before == k || s.listed.load(Ordering::SeqCst) == 0 {
        settle(c, s);
    } else {
        crate::publish::slot(ss, i);
    }
    remote
}

/// Under the class lock: an ACTIVE slot of class `c` whose blocks are all back becomes
/// EMPTY; one with free blocks that is not listed is put back on the partial list.
fn settle(c: usize, s: &Slot) {
    let central = &CENTRAL[c];
    let _g = central.lock.guard();
    if s.state() != ACTIVE || s.class() != c {
        return;
    }
    if s.in_use.load(Ordering::Acquire) == 0 {
        if s.listed.load(Ordering::Relaxed) != 0 {
            slot_list_remove(&central.partial, s);
        }
        s.reset(s.capacity.load(Ordering::Relaxed));
        superslab::slot_emptied(s, c);
    } else {
        if s.listed.load(Ordering::Relaxed) == 0 {
            slot_list_push(&central.partial, s);
            s.listed.store(1, Ordering::SeqCst);
        }
        let (ss, i) = locate(s);
        crate::publish::slot(ss, i);
    }
}
