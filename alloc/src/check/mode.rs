//! The check mode of this process (`SLABSCOPE_CHECK`): read from the options by the
//! first call that asks, which comes before the first block is handed out (every slow
//! path asks before it hands one out, and the first allocation of a thread takes a slow
//! path). Checks are never turned on or off later: a block handed out unchecked has no
//! trailer, and a block handed out checked would lose its checks. A process started with
//! checks on may switch between reporting and aborting at run time (`ctl check=`).
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU8, Ordering::Relaxed};

use crate::options;

/// No checks (the default): the fast paths run, nothing here is called.
pub const OFF: u8 = 0;
/// Report each heap error and abort the process.
pub const ABORT: u8 = 2;
/// Not read from the options yet.
const UNSET: u8 = u8::MAX;

static MODE: AtomicU8 = AtomicU8::new(UNSET);

/// The mode: [`OFF`], 1 (report each heap error and go on without performing the bad
/// operation) or [`ABORT`].
#[inline]
pub fn get() -> u8 {
    match MODE.load(Relaxed) {
        UNSET => {
            let m = options::get().check.min(ABORT);
            // Racing first calls agree on `m`; a `ctl check=` switch that came between
            // the load and here wins.
            match MODE.compare_exchange(UNSET, m, Relaxed, Relaxed) {
                Ok(_) => m,
                Err(now) => now,
            }
        }
        m => m,
    }
}

/// Whether checks are on (one relaxed load after the first call; slow paths only).
#[inline]
pub fn on() -> bool {
    get() != OFF
}

/// Switches a process started with checks on between reporting (1) and aborting
/// ([`ABORT`]); `false`, and nothing changed, when checks are off or `mode` is neither.
pub fn switch(mode: u8) -> bool {
    if !on() || !(mode == 1 || mode == ABORT) {
        return false;
    }
    MODE.store(mode, Relaxed);
    true
}
