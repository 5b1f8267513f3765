//! Command-line interface: parsing (clap) and dispatch to the commands.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::error::InspectError;
use crate::source::{LiveSource, PostMortemSource, Source};
use crate::state::{Liveness, State};
use crate::symbolize::Symbolizer;
use crate::{app, commands, ctl, demo, export, json, record, terminal};

/// Attach to a process running slabscope and watch its allocator live.
#[derive(Parser, Debug)]
#[command(
    name = "alloc-inspect",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Keys: Tab/1-7 views, ? help, q quit. See docs/INSPECTOR.md."
)]
pub struct Cli {
    /// Process to attach to.
    pub pid: Option<u32>,
    /// Read one snapshot, print it and exit (JSON with --json, else a text screen).
    #[arg(long)]
    pub once: bool,
    /// With --once: print the snapshot as JSON (the stable schema in docs/INSPECTOR.md).
    #[arg(long, requires = "once")]
    pub json: bool,
    /// Show the last state a dead process left in its segment FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "pid")]
    pub postmortem: Option<PathBuf>,
    /// Refresh interval in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(16..=10_000))]
    pub interval: u64,
    /// Subcommand.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// List processes with a segment: pid, command, uptime, mapped and live bytes.
    List,
    /// Remove segments whose process is gone.
    Gc,
    /// Start the demo workload in a child process and attach to it.
    Demo {
        /// Arguments for the workload, after `--` (e.g. `-- --seconds 60 --threads 8`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Serve OpenMetrics (Prometheus) metrics of processes over HTTP.
    Export {
        /// Address to listen on (port 0 picks a free port; the address is printed).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
        listen: String,
        /// Export these processes (repeat); the default is every segment (--all).
        #[arg(long = "pid", value_name = "PID", conflicts_with = "all")]
        pids: Vec<u32>,
        /// Export every process with a segment, discovered on each scrape (the default).
        #[arg(long)]
        all: bool,
    },
    /// Change a running process: `log=<EnvFilter>`, `sample=<bytes>`, `drain`, `trim`.
    Ctl {
        /// Process to control.
        pid: u32,
        /// Commands, each at most once: `log=<filter>`, `sample=<bytes>`, `drain`, `trim`.
        #[arg(required = true, value_name = "COMMAND")]
        commands: Vec<String>,
        /// How long to wait for the process's acknowledgement, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 3000,
              value_parser = clap::value_parser!(u64).range(1..=600_000))]
        timeout: u64,
    },
    /// Record a process's frames (snapshots and events) to FILE, for `replay`.
    Record {
        /// Process to record.
        pid: u32,
        /// The recording (created or truncated).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
        /// Stop after this many frames (default: when the process exits or on Ctrl-C).
        #[arg(long, value_name = "N", conflicts_with = "seconds")]
        frames: Option<u64>,
        /// Stop after this many seconds.
        #[arg(long, value_name = "S")]
        seconds: Option<u64>,
        /// Time between frames in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 100,
              value_parser = clap::value_parser!(u64).range(10..=600_000))]
        interval: u64,
    },
    /// Play a recording back in the same views: space pauses, ← / → seek.
    Replay {
        /// A file written by `record`.
        file: PathBuf,
    },
    /// Runs the demo workload in this process (used by `demo`).
    #[command(name = "__demo-child", hide = true)]
    DemoChild {
        /// Workload arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Runs the leaky workload in this process (a leak-hunting target for the tests
    /// and docs/DEBUGGING.md; publish with `SLABSCOPE_PUBLISH=1`, sample with
    /// `SLABSCOPE_SAMPLE`).
    #[command(name = "__leaky-child", hide = true)]
    LeakyChild {
        /// Workload arguments (`--seconds N`, `--threads N`, `--leak-kib N`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Parses the command line, runs the command, and returns the exit code. Errors are
/// one line on stderr and exit code 1.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("alloc-inspect: {e}");
            1
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), InspectError> {
    let interval = cli.interval;
    match cli.command {
        Some(Command::List) => return commands::list(&mut std::io::stdout()),
        Some(Command::Gc) => return commands::gc(&mut std::io::stdout()),
        Some(Command::Demo { args }) => return demo::run_parent(&args, interval),
        Some(Command::DemoChild { args }) => return demo::run_child(args),
        Some(Command::Record {
            pid,
            output,
            frames,
            seconds,
            interval,
        }) => {
            let end = match (frames, seconds) {
                (Some(n), _) => record::RecordEnd::Frames(n),
                (None, Some(s)) => record::RecordEnd::Seconds(s),
                (None, None) => record::RecordEnd::Exit,
            };
            let snaps = record::record(pid, &output, interval, end)?;
            println!(
                "recorded {} frames of pid {pid} to {}",
                snaps.len(),
                output.display()
            );
            return Ok(());
        }
        Some(Command::Replay { file }) => {
            let mut source = record::ReplaySource::open(&file)?;
            let symbolizer = source.symbolizer();
            return interactive_with(&mut source, interval, Some(symbolizer));
        }
        Some(Command::LeakyChild { args }) => {
            return crate::workload::run_leaky(args).map_err(InspectError::Demo)
        }
        Some(Command::Export { listen, pids, .. }) => {
            let selection = if pids.is_empty() {
                export::Selection::All
            } else {
                export::Selection::Pids(pids)
            };
            return export::run(&listen, selection, &mut std::io::stdout());
        }
        Some(Command::Ctl {
            pid,
            commands,
            timeout,
        }) => {
            let code = ctl::run(
                pid,
                &commands,
                Duration::from_millis(timeout),
                &mut std::io::stdout(),
            )?;
            if code != 0 {
                return Err(InspectError::Io(format!(
                    "process {pid} did not accept the request"
                )));
            }
            return Ok(());
        }
        None => {}
    }
    let mut source: Box<dyn Source> = match (&cli.postmortem, cli.pid) {
        (Some(path), _) => Box::new(PostMortemSource::open(path)?),
        (None, Some(pid)) => Box::new(LiveSource::attach(pid, interval)?),
        (None, None) => return Err(InspectError::Io(
            "give a pid, --postmortem FILE, or a command (list, gc, demo, export, ctl); see --help"
                .into(),
        )),
    };
    if cli.once {
        let frame = source.next_frame()?;
        let out = if cli.json {
            json::to_string(&frame)
        } else {
            commands::text_screen(source.target(), frame, 120, 40)
        };
        println!("{out}");
        return Ok(());
    }
    interactive(source.as_mut(), interval)
}

/// Runs the TUI on the real terminal until the user quits.
pub fn interactive(source: &mut dyn Source, interval_ms: u64) -> Result<(), InspectError> {
    interactive_with(source, interval_ms, None)
}

/// [`interactive`], naming sample-site frames with `symbolizer` (a replay's recorded
/// mappings); by default from the running process's mappings.
fn interactive_with(
    source: &mut dyn Source,
    interval_ms: u64,
    symbolizer: Option<Symbolizer>,
) -> Result<(), InspectError> {
    let mut state = State::new(source.target());
    // Read before entering the alternate screen, so errors print on a normal terminal.
    let first = source.next_frame()?;
    state.leaks.symbolizer = match symbolizer {
        Some(s) => Some(s),
        // Names for the Leaks view, from the running process's mappings.
        None if first.liveness == Liveness::Alive => Some(Symbolizer::for_pid(first.snapshot.pid)),
        None => None,
    };
    state.fold(first);
    let mut guard = terminal::TerminalGuard::enter()?;
    app::run(
        &mut guard.terminal,
        source,
        &mut app::TerminalInput,
        &mut state,
        Duration::from_millis(interval_ms),
        None,
    )
}
