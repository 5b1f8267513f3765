//! The C allocation API's edge cases, checked by a C program (tests/c/edge.c) compiled
//! here with `cc` and run under the preload: alignment of every entry point, `malloc(0)`,
//! huge sizes, calloc overflow, `malloc_usable_size`, realloc, posix_memalign errors,
//! foreign pointers, frees of SuperSlab header addresses and interior pointers, thread-exit destructors, 8 threads freeing each other's blocks,
//! fork from a threaded program, a dlopen'ed library with TLS, and exec.

mod common;

use std::process::Command;

use common::*;

/// Every check edge.c makes; each must print `ok <name>`.
const CHECKS: &[&str] = &[
    "malloc_is_preloaded",
    "align_malloc_calloc_realloc",
    "align_memalign_aligned_alloc_posix_memalign",
    "align_valloc_pvalloc",
    "memalign_rounds_non_power_of_two",
    "aligned_alloc_einval",
    "malloc0_unique",
    "malloc_huge_enomem",
    "calloc_overflow_enomem",
    "calloc_overflow2_enomem",
    "usable_size_and_calloc_zero",
    "usable_size_null",
    "realloc_grow_shrink_keeps_content",
    "realloc_huge_keeps_block",
    "reallocarray_overflow",
    "reallocarray",
    "realloc_zero_frees_returns_null",
    "cfree",
    "posix_memalign_einval",
    "posix_memalign_enomem",
    "posix_memalign_zero",
    "mallinfo2",
    "malloc_trim",
    "mallopt",
    "foreign_free_ignored",
    "foreign_usable_size_zero",
    "foreign_realloc_copies",
    "header_and_interior_frees_change_nothing",
    "thread_exit_destructors_allocate",
    "eight_threads_cross_thread_free",
    "fork_threaded_parent_and_child_allocate",
    "dlopen_tls_library",
    "segment_exists",
    "exec_same_pid_publishes",
];

#[test]
fn c_edge_cases_under_the_preload() {
    let build = tempfile::tempdir().unwrap();
    let edge = compile_c("edge", build.path(), &["-fno-builtin", "-ldl"]);
    let tls_lib = build.path().join("libedgetls.so");
    run_ok(
        Command::new("cc")
            .args(["-O1", "-shared", "-fPIC", "-o"])
            .arg(&tls_lib)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c/tlslib.c")),
    );
    let shm = shm_dir();
    let out = run_ok(preloaded(Command::new(&edge), shm.path()).env("EDGE_TLS_LIB", &tls_lib));
    assert_checks_passed(CHECKS, &out);
    let stderr = String::from_utf8_lossy(&out.stderr);

    // Frees of header addresses and interior pointers (of blocks and of a large
    // allocation), two foreign frees and one foreign realloc: each kind reported
    // exactly once, and named for what it is.
    let reports = |what: &str| stderr.lines().filter(|l| l.contains(what)).count();
    assert_eq!(
        reports(") inside a SuperSlab, not a live block"),
        1,
        "{stderr}"
    );
    assert_eq!(
        reports(") inside a large allocation, not its start"),
        1,
        "{stderr}"
    );
    assert_eq!(
        reports("did not allocate, or a large allocation freed already"),
        1,
        "{stderr}"
    );
    assert_eq!(reports("slabscope: free(0x"), 3, "{stderr}");
    assert_eq!(reports("slabscope: realloc(0x"), 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 4, "unexpected messages:\n{stderr}");

    // Every process (the 20 forked children, the exec'ed image) removed its segment.
    assert_no_segments(shm.path());
}

#[test]
fn edge_checks_can_fail_without_the_preload() {
    // The same program on glibc alone: the preload-specific checks must fail, which
    // shows they test the preload and not the C library.
    let build = tempfile::tempdir().unwrap();
    let edge = compile_c("edge", build.path(), &["-fno-builtin", "-ldl"]);
    let out = Command::new(&edge)
        .env("EDGE_TLS_LIB", "/nonexistent.so")
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL malloc_is_preloaded"), "{stdout}");
    assert!(stdout.contains("FAIL mallopt"), "{stdout}");
}

/// A program that loads the library with `dlopen` after start-up (not preloaded) gets it
/// loaded: its initial-exec TLS block fits glibc's default static TLS surplus (it did
/// not while the debug tracing's buffers were thread-locals), and its `malloc` and
/// `free` work.
#[test]
fn the_library_loads_late_with_dlopen() {
    let build = tempfile::tempdir().unwrap();
    let late = compile_c("late_load", build.path(), &["-ldl"]);
    let shm = shm_dir();
    let out = run_ok(
        Command::new(late)
            .arg(preload_lib())
            .env("SLABSCOPE_SHM_DIR", shm.path()),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "loaded");
}
