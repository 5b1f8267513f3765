//! The regression test of the use-after-unmap that remote frees had with `trim`: for
//! 10 seconds one thread allocates blocks, two others free them (remote frees into the
//! owner's slots) while a fourth calls `malloc_trim(0)` in a loop, under
//! `SLABSCOPE_EMPTY_CACHE=0` (every empty SuperSlab unmapped at once) and with the
//! remote push delayed by the allocator's test hook. No crash, no changed byte.

mod common;

use std::process::Command;

use common::*;

#[test]
fn remote_frees_race_malloc_trim_for_ten_seconds() {
    let build = tempfile::tempdir().unwrap();
    let prog = compile_c("trim_race", build.path(), &["-fno-builtin", "-ldl"]);
    let shm = shm_dir();
    let out = run_ok(
        preloaded(Command::new(&prog), shm.path())
            .arg("10")
            .env("SLABSCOPE_EMPTY_CACHE", "0"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> u64 {
        let words: Vec<_> = stdout.split_whitespace().collect();
        let i = words.iter().position(|w| *w == name).expect(name);
        words[i + 1].parse().expect(name)
    };
    println!("{stdout}");
    assert_eq!(field("corrupt"), 0, "{stdout}");
    assert_eq!(field("verified"), field("blocks"), "{stdout}");
    assert_eq!(field("delay"), 1, "the test hook was found: {stdout}");
    assert!(field("blocks") > 100_000, "{stdout}");
    assert!(field("trims") > 100, "{stdout}");
}
