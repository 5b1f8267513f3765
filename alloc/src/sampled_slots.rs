//! Sampled slots: the slots that serve sampled small blocks (`SLABSCOPE_SAMPLE`), and
//! nothing else.
//!
//! A sampled block has to be recognised when it is freed, and the free fast path must not
//! pay for that. So a sampled block never comes from a magazine: it is taken from a slot
//! of its class that holds only sampled blocks and is in state [`SAMPLED`] in its meta
//! word. The free fast path's owner test (`slot::owned_offset`: `meta ^ key` at most
//! `0x1fff`, with `ACTIVE` in the key) fails for
//! exactly those slots, so a free of an ordinary block costs what it always did,
//! and only sampled blocks take the slow path, which ends the sample and gives the block
//! back here. (jemalloc and tcmalloc do the same by serving sampled blocks from a size the
//! free path tells apart.)
//!
//! Each class has a list of its sampled slots that have a free block (head in
//! [`SAMPLED_LISTS`]; full ones are on [`FULL_LISTS`]). The lists and the slots on them
//! are guarded by the class lock of the block's class. A slot is acquired before it is
//! listed and retired after it is unlisted, outside that lock: both may make system
//! calls (a SuperSlab mapped, decommitted or returned), which never run under a class
//! lock. A sampled slot is an ordinary ACTIVE slot of its class
//! for accounting: its blocks count in the class's `out`, `allocs` and `frees` like those
//! of the global path, so the per-class sums stay exact.
//!
//! When a sampled slot's last block comes back it becomes EMPTY like any other slot, except
//! the last one of its class while sampling is on: that one stays (ACTIVE, no block out),
//! so a short-lived sample does not cost a slot acquire and release each time. [`trim`]
//! releases the ones that stayed.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::size_class::{block_size, CLASS_COUNT};
use crate::slot::{list, meta, Slot, NO_OWNER, SAMPLED};
use crate::stats::{add, CLASSES};
use crate::superslab::{self, locate, slot_at, slot_list_push, slot_list_remove};
use crate::unowned;

/// Per class: the sampled slots with a free block (class lock).
static SAMPLED_LISTS: [AtomicUsize; CLASS_COUNT] = [const { AtomicUsize::new(0) }; CLASS_COUNT];

/// Sampled slots with no free block, per class (class lock): kept on a list too, so
/// that [`trim`] and the accounting can find them.
static FULL_LISTS: [AtomicUsize; CLASS_COUNT] = [const { AtomicUsize::new(0) }; CLASS_COUNT];

/// `Slot::list` tag of a sampled slot without a free block.
const FULL: u16 = 7;

/// Takes one block of class `c` for a sampled allocation of `request` bytes; null when
/// no slot can be had (the slot acquire noted an OOM; the caller serves the request
/// unsampled through the ordinary slow path, which settles that report).
pub fn take(c: usize, request: usize) -> *mut u8 {
    let mut g = unowned::lock(c).guard();
    let list = &SAMPLED_LISTS[c];
    let head = list.load(Ordering::Relaxed);
    let s = if head != 0 {
        slot_at(head)
    } else {
        // The acquire may map a SuperSlab: outside the class lock. The slot is this
        // thread's alone until it is listed.
        drop(g);
        let Some((ss, i)) = superslab::acquire_slot(c, request, NO_OWNER) else {
            return core::ptr::null_mut();
        };
        // No block of the slot is out yet, so no free can have read its word as ACTIVE.
        ss.set_slot_meta(i, meta(SAMPLED, c, NO_OWNER));
        g = unowned::lock(c).guard();
        let s = &ss.slots[i];
        slot_list_push(list, s, list::SAMPLED);
        s
    };
    let (ss, i) = locate(s);
    let mut one = [core::ptr::null_mut(); 1];
    if s.take(block_size(c), &mut one).0 != 1 {
        crate::pal::fatal(b"listed sampled slot without a free block");
    }
    if !s.has_local() {
        slot_list_remove(list, s);
        slot_list_push(&FULL_LISTS[c], s, FULL);
    }
    add(&CLASSES[c].out, 1);
    add(&CLASSES[c].allocs, 1);
    ss.publish_slot(i);
    drop(g);
    crate::publish::class(c);
    one[0]
}

/// Gives back `p`, a block of a sampled slot of class `c`.
///
/// # Safety
/// `p` must be a live block start of a sampled slot of class `c` that the caller gives
/// up.
pub unsafe fn give_back(c: usize, p: *mut u8, sampling_on: bool) {
    let a = p as usize;
    let Some((ss, _)) = superslab::lookup(a) else {
        crate::pal::fatal(b"sampled block outside every SuperSlab");
    };
    let i = (a - ss.base()) / superslab::SLOT_BYTES;
    let s = &ss.slots[i];
    let g = unowned::lock(c).guard();
    // SAFETY: the caller gives up `p`, a block of this slot, and the class lock makes
    // this thread the slot's holder.
    if !unsafe { s.give(a) } {
        drop(g);
        return crate::foreign::double_free(p);
    }
    add(&CLASSES[c].out, -1);
    add(&CLASSES[c].frees, 1);
    let list = &SAMPLED_LISTS[c];
    if s.list.load(Ordering::Relaxed) == FULL {
        slot_list_remove(&FULL_LISTS[c], s);
        slot_list_push(list, s, list::SAMPLED);
    }
    let only = list.load(Ordering::Relaxed) == slot_addr(s)
        && s.next.load(Ordering::Relaxed) == 0
        && FULL_LISTS[c].load(Ordering::Relaxed) == 0;
    if s.used() == 0 && !(only && sampling_on) {
        slot_list_remove(list, s);
        drop(g);
        // Off its list with no block out, the slot is held by this thread alone; the
        // retire may decommit or return its SuperSlab, so it runs after the class lock.
        superslab::retire_slot(ss, i);
    } else {
        ss.publish_slot(i);
        drop(g);
    }
    crate::publish::class(c);
}

/// Releases every sampled slot with no block out (those kept while sampling was on):
/// off its list under the class lock, SAMPLED -> EMPTY after it ([`unowned::Unlisted`]).
pub fn trim() {
    for (c, list) in SAMPLED_LISTS.iter().enumerate() {
        loop {
            let mut done = unowned::Unlisted::new();
            let mut more = false;
            {
                let _g = unowned::lock(c).guard();
                let mut a = list.load(Ordering::Relaxed);
                while a != 0 {
                    let s = slot_at(a);
                    a = s.next.load(Ordering::Relaxed);
                    if s.used() != 0 {
                        continue;
                    }
                    if done.full() {
                        more = true;
                        break;
                    }
                    slot_list_remove(list, s);
                    done.add(s);
                }
            }
            done.retire();
            if !more {
                break;
            }
        }
    }
}

fn slot_addr(s: &Slot) -> usize {
    s as *const Slot as usize
}
