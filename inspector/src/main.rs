//! `alloc-inspect`: see the crate documentation and docs/INSPECTOR.md.

/// The inspector runs on slabscope too, so `alloc-inspect demo` can host the demo
/// workload in a re-executed child of this same binary. Publishing is off for the
/// inspector itself; the demo child turns it on with `SLABSCOPE_PUBLISH=1`.
#[global_allocator]
static ALLOC: slabscope::SlabScope = slabscope::SlabScope::new().publish_by_default(false);

fn main() {
    std::process::exit(alloc_inspect::cli::main());
}
