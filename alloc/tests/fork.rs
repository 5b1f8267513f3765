//! `fork()` from a multi-threaded process: the child has a consistent allocator and its
//! own segment; the parent's segment is untouched.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use slabscope::raw;
use slabscope_proto::SegmentReader;

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

fn churn(stop: Arc<AtomicBool>, seed: u64) {
    let mut rng = common::Rng(seed);
    let mut held: Vec<Vec<u8>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let size = 1 + rng.below(5000) as usize;
        held.push(vec![seed as u8; size]);
        if held.len() > 200 {
            let i = rng.below(held.len() as u64) as usize;
            held.swap_remove(i);
        }
        if rng.below(50) == 0 {
            held.push(vec![1u8; 200_000]);
        }
    }
}

/// Forks; the child runs `child` and exits with its code (through `exit`, so that its
/// normal-exit handlers run). Returns the child's pid and wait status.
fn fork_and_wait(child: impl FnOnce() -> i32) -> (i32, i32) {
    // SAFETY: fork in a threaded process; the child only uses the allocator (made
    // fork-safe by its atfork handlers), std and libc, then exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = child();
        // SAFETY: ends the forked child.
        unsafe { libc::exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(rc, pid);
    (pid, status)
}

/// Runs in the forked child; returns the exit code (0 = all good).
fn in_forked_child(dir: &Path, parent: u32) -> i32 {
    let me = std::process::id();
    // Allocate on every path: small, medium, large, and across a new thread.
    let v: Vec<Vec<u8>> = (0..2000).map(|i| vec![i as u8; 1 + i % 3000]).collect();
    let big = vec![7u8; 3 << 20];
    let t = std::thread::spawn(|| {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        ((0..1000).map(|i| vec![0u8; i].len()).sum::<usize>(), tid)
    });
    let Ok((499_500, other)) = t.join() else {
        return 2;
    };
    if v.iter()
        .enumerate()
        .any(|(i, b)| b.iter().any(|&x| x != i as u8))
        || big[100] != 7
    {
        return 3;
    }
    let own = match SegmentReader::open(&dir.join(format!("slabscope.{me}"))) {
        Ok(r) => r,
        Err(_) => return 4,
    };
    if own.pid() != me {
        return 5;
    }
    let Ok(snap) = own.snapshot() else { return 6 };
    if snap.totals.superslabs == 0 || snap.classes.iter().all(|c| c.live == 0) {
        return 7;
    }
    // Every event names one of the child's two threads: the forking thread, whose tid
    // in the child is the child's pid (not its tid in the parent), or the new one.
    let events = common::all_events(&own);
    if events.is_empty() || events.iter().any(|e| e.thread != me && e.thread != other) {
        return 9;
    }
    match SegmentReader::open(&dir.join(format!("slabscope.{parent}"))) {
        Ok(r) if r.pid() == parent => 0,
        _ => 8,
    }
}

#[test]
fn fork_child_gets_its_own_segment() {
    if common::respawned("fork_child_gets_its_own_segment", &[]) {
        return;
    }
    let dir = std::path::PathBuf::from(std::env::var_os("SLABSCOPE_SHM_DIR").unwrap());
    let parent = std::process::id();
    let r = common::open_own();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|i| {
            let stop = stop.clone();
            std::thread::spawn(move || churn(stop, i + 1))
        })
        .collect();
    for round in 0..8 {
        let keep: Vec<Box<[u8; 100]>> = (0..100).map(|_| Box::new([round as u8; 100])).collect();
        // The child's segment is unlinked by the normal-exit handler.
        let (pid, status) = fork_and_wait(|| in_forked_child(&dir, parent));
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "round {round}: child status {status:#x}"
        );
        assert!(
            !dir.join(format!("slabscope.{pid}")).exists(),
            "the child's segment is removed at its normal exit"
        );
        assert!(keep.iter().all(|b| b.iter().all(|&x| x == round as u8)));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(r.pid(), parent);
    let snap = r.snapshot().expect("the parent's segment is intact");
    assert!(snap.totals.superslabs > 0);
    let p = raw::alloc(100, 16);
    assert!(raw::owns(p));
    // SAFETY: live block.
    unsafe { raw::free(p) };
}

/// A fork while another thread claims a SuperSlab position (the placement lock held,
/// its window widened by a test hook): the child maps SuperSlabs of its own and exits.
/// Without the fork handlers taking that lock, the child inherits it held and hangs
/// (the alarm turns that into a failure).
#[test]
fn fork_during_superslab_placement_leaves_the_child_working() {
    if common::respawned(
        "fork_during_superslab_placement_leaves_the_child_working",
        &[("SLABSCOPE_EMPTY_CACHE", "0")],
    ) {
        return;
    }
    raw::set_placement_hold(200_000);
    let stop = Arc::new(AtomicBool::new(false));
    let placer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // SuperSlabs mapped and returned over and over: every round claims and
            // frees positions.
            while !stop.load(Ordering::Relaxed) {
                let v: Vec<*mut u8> = (0..300).map(|_| raw::alloc(20_000, 16)).collect();
                for p in v {
                    // SAFETY: blocks allocated just above.
                    unsafe { raw::free(p) };
                }
                raw::trim();
            }
        })
    };
    for round in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(3));
        let (_, status) = fork_and_wait(|| {
            // SAFETY: alarm has no preconditions; a hang ends with SIGALRM.
            unsafe { libc::alarm(20) };
            let v: Vec<*mut u8> = (0..400).map(|_| raw::alloc(28_000, 16)).collect();
            i32::from(v.iter().any(|p| p.is_null()))
        });
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "round {round}: child status {status:#x} (SIGALRM: it hung)"
        );
    }
    stop.store(true, Ordering::Relaxed);
    placer.join().unwrap();
    raw::set_placement_hold(0);
}

/// The page faults a forked child has taken when it first runs (its fork handlers'
/// stores, each copying a page the parent shares with it), read in the child with
/// `getrusage` and sent back through a pipe.
fn child_faults_after_fork() -> i64 {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (_, status) = fork_and_wait(|| {
        // SAFETY: an all-zero rusage is valid for getrusage to overwrite.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is writable.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
        let n = ru.ru_minflt as i64;
        // SAFETY: writes 8 bytes from `n` to the pipe's write end.
        let w = unsafe { libc::write(fds[1], (&n as *const i64).cast(), 8) };
        i32::from(w != 8)
    });
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    let mut n = 0i64;
    // SAFETY: reads 8 bytes into `n` from the pipe's read end, then closes both ends.
    unsafe {
        assert_eq!(libc::read(fds[0], (&mut n as *mut i64).cast(), 8), 8);
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    n
}

/// The fork handlers write no SuperSlab header: a store to one (its segment record's
/// lock, cleared in the child whether set or not) copied one page per SuperSlab in
/// every child of every fork, 100 page faults a fork in a process of 200 MiB.
#[test]
fn a_fork_child_copies_no_page_per_superslab() {
    if common::respawned("a_fork_child_copies_no_page_per_superslab", &[]) {
        return;
    }
    let before = child_faults_after_fork();
    // 64 more SuperSlabs: blocks of 30,000 bytes (two to a slot, 62 to a SuperSlab),
    // never written.
    let held: Vec<*mut u8> = (0..64 * 62).map(|_| raw::alloc(30_000, 16)).collect();
    assert!(held.iter().all(|p| !p.is_null()));
    let after = child_faults_after_fork();
    for p in held {
        // SAFETY: blocks allocated just above.
        unsafe { raw::free(p) };
    }
    assert!(
        after < before + 16,
        "the child's faults grew with the SuperSlabs: {before} -> {after}"
    );
}
