//! The workloads, one per file, and the catalogue that names and sizes them.

pub mod cache_scratch;
pub mod fragmentation;
pub mod growth;
pub mod larson;
pub mod random_mixed;
pub mod rss16;
mod run;
mod spec;
pub mod xmalloc;

pub use spec::{Case, Config, Mode, Outcome, Span, Workload, SMALL_LIMIT};
