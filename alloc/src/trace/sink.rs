//! Where a flush hands its events: a [`Sink`] of plain values
//! (`slabscope-trace-sink`). The preload registers its own (`set_sink`: it loads
//! `libslabscope_trace.so` in a process that asks for tracing); otherwise the `trace`
//! feature's linked-in one writes. This module also keeps track of the filter in force
//! (`SLABSCOPE_LOG`, or the control channel's `log=`), which a batch carries when the
//! sink it goes to has not seen it.
#![forbid(unsafe_code)]

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;

use slabscope_proto::EventKind;
pub use slabscope_trace_sink::{Batch, Filter, Readiness, Sink};

use crate::{options, settings};

static REGISTERED: OnceLock<&'static Sink> = OnceLock::new();

/// The control-channel filter generation the last batch carried (`u64::MAX`: none yet).
static SEEN: AtomicU64 = AtomicU64::new(u64::MAX);
/// The sink that took the last filter (null: none yet). A sink that has not (the first,
/// or the preload's after the linked-in one wrote the events of the process's first
/// allocations in a build that has both) gets the filter with its first batch.
static FILTERED: AtomicPtr<Sink> = AtomicPtr::new(ptr::null_mut());

/// Makes `sink` the one flushes write to (the first registration stands). Until its
/// `ready` says `Now`, the events wait in their buffers (a thread's buffer holds
/// [`super::BATCH_MAX`]; the ones past it are counted and reported as dropped).
pub fn set_sink(sink: &'static Sink) {
    let _ = REGISTERED.set(sink);
}

/// The sink a flush writes to: the registered one, else the linked-in one; `None`
/// while neither is there (the preload registers its own from its constructor, after
/// the first allocations): the events wait.
pub(super) fn pick() -> Option<&'static Sink> {
    if let Some(s) = REGISTERED.get() {
        return Some(s);
    }
    #[cfg(feature = "trace")]
    return Some(&slabscope_trace_sink::LINKED);
    #[cfg(not(feature = "trace"))]
    None
}

/// Writes `events` and the `dropped` count through `sink` (made ready by the caller),
/// with the filter in force when `sink` has not seen it. `false`: tracing goes off.
pub(super) fn write(sink: &'static Sink, events: &[EventKind], dropped: u64) -> bool {
    let generation = settings::log_filter_generation();
    let changed = SEEN.swap(generation, Relaxed) != generation;
    let this = ptr::from_ref(sink).cast_mut();
    let carry = changed || FILTERED.load(Relaxed) != this;
    let control = if carry { settings::log_filter() } else { None };
    let filter = carry.then(|| match &control {
        Some(f) => Filter {
            text: f.as_bytes(),
            source: "the control channel's log=",
            generation: f.generation,
        },
        None => Filter {
            text: options::get().log.unwrap_or(b"off"),
            source: "SLABSCOPE_LOG=",
            generation: 0,
        },
    });
    let written = (sink.write)(&Batch {
        events,
        dropped,
        filter,
        log_file: options::get().log_file,
    });
    if written && carry {
        FILTERED.store(this, Relaxed);
    }
    written
}

#[cfg(all(test, feature = "trace"))]
mod tests {
    #[test]
    fn filters_the_grammar_accepts_parse_as_targets() {
        for f in [
            "slabscope=debug",
            "debug",
            "slabscope",
            "off",
            "a=0",
            "info,slabscope::drain=trace",
            "slabscope::drain=TRACE",
            "slabscope::large=5",
        ] {
            assert!(crate::grammar::filter_ok(f.as_bytes()), "{f}");
            assert!(slabscope_trace_sink::filter_parses(f.as_bytes()), "{f}");
        }
    }
}
