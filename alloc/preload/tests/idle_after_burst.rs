//! A process whose threads map SuperSlabs in a burst and then block (tests/c/burst_idle.c)
//! shows every SuperSlab while it idles: claims of SuperSlab records that the burst
//! made faster than the segment's table grew are made again before the threads go
//! quiet, none missing from the slot map or counted as overflow.

mod common;

use std::process::{Command, Stdio};

use common::{compile_c, first_line, preloaded, segment_path_in, shm_dir};
use slabscope_proto::SegmentReader;

#[test]
fn superslabs_mapped_in_a_burst_all_show_while_the_process_idles() {
    let build = tempfile::tempdir().unwrap();
    let bin = compile_c("burst_idle", build.path(), &[]);
    for round in 0..3 {
        let shm = shm_dir();
        let mut child = preloaded(Command::new(&bin), shm.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn burst_idle");
        let line = first_line(&mut child);
        assert_eq!(line, "ready\n", "round {round}");
        let snap = SegmentReader::open(&segment_path_in(shm.path(), child.id()))
            .and_then(|r| r.snapshot())
            .expect("the live segment reads");
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success(), "round {round}");
        assert_eq!(snap.overflow.superslabs, 0, "round {round}");
        assert!(
            snap.totals.superslabs >= 16,
            "round {round}: {} SuperSlabs mapped",
            snap.totals.superslabs
        );
        assert_eq!(
            snap.superslabs.len() as u64,
            snap.totals.superslabs,
            "round {round}: every mapped SuperSlab has its record"
        );
    }
}
