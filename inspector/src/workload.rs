//! The demo workload hosted by `__demo-child`.

/// Checks the workload's arguments (so `demo` fails before starting a child).
pub fn check_args(args: &[String]) -> Result<(), String> {
    let _ = args;
    Err("the demo workload is not part of this build yet".into())
}

/// Runs the workload with `args`.
pub fn run(args: Vec<String>) -> Result<(), String> {
    check_args(&args)
}
