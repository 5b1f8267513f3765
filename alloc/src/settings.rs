//! The values the control channel sets, kept in fixed storage (no allocation, no lock)
//! for the parts of the allocator that use them: the log filter (for the tracing layer),
//! the leak-sampling rate, and the drain epoch every thread compares with its own.
//!
//! The control channel's poller (`control/poll.rs`) is the only writer, one at a time;
//! readers are any thread. A leaf: tracing and sampling read it without depending on
//! the poller, which sits on top of the mechanism.
#![forbid(unsafe_code)]

use core::cell::Cell;
use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use slabscope_proto::layout::store_bytes;

use crate::grammar::LOG_FILTER_MAX;
use crate::options;

const WORDS: usize = LOG_FILTER_MAX.div_ceil(8);

/// Sequence word of the log filter: odd while written, 0 while never set.
static LOG_GEN: AtomicU64 = AtomicU64::new(0);
static LOG_LEN: AtomicU32 = AtomicU32::new(0);
static LOG_WORDS: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];
/// Sampling rate set through the control channel; `UNSET` until a file set one.
static SAMPLE: AtomicU64 = AtomicU64::new(UNSET);
const UNSET: u64 = u64::MAX;
/// Bumped by every `sample=` (the sampler compares it with each thread's copy).
static SAMPLE_GEN: AtomicU64 = AtomicU64::new(0);
/// Bumped by every accepted `drain`.
static DRAIN_EPOCH: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The drain epoch this thread last acted on (a plain `Cell` with a `const`
    /// initialiser: no TLS destructor is registered, so no allocation).
    static SEEN_EPOCH: Cell<u64> = const { Cell::new(0) };
}

/// A log filter set through the control channel (`log=<filter>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogFilter {
    bytes: [u8; WORDS * 8],
    len: usize,
    /// Changes whenever the filter is set again (compare with [`log_filter_generation`]).
    pub generation: u64,
}

impl LogFilter {
    /// The filter as set (printable ASCII, checked by the parser).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The filter as a string (`SLABSCOPE_LOG` syntax, `grammar::filter_ok`).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

/// Stores a new log filter (the poller only; `f` at most [`LOG_FILTER_MAX`] bytes).
pub(crate) fn set_log_filter(f: &[u8]) {
    let f = &f[..f.len().min(LOG_FILTER_MAX)];
    let g = LOG_GEN.load(Ordering::Relaxed);
    LOG_GEN.store(g | 1, Ordering::Relaxed);
    fence(Ordering::Release);
    store_bytes(&LOG_WORDS, f);
    LOG_LEN.store(f.len() as u32, Ordering::Relaxed);
    LOG_GEN.store((g | 1) + 1, Ordering::Release);
}

/// The generation of the log filter: 0 until a control file set one, then a new even
/// number with every `log=`. One relaxed load: cheap enough to check on slow paths.
pub fn log_filter_generation() -> u64 {
    LOG_GEN.load(Ordering::Relaxed)
}

/// The log filter set through the control channel, or `None` when none was (then
/// `SLABSCOPE_LOG` applies). `log=off` is a filter like any other.
pub fn log_filter() -> Option<LogFilter> {
    loop {
        let g1 = LOG_GEN.load(Ordering::Acquire);
        if g1 == 0 {
            return None;
        }
        if g1 & 1 == 1 {
            core::hint::spin_loop();
            continue;
        }
        let mut out = LogFilter {
            bytes: [0; WORDS * 8],
            len: 0,
            generation: g1,
        };
        for (i, w) in LOG_WORDS.iter().enumerate() {
            out.bytes[i * 8..i * 8 + 8].copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
        }
        out.len = (LOG_LEN.load(Ordering::Relaxed) as usize).min(LOG_FILTER_MAX);
        fence(Ordering::Acquire);
        if LOG_GEN.load(Ordering::Relaxed) == g1 {
            return Some(out);
        }
    }
}

/// Stores a new sampling rate in bytes (0 = off).
pub(crate) fn set_sample_rate(bytes: u64) {
    SAMPLE.store(bytes.min(UNSET - 1), Ordering::Relaxed);
    SAMPLE_GEN.fetch_add(1, Ordering::Release);
}

/// The generation of the sampling rate: 0 until a control file set one, then one more
/// with every `sample=`. One relaxed load: cheap enough to check on slow paths.
pub fn sample_rate_generation() -> u64 {
    SAMPLE_GEN.load(Ordering::Acquire)
}

/// The sampling interval in force, in bytes (0 = off): the last `sample=` of the control
/// channel, or `SLABSCOPE_SAMPLE` while none came.
#[inline]
pub fn sample_interval() -> u64 {
    sample_rate().unwrap_or_else(|| options::get().sample)
}

/// The leak-sampling rate set through the control channel, in bytes (`Some(0)`: turned
/// off), or `None` when none was (then `SLABSCOPE_SAMPLE` applies).
pub fn sample_rate() -> Option<u64> {
    let v = SAMPLE.load(Ordering::Relaxed);
    (v != UNSET).then_some(v)
}

/// Asks every thread to drain all its magazines at its next interval drain.
pub(crate) fn request_drain() {
    DRAIN_EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// Drains requested so far.
pub fn drain_epoch() -> u64 {
    DRAIN_EPOCH.load(Ordering::Relaxed)
}

/// Whether a drain was requested since the calling thread last acted on one; if so,
/// records that it now does.
pub(crate) fn take_drain_request() -> bool {
    let now = DRAIN_EPOCH.load(Ordering::Relaxed);
    SEEN_EPOCH.with(|seen| {
        if seen.get() == now {
            false
        } else {
            seen.set(now);
            true
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_the_drain_epoch_is_per_thread() {
        // One test owns these process-wide values: the unit tests run in one process.
        assert_eq!(log_filter(), None);
        assert_eq!(sample_rate(), None);
        set_log_filter(b"slabscope=debug");
        let f = log_filter().unwrap();
        assert_eq!(f.as_str(), "slabscope=debug");
        assert_eq!(f.generation, log_filter_generation());
        set_log_filter(&[b'x'; LOG_FILTER_MAX]);
        let g = log_filter().unwrap();
        assert_eq!(g.as_bytes(), &[b'x'; LOG_FILTER_MAX][..]);
        assert!(g.generation > f.generation && g.generation.is_multiple_of(2));
        set_log_filter(b"off");
        assert_eq!(log_filter().unwrap().as_str(), "off");
        assert_eq!(sample_rate_generation(), 0);
        set_sample_rate(512 << 10);
        assert_eq!(sample_rate(), Some(512 << 10));
        assert_eq!(sample_rate_generation(), 1);
        set_sample_rate(0);
        assert_eq!(sample_rate(), Some(0));
        assert_eq!(sample_rate_generation(), 2);

        assert!(!take_drain_request() || !take_drain_request());
        request_drain();
        assert!(take_drain_request());
        assert!(!take_drain_request());
        let other = std::thread::spawn(take_drain_request).join().unwrap();
        assert!(other, "a thread that never looked sees the request");
    }
}
