//! Leak hunting in programs built like release binaries: a C program built `-O2 -g
//! -fomit-frame-pointer` and a C++ program built `-O2 -g` under the preload, and a Rust
//! program built by cargo outside this workspace (no forced frame pointers) with
//! `slabscope::SlabScope` as its global allocator, each leaking from one function, with
//! sampling on. The call stacks come from the DWARF unwinder, so the leak is one site,
//! named with its function and `file:LINE`, whose estimate agrees with the segment's live
//! bytes. (The Rust case is here, with the C ones, to share their check.)

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Kills and reaps the child when the test ends, passed or not.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The 1-based line of the first line of `tests/c/<file>` containing `needle`.
fn line_of(file: &str, needle: &str) -> usize {
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/c")
            .join(file),
    )
    .unwrap();
    src.lines()
        .position(|l| l.contains(needle))
        .expect("needle in source")
        + 1
}

/// `alloc-inspect <pid> --once --json`.
fn inspect(bin: &Path, pid: u32, shm: &Path) -> Value {
    let out = run_ok(
        Command::new(bin)
            .arg(pid.to_string())
            .args(["--once", "--json"])
            .env("SLABSCOPE_SHM_DIR", shm),
    );
    serde_json::from_slice(&out.stdout).expect("alloc-inspect printed JSON")
}

/// Runs `program` under the preload with sampling on for up to 20 s, until its top site
/// is named `function` at `file:line` and holds 80 % of the sampled live bytes with an
/// estimate within 50 % of the segment's live bytes; panics with the last document
/// otherwise.
fn the_leak_is_one_named_site(
    program: &Path,
    preload: bool,
    function: &str,
    file: &str,
    line: usize,
) {
    let Some(inspector) = inspector() else { return };
    let shm = shm_dir();
    let mut cmd = Command::new(program);
    cmd.arg("60")
        .env("SLABSCOPE_SAMPLE", "64K")
        .env("SLABSCOPE_SHM_DIR", shm.path())
        .env_remove("SLABSCOPE_PUBLISH")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if preload {
        cmd = preloaded(cmd, shm.path());
    }
    let mut child = cmd.spawn().unwrap();
    if preload {
        check_segment(&mut child, shm.path());
    }
    let child = Reaped(child);
    let pid = child.0.id();
    let segment = segment_path_in(shm.path(), pid);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !segment.exists() {
        assert!(
            Instant::now() < deadline,
            "no segment at {}",
            segment.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let want_location = format!("{file}:{line}");
    let start = Instant::now();
    let mut last = Value::Null;
    while start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(500));
        let doc = inspect(&inspector, pid, shm.path());
        let leaks = doc["leaks"].as_array().cloned().unwrap_or_default();
        let sampled: u64 = leaks
            .iter()
            .map(|l| l["sampled_live_bytes"].as_u64().unwrap())
            .sum();
        let top = leaks.first().cloned().unwrap_or(Value::Null);
        let top_sampled = top["sampled_live_bytes"].as_u64().unwrap_or(0);
        let estimate = top["live_bytes"].as_u64().unwrap_or(0) as f64;
        let live = doc["totals"]["live_bytes"].as_u64().unwrap_or(0) as f64;
        let named = top["function"].as_str() == Some(function)
            && top["location"]
                .as_str()
                .is_some_and(|l| l.ends_with(&want_location));
        // Enough samples for the share and the estimate to mean something. A program
        // may hold a few large blocks for good from its start (libstdc++'s 72 KiB
        // emergency exception pool, sampled for sure at this interval): the leak's
        // share of the sampled bytes rises past them as it grows, which the loop
        // waits for.
        let share = top_sampled as f64 / sampled.max(1) as f64;
        if named && top["live_samples"].as_u64().unwrap_or(0) >= 40 && share >= 0.8 {
            let ratio = estimate / live;
            assert!(
                (0.5..=1.5).contains(&ratio),
                "estimate {estimate} against {live} live bytes in the segment: {doc:#}"
            );
            let frames = top["frames"].as_array().unwrap();
            assert!(
                frames
                    .iter()
                    .all(|f| !f.as_str().unwrap().starts_with("0x")),
                "every frame is named: {frames:?}"
            );
            return;
        }
        last = doc["leaks"].clone();
    }
    panic!(
        "after 20 s the top site is not {function} at {want_location} holding 80 % of \
         the sampled live bytes: {last:#}"
    );
}

#[test]
fn a_c_leak_built_without_frame_pointers_is_one_site_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bin = compile_c("leak", dir.path(), &["-O2", "-fomit-frame-pointer"]);
    let line = line_of("leak.c", "struct entry *e = malloc(");
    the_leak_is_one_named_site(&bin, true, "cache_insert", "leak.c", line);
}

#[test]
fn a_cxx_leak_is_named_by_its_demangled_member_function() {
    let dir = tempfile::tempdir().unwrap();
    let bin = compile_cxx("leak_cpp", dir.path(), &["-O2"]);
    let line = line_of("leak_cpp.cpp", "Node *n = new Node;");
    the_leak_is_one_named_site(
        &bin,
        true,
        "service::Cache::insert(unsigned long)",
        "leak_cpp.cpp",
        line,
    );
}

/// Builds `tests/programs/outside/main.rs` as its own cargo package in a scratch
/// directory, depending on this workspace's `slabscope` by path, in release mode, with
/// none of the workspace's settings (its `.cargo/config.toml` forces frame pointers) and
/// no `RUSTFLAGS`. The target directory is kept under this workspace's, so a second run
/// only relinks.
fn build_outside_program() -> std::path::PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let alloc = manifest.parent().unwrap();
    let workspace = alloc.parent().unwrap();
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir(project.path().join("src")).unwrap();
    std::fs::copy(
        manifest.join("tests/programs/outside/main.rs"),
        project.path().join("src/main.rs"),
    )
    .unwrap();
    std::fs::write(
        project.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"outside\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [dependencies]\nslabscope = {{ path = {:?}, default-features = false }}\n\n\
             [profile.release]\ndebug = 1\n\n[workspace]\n",
            alloc.display().to_string()
        ),
    )
    .unwrap();
    // The workspace's lock file pins the same dependency versions, so the build needs
    // nothing that is not already downloaded.
    std::fs::copy(
        workspace.join("Cargo.lock"),
        project.path().join("Cargo.lock"),
    )
    .unwrap();
    let target = workspace.join("target").join("outside-workspace");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_ok(
        Command::new(cargo)
            .args(["build", "--release", "--offline", "--quiet"])
            .current_dir(project.path())
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS"),
    );
    let bin = target.join("release/outside");
    let copy = project.path().join("outside");
    std::fs::copy(&bin, &copy).unwrap();
    // Keep the scratch directory (the program runs from it) for the test's lifetime.
    std::mem::forget(project);
    copy
}

#[test]
fn a_rust_program_outside_the_workspace_without_frame_pointers_gets_its_site() {
    let bin = build_outside_program();
    let line = line_of(
        "../programs/outside/main.rs",
        "cache.push(vec![key as u8; 1024]);",
    );
    the_leak_is_one_named_site(&bin, false, "outside::remember", "main.rs", line);
}
