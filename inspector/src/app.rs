//! The main loop, generic over the ratatui backend: read a frame every interval, fold it,
//! draw, and apply keys in between. Tests run it on a `TestBackend` with scripted input.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event as TermEvent, KeyEvent};
use ratatui::backend::Backend;
use ratatui::Terminal;

use crate::error::InspectError;
use crate::input;
use crate::source::{Source, SourceControl};
use crate::state::{Action, State, TargetStatus};
use crate::view::ColourDepth;

/// Terminal events: keys (and resizes, which only cause a redraw).
pub trait Input {
    /// Waits up to `timeout` for one event.
    fn next(&mut self, timeout: Duration) -> Result<Option<TermEvent>, InspectError>;
}

/// Events from the real terminal.
pub struct TerminalInput;

impl Input for TerminalInput {
    fn next(&mut self, timeout: Duration) -> Result<Option<TermEvent>, InspectError> {
        if event::poll(timeout)? {
            Ok(Some(event::read()?))
        } else {
            Ok(None)
        }
    }
}

/// A fixed list of keys, one per refresh; `None` once exhausted.
pub struct ScriptedInput {
    keys: VecDeque<KeyEvent>,
}

impl ScriptedInput {
    /// Keys delivered in order.
    pub fn new(keys: impl IntoIterator<Item = KeyEvent>) -> Self {
        Self {
            keys: keys.into_iter().collect(),
        }
    }
}

impl Input for ScriptedInput {
    fn next(&mut self, _timeout: Duration) -> Result<Option<TermEvent>, InspectError> {
        Ok(self.keys.pop_front().map(TermEvent::Key))
    }
}

/// Draws the state once.
pub fn draw<B: Backend>(
    terminal: &mut Terminal<B>,
    state: &State,
    colour: ColourDepth,
) -> Result<(), InspectError> {
    terminal
        .draw(|f| {
            f.render_widget(state, f.area());
            colour.apply(f.buffer_mut());
        })
        .map(|_| ())
        .map_err(|e| InspectError::Io(format!("drawing failed: {e}")))
}

/// Sends a control key's command to a live target (not a post-mortem file or a gone
/// process). The answer, or a refusal, shows in the event log as a `control_ack`.
fn control(state: &State, key: crate::ctl::ControlKey) {
    if state.frozen() || state.target.interval_ms == 0 {
        return;
    }
    let segment = std::path::Path::new(&state.target.path);
    let _ = crate::ctl::send_key(key, state.target.pid, segment, state.events.all());
}

/// Rebuilds the state from `frames` (a replay moved), keeping the view and the names.
fn rewind(state: &mut State, frames: Vec<crate::state::Frame>) {
    let mut fresh = State::new(state.target.clone());
    fresh.leaks.symbolizer = state.leaks.symbolizer.take();
    for f in frames {
        fresh.fold(f);
    }
    fresh.apply(Action::Show(state.view));
    *state = fresh;
}

/// How [`run`] runs.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Time between frames.
    pub interval: Duration,
    /// What the terminal shows of the views' colours.
    pub colour: ColourDepth,
    /// At most this many iterations (tests); `None` runs until quit.
    pub max_loops: Option<u64>,
}

impl RunOptions {
    /// `loops` iterations as fast as frames come, in full colour (tests).
    pub fn bounded(loops: u64) -> Self {
        Self {
            interval: Duration::ZERO,
            colour: ColourDepth::TrueColour,
            max_loops: Some(loops),
        }
    }
}

/// Runs until the user quits. The first frame must read; a read failing later (the
/// segment became unreadable) freezes the screen like a target that is gone.
pub fn run<B: Backend>(
    terminal: &mut Terminal<B>,
    source: &mut dyn Source,
    input: &mut dyn Input,
    state: &mut State,
    opts: RunOptions,
) -> Result<(), InspectError> {
    let RunOptions {
        interval,
        colour,
        max_loops,
    } = opts;
    let mut next_read = Instant::now();
    let mut loops = 0u64;
    loop {
        if !state.frozen() && !source.paused() && Instant::now() >= next_read {
            match source.next_frame() {
                Ok(f) => state.fold(f),
                Err(e) if state.frames == 0 => return Err(e),
                Err(_) => state.status = TargetStatus::Gone,
            }
            next_read = Instant::now() + interval;
        }
        draw(terminal, state, colour)?;
        let mut timeout = next_read.saturating_duration_since(Instant::now());
        if state.frozen() {
            timeout = Duration::from_millis(250);
        }
        while let Some(ev) = input.next(timeout)? {
            if let TermEvent::Key(k) = ev {
                if let Some(a) = input::action(k) {
                    if let Action::Control(key) = a {
                        control(state, key);
                    }
                    match source.control(a) {
                        SourceControl::Ignored => state.apply(a),
                        SourceControl::Handled => {}
                        SourceControl::Rewind(frames) => rewind(state, frames),
                    }
                }
            }
            if state.quit {
                return Ok(());
            }
            draw(terminal, state, colour)?;
            timeout = next_read.saturating_duration_since(Instant::now());
            if timeout.is_zero() {
                break;
            }
        }
        if state.quit {
            return Ok(());
        }
        loops += 1;
        if max_loops.is_some_and(|m| loops >= m) {
            return Ok(());
        }
    }
}
