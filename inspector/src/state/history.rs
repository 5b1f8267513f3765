//! Fixed-capacity history of samples, and per-second rates derived from counters.

use std::collections::VecDeque;

/// Samples kept per series: at the default 100 ms refresh, two minutes of history.
pub const HISTORY_LEN: usize = 1200;

/// A ring buffer of the most recent samples of one series (oldest first).
#[derive(Clone, Debug)]
pub struct History {
    samples: VecDeque<u64>,
    capacity: usize,
}

impl Default for History {
    fn default() -> Self {
        Self::with_capacity(HISTORY_LEN)
    }
}

impl History {
    /// An empty history that keeps at most `capacity` samples (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            samples: VecDeque::with_capacity(capacity.min(HISTORY_LEN)),
            capacity,
        }
    }

    /// Appends a sample, dropping the oldest when full.
    pub fn push(&mut self, v: u64) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(v);
    }

    /// Samples held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True when no sample was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The newest sample.
    pub fn last(&self) -> Option<u64> {
        self.samples.back().copied()
    }

    /// The largest sample held (0 when empty).
    pub fn max(&self) -> u64 {
        self.samples.iter().copied().max().unwrap_or(0)
    }

    /// The newest `n` samples, oldest first (fewer when fewer are held).
    pub fn tail(&self, n: usize) -> Vec<u64> {
        let skip = self.samples.len().saturating_sub(n);
        self.samples.iter().skip(skip).copied().collect()
    }

    /// Every sample, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.samples.iter().copied()
    }
}

/// Per-second rate of a monotonically increasing counter, from consecutive readings.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rate {
    last: Option<(u64, u64)>,
    per_sec: f64,
}

impl Rate {
    /// Feeds the counter's value `value` observed at monotonic time `now_ns`; returns the
    /// rate over the interval since the previous reading (0 on the first reading, when
    /// time did not advance, or when the counter went backwards).
    pub fn update(&mut self, value: u64, now_ns: u64) -> f64 {
        if let Some((v0, t0)) = self.last {
            if now_ns > t0 {
                let dv = value.saturating_sub(v0) as f64;
                self.per_sec = dv * 1e9 / (now_ns - t0) as f64;
            }
        }
        self.last = Some((value, now_ns));
        self.per_sec
    }

    /// The latest rate, per second.
    pub fn per_sec(&self) -> f64 {
        self.per_sec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_the_newest_samples_in_order() {
        let mut h = History::with_capacity(3);
        assert!(h.is_empty());
        for v in 1..=5 {
            h.push(v);
        }
        assert_eq!(h.iter().collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(h.tail(2), vec![4, 5]);
        assert_eq!(h.tail(10), vec![3, 4, 5]);
        assert_eq!((h.last(), h.max(), h.len()), (Some(5), 5, 3));
    }

    #[test]
    fn rate_is_the_counter_delta_per_second() {
        let mut r = Rate::default();
        assert_eq!(r.update(100, 1_000_000_000), 0.0);
        assert_eq!(r.update(150, 1_500_000_000), 100.0);
        // Time standing still keeps the previous rate; a counter reset gives 0.
        assert_eq!(r.update(170, 1_500_000_000), 100.0);
        assert_eq!(r.update(10, 2_500_000_000), 0.0);
    }
}
