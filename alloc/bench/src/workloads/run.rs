//! Running a workload: the one place that knows every workload's module (the modules
//! know only the catalogue's types, `spec`).

use super::spec::{Config, Outcome, Workload};
use super::{cache_scratch, fragmentation, growth, larson, random_mixed, rss16, xmalloc};

impl Workload {
    /// Runs the workload.
    pub fn run(self, cfg: &Config) -> Outcome {
        match self {
            Workload::Larson => larson::run(cfg),
            Workload::RandomMixed => random_mixed::run(cfg),
            Workload::Xmalloc => xmalloc::run(cfg),
            Workload::CacheScratch => cache_scratch::run(cfg),
            Workload::Growth => growth::run(cfg),
            Workload::Rss16 => rss16::run(cfg),
            Workload::Fragmentation => fragmentation::run(cfg),
        }
    }
}
