//! The body of every `bench-<allocator>` binary.
//!
//! ```text
//! bench-<allocator> --workload NAME [--threads N] [--mode smoke|quick|full]
//!                   [--iterations N] [--handshake]
//! ```
//!
//! Runs one workload and prints one JSON line ([`RunReport`]). With `--handshake`
//! (used by the driver) it first prints a [`Ready`] line and waits for a line on stdin
//! before starting, and after printing its result it waits for stdin to close before
//! exiting, so that the driver can read the process's segment and memory map while
//! the allocator's state is still there.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use crate::procfs;
use crate::report::{Ready, RunReport};
use crate::workloads::{Mode, Workload};

/// What a binary knows about the allocator compiled into it.
pub struct AllocatorHooks {
    /// Name in reports.
    pub name: &'static str,
    /// Gives free memory back to the OS (`malloc_trim`, `mi_collect`, arena purge).
    pub trim: fn(),
    /// The allocator's own counters as JSON, where it keeps any.
    pub counters: fn() -> Option<serde_json::Value>,
}

/// Parsed command line of an allocator binary.
#[derive(Clone, Debug, PartialEq)]
pub struct ChildArgs {
    /// Workload to run.
    pub workload: Workload,
    /// Threads (default: the workload's first thread count).
    pub threads: usize,
    /// Size of the run.
    pub mode: Mode,
    /// Overrides the mode's amount of work.
    pub iterations: Option<u64>,
    /// Driver handshake on stdin/stdout.
    pub handshake: bool,
}

impl ChildArgs {
    /// Parses the arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut it = args.into_iter();
        let (mut workload, mut threads, mut mode, mut iterations, mut handshake) =
            (None, None, Mode::Quick, None, false);
        while let Some(a) = it.next() {
            let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
            match a.as_str() {
                "--workload" => workload = Some(value("--workload")?.parse::<Workload>()?),
                "--threads" => {
                    let v = value("--threads")?;
                    threads = Some(
                        v.parse::<usize>()
                            .ok()
                            .filter(|&t| (1..=256).contains(&t))
                            .ok_or(format!("--threads {v}: expected 1 to 256"))?,
                    );
                }
                "--mode" => mode = value("--mode")?.parse()?,
                "--iterations" => {
                    let v = value("--iterations")?;
                    iterations = Some(
                        v.parse::<u64>()
                            .ok()
                            .filter(|&n| n > 0)
                            .ok_or(format!("--iterations {v}: expected a positive integer"))?,
                    );
                }
                "--handshake" => handshake = true,
                _ => return Err(format!("unknown argument {a:?}")),
            }
        }
        let workload = workload.ok_or("--workload NAME is required")?;
        Ok(Self {
            workload,
            threads: threads.unwrap_or(workload.thread_counts()[0]),
            mode,
            iterations,
            handshake,
        })
    }
}

const USAGE: &str = "usage: bench-<allocator> --workload NAME [--threads N] \
[--mode smoke|quick|full] [--iterations N] [--handshake]";

/// Runs the binary: parses `std::env::args`, runs the workload, prints the report.
pub fn child_main(hooks: &AllocatorHooks) -> ExitCode {
    let args = match ChildArgs::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-{}: {e}\n{USAGE}", hooks.name);
            return ExitCode::from(2);
        }
    };
    match run(hooks, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-{}: {e}", hooks.name);
            ExitCode::FAILURE
        }
    }
}

fn run(hooks: &AllocatorHooks, args: &ChildArgs) -> io::Result<()> {
    let stdin = io::stdin();
    let mut stdout = io::stdout().lock();
    if args.handshake {
        let ready = Ready {
            ready: true,
            pid: std::process::id(),
        };
        writeln!(stdout, "{}", serde_json::to_string(&ready)?)?;
        stdout.flush()?;
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        if line.trim() != "go" {
            return Err(io::Error::other(format!(
                "expected \"go\" on stdin, got {line:?}"
            )));
        }
    }
    let mut cfg = args.workload.config(args.threads, args.mode, hooks.trim);
    if let Some(n) = args.iterations {
        cfg.iterations = n;
    }
    let out = args.workload.run(&cfg);
    let report = RunReport {
        allocator: hooks.name.to_string(),
        workload: args.workload.name().to_string(),
        threads: args.threads,
        mode: args.mode.name().to_string(),
        pid: std::process::id(),
        ops: out.ops,
        seconds: out.seconds,
        ops_per_sec: out.ops as f64 / out.seconds.max(1e-9),
        peak_rss_bytes: procfs::peak_rss_bytes().unwrap_or(0),
        small_allocs: out.small_allocs,
        extra: out.extra,
        counters: (hooks.counters)(),
    };
    writeln!(stdout, "{}", serde_json::to_string(&report)?)?;
    stdout.flush()?;
    if args.handshake {
        // Hold until the driver has looked at us.
        io::copy(&mut stdin.lock(), &mut io::sink())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ChildArgs, String> {
        ChildArgs::parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn parses_and_rejects() {
        let a = parse("--workload larson --threads 2 --mode smoke --handshake").unwrap();
        assert_eq!(a.workload, Workload::Larson);
        assert_eq!((a.threads, a.mode, a.handshake), (2, Mode::Smoke, true));
        let d = parse("--workload xmalloc").unwrap();
        assert_eq!((d.threads, d.mode, d.iterations), (2, Mode::Quick, None));
        assert!(parse("").unwrap_err().contains("required"));
        assert!(parse("--workload larson --threads 0").is_err());
        assert!(parse("--workload larson --iterations x").is_err());
        assert!(parse("--workload larson --bogus")
            .unwrap_err()
            .contains("bogus"));
        assert!(parse("--workload").unwrap_err().contains("needs a value"));
    }
}
