//! What the allocator binaries print and what the driver writes (`compare.json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The line an allocator binary prints before it runs its workload when the driver
/// asked for a handshake: the driver may now attach a reader, then writes `go`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Ready {
    /// Always true (tells the line apart from a result).
    pub ready: bool,
    /// Process id of the allocator binary.
    pub pid: u32,
}

/// The one JSON line an allocator binary prints after its workload.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunReport {
    /// Allocator compiled into the binary (`system`, `mimalloc`, `jemalloc`, `slabscope`).
    pub allocator: String,
    /// Workload name.
    pub workload: String,
    /// Threads.
    pub threads: usize,
    /// Size of the run (`smoke`, `quick`, `full`).
    pub mode: String,
    /// Process id.
    pub pid: u32,
    /// Operations in the timed phase.
    pub ops: u64,
    /// Seconds of the timed phase.
    pub seconds: f64,
    /// `ops / seconds`.
    pub ops_per_sec: f64,
    /// Peak resident set size of the process (`VmHWM`), bytes.
    pub peak_rss_bytes: u64,
    /// Allocations of at most 1 KiB the workload made.
    pub small_allocs: u64,
    /// Workload-specific figures.
    pub extra: BTreeMap<String, f64>,
    /// The allocator's own counters, where it has them (slabscope): proof it served
    /// the allocations.
    pub counters: Option<serde_json::Value>,
}

/// `compare.json`: the driver's result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CompareFile {
    /// Rounds run (each allocator ran each case once per round).
    pub rounds: usize,
    /// `smoke`, `quick` or `full`.
    pub mode: String,
    /// Whether the allocators were reached through `LD_PRELOAD`.
    pub preload: bool,
    /// The allocator the ratios are about.
    pub subject: Option<String>,
    /// Extra `SLABSCOPE_*` environment given to every slabscope variant (`--env`).
    #[serde(default)]
    pub slabscope_env: Vec<(String, String)>,
    /// CPUs of the machine.
    #[serde(default)]
    pub cpus: usize,
    /// 1-minute load average when the run started and when it ended (other work on the
    /// machine: above the CPU count, figures are noisy).
    #[serde(default)]
    pub loadavg: [f64; 2],
    /// Median figures per case and allocator.
    pub results: Vec<ResultRow>,
    /// Median of the per-round ratios `subject / vs` of ops per second.
    pub ratios: Vec<RatioRow>,
    /// Cost of the product's own features (publishing, an attached reader).
    pub overhead: Vec<OverheadRow>,
    /// Allocators left out of the run, with the reason.
    pub skipped: Vec<Skipped>,
}

/// Median figures of one allocator on one case.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResultRow {
    /// Workload name.
    pub workload: String,
    /// Threads.
    pub threads: usize,
    /// Allocator (variant) name.
    pub allocator: String,
    /// Median ops per second over the rounds.
    pub ops_per_sec: f64,
    /// Median peak RSS over the rounds, bytes.
    pub peak_rss_bytes: u64,
    /// Median of each workload-specific figure over the rounds.
    pub extra: BTreeMap<String, f64>,
    /// Ops per second of every round, in round order.
    pub ops_per_sec_rounds: Vec<f64>,
}

/// Median ratio of `subject` to another allocator on one case.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RatioRow {
    /// Workload name.
    pub workload: String,
    /// Threads.
    pub threads: usize,
    /// The other allocator.
    pub vs: String,
    /// Median over rounds of `subject ops/s / vs ops/s` (> 1: subject faster).
    pub ratio: f64,
}

/// An allocator that could not be run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Skipped {
    /// Allocator (variant) name.
    pub allocator: String,
    /// Why.
    pub reason: String,
}

/// Cost of one feature on one case.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OverheadRow {
    /// Workload name.
    pub workload: String,
    /// Threads.
    pub threads: usize,
    /// The feature (`publishing`, `reader-60hz`).
    pub what: String,
    /// Variant with the feature.
    pub with: String,
    /// Variant without it.
    pub without: String,
    /// `100 * (1 - median over rounds of with/without ops per second)`: the share of
    /// throughput the feature costs (negative: within noise, or faster).
    pub overhead_pct: f64,
}
