//! Sampled slots: the slots that serve sampled small blocks (`SLABSCOPE_SAMPLE`), and
//! nothing else.
//!
//! A sampled block has to be recognised when it is freed, and the free fast path must not
//! pay for that. So a sampled block never comes from a magazine: it is taken from a slot
//! of its class that holds only sampled blocks and carries the [`SAMPLED`] bit in its
//! `class_state` word. The free fast path's existing `class_state >> 8 == ACTIVE` test
//! fails for exactly those slots, so a free of an ordinary block costs what it always did,
//! and only sampled blocks take the slow path, which ends the sample and gives the block
//! back here. (jemalloc and tcmalloc do the same by serving sampled blocks from a size the
//! free path tells apart.)
//!
//! Each class has a list of its sampled slots that have a free block (head in
//! [`SAMPLED_LISTS`]; a slot's `listed` is 1 while it is on it). Everything here runs under
//! the class lock of the block's class, which also orders it before the global lock that
//! slot acquire and release take. A sampled slot is an ordinary ACTIVE slot of its class
//! for accounting: its blocks count in the class's `out`, `allocs` and `frees` like those
//! of the global path, so the per-class sums stay exact.
//!
//! When a sampled slot's last block comes back it becomes EMPTY like any other slot, except
//! the last one of its class while sampling is on: that one stays (ACTIVE, no block out),
//! so a short-lived sample does not cost a slot acquire and release each time. [`trim`]
//! releases the ones that stayed.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::classes;
use crate::size_class::{block_size, CLASS_COUNT};
use crate::slot::{write_link, Slot, SAMPLED};
use crate::stats::{add, CLASSES};
use crate::superslab::{self, locate, slot_at, slot_list_push, slot_list_remove};

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_LIST: AtomicUsize = AtomicUsize::new(0);

/// Per class: the sampled slots with a free block (class lock).
static SAMPLED_LISTS: [AtomicUsize; CLASS_COUNT] = [EMPTY_LIST; CLASS_COUNT];

/// Takes one block of class `c` for a sampled allocation of `request` bytes; null when
/// no slot can be had (the slot acquire noted an OOM; the caller serves the request
/// unsampled through the ordinary slow path, which settles that report).
pub fn take(c: usize, request: usize) -> *mut u8 {
    let _g = classes::lock(c).guard();
    let list = &SAMPLED_LISTS[c];
    let head = list.load(Ordering::Relaxed);
    let s = if head != 0 {
        slot_at(head)
    } else {
        let Some(s) = superslab::acquire_slot(c, request) else {
            return core::ptr::null_mut();
        };
        // No block of `s` is out yet, so no free can have read its word without the bit.
        s.class_state.fetch_or(SAMPLED, Ordering::Release);
        slot_list_push(list, s);
        s.listed.store(1, Ordering::Relaxed);
        s
    };
    let (ss, i) = locate(s);
    let mut one = [core::ptr::null_mut(); 1];
    if s.take(ss.slot_start(i), block_size(c), &mut one) != 1 {
        crate::pal::fatal(b"listed sampled slot without a free block");
    }
    if s.exhausted() {
        slot_list_remove(list, s);
        s.listed.store(0, Ordering::Relaxed);
    }
    add(&CLASSES[c].out, 1);
    add(&CLASSES[c].allocs, 1);
    crate::publish::slot(ss, i);
    crate::publish::class(c);
    one[0]
}

/// The class of `p` if it is a block of a sampled slot (the free fast path sent it to
/// the slow path); `None` for anything else.
pub fn class_of(p: *mut u8) -> Option<usize> {
    let a = p as usize;
    let ss = superslab::lookup(a)?;
    if a - ss.base() < superslab::HEADER_BYTES {
        return None;
    }
    let cs = ss.slots[(a - ss.base()) / superslab::SLOT_BYTES]
        .class_state
        .load(Ordering::Relaxed);
    (cs & SAMPLED != 0 && ((cs & !SAMPLED) >> 8) == crate::slot::ACTIVE)
        .then_some((cs & 0xff) as usize)
}

/// Gives back `p`, a block of class `c` from a sampled slot (see [`class_of`]).
///
/// # Safety
/// `p` must be a live block of a sampled slot of class `c` that the caller gives up.
pub unsafe fn give_back(c: usize, p: *mut u8, sampling_on: bool) {
    let a = p as usize;
    let Some(ss) = superslab::lookup(a) else {
        crate::pal::fatal(b"sampled block outside every SuperSlab");
    };
    let i = (a - ss.base()) / superslab::SLOT_BYTES;
    let s = &ss.slots[i];
    let _g = classes::lock(c).guard();
    // SAFETY: the caller gives up `p`, a block of this slot, and the class lock keeps
    // every other user of the slot's local list out.
    unsafe { write_link(a, s.local_head.load(Ordering::Relaxed)) };
    s.local_head.store(a, Ordering::Relaxed);
    let before = s.in_use.fetch_sub(1, Ordering::AcqRel);
    if before == 0 {
        crate::pal::fatal(b"more blocks given back than handed out (double free?)");
    }
    add(&CLASSES[c].out, -1);
    add(&CLASSES[c].frees, 1);
    let list = &SAMPLED_LISTS[c];
    if s.listed.load(Ordering::Relaxed) == 0 {
        slot_list_push(list, s);
        s.listed.store(1, Ordering::Relaxed);
    }
    let only = list.load(Ordering::Relaxed) == slot_addr(s) && s.next.load(Ordering::Relaxed) == 0;
    if before == 1 && !(only && sampling_on) {
        release(c, s);
    } else {
        crate::publish::slot(ss, i);
    }
    crate::publish::class(c);
}

/// Releases every sampled slot with no block out (those kept while sampling was on).
pub fn trim() {
    for (c, list) in SAMPLED_LISTS.iter().enumerate() {
        let _g = classes::lock(c).guard();
        let mut a = list.load(Ordering::Relaxed);
        while a != 0 {
            let s = slot_at(a);
            a = s.next.load(Ordering::Relaxed);
            if s.in_use.load(Ordering::Acquire) == 0 {
                release(c, s);
            }
        }
    }
}

/// A sampled slot of class `c` with no block out: off its list, ACTIVE -> EMPTY (which
/// clears the `SAMPLED` bit). Class lock held.
fn release(c: usize, s: &Slot) {
    if s.listed.load(Ordering::Relaxed) != 0 {
        slot_list_remove(&SAMPLED_LISTS[c], s);
    }
    s.reset(s.capacity.load(Ordering::Relaxed));
    superslab::slot_emptied(s, c);
}

fn slot_addr(s: &Slot) -> usize {
    s as *const Slot as usize
}
