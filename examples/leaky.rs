//! `leaky`: a service-like loop with normal churn and one slow leak, in
//! `leak_session_cache_entry`. Run it with `SLABSCOPE_SAMPLE=512K` and find the leak in
//! `alloc-inspect <pid>`'s Leaks view (docs/DEBUGGING.md). `--seconds N` stops it.

use slabscope_examples::leaky::{run, LeakyOptions};

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

fn main() {
    let opts = match LeakyOptions::from_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("leaky: {e}\nusage: leaky [--seconds N] [--threads N] [--leak-kib N]");
            std::process::exit(2);
        }
    };
    if let Err(e) = slabscope_examples::stop::on_term_and_int() {
        eprintln!("leaky: cannot handle SIGTERM: {e}");
    }
    println!("leaky: pid {} (alloc-inspect {0})", std::process::id());
    run(&opts);
}
