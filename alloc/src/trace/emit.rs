//! Capturing events into the calling thread's buffer (`pending`), the flush at the end
//! of a slow path, and the tracing event written for each `EventKind`.
#![forbid(unsafe_code)]

use core::cell::Cell;
use core::sync::atomic::{AtomicU8, Ordering::Relaxed};

use slabscope_proto::EventKind;

use super::pending::{self, CAP};
use super::sink::{self, Readiness};
use super::Turn;
use crate::{options, settings};

const UNDECIDED: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;

/// Whether tracing is on: decided on the first captured event (from `SLABSCOPE_LOG`),
/// turned on later by a control-channel filter. The one word slow paths look at.
static STATE: AtomicU8 = AtomicU8::new(UNDECIDED);

const TLS_UNKNOWN: u8 = 0;
const TLS_ALIVE: u8 = 1;
const TLS_DEAD: u8 = 2;

thread_local! {
    // Every thread-local here is `const`-initialised and `Drop`-free (no TLS destructor
    // is registered by touching them, so no allocation), except `SENTINEL`, which is
    // touched only inside a flush.
    /// The thread's buffer in `pending`'s pool, plus 1 (0: none yet).
    static BUFFER: Cell<usize> = const { Cell::new(0) };
    static LEN: Cell<usize> = const { Cell::new(0) };
    static DROPPED: Cell<u64> = const { Cell::new(0) };
    /// Up while this thread runs the subscriber: its slow paths capture nothing.
    static IN_TRACE: Cell<bool> = const { Cell::new(false) };
    /// Whether this thread's thread-local storage (the subscriber's included) is alive.
    static TLS: Cell<u8> = const { Cell::new(TLS_UNKNOWN) };
    static SENTINEL: Sentinel = const { Sentinel };
}

/// Registered (touched) after the subscriber's own thread-locals, so it is destroyed
/// before them at thread exit: once it is gone, this thread writes no more events.
struct Sentinel;

impl Drop for Sentinel {
    fn drop(&mut self) {
        TLS.with(|t| t.set(TLS_DEAD));
        give_back_buffer();
    }
}

/// The calling thread's buffer, taken from the pool at its first event.
fn buffer() -> Option<usize> {
    match BUFFER.with(|b| b.get()) {
        0 => {
            let i = pending::take()?;
            BUFFER.with(|b| b.set(i + 1));
            Some(i)
        }
        b => Some(b - 1),
    }
}

/// Returns the calling thread's buffer to the pool (its thread-local storage is going).
fn give_back_buffer() {
    let b = BUFFER.with(|b| b.replace(0));
    if b != 0 {
        pending::give_back(b - 1);
    }
}

#[cold]
fn decide() -> bool {
    let on = options::get().log.is_some() || settings::log_filter_generation() != 0;
    let _ = STATE.compare_exchange(UNDECIDED, if on { ON } else { OFF }, Relaxed, Relaxed);
    STATE.load(Relaxed) == ON
}

/// Whether the calling thread is running the subscriber (its allocations are the
/// subscriber's: `SLABSCOPE_LIMIT` does not refuse them, so that the OOM itself can be
/// traced).
#[inline]
pub(crate) fn in_subscriber() -> bool {
    IN_TRACE.with(|f| f.get())
}

/// Buffers `kind` for the next [`flush`] of this thread (nothing when tracing is off or
/// this thread is running the subscriber). Safe under any allocator lock.
#[inline]
pub(crate) fn capture(kind: &EventKind) {
    let s = STATE.load(Relaxed);
    if s == OFF || s == UNDECIDED && !decide() {
        return;
    }
    if IN_TRACE.with(|f| f.get()) {
        return;
    }
    let n = LEN.with(|l| l.get());
    match buffer() {
        Some(b) if n < CAP => {
            pending::put(b, n, kind);
            LEN.with(|l| l.set(n + 1));
        }
        _ => DROPPED.with(|d| d.set(d.get() + 1)),
    }
}

/// Writes this thread's buffered events when the caller's `turn` allows it (see
/// [`Turn`]; asked only when tracing is on). Called at the end of slow paths, with no
/// allocator lock held; one relaxed load when tracing is off.
#[inline]
pub(crate) fn flush(turn: fn() -> Turn) {
    if STATE.load(Relaxed) == ON {
        flush_slow(turn);
    }
}

/// The interval drain's look at the control channel: a `log=` filter turns tracing on
/// in a process started without `SLABSCOPE_LOG` (and a changed one is reloaded), then
/// the flush.
pub(crate) fn after_interval(turn: fn() -> Turn) {
    if STATE.load(Relaxed) != ON && settings::log_filter_generation() != 0 {
        STATE.store(ON, Relaxed);
    }
    flush(turn);
}

/// Captures and writes `kind` at once: for events raised outside the allocator's slow
/// paths (the GPU pool).
pub(crate) fn emit_now(kind: &EventKind, turn: fn() -> Turn) {
    capture(kind);
    flush(turn);
}

/// Runs `f` with this thread's tracing paused, as a flush runs its sink: its slow paths
/// capture nothing (for work that allocates on a sink's behalf, such as loading it).
pub fn paused<R>(f: fn() -> R) -> R {
    let was = IN_TRACE.with(|t| t.replace(true));
    let r = f();
    IN_TRACE.with(|t| t.set(was));
    r
}

#[cold]
#[inline(never)]
fn flush_slow(turn: fn() -> Turn) {
    if IN_TRACE.with(|f| f.get()) {
        return;
    }
    let n = LEN.with(|l| l.get());
    let dropped = DROPPED.with(|d| d.get());
    if n == 0 && dropped == 0 {
        return;
    }
    let turn = turn();
    if turn == Turn::Later {
        return;
    }
    if turn == Turn::Never || TLS.with(|t| t.get()) == TLS_DEAD {
        LEN.with(|l| l.set(0));
        DROPPED.with(|d| d.set(0));
        give_back_buffer();
        return; // thread-local storage torn down: the subscriber cannot run here
    }
    IN_TRACE.with(|f| f.set(true));
    let ready = sink::pick().map(|s| (s, (s.ready)()));
    let sink = match ready {
        Some((s, Readiness::Now)) => s,
        None | Some((_, Readiness::NotYet)) => {
            // The events stay buffered for a later flush.
            IN_TRACE.with(|f| f.set(false));
            return;
        }
        Some((_, Readiness::Never)) => {
            STATE.store(OFF, Relaxed);
            LEN.with(|l| l.set(0));
            DROPPED.with(|d| d.set(0));
            give_back_buffer();
            IN_TRACE.with(|f| f.set(false));
            return;
        }
    };
    let b = BUFFER.with(|b| b.get()).wrapping_sub(1);
    let mut events = [EventKind::ThreadExit { blocks: 0 }; CAP];
    let mut m = 0;
    for i in 0..n {
        if let Some(kind) = pending::get(b, i) {
            events[m] = kind;
            m += 1;
        }
    }
    LEN.with(|l| l.set(0));
    DROPPED.with(|d| d.set(0));
    // Copied out: the buffer goes back to the pool, which then only has to cover the
    // threads between a capture and their flush, not every thread that traces.
    give_back_buffer();
    if !sink::write(sink, &events[..m], dropped) {
        STATE.store(OFF, Relaxed);
    }
    if TLS.with(|t| t.get()) == TLS_UNKNOWN {
        SENTINEL.with(|_| ());
        TLS.with(|t| t.set(TLS_ALIVE));
    }
    IN_TRACE.with(|f| f.set(false));
}
