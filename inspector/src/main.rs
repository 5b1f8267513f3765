//! `alloc-inspect`: see the crate documentation and docs/INSPECTOR.md.

fn main() {
    std::process::exit(alloc_inspect::cli::main());
}
