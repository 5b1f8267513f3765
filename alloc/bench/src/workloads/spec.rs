//! Names, parameters and results shared by all workloads.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Instant;

/// Requests up to this size are "small": every allocator under test serves them from
/// its size classes, so the driver can check slabscope's class counters against them.
pub const SMALL_LIMIT: usize = 1024;

/// Parameters of one workload run.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Threads doing the work (pairs of threads for xmalloc).
    pub threads: usize,
    /// Smallest request in bytes.
    pub min_size: usize,
    /// Largest request in bytes.
    pub max_size: usize,
    /// Amount of work: iterations per thread, blocks, or bytes (see each workload).
    pub iterations: u64,
    /// Seed of the random sequence (the same for every allocator).
    pub seed: u64,
    /// Asks the allocator to give free memory back to the OS (fragmentation).
    pub trim: fn(),
}

/// What a workload did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Allocator operations in the timed phase (allocations, frees, reallocations).
    pub ops: u64,
    /// Wall-clock seconds of the timed phase.
    pub seconds: f64,
    /// Allocations of at most [`SMALL_LIMIT`] bytes (what size classes serve).
    pub small_allocs: u64,
    /// Workload-specific figures (bytes per allocation, RSS after free, ...).
    pub extra: BTreeMap<String, f64>,
}

/// When one thread's timed phase started and ended.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    /// Start of the timed phase (taken by the thread itself, after the start barrier).
    pub start: Instant,
    /// End of the timed phase.
    pub end: Instant,
}

impl Span {
    /// Seconds from the earliest start to the latest end (0 for no spans). Each thread
    /// times itself, so a slow wake-up of a coordinating thread cannot shorten the run.
    pub fn union(spans: impl IntoIterator<Item = Span>) -> f64 {
        let mut it = spans.into_iter();
        let Some(first) = it.next() else { return 0.0 };
        let (start, end) = it.fold((first.start, first.end), |(s, e), x| {
            (s.min(x.start), e.max(x.end))
        });
        end.duration_since(start).as_secs_f64()
    }
}

/// How big a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Tiny: proves the harness works (tests, debug builds). Figures mean nothing.
    Smoke,
    /// A few tenths of a second per run: the whole comparison in under 3 minutes on 2 cores.
    Quick,
    /// The published run: about a second per run on 2 cores.
    Full,
}

impl Mode {
    /// Name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Smoke => "smoke",
            Mode::Quick => "quick",
            Mode::Full => "full",
        }
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "smoke" => Ok(Mode::Smoke),
            "quick" => Ok(Mode::Quick),
            "full" => Ok(Mode::Full),
            _ => Err(format!("unknown mode {s:?} (smoke, quick, full)")),
        }
    }
}

/// A workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Workload {
    /// Server-style: windows of live blocks replaced at random, a share freed remotely.
    Larson,
    /// hakmem's bench_random_mixed: 4096 slots, random sizes 16-1024, one thread.
    RandomMixed,
    /// One thread allocates, another frees: every free is remote.
    Xmalloc,
    /// Objects allocated by one thread and written by another (false sharing).
    CacheScratch,
    /// realloc-grown vectors and strings, 16 B to 1 MiB.
    Growth,
    /// 1,000,000 live 16-byte blocks: resident bytes per allocation.
    Rss16,
    /// 1 GiB of mixed sizes, 90 % freed at random: RSS kept, RSS after return to the OS.
    Fragmentation,
}

/// One row of the comparison: a workload at a thread count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Case {
    /// The workload.
    pub workload: Workload,
    /// Its thread count.
    pub threads: usize,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 7] = [
        Workload::Larson,
        Workload::RandomMixed,
        Workload::Xmalloc,
        Workload::CacheScratch,
        Workload::Growth,
        Workload::Rss16,
        Workload::Fragmentation,
    ];

    /// Name on the command line and in `compare.json`.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Larson => "larson",
            Workload::RandomMixed => "random-mixed",
            Workload::Xmalloc => "xmalloc",
            Workload::CacheScratch => "cache-scratch",
            Workload::Growth => "growth",
            Workload::Rss16 => "rss16",
            Workload::Fragmentation => "fragmentation",
        }
    }

    /// Thread counts this workload is reported at.
    pub fn thread_counts(self) -> &'static [usize] {
        match self {
            Workload::Larson => &[1, 2],
            Workload::Xmalloc | Workload::CacheScratch => &[2],
            _ => &[1],
        }
    }

    /// The rows this workload contributes.
    pub fn cases(self) -> impl Iterator<Item = Case> {
        self.thread_counts().iter().map(move |&threads| Case {
            workload: self,
            threads,
        })
    }

    /// Request sizes `(min, max)` in bytes.
    pub fn sizes(self) -> (usize, usize) {
        match self {
            Workload::Larson => (8, 1024),
            Workload::RandomMixed => (16, 1024),
            Workload::Xmalloc => (8, 512),
            Workload::CacheScratch => (8, 8),
            Workload::Growth => (16, 1 << 20),
            Workload::Rss16 => (16, 16),
            Workload::Fragmentation => (16, 64 << 10),
        }
    }

    /// Amount of work in `mode` (unit depends on the workload, see its module).
    pub fn iterations(self, mode: Mode) -> u64 {
        let (smoke, quick, full) = match self {
            // iterations per thread
            Workload::Larson => (20_000, 4_000_000, 20_000_000),
            Workload::RandomMixed => (20_000, 8_000_000, 40_000_000),
            // blocks per producer
            Workload::Xmalloc => (20_000, 4_000_000, 20_000_000),
            // objects per thread (each scribbled over)
            Workload::CacheScratch => (2_000, 400_000, 2_000_000),
            // grown objects
            Workload::Growth => (200, 20_000, 100_000),
            // live 16-byte blocks
            Workload::Rss16 => (50_000, 1_000_000, 1_000_000),
            // bytes allocated
            Workload::Fragmentation => (16 << 20, 256 << 20, 1 << 30),
        };
        match mode {
            Mode::Smoke => smoke,
            Mode::Quick => quick,
            Mode::Full => full,
        }
    }

    /// A run configuration for `threads` in `mode`.
    pub fn config(self, threads: usize, mode: Mode, trim: fn()) -> Config {
        let (min_size, max_size) = self.sizes();
        Config {
            threads,
            min_size,
            max_size,
            iterations: self.iterations(mode),
            seed: 0x5eed_0000 + self as u64,
            trim,
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let wanted = s.replace('_', "-");
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == wanted)
            .ok_or_else(|| {
                let names: Vec<_> = Workload::ALL.iter().map(|w| w.name()).collect();
                format!("unknown workload {s:?} (one of: {})", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for w in Workload::ALL {
            assert_eq!(w.name().parse::<Workload>(), Ok(w));
        }
        assert_eq!("random_mixed".parse(), Ok(Workload::RandomMixed));
        assert!("nope".parse::<Workload>().unwrap_err().contains("larson"));
        for m in [Mode::Smoke, Mode::Quick, Mode::Full] {
            assert_eq!(m.name().parse(), Ok(m));
        }
    }

    #[test]
    fn every_workload_runs_in_smoke_mode() {
        for w in Workload::ALL {
            for case in w.cases() {
                let cfg = w.config(case.threads, Mode::Smoke, || {});
                let out = w.run(&cfg);
                assert!(out.ops > 0, "{w}: no ops");
                assert!(out.seconds > 0.0, "{w}: no time");
            }
        }
    }
}
