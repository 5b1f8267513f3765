//! Loom models of the ring protocol and the sequence lock: no interleaving lets a
//! reader return a torn event or record, and every event is accounted for. And of a
//! sparse segment's growth (`writer/backing.rs`): no interleaving of a `prepare`, a
//! grow and a claimer makes a record claimable before its page is allocated, allocates
//! a page twice, or refuses for good a claim that the grow's last doubling answers.
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p slabscope-proto --test loom --release
//! ```
//!
//! Each model uses a preemption bound of 2 unless `LOOM_MAX_PREEMPTIONS` says otherwise
//! (the bound keeps the whole file to a few minutes on 2 cores).
#![cfg(loom)]

use std::collections::HashMap;

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;

use slabscope_proto::backing::{Backing, Part, Refusal};
use slabscope_proto::layout::{EventRecord, RingControl};
use slabscope_proto::ring::{push, Cursor, PollStats, PushOutcome};
use slabscope_proto::{seqlock, Event, EventKind, Records};

const K: u64 = 0x9e37_79b9_7f4a_7c15;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.max_branches = 100_000;
    b.check(f);
}

struct Ring {
    control: RingControl,
    records: Vec<EventRecord>,
}

impl Ring {
    fn new(cap: usize) -> Arc<Self> {
        let z = || AtomicU64::new(0);
        Arc::new(Self {
            control: RingControl {
                head: z(),
                dropped: z(),
            },
            records: (0..cap)
                .map(|_| EventRecord {
                    stamp: z(),
                    time_ns: z(),
                    kind_thread: z(),
                    args: [z(), z(), z(), z(), z()],
                })
                .collect(),
        })
    }

    fn push(&self, id: u64) -> PushOutcome {
        push(
            &self.control,
            Records::from_slice(&self.records),
            u64::MAX,
            id,
            id as u32,
            &payload(id),
        )
    }

    fn poll(&self, cur: &mut Cursor, final_read: bool, out: &mut Vec<Event>) -> PollStats {
        cur.poll(
            &self.control,
            Records::from_slice(&self.records),
            usize::MAX,
            final_read,
            out,
        )
    }
}

/// Event `id`: every field derives from `id`, so a torn event cannot pass `check`.
fn payload(id: u64) -> EventKind {
    EventKind::LargeMap {
        addr: id,
        bytes: id.wrapping_mul(K),
        align: !id,
    }
}

/// Checks an event is whole and returns the writer's id.
fn check(ev: &Event) -> u64 {
    let id = ev.time_ns;
    assert_eq!(ev.thread, id as u32, "torn event {ev:?}");
    assert_eq!(ev.kind, payload(id), "torn event {ev:?}");
    id
}

/// Checks that every event returned was written (not dropped) under its sequence number,
/// and that returned + missed + abandoned covers every sequence number reserved.
fn account(ring: &Ring, outcomes: &[(u64, PushOutcome)], events: &[Event], st: PollStats) {
    let written: HashMap<u64, u64> = outcomes
        .iter()
        .filter_map(|&(id, o)| match o {
            PushOutcome::Written(seq) => Some((seq, id)),
            PushOutcome::Dropped(_) => None,
        })
        .collect();
    for ev in events {
        let id = check(ev);
        assert_eq!(
            written.get(&ev.seq),
            Some(&id),
            "event {ev:?} was written as such"
        );
    }
    let head = ring.control.head.load(Ordering::Relaxed);
    assert_eq!(head, outcomes.len() as u64);
    assert_eq!(
        events.len() as u64 + st.missed + st.abandoned,
        head,
        "every event accounted for: {st:?}"
    );
    assert_eq!((st.corrupt, st.unknown), (0, 0));
    let dropped = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, PushOutcome::Dropped(_)))
        .count() as u64;
    assert_eq!(ring.control.dropped.load(Ordering::Relaxed), dropped);
}

/// Two writers (one pushing twice) and a reader on a ring of capacity 2: seq 0 and seq 2
/// share a slot, so a writer may find it mid-write or already newer and drop its event.
#[test]
fn two_writers_and_a_reader_on_a_ring_of_two() {
    model(|| {
        let ring = Ring::new(2);
        let a = {
            let ring = ring.clone();
            thread::spawn(move || vec![(1, ring.push(1)), (2, ring.push(2))])
        };
        let b = {
            let ring = ring.clone();
            thread::spawn(move || vec![(3, ring.push(3))])
        };
        let mut cur = Cursor::default();
        let mut events = Vec::new();
        let mut st = ring.poll(&mut cur, false, &mut events);
        for ev in &events {
            check(ev);
        }
        let mut outcomes = a.join().unwrap();
        outcomes.extend(b.join().unwrap());
        st.add(ring.poll(&mut cur, true, &mut events));
        account(&ring, &outcomes, &events, st);
    });
}

/// One writer laps a reader that polls concurrently on a ring of capacity 2.
#[test]
fn a_writer_lapping_a_reader() {
    model(|| {
        let ring = Ring::new(2);
        let w = {
            let ring = ring.clone();
            thread::spawn(move || (1..=3).map(|id| (id, ring.push(id))).collect::<Vec<_>>())
        };
        let mut cur = Cursor::default();
        let mut events = Vec::new();
        let mut st = ring.poll(&mut cur, false, &mut events);
        st.add(ring.poll(&mut cur, false, &mut events));
        for ev in &events {
            check(ev);
        }
        let outcomes = w.join().unwrap();
        assert!(
            outcomes
                .iter()
                .all(|(_, o)| matches!(o, PushOutcome::Written(_))),
            "a single writer never drops"
        );
        st.add(ring.poll(&mut cur, true, &mut events));
        account(&ring, &outcomes, &events, st);
        for pair in events.windows(2) {
            assert!(pair[0].seq < pair[1].seq);
        }
    });
}

/// A record of three words under a sequence lock, updated twice while a reader reads.
#[test]
fn seqlock_reads_are_never_torn() {
    struct Rec {
        seq: AtomicU64,
        a: AtomicU64,
        b: AtomicU64,
        c: AtomicU64,
    }
    model(|| {
        let rec = Arc::new(Rec {
            seq: AtomicU64::new(2),
            a: AtomicU64::new(0),
            b: AtomicU64::new(0),
            c: AtomicU64::new(!0),
        });
        let w = {
            let rec = rec.clone();
            thread::spawn(move || {
                for n in 1..=2u64 {
                    seqlock::write(&rec.seq, || {
                        rec.a.store(n, Ordering::Relaxed);
                        rec.b.store(n.wrapping_mul(K), Ordering::Relaxed);
                        rec.c.store(!n, Ordering::Relaxed);
                    });
                }
            })
        };
        let read = || {
            seqlock::read(&rec.seq, 2, || {
                (
                    rec.a.load(Ordering::Relaxed),
                    rec.b.load(Ordering::Relaxed),
                    rec.c.load(Ordering::Relaxed),
                )
            })
        };
        let mut last = 0;
        for _ in 0..2 {
            if let Some((a, b, c)) = read() {
                assert_eq!((b, c), (a.wrapping_mul(K), !a), "torn record");
                assert!(a >= last, "a later read never sees an older record");
                last = a;
            }
        }
        w.join().unwrap();
        assert_eq!(read(), Some((2, 2u64.wrapping_mul(K), !2)));
    });
}

/// A sparse segment's sample-site records, each with a flag for its page.
struct Sites {
    backing: Backing,
    pages: Vec<loom::sync::atomic::AtomicBool>,
}

impl Sites {
    fn populate(&self, from: u64, to: u64) -> Result<(), i32> {
        for page in &self.pages[from as usize..to as usize] {
            assert!(
                !page.swap(true, Ordering::Relaxed),
                "a page allocated twice"
            );
        }
        Ok(())
    }

    /// What a claimer may write: every record below the limit it reads.
    fn check_claimable(&self) {
        let limit = self.backing.limit(Part::SampleSites) as usize;
        for page in &self.pages[..limit] {
            assert!(
                page.load(Ordering::Relaxed),
                "a claimable record without its page"
            );
        }
    }
}

#[test]
fn sample_sites_prepared_while_a_refused_claim_grows_them() {
    model(|| {
        let sites = Arc::new(Sites {
            backing: Backing::initial([4, 8, 16, 64], false),
            pages: (0..16)
                .map(|_| loom::sync::atomic::AtomicBool::new(false))
                .collect(),
        });
        let preparer = {
            let sites = sites.clone();
            thread::spawn(move || {
                sites
                    .backing
                    .prepare(Part::SampleSites, |from, to| sites.populate(from, to))
            })
        };
        let owner = {
            let sites = sites.clone();
            thread::spawn(move || {
                // A site claim refused for want of records, then the owner's grow.
                sites.backing.note_use(Part::SampleSites, 0);
                sites.backing.grow(
                    |_| 0,
                    |p, from, to| match p {
                        Part::SampleSites => sites.populate(from, to),
                        _ => Ok(()),
                    },
                );
            })
        };
        let claimer = {
            let sites = sites.clone();
            thread::spawn(move || sites.check_claimable())
        };
        let prepared = preparer.join().unwrap();
        owner.join().unwrap();
        claimer.join().unwrap();
        sites.check_claimable();
        // The grow answers the refused claim whatever the prepare managed.
        assert_eq!(sites.backing.limit(Part::SampleSites), 8);
        if prepared {
            assert!(sites.pages[..8].iter().all(|p| p.load(Ordering::Relaxed)));
        }
    });
}

/// A claim that found every allocated thread record taken races with the grow that
/// allocates the table's last records (a doubling to its capacity): it claims one of
/// them or is put off until the next grow, never refused for good. (The refusal used to
/// test `can_grow` after reading the limit: a grow ending between the two made it final,
/// and a thread of a burst went without a record.)
#[test]
fn a_claim_refused_while_the_last_doubling_ends_is_not_lost() {
    model(|| {
        // Thread records: 8 in all, the first 4 allocated and all in use.
        let b = Arc::new(Backing::initial([8, 8, 16, 64], false));
        b.note_use(Part::Threads, 4);
        let grower = {
            let b = b.clone();
            thread::spawn(move || {
                b.grow(|p| if p == Part::Threads { 4 } else { 0 }, |_, _, _| Ok(()));
            })
        };
        let claimer = {
            let b = b.clone();
            thread::spawn(move || {
                // The claimer reads the limit; above the 4 records in use it would claim
                // one of those.
                let seen = b.limit(Part::Threads);
                (seen == 4).then(|| b.refuse(Part::Threads, seen))
            })
        };
        grower.join().unwrap();
        let refusal = claimer.join().unwrap();
        assert_eq!(
            b.limit(Part::Threads),
            8,
            "the grow allocated the last records"
        );
        match refusal {
            None | Some(Refusal::PutOff) | Some(Refusal::Retry(8)) => {}
            Some(r) => panic!("a claim refused while records were allocated: {r:?}"),
        }
    });
}
