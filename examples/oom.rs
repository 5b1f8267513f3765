//! `oom`: grows memory in several size classes and large allocations until
//! `SLABSCOPE_LIMIT` refuses an allocation, prints what happened and exits with status 2.
//! Without `SLABSCOPE_LIMIT` it runs itself again with `SLABSCOPE_LIMIT=64M` (the limit
//! is read when the allocator starts, before `main`). The allocator prints its OOM report
//! on stderr and keeps it, and the segment, for `alloc-inspect --postmortem`
//! (docs/DEBUGGING.md).

use std::process::Command;

use slabscope_examples::oom::run;

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

/// Limit used when none is set.
const DEFAULT_LIMIT: &str = "64M";

fn main() {
    if std::env::var_os("SLABSCOPE_LIMIT").is_none() {
        let exe = std::env::current_exe().expect("current_exe");
        let status = Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("SLABSCOPE_LIMIT", DEFAULT_LIMIT)
            .status()
            .expect("re-run with SLABSCOPE_LIMIT");
        std::process::exit(status.code().unwrap_or(1));
    }
    let limit = std::env::var("SLABSCOPE_LIMIT").unwrap_or_default();
    println!(
        "oom: pid {}, SLABSCOPE_LIMIT={limit}: allocating until the allocator refuses",
        std::process::id()
    );
    let out = run(u64::MAX);
    println!("oom: {out}");
    if out.refused.is_some() {
        let dir = std::env::var("SLABSCOPE_SHM_DIR").unwrap_or_else(|_| "/dev/shm".into());
        println!(
            "oom: the report is kept in {dir}/slabscope.{}: alloc-inspect --postmortem {dir}/slabscope.{0}",
            std::process::id()
        );
        std::process::exit(2);
    }
}
