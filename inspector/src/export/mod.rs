//! `alloc-inspect export`: an HTTP endpoint serving OpenMetrics text (Prometheus
//! scrapes) for every process it reads, picked up and dropped as they come and go.
//!
//! - `targets`: which processes, attached and dropped per scrape;
//! - `metrics`: the families one scrape holds (per process, per class, per GPU bucket);
//! - `encode`: OpenMetrics text through `prometheus-client`;
//! - `server`: the HTTP side (`tiny_http`).
//!
//! Every scrape reads fresh snapshots: nothing is cached between scrapes except the
//! ring cursors behind the `slabscope_events_total` counters. See docs/FLEET.md.

mod encode;
pub mod metrics;
mod server;
mod targets;

pub use encode::{encode, CONTENT_TYPE};
pub use server::{run, scrape};
pub use targets::{Selection, Targets};
