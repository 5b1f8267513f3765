//! Shared helpers for the example workloads.
