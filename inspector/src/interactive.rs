//! Running the TUI on the real terminal: the attach, post-mortem, replay and demo
//! commands end here.

use std::time::Duration;

use crate::error::InspectError;
use crate::source::Source;
use crate::state::{Liveness, State};
use crate::symbolize::{Background, Symbolizer};
use crate::view::ColourDepth;
use crate::{app, terminal};

/// Runs the TUI on the real terminal until the user quits.
pub fn run(
    source: &mut dyn Source,
    interval_ms: u64,
    colour: ColourDepth,
) -> Result<(), InspectError> {
    run_with(source, interval_ms, colour, None)
}

/// [`run`], naming sample-site frames with `symbolizer` (a replay's recorded
/// mappings); by default from the running process's mappings.
pub fn run_with(
    source: &mut dyn Source,
    interval_ms: u64,
    colour: ColourDepth,
    symbolizer: Option<Symbolizer>,
) -> Result<(), InspectError> {
    let mut state = State::new(source.target());
    // Read before entering the alternate screen, so errors print on a normal terminal.
    let first = source.next_frame()?;
    // Names for the Leaks view, from the running process's mappings, looked up on the
    // symbolizer's own thread.
    state.leaks.symbolizer = match symbolizer {
        Some(s) => Background::spawn(s),
        None if first.liveness == Liveness::Alive => {
            Background::spawn(Symbolizer::for_pid(first.snapshot.pid))
        }
        None => None,
    };
    state.fold(first);
    let mut guard = terminal::TerminalGuard::enter()?;
    app::run(
        &mut guard.terminal,
        source,
        &mut app::TerminalInput,
        &mut state,
        app::RunOptions {
            interval: Duration::from_millis(interval_ms),
            colour,
            max_loops: None,
        },
    )
}
