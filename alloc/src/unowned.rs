//! Slots no thread owns: the class lock, and per class the list of *abandoned* slots.
//!
//! A thread that exits with blocks still out of one of its slots abandons it: the slot
//! stays ACTIVE with [`NO_OWNER`] in its meta word, so every free of its blocks is a
//! remote free, and goes on this list. While it is here the holder of the class lock is
//! its holder. It leaves the list when a thread that needs a slot of the class adopts
//! it (becomes its owner), or when a sweep, a requested drain or a trim finds every
//! block back and retires it to EMPTY.
//!
//! The *global path* (a thread without usable state: before it has one, during its
//! exit, or inside one of its own slow paths) allocates single blocks from these slots
//! too, under the class lock, and frees by remote free, which is valid for any slot.
//!
//! Lock order: the class lock, then the global lock (`superslab`).

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::pal::RawMutex;
use crate::size_class::{block_size, CLASS_COUNT};
use crate::slot::{list, meta, Slot, ACTIVE, NO_OWNER};
use crate::stats::{add, CLASSES};
use crate::superslab::{self, locate, slot_at, slot_list_push, slot_list_remove, SuperSlab};

struct Class {
    lock: RawMutex,
    abandoned: AtomicUsize,
}

static CLASSES_UNOWNED: [Class; CLASS_COUNT] = [const {
    Class {
        lock: RawMutex::new(),
        abandoned: AtomicUsize::new(0),
    }
}; CLASS_COUNT];

/// The class lock of class `c` (also guards its sampled slots, see `sampled_slots`).
pub fn lock(c: usize) -> &'static RawMutex {
    &CLASSES_UNOWNED[c].lock
}

/// The class locks, in lock order (for `fork` handlers).
pub fn locks() -> impl DoubleEndedIterator<Item = &'static RawMutex> {
    CLASSES_UNOWNED.iter().map(|c| &c.lock)
}

/// Whether class `c` has abandoned slots (one relaxed load, no lock).
#[inline]
pub fn any_abandoned(c: usize) -> bool {
    CLASSES_UNOWNED[c].abandoned.load(Relaxed) != 0
}

/// Slot `i` of `ss`, of class `c`, held by the calling thread and on none of its lists,
/// is abandoned. The caller must not touch it afterwards.
pub fn abandon(ss: &SuperSlab, i: usize, c: usize) {
    let k = &CLASSES_UNOWNED[c];
    let _g = k.lock.guard();
    ss.set_slot_meta(i, meta(ACTIVE, c, NO_OWNER));
    slot_list_push(&k.abandoned, &ss.slots[i], list::ABANDONED);
    ss.publish_slot(i);
}

/// Adopts an abandoned slot of class `c` for thread `me`, its remote list collected.
pub fn adopt(c: usize, me: u32) -> Option<(&'static SuperSlab, usize)> {
    if !any_abandoned(c) {
        return None;
    }
    let k = &CLASSES_UNOWNED[c];
    let _g = k.lock.guard();
    let head = k.abandoned.load(Relaxed);
    if head == 0 {
        return None;
    }
    let s = slot_at(head);
    slot_list_remove(&k.abandoned, s);
    collected(c, s.collect());
    let (ss, i) = locate(s);
    ss.set_slot_meta(i, meta(ACTIVE, c, me));
    Some((ss, i))
}

/// Slots taken off a class's list under its lock, to be retired after the lock is
/// released: retiring may decommit or return a SuperSlab, and no system call runs under
/// a class lock. Off the list with no block out, each slot is held by the caller alone.
/// At most [`Unlisted::MAX`] a pass; a pass that found more says so and the caller
/// walks the list again.
pub struct Unlisted {
    slots: [Option<(&'static SuperSlab, usize)>; Self::MAX],
    n: usize,
}

impl Unlisted {
    /// Slots taken off per pass of the class lock.
    pub const MAX: usize = 16;

    /// None yet.
    pub fn new() -> Self {
        Self {
            slots: [None; Self::MAX],
            n: 0,
        }
    }

    /// Notes slot `s`, just taken off its list with no block out; the caller checked
    /// that the pass is not [`full`](Self::full).
    pub fn add(&mut self, s: &Slot) {
        if let Some(free) = self.slots.get_mut(self.n) {
            *free = Some(locate(s));
            self.n += 1;
        }
    }

    /// Whether the pass is full (the next slot found waits for the next pass).
    pub fn full(&self) -> bool {
        self.n == Self::MAX
    }

    /// Retires every noted slot; class lock released.
    pub fn retire(self) {
        for &(ss, i) in self.slots.iter().flatten() {
            superslab::retire_slot(ss, i);
        }
    }
}

/// Retires the abandoned slots of class `c` whose blocks are all back: taken off the
/// list under the class lock and retired after it ([`Unlisted`]).
pub fn reclaim(c: usize) {
    let k = &CLASSES_UNOWNED[c];
    let mut first = true;
    while any_abandoned(c) {
        let mut done = Unlisted::new();
        let mut more = false;
        {
            let _g = k.lock.guard();
            let mut a = k.abandoned.load(Relaxed);
            while a != 0 {
                let s = slot_at(a);
                a = s.next.load(Relaxed);
                let got = s.collect();
                collected(c, got);
                let (ss, i) = locate(s);
                if s.used() != 0 {
                    // A later pass walks the same slots again: only what changed since
                    // the first is published again.
                    if first || got != 0 {
                        ss.publish_slot(i);
                    }
                } else if done.full() {
                    more = true;
                    break;
                } else {
                    slot_list_remove(&k.abandoned, s);
                    done.add(s);
                }
            }
        }
        done.retire();
        if !more {
            return;
        }
        first = false;
    }
}

/// Remote frees collected from an unowned slot leave the class's `out` (the thread that
/// freed counted them only in `frees`).
fn collected(c: usize, n: u32) {
    if n != 0 {
        add(&CLASSES[c].out, -(n as i64));
    }
}

/// Retires the abandoned slots of every class whose blocks are all back.
pub fn reclaim_all() {
    for c in 0..CLASS_COUNT {
        reclaim(c);
    }
}

/// The global path's allocation: one block of class `c` from an abandoned slot, or
/// from a slot acquired for the purpose and left abandoned. Null when no memory can be
/// had (`request` is the size the OOM report names). The acquire runs outside the class
/// lock (it may map a SuperSlab); the slot is this thread's alone until it is listed.
pub fn take_one(c: usize, request: usize) -> *mut u8 {
    let k = &CLASSES_UNOWNED[c];
    let mut g = k.lock.guard();
    let mut a = k.abandoned.load(Relaxed);
    let mut found: Option<&Slot> = None;
    while a != 0 {
        let s = slot_at(a);
        a = s.next.load(Relaxed);
        if s.has_local() || s.has_remote() {
            found = Some(s);
            break;
        }
    }
    let s = match found {
        Some(s) => s,
        None => {
            drop(g);
            let Some((ss, i)) = superslab::acquire_slot(c, request, NO_OWNER) else {
                return core::ptr::null_mut();
            };
            g = k.lock.guard();
            let s = &ss.slots[i];
            slot_list_push(&k.abandoned, s, list::ABANDONED);
            s
        }
    };
    let mut one = [core::ptr::null_mut(); 1];
    let (_, n) = s.take(block_size(c), &mut one);
    collected(c, n);
    let (ss, i) = locate(s);
    ss.publish_slot(i);
    add(&CLASSES[c].out, 1);
    add(&CLASSES[c].allocs, 1);
    drop(g);
    one[0]
}
