//! No recursion into the allocator: threads start and exit repeatedly (thread-local
//! set-up and teardown are where allocators re-enter themselves) while publishing is on
//! and events flow, with debug tracing off and on.

mod common;

use std::sync::{Arc, Mutex};

use slabscope::raw;
use slabscope_proto::EventKind;

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

/// The same churn with debug tracing at its most verbose: the subscriber allocates
/// (formatting, filtering) on every thread while threads start and exit.
#[cfg(feature = "trace")]
#[test]
fn four_threads_starting_and_exiting_with_tracing_on() {
    if common::in_child() {
        return;
    }
    let dir = common::shm_dir();
    let log = dir.path().join("trace.log");
    common::run_child(
        "four_threads_starting_and_exiting_with_publishing_on",
        dir.path(),
        &[
            ("SLABSCOPE_DRAIN_INTERVAL", "64"),
            ("SLABSCOPE_MAX_THREADS", "8"),
            ("SLABSCOPE_LOG", "slabscope=trace"),
            ("SLABSCOPE_LOG_FILE", log.to_str().expect("utf-8 temp path")),
        ],
    );
    let text = std::fs::read_to_string(&log).expect("trace file");
    assert!(text.contains("slabscope::slot: acquire"), "{text}");
    assert!(text.contains("slabscope::drain: drain"), "{text}");
}

#[test]
fn four_threads_starting_and_exiting_with_publishing_on() {
    if common::respawned(
        "four_threads_starting_and_exiting_with_publishing_on",
        &[
            ("SLABSCOPE_DRAIN_INTERVAL", "64"),
            ("SLABSCOPE_MAX_THREADS", "8"),
        ],
    ) {
        return;
    }
    let r = common::open_own();
    let rounds = if cfg!(debug_assertions) { 60 } else { 400 };
    let tracing = std::env::var_os("SLABSCOPE_LOG").is_some();
    let shared: Arc<Mutex<Vec<usize>>> = Arc::new(Mutex::new(Vec::new()));
    for round in 0..rounds {
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("churn-{round}-{t}"))
                    .spawn(move || {
                        let mut rng = common::Rng((round * 4 + t + 1) as u64);
                        let mut mine: Vec<Vec<u8>> = Vec::new();
                        for _ in 0..300 {
                            let n = 1 + rng.below(3000) as usize;
                            mine.push(vec![t as u8; n]);
                        }
                        // Hand some blocks to whichever thread runs next (remote frees).
                        let mut s = shared.lock().unwrap();
                        for p in s.drain(..) {
                            // SAFETY: blocks another thread left for us to free.
                            unsafe { raw::free(p as *mut u8) };
                        }
                        for _ in 0..50 {
                            s.push(raw::alloc(1 + rng.below(500) as usize, 16) as usize);
                        }
                        drop(s);
                        assert!(mine.iter().all(|v| v.iter().all(|&b| b == t as u8)));
                        if tracing && t == 0 {
                            // A thread's drain events reach the subscriber only while
                            // its thread-local storage lives: its exit drain's reach the
                            // ring alone, and an optimised build's threads end before
                            // their interval drains publish (at most every 50 ms).
                            raw::drain_thread();
                        }
                        // Exits holding magazines: the key destructor drains them.
                    })
                    .unwrap()
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    }
    for p in shared.lock().unwrap().drain(..) {
        // SAFETY: blocks left over by the last threads.
        unsafe { raw::free(p as *mut u8) };
    }
    let events = common::all_events(&r);
    let exits = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ThreadExit { .. }))
        .count();
    assert!(exits >= 4, "thread exit events flow: {exits}");
    assert!(common::has_event(&events, |k| matches!(
        k,
        EventKind::MagazineDrain { .. }
    )));
    let snap = r.snapshot().unwrap();
    assert!(
        snap.ring.head >= (rounds * 4) as u64,
        "ring: {:?}",
        snap.ring
    );
    // Records of exited threads are reused: 8 records served every thread.
    assert!(snap.threads.len() <= 8);
    let t = raw::stats().totals;
    assert_eq!(t.foreign_frees, 0);
}

static LATE_DONE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

unsafe extern "C" fn late_destructor(_value: *mut libc::c_void) {
    // Runs after slabscope's own key destructor drained this thread's magazines: these
    // calls take the global path.
    let mut ok = true;
    for size in [16usize, 100, 3000, 20_000, 100_000] {
        let p = raw::alloc(size, 16);
        ok &= !p.is_null() && raw::owns(p);
        // SAFETY: fresh block of `size` bytes, then freed once.
        unsafe {
            p.write_bytes(0x5A, size);
            raw::free(p);
        }
    }
    if ok {
        LATE_DONE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn allocation_after_the_exit_drain_takes_the_global_path() {
    // A pthread key created after slabscope's: its destructor runs after slabscope's.
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: valid out-pointer and destructor.
    let rc = unsafe { libc::pthread_key_create(&mut key, Some(late_destructor)) };
    assert_eq!(rc, 0);
    let threads = 8;
    for _ in 0..threads {
        std::thread::spawn(move || {
            let v: Vec<Vec<u8>> = (0..100).map(|i| vec![1u8; i * 10 + 1]).collect();
            drop(v);
            // SAFETY: a non-null value so that the destructor runs.
            unsafe {
                libc::pthread_setspecific(key, &LATE_DONE as *const _ as *const libc::c_void)
            };
        })
        .join()
        .unwrap();
    }
    assert_eq!(LATE_DONE.load(std::sync::atomic::Ordering::SeqCst), threads);
}
