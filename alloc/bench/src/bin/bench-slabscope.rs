//! The workloads on slabscope (publishing unless `SLABSCOPE_PUBLISH=0`).

use std::process::ExitCode;

use slabscope::raw;
use slabscope_bench::{child_main, AllocatorHooks};

#[global_allocator]
static GLOBAL: slabscope::SlabScope = slabscope::SlabScope::new();

fn trim() {
    raw::drain_thread();
    raw::trim();
}

/// slabscope's own counters (not the segment's copy): the workload threads have exited
/// and drained, and draining this thread makes the per-class figures exact.
fn counters() -> Option<serde_json::Value> {
    raw::drain_thread();
    let s = raw::stats();
    let sum = |f: fn(&raw::ClassStats) -> u64| s.classes.iter().map(f).sum::<u64>();
    let t = s.totals;
    Some(serde_json::json!({
        "allocs": sum(|c| c.allocs),
        "frees": sum(|c| c.frees),
        "remote_frees": sum(|c| c.remote_frees),
        "refills": sum(|c| c.refills),
        "drains": sum(|c| c.drains),
        "live_blocks": sum(|c| c.live_blocks),
        "acquire_stage": [
            sum(|c| c.acquire_stage[0]),
            sum(|c| c.acquire_stage[1]),
            sum(|c| c.acquire_stage[2]),
        ],
        "mapped_bytes": t.mapped_bytes,
        "peak_mapped_bytes": t.peak_mapped_bytes,
        "superslabs": t.superslabs,
        "superslabs_cached": t.superslabs_cached,
        "superslabs_mapped_total": t.superslabs_mapped_total,
        "superslabs_returned_total": t.superslabs_returned_total,
        "large_count": t.large_count,
        "oom_count": t.oom_count,
        "foreign_frees": t.foreign_frees,
    }))
}

fn main() -> ExitCode {
    child_main(&AllocatorHooks {
        name: "slabscope",
        trim,
        counters,
    })
}
