//! Per-class central state: the class lock and the partial list of ACTIVE slots with
//! free blocks. Magazines refill from here and drain back to here.
//!
//! A refill (class lock held) takes blocks from the partial slots, acquiring a new slot
//! (3 stages, `superslab::acquire_slot`) when none is left. A drain gives blocks back
//! *without* the class lock: blocks are grouped by slot and each group is pushed onto
//! the slot's lock-free remote list; the lock is taken only when a slot must be re-listed
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
        if s.local_head.load(Ordering::Relaxed) == 0
            && s.carved.load(Ordering::Relaxed) == s.capacity.load(Ordering::Relaxed)
        {
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

/// Gives `blocks` (all of class `c`, owned by the caller, at most a magazine full) back
/// to their slots for thread `me`. Sorts `blocks` in place.
pub fn give_back(c: usize, blocks: &mut [*mut u8], me: u32) {
    if blocks.is_empty() {
        return;
    }
    blocks.sort_unstable();
    let mut i = 0;
    let mut remote = 0u64;
    while i < blocks.len() {
        let slot_key = blocks[i] as usize >> 16;
        let mut j = i + 1;
        while j < blocks.len() && blocks[j] as usize >> 16 == slot_key {
            // SAFETY: blocks[j - 1] is a block of class `c` the caller gives back.
            unsafe { write_link(blocks[j - 1] as usize, blocks[j] as usize) };
            j += 1;
        }
        let run = &blocks[i..j];
        let Some(ss) = superslab::lookup(run[0] as usize) else {
            crate::pal::fatal(b"magazine block outside every SuperSlab");
        };
        let s = &ss.slots[(run[0] as usize - ss.base()) / superslab::SLOT_BYTES];
        if s.owner.load(Ordering::Relaxed) != me {
            remote += run.len() as u64;
        }
        // SAFETY: the run is linked above, its blocks belong to slot `s`, and the caller
        // owns them.
        unsafe { s.push_remote(run[0] as usize, run[run.len() - 1] as usize) };
        let k = run.len() as u32;
        let before = s.in_use.fetch_sub(k, Ordering::AcqRel);
        if before < k {
            crate::pal::fatal(b"more blocks given back than handed out (double free?)");
        }
        if before == k || s.listed.load(Ordering::SeqCst) == 0 {
            settle(c, s);
        } else {
            crate::publish::slot(ss, (run[0] as usize - ss.base()) / superslab::SLOT_BYTES);
        }
        i = j;
    }
    add(&CLASSES[c].out, -(blocks.len() as i64));
    if remote != 0 {
        add(&CLASSES[c].remote_frees, remote as i64);
    }
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
