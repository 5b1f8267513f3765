//! Recording a sampled allocation and its free; the countdown's next value.
#![forbid(unsafe_code)]

use core::cell::Cell;
use core::sync::atomic::{AtomicBool, Ordering};

use slabscope_proto::layout::MAX_SAMPLE_FRAMES;
use slabscope_proto::monotonic_ns;

use super::table::{self, with_tables, Live, Site, NO_SITE};
use crate::pal::RawMutex;
use crate::{publish, settings};

/// Countdown value of a thread that never samples: never charged ([`charge`]), so the
/// allocation fast path only compares it.
pub const NEVER: u64 = u64::MAX;

/// Charges an allocation of `size` bytes to the countdown `left` of a path other than
/// the fast one: `true` when the countdown runs out (the allocation is to be sampled;
/// the caller restarts it), else `left` goes down by `size`. [`NEVER`] stays as it is.
#[inline(always)]
pub fn charge(left: &mut u64, size: u64) -> bool {
    if *left == NEVER {
        return false;
    }
    if *left <= size {
        return true;
    }
    *left -= size;
    false
}

/// Return addresses skipped at the top of a captured stack: `record`'s own caller
/// (the allocator's sampled path); the rest is named by the inspector.
const SKIP_FRAMES: usize = 1;

/// The sample lock (for `fork` handlers).
pub fn lock() -> &'static RawMutex {
    table::lock()
}

/// Set by the first sample taken: from then on large frees look for live samples, even
/// after sampling was turned off.
static EVER_SAMPLED: AtomicBool = AtomicBool::new(false);

/// Whether this process samples now.
#[inline]
pub fn enabled() -> bool {
    settings::sample_interval() != 0
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
    /// The control channel's sampling generation this thread's countdown follows (a
    /// plain `Cell` with a `const` initialiser: no TLS destructor, no allocation).
    static SEEN_GENERATION: Cell<u64> = const { Cell::new(0) };
}

/// A fresh countdown for the calling thread, which from now on follows the interval in
/// force (the sampled paths, once their countdown ran out).
pub fn restart() -> u64 {
    SEEN_GENERATION.with(|g| g.set(settings::sample_rate_generation()));
    countdown()
}

/// Restarts the calling thread's countdown `left` if the control channel changed the
/// interval since the thread last looked, and publishes the interval now in force in
/// the segment header. Slow paths only (interval drain, magazine refill): one relaxed
/// load and a thread-local compare when nothing changed.
#[inline]
pub fn follow(left: &mut u64) {
    let now = settings::sample_rate_generation();
    if SEEN_GENERATION.with(|g| g.get()) == now {
        return;
    }
    SEEN_GENERATION.with(|g| g.set(now));
    *left = countdown();
    publish_interval();
}

/// Writes the interval in force into the segment header (`sample_interval_bytes`), so a
/// reader knows whether the process samples and what each live sample stands for.
fn publish_interval() {
    if let Some(w) = publish::current() {
        w.header()
            .totals
            .sample_interval_bytes
            .store(settings::sample_interval(), Ordering::Relaxed);
    }
}

/// The bytes to allocate before the next sample: uniform in `[interval/2, 3*interval/2)`
/// (mean `interval`; the jitter keeps periodic allocation patterns from aliasing), or
/// [`NEVER`] when sampling is off.
pub fn countdown() -> u64 {
    let i = settings::sample_interval();
    if i == 0 {
        return NEVER;
    }
    let mut x = RNG.with(|r| r.get());
    if x == 0 {
        x = (crate::pal::gettid() as u64) << 32 ^ monotonic_ns() | 1;
    }
    // xorshift64
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    RNG.with(|r| r.set(x));
    (i / 2 + x % i.max(1)).max(1)
}

fn hash(frames: &[u64]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &f in frames {
        h = (h ^ f).wrapping_mul(0x0000_0100_0000_01b3);
        h ^= h >> 29;
    }
    h.max(1)
}

/// Records the sampled allocation `p` of `size` requested bytes. Called by the
/// allocator's sampled path with the thread's re-entrancy guard set (a nested allocation,
/// which the unwinder makes only for a module registered at run time, takes the global
/// path).
#[inline(never)]
pub fn record(p: *mut u8, size: usize) {
    let mut frames = [0u64; MAX_SAMPLE_FRAMES];
    let n = crate::pal::backtrace(&mut frames, SKIP_FRAMES);
    let frames = &frames[..n];
    let h = hash(frames);
    EVER_SAMPLED.store(true, Ordering::Relaxed);
    let i = settings::sample_interval();
    let weight = (size as u64).max(i);
    let now = monotonic_ns();
    let w = publish::current();
    let generation = publish::generation();
    let a = p as usize;
    with_tables(|t| {
        let site = match t.sites.get(h) {
            Some(s) if s.generation == generation => s.index,
            stale => {
                let index = w
                    .and_then(|w| w.claim_sample_site(h, frames, now))
                    .unwrap_or(NO_SITE);
                if stale.is_some() {
                    t.sites.remove(h);
                }
                if index != NO_SITE {
                    t.sites.insert(Site {
                        hash: h,
                        index,
                        generation,
                    });
                }
                index
            }
        };
        let live = Live {
            addr: a,
            size: size as u64,
            weight,
            site,
            generation,
        };
        if t.live.get(a as u64).is_some() || !t.live.insert(live) {
            return; // cannot track its free: leave it unsampled
        }
        if let (Some(w), true) = (w, site != NO_SITE) {
            w.update_sample_site(site, |r| {
                let o = Ordering::Relaxed;
                r.live_bytes.fetch_add(size as u64, o);
                r.live_samples.fetch_add(1, o);
                r.live_estimated_bytes.fetch_add(weight, o);
                r.total_bytes.fetch_add(size as u64, o);
                r.total_samples.fetch_add(1, o);
                r.last_mono_ns.store(now, o);
            });
        }
    });
}

/// Undoes a live sample's contribution to its site.
fn release(e: &Live) {
    if e.site == NO_SITE || e.generation != publish::generation() {
        return;
    }
    if let Some(w) = publish::current() {
        w.update_sample_site(e.site, |r| {
            let o = Ordering::Relaxed;
            r.live_bytes.fetch_sub(e.size, o);
            r.live_samples.fetch_sub(1, o);
            r.live_estimated_bytes.fetch_sub(e.weight, o);
        });
    }
}

/// A sampled block (small or large) is being freed: ends its sample if the live-sample
/// table has it. The caller frees the block afterwards.
pub fn on_free(p: *mut u8) {
    with_tables(|t| {
        if let Some(e) = t.live.remove(p as u64) {
            release(&e);
        }
    });
}

/// The site record index of the live sampled block at `p`, if it is one and its site
/// has a record (for heap error reports).
pub fn site_of(p: *const u8) -> Option<u32> {
    if !EVER_SAMPLED.load(Ordering::Relaxed) {
        return None;
    }
    with_tables(|t| t.live.get(p as u64))
        .filter(|e| e.site != NO_SITE && e.generation == publish::generation())
        .map(|e| e.site)
}

/// A large allocation is being freed: ends its sample if it is one.
pub fn on_free_large(p: *mut u8) {
    if EVER_SAMPLED.load(Ordering::Relaxed) {
        on_free(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_countdown_runs_out_at_or_below_the_request_and_never_is_not_charged() {
        let mut left = 100;
        assert!(!charge(&mut left, 30));
        assert_eq!(left, 70);
        assert!(charge(&mut left, 70), "runs out at the request's size");
        assert_eq!(left, 70, "the caller restarts it");
        let mut never = NEVER;
        for size in [1, 4096, u64::MAX - 1, u64::MAX] {
            assert!(!charge(&mut never, size));
            assert_eq!(never, NEVER);
        }
    }
}
