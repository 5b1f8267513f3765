//! Command-line interface: parsing (clap) and dispatch to the commands.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use clap_complete::Shell;

use crate::error::InspectError;
use crate::source::{LiveSource, PostMortemSource, Source};
use crate::view::ColourChoice;
use crate::{commands, ctl, demo, export, interactive, json, record};

/// Attach to a process running slabscope and watch its allocator live.
#[derive(Parser, Debug)]
#[command(
    name = "alloc-inspect",
    version,
    override_usage = "alloc-inspect [OPTIONS] <PID>\n       \
                      alloc-inspect [OPTIONS] --postmortem <FILE>\n       \
                      alloc-inspect [OPTIONS] <COMMAND>"
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
    /// Time between frames in milliseconds: the screen's refresh (attach, demo, replay)
    /// and the recording's frames (record).
    #[arg(long, global = true, value_name = "MS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub interval: u64,
    /// Colours: auto (NO_COLOR, COLORTERM and TERM decide), truecolor, 256, 16 or never.
    #[arg(long = "color", global = true, value_name = "WHEN", default_value = "auto",
          value_parser = ColourChoice::parse)]
    pub colour: ColourChoice,
    /// Subcommand.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// List processes with a segment: pid, command, uptime, mapped and live bytes.
    List {
        /// Print the list as JSON (schema 1, docs/INSPECTOR.md).
        #[arg(long)]
        json: bool,
    },
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
    /// Change a running process: `log=<filter>`, `sample=<bytes>`, `drain`, `trim`, `check=1|abort`.
    Ctl {
        /// Process to control.
        pid: u32,
        /// Commands, each at most once: `log=<filter>`, `sample=<bytes>`, `drain`, `trim`, `check=1|abort`.
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
    },
    /// Play a recording back in the same views: space pauses, ← / → seek.
    Replay {
        /// A file written by `record`.
        file: PathBuf,
    },
    /// Print a shell completion script (e.g. `alloc-inspect completions bash >
    /// ~/.local/share/bash-completion/completions/alloc-inspect`).
    Completions {
        /// The shell.
        shell: Shell,
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

/// The command line's grammar, with the key table as the long help's epilogue.
pub fn command() -> clap::Command {
    let keys: String = crate::keys::KEYS
        .iter()
        .map(|row| {
            format!(
                "\n  {:<18} {}",
                crate::keys::row_keys(row),
                crate::keys::row_help(row)
            )
        })
        .collect();
    Cli::command()
        .after_help("Keys in the views: ? lists them; --help too. See docs/INSPECTOR.md.")
        .after_long_help(format!(
            "Keys in the views:{keys}\n\nSee docs/INSPECTOR.md."
        ))
}

/// The visible subcommands, for the message when no target is given.
fn subcommand_names(cmd: &clap::Command) -> String {
    cmd.get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What clap's grammar lets through but the commands cannot use: no target at all, or
/// a pid and the attach options beside a subcommand (`--interval` and `--color` are
/// global and reach every command that draws or records).
fn usage_error(cli: &Cli, cmd: &clap::Command) -> Option<String> {
    let attach = [
        (cli.pid.is_some(), "a pid"),
        (cli.postmortem.is_some(), "--postmortem"),
        (cli.once, "--once"),
        (cli.json, "--json"),
    ];
    match &cli.command {
        None if cli.pid.is_none() && cli.postmortem.is_none() => Some(format!(
            "give a pid, --postmortem FILE, or a command ({})",
            subcommand_names(cmd)
        )),
        Some(sub) => attach.iter().find(|(set, _)| *set).map(|(_, what)| {
            format!(
                "{what} cannot be combined with the `{}` command",
                command_name(sub)
            )
        }),
        None => None,
    }
}

/// The name a subcommand is given on the command line.
fn command_name(sub: &Command) -> &'static str {
    match sub {
        Command::List { .. } => "list",
        Command::Gc => "gc",
        Command::Demo { .. } => "demo",
        Command::Export { .. } => "export",
        Command::Ctl { .. } => "ctl",
        Command::Record { .. } => "record",
        Command::Replay { .. } => "replay",
        Command::Completions { .. } => "completions",
        Command::DemoChild { .. } => "__demo-child",
        Command::LeakyChild { .. } => "__leaky-child",
    }
}

/// Parses the command line, runs the command, and returns the exit code: 0, 1 for an
/// error (one line on stderr), 2 for a usage error (clap's message and usage).
pub fn main() -> i32 {
    main_with(std::env::args_os())
}

/// [`main`] on the given arguments (the first is the program name).
pub fn main_with(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let mut cmd = command();
    let cli = match cmd
        .try_get_matches_from_mut(args)
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    if let Some(msg) = usage_error(&cli, &cmd) {
        let e = cmd.error(clap::error::ErrorKind::ArgumentConflict, msg);
        let _ = e.print();
        return e.exit_code();
    }
    match run(cli) {
        Ok(()) | Err(InspectError::OutputClosed) => 0,
        Err(e) => {
            eprintln!("alloc-inspect: {e}");
            1
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), InspectError> {
    let interval = cli.interval;
    let colour = cli.colour.resolve(|k| std::env::var(k).ok());
    match cli.command {
        Some(Command::List { json }) => return commands::list(&mut std::io::stdout(), json),
        Some(Command::Gc) => return commands::gc(&mut std::io::stdout()),
        Some(Command::Demo { args }) => return demo::run_parent(&args, interval, colour),
        Some(Command::DemoChild { args }) => return demo::run_child(args),
        Some(Command::Record {
            pid,
            output,
            frames,
            seconds,
        }) => {
            let end = match (frames, seconds) {
                (Some(n), _) => record::RecordEnd::Frames(n),
                (None, Some(s)) => record::RecordEnd::Seconds(s),
                (None, None) => record::RecordEnd::Exit,
            };
            let s = record::record(pid, &output, interval, end)?;
            let mut line = format!(
                "recorded {} frames of pid {pid} to {} ({}, {} key frame{})",
                s.frames,
                output.display(),
                crate::view::format::bytes(s.bytes),
                s.key_frames,
                if s.key_frames == 1 { "" } else { "s" }
            );
            if s.missed > 0 {
                line += &format!(
                    "; {} frames missed (taking one took longer than the interval)",
                    s.missed
                );
            }
            writeln!(std::io::stdout(), "{line}")?;
            return Ok(());
        }
        Some(Command::Replay { file }) => {
            let mut source = record::ReplaySource::open(&file)?;
            if let Some(d) = source.take_damage() {
                eprintln!("alloc-inspect: {d}");
            }
            let symbolizer = source.symbolizer();
            let r = interactive::run_with(&mut source, interval, colour, Some(symbolizer));
            if let Some(d) = source.take_damage() {
                eprintln!("alloc-inspect: {d}");
            }
            return r;
        }
        Some(Command::Completions { shell }) => {
            clap_complete::generate(
                shell,
                &mut command(),
                "alloc-inspect",
                &mut std::io::stdout(),
            );
            return Ok(());
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
        (None, None) => {
            return Err(InspectError::Io(format!(
                "give a pid, --postmortem FILE, or a command ({})",
                subcommand_names(&command())
            )))
        }
    };
    if cli.once {
        let frame = source.next_frame()?;
        let out = if cli.json {
            json::to_string(&frame)
        } else {
            commands::text_screen(source.target(), frame, 120, 40)
        };
        writeln!(std::io::stdout(), "{out}")?;
        return Ok(());
    }
    interactive::run(source.as_mut(), interval, colour)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::ColourDepth;

    #[test]
    fn the_grammar_is_consistent() {
        command().debug_assert();
    }

    /// What `alloc-inspect ARGS` prints for a help request.
    fn help_text(args: &[&str]) -> String {
        let e = command()
            .try_get_matches_from(std::iter::once("alloc-inspect").chain(args.iter().copied()))
            .unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp, "{args:?}");
        e.render().to_string()
    }

    #[test]
    fn help_of_the_command_and_of_every_subcommand() {
        insta::assert_snapshot!("help", help_text(&["--help"]));
        insta::assert_snapshot!("help_short", help_text(&["-h"]));
        let cmd = command();
        for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
            let name = sub.get_name();
            if name != "help" {
                insta::assert_snapshot!(format!("help_{name}"), help_text(&[name, "--help"]));
            }
        }
    }

    #[test]
    fn usage_errors_exit_2_and_help_exits_0() {
        let code = |args: &[&str]| {
            main_with(
                std::iter::once("alloc-inspect")
                    .chain(args.iter().copied())
                    .map(std::ffi::OsString::from),
            )
        };
        assert_eq!(code(&[]), 2);
        assert_eq!(code(&["--bogus"]), 2);
        assert_eq!(code(&["not-a-pid"]), 2);
        assert_eq!(code(&["--interval", "5", "1"]), 2);
        assert_eq!(code(&["--color", "rainbow", "1"]), 2);
        assert_eq!(code(&["12", "list"]), 2);
        assert_eq!(code(&["--once", "gc"]), 2);
        assert_eq!(code(&["--help"]), 0);
        assert_eq!(code(&["--version"]), 0);
    }

    #[test]
    fn global_options_reach_the_subcommands() {
        let parse = |args: &[&str]| {
            let m = command()
                .try_get_matches_from(std::iter::once("alloc-inspect").chain(args.iter().copied()))
                .unwrap();
            Cli::from_arg_matches(&m).unwrap()
        };
        for args in [
            &["demo", "--interval", "50"][..],
            &["--interval", "50", "demo"],
            &["replay", "f", "--interval", "50"],
            &["record", "1", "-o", "f", "--interval", "50"],
        ] {
            assert_eq!(parse(args).interval, 50, "{args:?}");
        }
        let cli = parse(&["demo", "--color", "never"]);
        assert_eq!(cli.colour, ColourChoice::Fixed(ColourDepth::None));
        assert!(matches!(cli.command, Some(Command::Demo { .. })));
    }

    #[test]
    fn completions_cover_every_subcommand() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command(), "alloc-inspect", &mut out);
            let text = String::from_utf8(out).unwrap();
            for sub in ["list", "record", "replay", "ctl", "export", "completions"] {
                assert!(text.contains(sub), "{shell}: {sub}");
            }
        }
    }
}
