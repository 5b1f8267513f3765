//! `demo`: a mixed multi-threaded workload that changes phase every few seconds, for
//! watching with `alloc-inspect <pid>`. `--seconds N` stops it; otherwise it runs until
//! interrupted. `--threads N` sets the worker count.

use slabscope_examples::demo::{run, DemoOptions};

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

fn main() {
    let opts = match DemoOptions::from_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("demo: {e}\nusage: demo [--seconds N] [--threads N] [--phase-ms N]");
            std::process::exit(2);
        }
    };
    if let Err(e) = slabscope_examples::stop::on_term_and_int() {
        eprintln!("demo: cannot handle SIGTERM: {e}");
    }
    println!("demo: pid {} (alloc-inspect {0})", std::process::id());
    run(&opts);
}
