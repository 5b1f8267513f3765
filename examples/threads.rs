//! `threads`: larson-style server workload (N threads, random sizes, objects freed by
//! other threads); prints operations per second.
//! `threads [--seconds N] [--threads N] [--min N] [--max N] [--window N]`

use slabscope_examples::threads::{run, ThreadsOptions};

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

fn main() {
    let opts = match ThreadsOptions::from_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "threads: {e}\nusage: threads [--seconds N] [--threads N] [--min N] [--max N] [--window N]"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = slabscope_examples::stop::on_term_and_int() {
        eprintln!("threads: cannot handle SIGTERM: {e}");
    }
    let r = run(&opts);
    let s = slabscope::raw::stats();
    let allocs: u64 = s.classes.iter().map(|c| c.allocs).sum();
    println!(
        "threads: {} threads, sizes {}..={} B, window {}: {:.0} ops/s ({} ops in {:.2} s; slabscope served {} small allocations as last folded)",
        opts.threads, opts.min, opts.max, opts.window, r.ops_per_sec, r.ops, r.seconds, allocs
    );
}
