//! The event ring: many writers (allocator slow paths on any thread), any number of
//! readers in other processes that never write.
//!
//! Contract:
//! - A writer reserves sequence number `n = head.fetch_add(1)` and owns slot
//!   `n % capacity` for event `n`. It claims the slot by a CAS of the slot's `stamp` from
//!   any *even* value older than its own to `(n + 1) << 1 | 1` (odd: being written) with
//!   `Acquire` (so the previous writer's stores to the slot happen before ours), writes
//!   the fields with `Relaxed` stores, and publishes with a `Release` store of
//!   `(n + 1) << 1`. If the slot is odd (another writer, a full lap ahead or behind, is
//!   mid-write) or already holds a newer stamp, the writer drops its event and counts it
//!   in `dropped`. The ring never blocks and never waits.
//! - When full, the writer overwrites the oldest event. A reader that fell more than
//!   `capacity` events behind reports how many it missed; nothing is lost silently.
//! - A reader reads a slot as a sequence lock: stamp (`Relaxed` load + `Acquire` fence),
//!   fields, `Acquire` fence, stamp again. It returns the event only if both stamps equal
//!   `(n + 1) << 1`, so a torn record is never returned.

use crate::event::{Event, EventKind};
use crate::layout::{EventRecord, RingControl, EVENT_ARGS};
use crate::raw::Records;
use crate::stamp::{self, done};
use crate::sync::{fence, Ordering};

/// Outcome of [`push`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// Written as event `seq`.
    Written(u64),
    /// Dropped (counted in the ring's `dropped` word): its sequence number, or the head
    /// when it was dropped before getting one (no room allocated yet).
    Dropped(u64),
}

/// Appends one event. Lock-free, allocation-free, safe inside `malloc`.
///
/// `records.len()` must be a power of two (the segment writer guarantees it); on a ring
/// of any other size every event is dropped. Only the first `writable` slots may be
/// written (a growing segment allocates the ring's pages as it fills): until the ring
/// has that many events, an event that would get a later sequence number is dropped
/// before it gets one (`Dropped(head)`), so no number is given to a slot that cannot
/// be written and readers never look at one.
pub fn push(
    control: &RingControl,
    records: Records<'_, EventRecord>,
    writable: u64,
    time_ns: u64,
    thread: u32,
    kind: &EventKind,
) -> PushOutcome {
    let seq = if writable >= records.len() as u64 {
        control.head.fetch_add(1, Ordering::Relaxed)
    } else {
        let mut head = control.head.load(Ordering::Relaxed);
        loop {
            if head >= writable {
                control.dropped.fetch_add(1, Ordering::Relaxed);
                return PushOutcome::Dropped(head);
            }
            match control.head.compare_exchange_weak(
                head,
                head + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break head,
                Err(now) => head = now,
            }
        }
    };
    let rec = match records.len().is_power_of_two() {
        true => records.get((seq as usize) & (records.len() - 1)),
        false => None,
    };
    let Some(rec) = rec else {
        control.dropped.fetch_add(1, Ordering::Relaxed);
        return PushOutcome::Dropped(seq);
    };
    if !stamp::begin(&rec.stamp, seq) {
        control.dropped.fetch_add(1, Ordering::Relaxed);
        return PushOutcome::Dropped(seq);
    }
    rec.time_ns.store(time_ns, Ordering::Relaxed);
    rec.kind_thread.store(
        kind.code() as u64 | (thread as u64) << 32,
        Ordering::Relaxed,
    );
    for (slot, v) in rec.args.iter().zip(kind.args()) {
        slot.store(v, Ordering::Relaxed);
    }
    stamp::finish(&rec.stamp, seq);
    PushOutcome::Written(seq)
}

/// What one read of a slot found.
enum SlotRead {
    /// The complete event.
    Ready(Event),
    /// Not written yet, or being written now: try again later.
    Pending,
    /// Overwritten by a newer lap: the event is gone.
    Overwritten,
    /// Complete but its contents do not decode (corrupt segment).
    Corrupt,
}

fn read_slot(rec: &EventRecord, seq: u64) -> SlotRead {
    let want = done(seq);
    let s1 = rec.stamp.load(Ordering::Relaxed);
    fence(Ordering::Acquire);
    if s1 > want | 1 {
        return SlotRead::Overwritten;
    }
    if s1 != want {
        return SlotRead::Pending;
    }
    let time_ns = rec.time_ns.load(Ordering::Relaxed);
    let kt = rec.kind_thread.load(Ordering::Relaxed);
    let mut args = [0u64; EVENT_ARGS];
    for (a, slot) in args.iter_mut().zip(rec.args.iter()) {
        *a = slot.load(Ordering::Relaxed);
    }
    fence(Ordering::Acquire);
    let s2 = rec.stamp.load(Ordering::Relaxed);
    if s2 != s1 {
        return if s2 > want | 1 {
            SlotRead::Overwritten
        } else {
            SlotRead::Pending
        };
    }
    if (kt >> 16) & 0xffff != 0 {
        return SlotRead::Corrupt;
    }
    match EventKind::decode(kt as u16, args) {
        Ok(kind) => SlotRead::Ready(Event {
            seq,
            time_ns,
            thread: (kt >> 32) as u32,
            kind,
        }),
        Err(_) => SlotRead::Corrupt,
    }
}

/// What one [`Cursor::poll`] returned besides the events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PollStats {
    /// Events overwritten before this reader got to them (it fell behind).
    pub missed: u64,
    /// Events of kinds this reader does not know, skipped.
    pub unknown: u64,
    /// Events whose record failed validation, skipped.
    pub corrupt: u64,
    /// Events that stayed unwritten for `stall_polls` polls and were given up on.
    pub abandoned: u64,
}

impl PollStats {
    /// Adds another poll's figures.
    pub fn add(&mut self, o: PollStats) {
        self.missed += o.missed;
        self.unknown += o.unknown;
        self.corrupt += o.corrupt;
        self.abandoned += o.abandoned;
    }
}

/// A reader's position in the ring.
#[derive(Clone, Debug)]
pub struct Cursor {
    next: u64,
    stalled_polls: u32,
    /// Polls an unwritten slot may hold the cursor before it is abandoned (default 5).
    pub stall_polls: u32,
    /// Totals over the cursor's life.
    pub totals: PollStats,
}

impl Default for Cursor {
    fn default() -> Self {
        Self::from_seq(0)
    }
}

impl Cursor {
    /// A cursor that starts at event `seq` (0 = from the oldest event still in the ring).
    pub fn from_seq(seq: u64) -> Self {
        Self {
            next: seq,
            stalled_polls: 0,
            stall_polls: 5,
            totals: PollStats::default(),
        }
    }

    /// The sequence number of the next event this cursor will return.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Reads every event published since the last poll (at most `max`), appending them
    /// to `out`. Events skipped (missed, unknown, corrupt, abandoned) are counted.
    ///
    /// `final_read`: the writer is gone (post-mortem); slots still unwritten are
    /// abandoned at once instead of waited for.
    pub fn poll(
        &mut self,
        control: &RingControl,
        records: Records<'_, EventRecord>,
        max: usize,
        final_read: bool,
        out: &mut Vec<Event>,
    ) -> PollStats {
        let mut st = PollStats::default();
        let cap = records.len() as u64;
        if cap == 0 || !records.len().is_power_of_two() {
            return st;
        }
        let head = control.head.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if head < self.next {
            // The writer restarted or the segment is corrupt: resynchronise.
            self.next = head.saturating_sub(cap);
        }
        if head - self.next > cap {
            st.missed += head - self.next - cap;
            self.next = head - cap;
        }
        let mut taken = 0;
        while self.next < head && taken < max {
            let Some(rec) = records.get((self.next & (cap - 1)) as usize) else {
                break;
            };
            match read_slot(rec, self.next) {
                SlotRead::Ready(ev) => {
                    if matches!(ev.kind, EventKind::Unknown { .. }) {
                        st.unknown += 1;
                    } else {
                        out.push(ev);
                        taken += 1;
                    }
                }
                SlotRead::Overwritten => st.missed += 1,
                SlotRead::Corrupt => st.corrupt += 1,
                SlotRead::Pending => {
                    if final_read || self.stalled_polls >= self.stall_polls {
                        st.abandoned += 1;
                    } else {
                        self.stalled_polls += 1;
                        break;
                    }
                }
            }
            self.stalled_polls = 0;
            self.next += 1;
        }
        self.totals.add(st);
        st
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::event::DrainReason;
    use crate::sync::AtomicU64;

    fn ring(cap: usize) -> (RingControl, Vec<EventRecord>) {
        let z = || AtomicU64::new(0);
        let recs = (0..cap)
            .map(|_| EventRecord {
                stamp: z(),
                time_ns: z(),
                kind_thread: z(),
                args: [z(), z(), z(), z(), z()],
            })
            .collect();
        (
            RingControl {
                head: z(),
                dropped: z(),
            },
            recs,
        )
    }

    fn drain(i: u64) -> EventKind {
        EventKind::MagazineDrain {
            class: (i % 7) as u32,
            blocks: i,
            reason: DrainReason::Overflow,
        }
    }

    #[test]
    fn events_come_back_in_order_with_their_fields() {
        let (c, r) = ring(8);
        for i in 0..5 {
            assert_eq!(
                push(
                    &c,
                    Records::from_slice(&r),
                    u64::MAX,
                    100 + i,
                    42,
                    &drain(i)
                ),
                PushOutcome::Written(i)
            );
        }
        let mut cur = Cursor::default();
        let mut out = Vec::new();
        let st = cur.poll(&c, Records::from_slice(&r), usize::MAX, false, &mut out);
        assert_eq!(st, PollStats::default());
        assert_eq!(out.len(), 5);
        for (i, ev) in out.iter().enumerate() {
            assert_eq!(ev.seq, i as u64);
            assert_eq!(ev.time_ns, 100 + i as u64);
            assert_eq!(ev.thread, 42);
            assert_eq!(ev.kind, drain(i as u64));
        }
    }

    #[test]
    fn a_reader_that_fell_behind_counts_exactly_what_it_missed() {
        let (c, r) = ring(8);
        for i in 0..21 {
            push(&c, Records::from_slice(&r), u64::MAX, i, 1, &drain(i));
        }
        let mut cur = Cursor::default();
        let mut out = Vec::new();
        let st = cur.poll(&c, Records::from_slice(&r), usize::MAX, false, &mut out);
        assert_eq!(st.missed, 13);
        assert_eq!(
            out.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (13..21).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_slot_being_written_holds_the_cursor_then_is_abandoned() {
        let (c, r) = ring(8);
        push(&c, Records::from_slice(&r), u64::MAX, 1, 1, &drain(0));
        // Reserve seq 1 without writing it, as a writer preempted after fetch_add would.
        c.head.fetch_add(1, Ordering::Relaxed);
        push(&c, Records::from_slice(&r), u64::MAX, 3, 1, &drain(2));
        let mut cur = Cursor {
            stall_polls: 2,
            ..Cursor::default()
        };
        let mut out = Vec::new();
        cur.poll(&c, Records::from_slice(&r), usize::MAX, false, &mut out);
        assert_eq!(out.len(), 1);
        cur.poll(&c, Records::from_slice(&r), usize::MAX, false, &mut out);
        assert_eq!(out.len(), 1, "still waiting for seq 1 after two polls");
        let st = cur.poll(&c, Records::from_slice(&r), usize::MAX, false, &mut out);
        assert_eq!(st.abandoned, 1);
        assert_eq!(out.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![0, 2]);
    }

    #[test]
    fn no_sequence_number_is_given_past_the_writable_slots() {
        let (c, r) = ring(8);
        for i in 0..3 {
            assert_eq!(
                push(&c, Records::from_slice(&r), 3, i, 1, &drain(i)),
                PushOutcome::Written(i)
            );
        }
        // The fourth waits for its slot to be allocated: no number, counted.
        assert_eq!(
            push(&c, Records::from_slice(&r), 3, 9, 1, &drain(9)),
            PushOutcome::Dropped(3)
        );
        assert_eq!(c.head.load(Ordering::Relaxed), 3);
        assert_eq!(c.dropped.load(Ordering::Relaxed), 1);
        // Once more is writable, numbering goes on where it stopped.
        assert_eq!(
            push(&c, Records::from_slice(&r), 8, 10, 1, &drain(10)),
            PushOutcome::Written(3)
        );
        let mut cur = Cursor::from_seq(0);
        let mut out = Vec::new();
        let st = cur.poll(&c, Records::from_slice(&r), usize::MAX, false, &mut out);
        assert_eq!(out.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(st.missed, 0);
    }

    #[test]
    fn a_lapped_writer_drops_its_event_and_counts_it() {
        let (c, r) = ring(2);
        // Slot 0 is mid-write by event 2 (a lap ahead of the slow writer of event 0).
        c.head.store(2, Ordering::Relaxed);
        r[0].stamp.store(done(2) | 1, Ordering::Relaxed);
        c.head.store(4, Ordering::Relaxed);
        assert_eq!(
            push(&c, Records::from_slice(&r), u64::MAX, 0, 0, &drain(4)),
            PushOutcome::Dropped(4)
        );
        assert_eq!(c.dropped.load(Ordering::Relaxed), 1);
    }
}
