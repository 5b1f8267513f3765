//! The heap error table (protocol 1.4): the [`HEAP_ERROR_SLOTS`] most recent heap errors
//! `SLABSCOPE_CHECK` found, appended to the header at [`crate::layout::HEAP_ERROR_TABLE_OFFSET`].
//!
//! Contract:
//! - Writers: any thread of the writer process, several at once (two threads may find
//!   errors together). A writer takes number `n = next.fetch_add(1)` and owns record
//!   `n % HEAP_ERROR_SLOTS` for error `n`. It claims the record by a CAS of its `stamp`
//!   from an *even* value older than its own to `(n + 1) << 1 | 1` (odd: being written)
//!   with `Acquire`, writes the fields with `Relaxed` stores after a `Release` fence, and
//!   publishes with a `Release` store of `(n + 1) << 1`: the ring's slot protocol
//!   (`ring.rs`), for the same reason. If the record is odd (a writer a lap away is
//!   mid-write) or already holds a newer error, the writer leaves it: the error is still
//!   counted in the header's `totals.heap_errors` and pushed to the ring. Never waits,
//!   never allocates.
//! - Readers: load `next` (then an `Acquire` fence) and read errors
//!   `next - HEAP_ERROR_SLOTS .. next`, oldest first, each as a sequence lock against
//!   `(n + 1) << 1`: stamp, fence, fields, fence, stamp. A record whose stamps are not
//!   both that value (not written yet, being written, overwritten by a newer error) is
//!   skipped; a torn record is never returned.
//!
//! A segment older than 1.4 has a 616-byte header and no table: readers look for it only
//! when `header_size >=` [`crate::layout::HEADER_BYTES`].

use crate::heap_error::{
    HeapError, HeapErrorKind, HeapErrorOp, InvalidReason, HEAP_ERROR_LARGE, HEAP_ERROR_NO_CLASS,
};
use crate::stamp::{self, done};
use crate::sync::{fence, AtomicU32, AtomicU64, Ordering};

/// Records in the table: the most recent errors kept.
pub const HEAP_ERROR_SLOTS: usize = 16;
/// [`HeapErrorRecord::requested`] and [`HeapErrorRecord::offset`] when not known.
pub const HEAP_ERROR_UNKNOWN: u64 = u64::MAX;
/// [`HeapErrorRecord::site`] of a block that was not sampled.
pub const HEAP_ERROR_NO_SITE: u32 = u32::MAX;

/// One heap error.
#[repr(C)]
#[derive(Debug)]
pub struct HeapErrorRecord {
    /// `(n + 1) << 1` once error `n` is complete, `| 1` while it is written; 0 never
    /// written.
    pub stamp: AtomicU64,
    /// `CLOCK_MONOTONIC` ns when the error was found.
    pub time_ns: AtomicU64,
    /// The address passed to the call (the block's start for a write after free).
    pub address: AtomicU64,
    /// The block's size in bytes (0 when the address is in no block).
    pub block_bytes: AtomicU64,
    /// Bytes requested for the block, [`HEAP_ERROR_UNKNOWN`] when not known.
    pub requested: AtomicU64,
    /// Offset in the block of the first byte found changed, [`HEAP_ERROR_UNKNOWN`] when
    /// not known.
    pub offset: AtomicU64,
    /// [`pack_what`]: `kind | op << 8 | reason << 16`; bits 24..32 zero.
    pub what: AtomicU32,
    /// Size class, `HEAP_ERROR_LARGE` or `HEAP_ERROR_NO_CLASS`.
    pub class: AtomicU32,
    /// Kernel tid of the thread that found it.
    pub thread: AtomicU32,
    /// Sample-site record of the block, [`HEAP_ERROR_NO_SITE`] when not sampled.
    pub site: AtomicU32,
}

/// The table, appended to the header (1.4).
#[repr(C)]
#[derive(Debug)]
pub struct HeapErrorTable {
    /// Errors ever recorded: the next error gets number `next`. `fetch_add` by writers.
    pub next: AtomicU64,
    /// Error `n` lives in record `n % HEAP_ERROR_SLOTS`.
    pub records: [HeapErrorRecord; HEAP_ERROR_SLOTS],
}

#[cfg(not(loom))]
const _: () = {
    use core::mem::{align_of, size_of};
    assert!(size_of::<HeapErrorRecord>() == 64);
    assert!(size_of::<HeapErrorTable>() == 8 + 64 * HEAP_ERROR_SLOTS);
    assert!(align_of::<HeapErrorTable>() == 8);
};

/// Packs what went wrong into one word: `kind | op << 8 | reason << 16` (the table's
/// `what` word and bits 0..24 of the ring event's second argument).
pub const fn pack_what(kind: HeapErrorKind, op: HeapErrorOp, reason: InvalidReason) -> u32 {
    kind as u32 | (op as u32) << 8 | (reason as u32) << 16
}

/// Unpacks a [`pack_what`] word; `Err` for an unknown kind, op or reason, or stray bits.
pub fn unpack_what(w: u32) -> Result<(HeapErrorKind, HeapErrorOp, InvalidReason), &'static str> {
    if w >> 24 != 0 {
        return Err("heap error word has stray bits");
    }
    let kind = HeapErrorKind::from_u8(w as u8).ok_or("heap error kind unknown")?;
    let op = HeapErrorOp::from_u8((w >> 8) as u8).ok_or("heap error op unknown")?;
    let r = (w >> 16) as u8;
    let reason = InvalidReason::from_u8(r);
    if reason as u8 != r {
        return Err("invalid-free reason unknown");
    }
    Ok((kind, op, reason))
}

/// Whether `class` is a class of a segment of `class_count` classes or one of the two
/// markers ([`HEAP_ERROR_LARGE`], [`HEAP_ERROR_NO_CLASS`]).
pub const fn class_ok(class: u32, class_count: u32) -> bool {
    class < class_count || class == HEAP_ERROR_LARGE || class == HEAP_ERROR_NO_CLASS
}

/// Records `e` at `time_ns` (its own `time_ns` is not used). Lock-free, allocation-free,
/// safe inside `malloc`. Returns the error's number, or `None` when its record was left
/// (see the module's contract).
pub fn record(table: &HeapErrorTable, e: &HeapError, time_ns: u64) -> Option<u64> {
    let n = table.next.fetch_add(1, Ordering::Relaxed);
    let rec = &table.records[(n % HEAP_ERROR_SLOTS as u64) as usize];
    if !stamp::begin(&rec.stamp, n) {
        return None;
    }
    let r = Ordering::Relaxed;
    rec.time_ns.store(time_ns, r);
    rec.address.store(e.address, r);
    rec.block_bytes.store(e.block_bytes, r);
    rec.requested
        .store(e.requested.unwrap_or(HEAP_ERROR_UNKNOWN), r);
    rec.offset.store(e.offset.unwrap_or(HEAP_ERROR_UNKNOWN), r);
    rec.what.store(pack_what(e.kind, e.op, e.reason), r);
    rec.class.store(e.class, r);
    rec.thread.store(e.thread, r);
    rec.site.store(e.site.unwrap_or(HEAP_ERROR_NO_SITE), r);
    stamp::finish(&rec.stamp, n);
    Some(n)
}

/// A record's fields, copied under its stamp.
struct Fields {
    time_ns: u64,
    address: u64,
    block_bytes: u64,
    requested: u64,
    offset: u64,
    what: u32,
    class: u32,
    thread: u32,
    site: u32,
}

fn copy(rec: &HeapErrorRecord) -> Fields {
    let r = Ordering::Relaxed;
    Fields {
        time_ns: rec.time_ns.load(r),
        address: rec.address.load(r),
        block_bytes: rec.block_bytes.load(r),
        requested: rec.requested.load(r),
        offset: rec.offset.load(r),
        what: rec.what.load(r),
        class: rec.class.load(r),
        thread: rec.thread.load(r),
        site: rec.site.load(r),
    }
}

/// What [`read`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableRead {
    /// The complete errors still in the table, oldest first.
    pub errors: Vec<HeapError>,
    /// Records skipped because a writer was writing them during the read.
    pub busy: u64,
}

/// Reads the errors still in `table`, oldest first, trying each record up to `attempts`
/// times while a writer holds it. `Err` with the record's index and a reason for a
/// complete record that does not decode (a kind, op or reason unknown, a class not of
/// `class_count` classes).
pub fn read(
    table: &HeapErrorTable,
    class_count: u32,
    attempts: u32,
) -> Result<TableRead, (u32, String)> {
    let next = table.next.load(Ordering::Relaxed);
    fence(Ordering::Acquire);
    let mut out = TableRead::default();
    for n in next.saturating_sub(HEAP_ERROR_SLOTS as u64)..next {
        let index = (n % HEAP_ERROR_SLOTS as u64) as u32;
        let rec = &table.records[index as usize];
        let want = done(n);
        let mut got = None;
        let mut overwritten = false;
        let mut writing = false;
        for _ in 0..attempts.max(1) {
            let s1 = rec.stamp.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            writing = s1 & 1 == 1;
            if s1 > want | 1 {
                overwritten = true;
                break;
            }
            if s1 != want {
                core::hint::spin_loop();
                continue;
            }
            let c = copy(rec);
            fence(Ordering::Acquire);
            if rec.stamp.load(Ordering::Relaxed) == s1 {
                got = Some(c);
                break;
            }
        }
        let Some(c) = got else {
            // Overwritten: a newer error took the record after `next` was read, not this
            // one's to show. An even older stamp: its writer has not claimed the record
            // yet, or gave it up (a lapping writer held it); only a record being written
            // is busy, or a record a writer gave up would count as busy until the next
            // lap.
            out.busy += u64::from(!overwritten && writing);
            continue;
        };
        let (kind, op, reason) =
            unpack_what(c.what).map_err(|why| (index, format!("error {n}: {why}")))?;
        if !class_ok(c.class, class_count) {
            return Err((
                index,
                format!(
                    "error {n}: class {} is not a class of the {class_count} the segment has",
                    c.class
                ),
            ));
        }
        let known = |v: u64| (v != HEAP_ERROR_UNKNOWN).then_some(v);
        out.errors.push(HeapError {
            kind,
            op,
            reason,
            address: c.address,
            class: c.class,
            block_bytes: c.block_bytes,
            requested: known(c.requested),
            offset: known(c.offset),
            thread: c.thread,
            site: (c.site != HEAP_ERROR_NO_SITE).then_some(c.site),
            time_ns: c.time_ns,
        });
    }
    Ok(out)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn table() -> Box<HeapErrorTable> {
        Box::new(HeapErrorTable {
            next: AtomicU64::new(0),
            records: core::array::from_fn(|_| HeapErrorRecord {
                stamp: AtomicU64::new(0),
                time_ns: AtomicU64::new(0),
                address: AtomicU64::new(0),
                block_bytes: AtomicU64::new(0),
                requested: AtomicU64::new(0),
                offset: AtomicU64::new(0),
                what: AtomicU32::new(0),
                class: AtomicU32::new(0),
                thread: AtomicU32::new(0),
                site: AtomicU32::new(0),
            }),
        })
    }

    fn error(i: u64) -> HeapError {
        HeapError {
            kind: HeapErrorKind::ALL[(i % 4) as usize],
            op: HeapErrorOp::Free,
            reason: if i % 4 == 1 {
                InvalidReason::Interior
            } else {
                InvalidReason::None
            },
            address: 0x7f00_0000_0000 + i * 64,
            class: (i % 3) as u32,
            block_bytes: 64,
            requested: i.is_multiple_of(2).then_some(50),
            offset: (i % 4 >= 2).then_some(52),
            thread: 7,
            site: (i == 3).then_some(2),
            time_ns: 0,
        }
    }

    #[test]
    fn what_round_trips_and_unknowns_are_refused() {
        for k in HeapErrorKind::ALL {
            for op in [HeapErrorOp::Alloc, HeapErrorOp::Free, HeapErrorOp::Realloc] {
                for r in [InvalidReason::None, InvalidReason::NotLive] {
                    assert_eq!(unpack_what(pack_what(k, op, r)), Ok((k, op, r)));
                }
            }
        }
        assert!(unpack_what(0).is_err());
        assert!(unpack_what(5 | 1 << 8).is_err());
        assert!(unpack_what(1 | 4 << 8).is_err());
        assert!(unpack_what(1 | 1 << 8 | 5 << 16).is_err());
        assert!(unpack_what(1 | 1 << 8 | 1 << 24).is_err());
    }

    #[test]
    fn the_most_recent_errors_are_kept_oldest_first() {
        let t = table();
        assert_eq!(read(&t, 4, 4), Ok(TableRead::default()));
        for i in 0..20 {
            assert_eq!(record(&t, &error(i), 100 + i), Some(i));
        }
        let got = read(&t, 4, 4).unwrap();
        assert_eq!(got.busy, 0);
        assert_eq!(got.errors.len(), HEAP_ERROR_SLOTS);
        for (e, i) in got.errors.iter().zip(4..) {
            assert_eq!(
                *e,
                HeapError {
                    time_ns: 100 + i,
                    ..error(i)
                }
            );
        }
    }

    #[test]
    fn records_held_by_a_writer_are_skipped_and_bad_ones_refused() {
        let t = table();
        record(&t, &error(0), 1);
        record(&t, &error(1), 2);
        // Error 2 numbered, its record not claimed yet (or given up: both read as an
        // older stamp, not busy); error 1 being rewritten (busy).
        t.next.fetch_add(1, Ordering::Relaxed);
        t.records[1].stamp.store(done(1) | 1, Ordering::Relaxed);
        let got = read(&t, 4, 3).unwrap();
        assert_eq!((got.errors.len(), got.busy), (1, 1));
        t.records[2].stamp.store(done(2) | 1, Ordering::Relaxed);
        assert_eq!(read(&t, 4, 3).unwrap().busy, 2, "error 2 being written");
        t.records[2].stamp.store(0, Ordering::Relaxed);
        t.records[1].stamp.store(done(1), Ordering::Relaxed);
        t.records[1].class.store(9, Ordering::Relaxed);
        assert!(read(&t, 4, 3).unwrap_err().1.contains("class 9"));
        t.records[1]
            .class
            .store(HEAP_ERROR_LARGE, Ordering::Relaxed);
        t.records[1].what.store(7, Ordering::Relaxed);
        assert_eq!(read(&t, 4, 3).unwrap_err().0, 1);
        // A hostile `next` near the top of the range neither panics nor returns data.
        t.next.store(u64::MAX, Ordering::Relaxed);
        assert_eq!(read(&t, 4, 3).unwrap().errors, vec![]);
    }
}
