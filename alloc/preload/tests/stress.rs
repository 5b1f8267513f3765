//! 30 seconds of 4 threads allocating, filling, reallocating and passing blocks to each
//! other for cross-thread frees (tests/c/stress.c) under the preload: every block must
//! arrive with its pattern intact and be freed.

mod common;

use std::process::{Command, Stdio};

use common::*;

#[test]
fn four_threads_cross_thread_frees_for_thirty_seconds() {
    let build = tempfile::tempdir().unwrap();
    let stress = compile_c("stress", build.path(), &["-fno-builtin"]);
    let shm = shm_dir();
    let mut child = preloaded(Command::new(&stress), shm.path())
        .arg("30")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let live = check_segment(&mut child, shm.path());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}: {stdout}", out.status);
    assert_quiet("stress", &out.stderr);
    let field = |name: &str| -> u64 {
        let words: Vec<_> = stdout.split_whitespace().collect();
        let i = words.iter().position(|w| *w == name).expect(name);
        words[i + 1].parse().expect(name)
    };
    assert_eq!(field("threads"), 4);
    assert_eq!(field("corrupt"), 0, "{stdout}");
    let allocated = field("allocated");
    assert_eq!(field("verified"), allocated, "{stdout}");
    assert!(
        allocated >= 10_000,
        "30 s should allocate far more blocks: {stdout}"
    );
    assert!(field("reallocs") > 0, "{stdout}");
    println!("stress: {stdout}(segment showed {live} live bytes)");
}
