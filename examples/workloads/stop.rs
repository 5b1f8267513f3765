//! Ending on request. SIGTERM (`kill PID`) and SIGINT (Ctrl-C) would end a workload
//! with the signal's default action, which runs no exit handler: the allocator could
//! not remove its segment, and it would be kept like a crashed process's. A binary that
//! calls [`on_term_and_int`] instead gets a flag that the workloads' loops check: their
//! threads join, `main` returns, and the segment goes as at any normal exit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

fn flag() -> &'static Arc<AtomicBool> {
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Makes SIGTERM and SIGINT set the stop flag instead of ending the process (a second
/// one of them ends it at once, for a workload that does not stop).
pub fn on_term_and_int() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    for sig in [SIGTERM, SIGINT] {
        // A second signal, with the flag already set, ends the process (exit code 1).
        signal_hook::flag::register_conditional_shutdown(sig, 1, flag().clone())?;
        signal_hook::flag::register(sig, flag().clone())?;
    }
    Ok(())
}

/// Whether an end was requested.
pub fn requested() -> bool {
    flag().load(Ordering::Relaxed)
}

/// Sleeps until `until`, or until an end is requested; returns whether one was.
pub fn sleep_until(until: Instant) -> bool {
    loop {
        if requested() {
            return true;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
}
