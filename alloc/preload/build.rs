//! Two link-time settings that make a process's start under the preload cheaper, on
//! Linux with glibc: libgcc's unwinder linked into the library itself, and the
//! functions that short processes run placed together.
//!
//! **The unwinder.**
//! The Rust standard library's unwinding and the sampled stacks' fallback walker
//! (`_Unwind_Backtrace`) need libgcc's unwinder. Linked from `libgcc_s.so.1`, it makes
//! every program run under the preload load one more shared library at start-up (an
//! open, four mappings, relocations and their page faults: about 90 us of `sh -c true`'s
//! 1 ms on the development machine), though most C programs never load it. Its static
//! archive, named before the standard library's `-lgcc_s`, defines the unwinder's
//! symbols first, so with `--as-needed` (rustc's default) `libgcc_s.so.1` is no longer
//! needed. The archive's symbols stay inside the library (rustc's version script
//! exports only `malloc` and its family).
//!
//! Only where the C compiler that links has the archive (GCC's driver, building for the
//! machine it runs on): clang with compiler-rt, zig and cross builds keep `libgcc_s`.
//! `SLABSCOPE_PRELOAD_LIBGCC_S=1` keeps it too.
//!
//! **The start-up functions.** The library has about 600 KiB of code, and the
//! functions a process runs between its start and its exit (the first allocations, the
//! thread's state, the first SuperSlab, the segment) lay all over it: each page fault
//! on them maps up to 16 pages around it, and the exit unmaps them. `startup.ld`
//! (written by `startup-order.sh`) puts those functions first, into their own output
//! section, `.text.slabscope_start`: `sh -c true` takes 7 fewer page faults in all
//! (118 -> 111) and maps 320 KiB less of the library's code (docs/BENCHMARKS.md, "Short
//! processes"). Its second part puts the zero-initialised statics those functions touch
//! together at the start of `.bss` (`.bss.slabscope_start`, `INSERT BEFORE .bss`), where
//! they lay one a page among the large tables. The script only adds a section before the linker's default layout
//! (`INSERT BEFORE .text`), which GNU ld and LLD take, native or cross. It is passed
//! only where the link is known to reach one of them: rustc's default linker, or a C
//! compiler driver set as the target's linker, with no `-fuse-ld=` other than `bfd` or
//! `lld`, no `--ld-path=` and no `-C linker=` in the flags, and not under `mold -run`
//! (mold and gold refuse the script). `SLABSCOPE_PRELOAD_NO_ORDER=1` leaves it out too,
//! as does a manifest path with a comma (`-Wl,` would split it). Without it the library
//! works the same and starts a little slower. `tests/startup_layout.rs` learns which
//! from `SLABSCOPE_PRELOAD_ORDERED`, set here for the package's crates.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=startup.ld");
    println!("cargo:rerun-if-env-changed=SLABSCOPE_PRELOAD_LIBGCC_S");
    println!("cargo:rerun-if-env-changed=SLABSCOPE_PRELOAD_NO_ORDER");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rerun-if-env-changed=MOLD_PATH");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let gnu_linux = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    let script = Path::new(&var("CARGO_MANIFEST_DIR")).join("startup.ld");
    let ordered = gnu_linux
        && var("SLABSCOPE_PRELOAD_NO_ORDER") != "1"
        && var("MOLD_PATH").is_empty()
        && linker_takes_scripts(&var("RUSTC_LINKER"), &var("CARGO_ENCODED_RUSTFLAGS"))
        && !script.to_string_lossy().contains(',');
    println!(
        "cargo:rustc-env=SLABSCOPE_PRELOAD_ORDERED={}",
        ordered as u8
    );
    if ordered {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-T,{}", script.display());
    }
    if !gnu_linux {
        return;
    }
    let native = var("HOST") == var("TARGET");
    if !native || var("SLABSCOPE_PRELOAD_LIBGCC_S") == "1" {
        return;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let Ok(out) = Command::new(&cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return;
    };
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // The driver prints the bare name when it has no such file.
    if !out.status.success() || !Path::new(&path).is_absolute() || !Path::new(&path).exists() {
        return;
    }
    // Not bundled into the rlib: rustc cannot see the driver's library directory, the
    // driver finds the archive there at the final link.
    println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
}

/// Whether the link reaches GNU ld or LLD, which take `startup.ld`: `linker` (cargo's
/// `RUSTC_LINKER`: the target's linker when one is configured) is empty or a C compiler
/// driver (`cc`, `gcc`, `clang`, prefixed or versioned), and the flags cargo passes to
/// rustc (separated by 0x1f) choose no other linker.
fn linker_takes_scripts(linker: &str, encoded_rustflags: &str) -> bool {
    let name = Path::new(linker)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let driver = name.is_empty()
        || name.split('-').any(|part| {
            let part = part.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
            matches!(part, "cc" | "gcc" | "clang")
        });
    let flags: Vec<&str> = encoded_rustflags.split('\x1f').collect();
    let other_ld = flags
        .iter()
        .filter_map(|f| f.split("-fuse-ld=").nth(1))
        .any(|ld| !matches!(ld, "bfd" | "lld"));
    let named_linker = flags.iter().enumerate().any(|(i, f)| {
        f.contains("--ld-path=")
            || f.starts_with("-Clinker=")
            || (f.starts_with("linker=") && i > 0 && flags[i - 1] == "-C")
    });
    driver && !other_ld && !named_linker
}
