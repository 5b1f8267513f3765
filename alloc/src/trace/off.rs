//! The tracing entry points of a build without the `trace` feature: nothing is captured
//! or written. A user who sets `SLABSCOPE_LOG` (or sends a `log=` filter through the
//! control channel) to such a build is told once, on stderr, that tracing is not built
//! in, instead of seeing nothing and wondering why.
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

use slabscope_proto::EventKind;

use super::Turn;
use crate::{options, pal, settings};

/// Set once the "not built in" line was written (or nothing asked for tracing when the
/// first slow path looked).
static TOLD: AtomicBool = AtomicBool::new(false);

/// Never in the subscriber: there is none.
#[inline]
pub(crate) fn in_subscriber() -> bool {
    false
}

/// Nothing to capture without the feature.
#[inline]
pub(crate) fn capture(_kind: &EventKind) {}

/// Reports an unserved `SLABSCOPE_LOG` once (slow paths call this with no allocator
/// lock held); one relaxed load afterwards.
#[inline]
pub(crate) fn flush(_turn: fn() -> Turn) {
    if !TOLD.load(Relaxed) {
        tell_once(options::get().log.is_some());
    }
}

/// The interval drain's look at the control channel: a `log=` filter sent to this
/// build is reported like `SLABSCOPE_LOG`.
pub(crate) fn after_interval(_turn: fn() -> Turn) {
    if !TOLD.load(Relaxed) {
        tell_once(options::get().log.is_some() || settings::log_filter_generation() != 0);
    }
}

/// Nothing to write without the feature.
pub(crate) fn emit_now(_kind: &EventKind, _turn: fn() -> Turn) {}

#[cold]
fn tell_once(asked: bool) {
    if asked && !TOLD.swap(true, Relaxed) {
        pal::write_stderr(&[
            b"slabscope: debug tracing was asked for (SLABSCOPE_LOG or a log= filter), ",
            b"but this build has no `trace` feature: nothing is traced",
        ]);
    }
}
