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

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        // Not bundled into the rlib: the C compiler driver that links finds the archive
        // in its own library directory.
        println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
