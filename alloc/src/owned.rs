//! Owner-side slot operations: the slots one thread owns for one class, and how it
//! refills its magazine from them, gives its own blocks back to them, retires them and
//! abandons them at exit.
//!
//! A thread's slots of a class are on one of three lists of its [`Owned`]:
//! - `avail`: some block can be handed out without collecting (local list or carve);
//! - `idle`: every block is back (`used == 0`); retired to EMPTY after
//!   [`RETIRE_SWEEPS`] interval sweeps of the class unless a refill takes it first
//!   (hysteresis: a thread that frees everything and allocates again keeps its slot),
//!   the thread's last slot of the class after [`LAST_RETIRE_SWEEPS`] (a class the
//!   thread stopped using gives its memory back too);
//! - `full`: nothing left locally; blocks other threads gave back wait on the slot's
//!   remote list until a refill or a sweep collects them.
//!
//! The sweeps collect the remote lists of `avail` slots too: a slot whose last blocks
//! came back from other threads after its owner stopped using the class would
//! otherwise hold them, and its SuperSlab, until the owner's next refill of the class.
//!
//! Everything here runs on the owning thread without a lock, with plain loads and
//! stores; only the remote list's swap is an atomic read-modify-write. A refill walks
//! only the blocks it hands out.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::size_class::block_size;
use crate::slot::list::{self, IDLE};
use crate::slot::Slot;
use crate::stats::{add, CLASSES};
use crate::superslab::{self, locate, slot_at, slot_list_push, slot_list_remove};
use crate::unowned;

/// Interval sweeps of its class an idle slot waits before it is retired.
pub const RETIRE_SWEEPS: u16 = 3;

/// Interval sweeps of its class the thread's last slot of the class waits, idle,
/// before it is retired (mimalloc keeps a class's last free page for a number of
/// collections in the same way): long enough that a thread which frees everything and
/// allocates again keeps it, short enough that a class the thread no longer uses does
/// not hold a slot, and with it a whole SuperSlab, for the thread's life.
pub const LAST_RETIRE_SWEEPS: u16 = 16;

/// Full slots a refill looks at for remote frees before it adopts or acquires a slot.
const FULL_LOOK: usize = 64;

/// Full slots, and slots with blocks at hand, an interval sweep looks at for remote
/// frees. Walks of a list go round it from where the last one stopped
/// ([`Owned::full_next`], [`Owned::avail_next`]), so a long list is covered in turns
/// and no walk is longer than its look: a thread with thousands of full slots (blocks
/// it handed to other threads) does not touch every one of their records at every
/// interval.
const SWEEP_LOOK: usize = 32;

/// Slots with blocks at hand whose slot words a sweep refreshes (the others' words
/// change only when they move between lists).
const SWEEP_PUBLISH: usize = 16;

/// One thread's slots of one class (see the module docs). Only the owning thread
/// touches it.
#[derive(Debug, Default)]
#[repr(C)]
pub struct Owned {
    avail: AtomicUsize,
    idle: AtomicUsize,
    full: AtomicUsize,
    /// Where the next walk of `full` starts: 0 (its head) or a slot on `full`. Moved
    /// past a slot before the slot leaves `full` ([`Owned::unlink`]).
    full_next: AtomicUsize,
    /// Where the next sweep's walk of `avail` starts, kept as `full_next` is.
    avail_next: AtomicUsize,
    /// Blocks remote frees gave back that this thread collected since it last folded
    /// ([`Owned::take_collected`]): they leave the class's `out` then.
    collected: AtomicU64,
}

impl Owned {
    fn head(&self, tag: u16) -> &AtomicUsize {
        match tag {
            list::AVAIL => &self.avail,
            list::FULL => &self.full,
            _ => &self.idle,
        }
    }

    /// Moves `s` (on one of this thread's lists) to the list its state calls for, and
    /// publishes its slot word when it moved (the word's block count is otherwise
    /// refreshed by the sweeps and requested drains, see [`Owned::sweep`]).
    fn settle(&self, s: &Slot) {
        let want = if s.used() == 0 {
            IDLE
        } else if s.has_local() {
            list::AVAIL
        } else {
            list::FULL
        };
        let now = s.list.load(Relaxed);
        if now == want {
            return;
        }
        if want == IDLE {
            s.retire.store(0, Relaxed);
        }
        self.unlink(now, s);
        slot_list_push(self.head(want), s, want);
        publish_slot(s);
    }

    /// Where the next walk of list `tag` starts (the idle list has no walk position).
    fn cursor(&self, tag: u16) -> Option<&AtomicUsize> {
        match tag {
            list::FULL => Some(&self.full_next),
            list::AVAIL => Some(&self.avail_next),
            _ => None,
        }
    }

    /// Takes `s` off its list `tag`, moving the list's walk position past it.
    fn unlink(&self, tag: u16, s: &Slot) {
        if let Some(cursor) = self.cursor(tag) {
            if cursor.load(Relaxed) == s as *const Slot as usize {
                cursor.store(s.next.load(Relaxed), Relaxed);
            }
        }
        slot_list_remove(self.head(tag), s);
    }

    fn note_collected(&self, n: u32) {
        if n != 0 {
            self.collected
                .store(self.collected.load(Relaxed) + n as u64, Relaxed);
        }
    }

    /// Takes the count of remotely freed blocks collected since the last call (the
    /// fold subtracts it from the class's `out`: a remote free leaves `out` when the
    /// slot's holder collects it, so that `out` only ever moves with the holder's own
    /// folds and never goes below zero).
    pub fn take_collected(&self) -> u64 {
        self.collected.swap(0, Relaxed)
    }

    /// Whether the thread owns no slot of this class.
    pub fn is_empty(&self) -> bool {
        self.avail.load(Relaxed) == 0
            && self.idle.load(Relaxed) == 0
            && self.full.load(Relaxed) == 0
    }

    /// Takes up to `out.len()` blocks of class `c` for thread `me`: from its slots with
    /// blocks at hand, then idle ones, then full ones that remote frees refilled, then
    /// an abandoned slot it adopts, then a newly acquired slot. Returns how many; 0
    /// means out of memory (`request` is the size the OOM report names).
    pub fn refill(&self, c: usize, me: u32, out: &mut [*mut u8], request: usize) -> usize {
        let bs = block_size(c);
        let mut n = 0;
        while n < out.len() {
            let mut head = self.avail.load(Relaxed);
            if head == 0 {
                head = self.idle.load(Relaxed);
            }
            if head == 0 {
                if self.collect_round(list::FULL, FULL_LOOK) {
                    continue;
                }
                let Some((ss, i)) =
                    unowned::adopt(c, me).or_else(|| superslab::acquire_slot(c, request, me))
                else {
                    break;
                };
                let s = &ss.slots[i];
                slot_list_push(&self.idle, s, IDLE);
                self.settle(s);
                continue;
            }
            let s = slot_at(head);
            let (got, collected) = s.take(bs, &mut out[n..]);
            n += got;
            self.note_collected(collected);
            self.settle(s);
        }
        n
    }

    /// Collects the remote lists of up to `look` slots of list `tag` (full or avail),
    /// going round the list from where the last walk stopped and at most once round;
    /// `true` when any block came back. A collected slot moves to the list its state
    /// calls for, never onto the list being walked.
    fn collect_round(&self, tag: u16, look: usize) -> bool {
        let Some(cursor) = self.cursor(tag) else {
            return false;
        };
        let list_head = self.head(tag);
        let head = list_head.load(Relaxed);
        if head == 0 {
            return false;
        }
        let start = match cursor.load(Relaxed) {
            0 => head,
            a => a,
        };
        let (mut a, mut wrapped, mut seen, mut found) = (start, start == head, 0, false);
        while seen < look {
            let s = slot_at(a);
            let next = s.next.load(Relaxed);
            seen += 1;
            let n = s.collect();
            if n != 0 {
                found = true;
                self.note_collected(n);
                self.settle(s);
            }
            a = next;
            if a == 0 {
                if wrapped {
                    break;
                }
                // Round to the head (which `settle` may just have changed).
                wrapped = true;
                a = list_head.load(Relaxed);
            }
            if a == 0 || wrapped && a == start {
                break;
            }
        }
        // `a` is 0 or on the list: `settle` moved only the slots already walked.
        cursor.store(a, Relaxed);
        found
    }

    /// Gives `blocks` (this thread's own blocks of this class, from its magazine) back
    /// to their slots. A block whose slot has no block out was given back already: that
    /// is a double free, and the process stops with a message.
    pub fn give_back(&self, blocks: &[*mut u8]) {
        let mut last: Option<&Slot> = None;
        for &b in blocks {
            let a = b as usize;
            // SAFETY: a block in this thread's magazine lies in a mapped SuperSlab (it
            // is out of its slot, so the slot stays ACTIVE and owned by this thread); its
            // word was published before this thread carved or collected the block.
            let s = unsafe { superslab::containing(a) }.slot_of(a);
            // SAFETY: `a` is a block start of `s` that the caller gives back; this
            // thread owns `s`.
            if !unsafe { s.give(a) } {
                crate::pal::fatal(b"slabscope: a block was freed twice (double free)");
            }
            if let Some(l) = last {
                if !core::ptr::eq(l, s) {
                    self.settle(l);
                }
            }
            last = Some(s);
        }
        if let Some(l) = last {
            self.settle(l);
        }
    }

    /// Collects every remote list and publishes every slot word (exact accounting at a
    /// requested drain).
    pub fn collect_all(&self) {
        for tag in [list::AVAIL, list::FULL] {
            let mut a = self.head(tag).load(Relaxed);
            while a != 0 {
                let s = slot_at(a);
                a = s.next.load(Relaxed);
                self.note_collected(s.collect());
                self.settle(s);
                publish_slot(s);
            }
        }
    }

    /// The interval sweep of this class: collects the remote lists of full slots and of
    /// slots with blocks at hand, refreshes the slot words of up to [`SWEEP_PUBLISH`]
    /// slots with blocks at hand when `publish` (the thread folds its counters at this
    /// interval), counts the sweeps of idle slots and retires those whose time is up
    /// ([`RETIRE_SWEEPS`], or [`LAST_RETIRE_SWEEPS`] for the last slot the thread has of
    /// the class).
    pub fn sweep(&self, publish: bool) {
        self.collect_round(list::FULL, SWEEP_LOOK);
        self.collect_round(list::AVAIL, SWEEP_LOOK);
        let mut a = if publish { self.avail.load(Relaxed) } else { 0 };
        let mut n = 0;
        while a != 0 && n < SWEEP_PUBLISH {
            let s = slot_at(a);
            a = s.next.load(Relaxed);
            publish_slot(s);
            n += 1;
        }
        let mut a = self.idle.load(Relaxed);
        while a != 0 {
            let s = slot_at(a);
            a = s.next.load(Relaxed);
            let swept = s.retire.load(Relaxed).saturating_add(1);
            s.retire.store(swept, Relaxed);
            let only = self.avail.load(Relaxed) == 0
                && self.full.load(Relaxed) == 0
                && self.idle.load(Relaxed) == s as *const Slot as usize
                && s.next.load(Relaxed) == 0;
            if swept >= LAST_RETIRE_SWEEPS || swept >= RETIRE_SWEEPS && !only {
                slot_list_remove(&self.idle, s);
                let (ss, i) = locate(s);
                superslab::retire_slot(ss, i);
            }
        }
    }

    /// Retires every idle slot now (a requested trim).
    pub fn retire_idle(&self) {
        while let Some(s) = Some(self.idle.load(Relaxed))
            .filter(|&a| a != 0)
            .map(slot_at)
        {
            slot_list_remove(&self.idle, s);
            let (ss, i) = locate(s);
            superslab::retire_slot(ss, i);
        }
    }

    /// Thread exit: every slot with all blocks back is retired, every other one is
    /// abandoned (other threads' frees keep reaching it; another thread adopts it).
    /// The magazine must have been drained and the counters folded first; what this
    /// collects leaves the class's `out` here.
    pub fn abandon_all(&self, c: usize) {
        for head in [&self.avail, &self.idle, &self.full] {
            while let Some(s) = Some(head.load(Relaxed)).filter(|&a| a != 0).map(slot_at) {
                self.unlink(s.list.load(Relaxed), s);
                self.note_collected(s.collect());
                let (ss, i) = locate(s);
                if s.used() == 0 {
                    superslab::retire_slot(ss, i);
                } else {
                    unowned::abandon(ss, i, c);
                }
            }
        }
        add(&CLASSES[c].out, -(self.take_collected() as i64));
    }
}

fn publish_slot(s: &Slot) {
    let (ss, i) = locate(s);
    ss.publish_slot(i);
}
