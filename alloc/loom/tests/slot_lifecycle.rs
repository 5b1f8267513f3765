//! Loom models of the slot lifecycle, on the allocator's own `slot.rs`: remote frees
//! against the owner's collect, a batched chain against a take, abandon and adopt
//! while remote frees go on, and the retire of two slots by two owners with blocks
//! crossing between them, where the last retire returns the SuperSlab.
//!
//! Each model checks what the lifetime rule rests on: every block given back is
//! collected exactly once, `used` never goes below zero, and a holder sees `used == 0`
//! only once every block is back (so no other thread can still hold one and touch the
//! slot after it is retired).
//!
//! Every racing role runs on a spawned thread, the owner's too. With the owner's part on
//! the model's main thread, loom ran it before the spawned threads' pushes in every
//! execution it explored (counted: the owner's early collect never saw a remote free, in
//! 54 executions of that model; 57,938 with the owner on a thread of its own, 38,648 of
//! them with frees to collect early).
#![cfg(loom)]

use std::collections::BTreeSet;
use std::sync::atomic::Ordering::Relaxed;

use loom::sync::atomic::AtomicU32;
use loom::sync::{Arc, Mutex};
use loom::thread;
use slabscope_loom::slot::{count_word, write_link, Slot};

/// Block size of the models' class.
const BS: usize = 16;

/// Memory for `n` blocks, 16-byte aligned, alive for the whole model.
struct Blocks(Box<[[u64; 2]]>);

impl Blocks {
    fn new(n: usize) -> Blocks {
        Blocks(vec![[0u64; 2]; n].into_boxed_slice())
    }

    fn start(&self) -> usize {
        self.0.as_ptr() as usize
    }
}

fn slot(blocks: &Blocks, capacity: u32) -> Slot {
    Slot::detached(blocks.start(), capacity)
}

fn take(s: &Slot, n: usize) -> Vec<usize> {
    let mut out = vec![core::ptr::null_mut(); n];
    let (got, _) = s.take(BS, &mut out);
    out[..got].iter().map(|&p| p as usize).collect()
}

fn distinct(v: &[usize]) -> bool {
    v.iter().collect::<BTreeSet<_>>().len() == v.len()
}

#[test]
fn remote_frees_race_the_owners_collect() {
    loom::model(|| {
        let mem = Arc::new(Blocks::new(4));
        let s = Arc::new(slot(&mem, 4));
        let got = take(&s, 3);
        assert_eq!(got.len(), 3);
        let pushers: Vec<_> = [got[0], got[1]]
            .into_iter()
            .map(|b| {
                let s = s.clone();
                // SAFETY: each pusher owns its block, a block of `s`.
                thread::spawn(move || unsafe { s.push_remote(b, b, 1) })
            })
            .collect();
        // The owner, meanwhile: collects what is there, gives its own block back. On a
        // thread of its own: loom interleaves spawned threads with each other, not with
        // what the model's main thread does before it joins them.
        let owner = {
            let s = s.clone();
            let own = got[2];
            thread::spawn(move || {
                let early = s.collect();
                // SAFETY: the owner's block of its slot.
                assert!(unsafe { s.give(own) });
                early
            })
        };
        for p in pushers {
            p.join().unwrap();
        }
        let early = owner.join().unwrap();
        let late = s.collect();
        assert_eq!(early + late, 2, "each remote free collected once");
        assert_eq!(s.used(), 0, "every block back");
        // Everything is handed out again, each block once: the local list, the
        // collected containers, the one block never carved.
        let all = take(&s, 8);
        assert_eq!(all.len(), 4, "{all:?}");
        assert!(distinct(&all));
        assert!(!s.has_local() && !s.has_remote());
    });
}

#[test]
fn a_batched_chain_meets_a_take_that_collects() {
    loom::model(|| {
        let mem = Arc::new(Blocks::new(3));
        let s = Arc::new(slot(&mem, 3));
        let got = take(&s, 3);
        let (a, b, c) = (got[0], got[1], got[2]);
        let chain = {
            let s = s.clone();
            thread::spawn(move || {
                // A remote batch of two containers of one block each, linked a -> b,
                // pushed with one CAS (their count words are 0: zeroed memory).
                // SAFETY: the thread owns `a` and `b`.
                unsafe {
                    write_link(a, b);
                    s.push_remote(a, b, 2);
                }
            })
        };
        let single = {
            let s = s.clone();
            // SAFETY: the thread owns `c`.
            thread::spawn(move || unsafe { s.push_remote(c, c, 1) })
        };
        // The owner refills while the frees arrive: whatever it takes was given back (on
        // a thread of its own, to be interleaved with the frees).
        let owner = {
            let s = s.clone();
            thread::spawn(move || take(&s, 3))
        };
        chain.join().unwrap();
        single.join().unwrap();
        let first = owner.join().unwrap();
        let rest = take(&s, 3);
        let all: Vec<usize> = first.iter().chain(rest.iter()).copied().collect();
        assert_eq!(all.len(), 3, "every block handed out again once: {all:?}");
        assert!(distinct(&all));
        assert_eq!(s.used(), 3);
        assert!(!s.has_remote());
    });
}

#[test]
fn abandon_and_adopt_while_remote_frees_go_on() {
    loom::model(|| {
        let mem = Arc::new(Blocks::new(2));
        let s = Arc::new(slot(&mem, 2));
        let got = take(&s, 2);
        let (own, given) = (got[0], got[1]);
        // The class lock and its abandoned list (one entry).
        let abandoned: Arc<Mutex<Option<Arc<Slot>>>> = Arc::new(Mutex::new(None));
        let retired = Arc::new(AtomicU32::new(0));
        let owner = {
            let (s, abandoned) = (s.clone(), abandoned.clone());
            thread::spawn(move || {
                // SAFETY: the owner's own block.
                assert!(unsafe { s.give(own) });
                s.collect();
                // Exits with `given` still out: abandons the slot under the class lock.
                *abandoned.lock().unwrap() = Some(s);
            })
        };
        let remote = {
            let s = s.clone();
            // SAFETY: this thread owns `given`.
            thread::spawn(move || unsafe { s.push_remote(given, given, 1) })
        };
        let adopter = {
            let (abandoned, retired) = (abandoned.clone(), retired.clone());
            thread::spawn(move || {
                let s = loop {
                    if let Some(s) = abandoned.lock().unwrap().take() {
                        break s;
                    }
                    thread::yield_now();
                };
                s.collect();
                if s.used() == 0 {
                    retired.fetch_add(1, Relaxed);
                }
                s
            })
        };
        owner.join().unwrap();
        remote.join().unwrap();
        let s = adopter.join().unwrap();
        // The adopter is the holder; a later sweep of it collects the rest.
        if s.collect() != 0 || retired.load(Relaxed) == 0 {
            assert_eq!(s.used(), 0);
            retired.fetch_add(1, Relaxed);
        }
        assert_eq!(retired.load(Relaxed), 1, "retired exactly once");
        let all = take(&s, 8);
        assert_eq!(all.len(), 2, "{all:?}");
        assert!(distinct(&all));
    });
}

#[test]
fn the_last_retire_returns_the_superslab_with_every_block_back() {
    loom::model(|| {
        let mem0 = Arc::new(Blocks::new(2));
        let mem1 = Arc::new(Blocks::new(2));
        let s0 = Arc::new(slot(&mem0, 2));
        let s1 = Arc::new(slot(&mem1, 2));
        // Each owner holds one block of its slot and one of the other's.
        let a = take(&s0, 2);
        let b = take(&s1, 2);
        let active = Arc::new(AtomicU32::new(2));
        let returned = Arc::new(AtomicU32::new(0));
        let owner = |mine: Arc<Slot>, other: Arc<Slot>, own: usize, theirs: usize| {
            let (active, returned) = (active.clone(), returned.clone());
            let (m0, m1) = (s0.clone(), s1.clone());
            thread::spawn(move || {
                // SAFETY: the thread owns both blocks; `theirs` is a block of `other`.
                unsafe {
                    assert!(mine.give(own));
                    other.push_remote(theirs, theirs, 1);
                }
                while mine.used() != 0 {
                    if mine.collect() == 0 {
                        thread::yield_now();
                    }
                }
                // Retired; the last slot to retire returns the SuperSlab.
                if active.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
                    assert_eq!(m0.used() + m1.used(), 0, "a block still out");
                    assert!(!m0.has_remote() && !m1.has_remote());
                    returned.fetch_add(1, Relaxed);
                }
            })
        };
        let t0 = owner(s0.clone(), s1.clone(), a[0], b[1]);
        let t1 = owner(s1.clone(), s0.clone(), b[0], a[1]);
        t0.join().unwrap();
        t1.join().unwrap();
        assert_eq!(returned.load(Relaxed), 1);
    });
}

#[test]
fn a_container_hands_out_the_blocks_it_names() {
    loom::model(|| {
        // 32-byte blocks: a container holds its own two words and two addresses.
        let mem: Arc<Box<[[u64; 4]]>> = Arc::new(vec![[0u64; 4]; 3].into_boxed_slice());
        let s = Arc::new(Slot::detached(mem.as_ptr() as usize, 3));
        let mut out = [core::ptr::null_mut(); 3];
        assert_eq!(s.take(32, &mut out).0, 3);
        let b: Vec<usize> = out.iter().map(|&p| p as usize).collect();
        let remote = {
            let (s, b) = (s.clone(), b.clone());
            thread::spawn(move || {
                // SAFETY: this thread owns the three blocks: b[0] becomes a container
                // naming b[1] and b[2], pushed with one CAS.
                unsafe {
                    let c = b[0] as *mut usize;
                    c.add(1).write(count_word(2, 2));
                    c.add(2).write(b[1]);
                    c.add(3).write(b[2]);
                    s.push_remote(b[0], b[0], 3);
                }
            })
        };
        // The owner takes meanwhile, on a thread of its own to be interleaved with the
        // push.
        let owner = {
            let s = s.clone();
            thread::spawn(move || {
                let mut first = [core::ptr::null_mut(); 2];
                let (early, _) = s.take(32, &mut first);
                first[..early]
                    .iter()
                    .map(|&p| p as usize)
                    .collect::<Vec<_>>()
            })
        };
        remote.join().unwrap();
        let first = owner.join().unwrap();
        let mut rest = [core::ptr::null_mut(); 3];
        let (late, _) = s.take(32, &mut rest);
        let all: Vec<usize> = first
            .iter()
            .copied()
            .chain(rest[..late].iter().map(|&p| p as usize))
            .collect();
        assert_eq!(all.len(), 3, "{all:?}");
        assert!(distinct(&all));
        assert_eq!(s.used(), 3);
    });
}
