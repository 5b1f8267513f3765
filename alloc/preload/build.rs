//! Links libgcc's unwinder into the preload library itself on Linux with glibc.
//!
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

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SLABSCOPE_PRELOAD_LIBGCC_S");
    println!("cargo:rerun-if-env-changed=CC");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let native = var("HOST") == var("TARGET");
    let gnu_linux = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    if !native || !gnu_linux || var("SLABSCOPE_PRELOAD_LIBGCC_S") == "1" {
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
