//! `SLABSCOPE_CHECK=1` under the preload: a C program (tests/c/misuse.c) performs one
//! kind of heap misuse, then checks that its heap still works; each kind must give its
//! stderr line (and nothing else may be said), the live process's segment must hold the
//! heap error, and `alloc-inspect <pid> --once --json` must show it.

mod common;

use std::process::{Command, Stdio};

use common::*;
use slabscope_proto::SegmentReader;

/// Runs `misuse kind` under the preload with checks on; returns its heap error lines on
/// stderr and the heap errors (kind names) its segment held while it waited.
fn misuse(bin: &std::path::Path, kind: &str) -> (Vec<String>, Vec<String>) {
    let shm = shm_dir();
    let mut child = preloaded(Command::new(bin), shm.path())
        .arg(kind)
        .env("SLABSCOPE_CHECK", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("misuse");
    let line = first_line(&mut child);
    let in_segment = if line == "ready\n" {
        segment_errors(shm.path(), child.id(), kind)
    } else {
        Vec::new()
    };
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(line, "ready\n", "{kind}: {}\nstderr:\n{err}", out.status);
    assert!(
        out.status.success(),
        "{kind}: {}\nstderr:\n{err}",
        out.status
    );
    let lines: Vec<String> = err
        .lines()
        .filter(|l| l.starts_with("slabscope: heap error: "))
        .map(str::to_string)
        .collect();
    assert_eq!(
        lines.len(),
        err.lines().filter(|l| l.contains("slabscope")).count(),
        "{kind}: other slabscope messages:\n{err}"
    );
    (lines, in_segment)
}

/// The heap errors (kind names, oldest first) in the segment of the live process `pid`;
/// `alloc-inspect <pid> --once --json` must show the same, when it was built.
fn segment_errors(shm: &std::path::Path, pid: u32, kind: &str) -> Vec<String> {
    let path = segment_path_in(shm, pid);
    let snap = SegmentReader::open(&path)
        .and_then(|r| r.snapshot())
        .unwrap_or_else(|e| panic!("{kind}: segment {}: {e}", path.display()));
    let kinds: Vec<String> = snap
        .heap_errors
        .iter()
        .map(|e| e.kind.name().to_string())
        .collect();
    if let Some(doc) = inspect_json(pid, shm) {
        let shown: Vec<String> = doc["heap_errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{kind}: no heap_errors in {doc}"))
            .iter()
            .map(|e| e["kind"].as_str().unwrap_or("?").to_string())
            .collect();
        assert_eq!(shown, kinds, "{kind}: alloc-inspect --json");
        let total: u64 = doc["heap_error_counts"]
            .as_object()
            .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
            .unwrap_or(0);
        assert_eq!(total, snap.heap_error_counts.total(), "{kind}: counts");
    }
    kinds
}

#[test]
fn each_kind_of_misuse_is_reported_and_the_heap_keeps_working() {
    let build = tempfile::tempdir().unwrap();
    // The misuses are on purpose: keep the compiler from warning about (or removing) them.
    let bin = compile_c(
        "misuse",
        build.path(),
        &[
            "-fno-builtin",
            "-Wno-free-nonheap-object",
            "-Wno-use-after-free",
            "-Wno-array-bounds",
            "-Wno-stringop-overflow",
        ],
    );
    // (kind, expected number of reports, what each line holds)
    let cases: &[(&str, usize, &[&str])] = &[
        ("double_free", 1, &["double_free of 0x", " in free (class "]),
        (
            "double_free_threads",
            200,
            &["double_free of 0x", " in free ("],
        ),
        ("double_free_large", 1, &["double_free of 0x", "(large, "]),
        (
            "double_free_after_reuse",
            1,
            &["double_free of 0x", " in free (class "],
        ),
        (
            "invalid_header",
            1,
            &["invalid_free", ": a SuperSlab header address (no class,"],
        ),
        (
            "invalid_interior",
            1,
            &["invalid_free", ": not the start of a block (class "],
        ),
        (
            "write_after_free",
            1,
            &[
                "write_after_free",
                " at offset 40 in alloc (",
                "block handed out",
            ],
        ),
        (
            "overflow",
            1,
            &[
                "overflow of 0x",
                " at offset 37 in free (",
                "requested 37 B",
                "block freed",
            ],
        ),
        (
            "overflow_large",
            1,
            &[
                "overflow",
                " at offset 500001 in free (large,",
                "requested 500000 B",
            ],
        ),
        ("realloc_freed", 1, &["double_free", " in realloc ("]),
        (
            "overflow_realloc",
            1,
            &["overflow", " at offset 10 in realloc (", "requested 10 B"],
        ),
    ];
    for &(kind, n, parts) in cases {
        let (lines, in_segment) = misuse(&bin, kind);
        assert_eq!(lines.len(), n, "{kind}: {lines:#?}");
        for l in &lines {
            for p in parts {
                assert!(l.contains(p), "{kind}: {l:?} lacks {p:?}");
            }
        }
        let name = lines[0]["slabscope: heap error: ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .to_string();
        // The segment keeps the most recent 16.
        assert_eq!(in_segment, vec![name; n.min(16)], "{kind}");
        println!("{kind}: {}", lines[0]);
    }
}
