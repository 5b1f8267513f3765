//! A binary that defaults publishing off (as alloc-inspect does) publishes nothing
//! unless `SLABSCOPE_PUBLISH=1` is set, which then turns it on.

mod common;

use std::process::Command;

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new().publish_by_default(false);

fn work() {
    let v: Vec<Vec<u8>> = (0..3000).map(|i| vec![3u8; 1 + i % 2000]).collect();
    assert!(v.iter().all(|b| b[0] == 3));
}

#[test]
fn off_by_default_creates_no_segment() {
    if common::in_child() {
        work();
        assert!(slabscope::publish::segment().is_none());
        return;
    }
    let dir = common::shm_dir();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "off_by_default_creates_no_segment",
            "--exact",
            "--test-threads=1",
        ])
        .env(common::CHILD_MARKER, "1")
        .env("SLABSCOPE_SHM_DIR", dir.path())
        .env_remove("SLABSCOPE_PUBLISH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn the_environment_turns_it_on() {
    if common::in_child() {
        work();
        let w = slabscope::publish::segment().expect("publishing is on");
        assert_eq!(
            w.header().pid.load(std::sync::atomic::Ordering::Relaxed),
            std::process::id()
        );
        let r = common::open_own();
        let snap = r.snapshot().unwrap();
        assert!(snap.totals.superslabs > 0);
        assert!(snap.classes.iter().any(|c| c.counters.allocs > 0));
        return;
    }
    let dir = common::shm_dir();
    // run_child sets SLABSCOPE_PUBLISH=1.
    common::run_child("the_environment_turns_it_on", dir.path(), &[]);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the segment is removed at normal exit"
    );
}
