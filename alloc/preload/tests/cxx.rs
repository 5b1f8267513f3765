//! C++'s `operator new` and `operator delete` under the preload, checked by a C++
//! program (tests/c/cxx_new.cpp) compiled here with `c++`: the library's definitions
//! are the ones bound, every form allocates and frees, and an impossible request ends
//! as the standard says (the new-handler called until it gives up, `std::bad_alloc`
//! thrown through the library, null from the `nothrow` forms), leaving no segment.

mod common;

use std::process::Command;

use common::*;

/// Every check cxx_new.cpp makes; each must print `ok <name>`.
const CHECKS: &[&str] = &[
    "operators_are_preloaded",
    "every_form_allocates_and_frees",
    "impossible_new_throws_bad_alloc",
    "impossible_scalar_new_throws_bad_alloc",
    "impossible_nothrow_new_is_null",
    "new_handler_called_until_it_gives_up",
    "allocates_after_failures",
];

#[test]
fn cxx_operators_under_the_preload() {
    let build = tempfile::tempdir().unwrap();
    let bin = compile_cxx("cxx_new", build.path(), &["-ldl"]);
    let shm = shm_dir();
    let out = run_ok(&mut preloaded(Command::new(&bin), shm.path()));
    assert_checks_passed(CHECKS, &out);
    assert_quiet("cxx_new", &out.stderr);
    assert_no_segments(shm.path());
}

#[test]
fn cxx_checks_can_fail_without_the_preload() {
    // On the C++ runtime alone the binding check fails (and the others pass): it tests
    // the preload's definitions, not the runtime's.
    let build = tempfile::tempdir().unwrap();
    let bin = compile_cxx("cxx_new", build.path(), &["-ldl"]);
    let out = Command::new(&bin)
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL operators_are_preloaded"), "{stdout}");
    assert!(stdout.contains("failures 1\n"), "{stdout}");
}
