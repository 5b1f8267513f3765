//! The workloads hosted by `__demo-child` (`slabscope_examples::demo`) and
//! `__leaky-child` (`slabscope_examples::leaky`).

use slabscope_examples::demo::{self, DemoOptions};
use slabscope_examples::stop;

/// Checks the workload's arguments (so `demo` fails before starting a child).
pub fn check_args(args: &[String]) -> Result<(), String> {
    DemoOptions::from_args(args.iter().cloned()).map(|_| ())
}

/// Runs the workload with `args` in this process; SIGTERM and SIGINT end it normally
/// (its segment removed, as at any normal exit).
pub fn run(args: Vec<String>) -> Result<(), String> {
    let opts = DemoOptions::from_args(args.into_iter())?;
    stop::on_term_and_int().map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    demo::run(&opts);
    Ok(())
}

/// Runs the leaky workload (one slow leak among churn) with `args` in this process.
pub fn run_leaky(args: Vec<String>) -> Result<(), String> {
    let opts = slabscope_examples::leaky::LeakyOptions::from_args(args.into_iter())?;
    stop::on_term_and_int().map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    slabscope_examples::leaky::run(&opts);
    Ok(())
}
