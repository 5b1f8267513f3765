//! `alloc-inspect`: attach to a process running slabscope and watch its allocator live.
//!
//! The crate is split the way the data flows: a [`source`] reads frames (a live
//! segment, a post-mortem file, a recording made by [`record`], or synthetic data), [`state`] folds them into history
//! and selection without knowing about terminals, [`view`] draws the state with ratatui,
//! [`input`] turns keys into actions, and [`app`] runs the loop over any ratatui
//! `Backend`. [`json`] is the stable `--once --json` schema. [`export`] serves
//! Prometheus metrics and [`ctl`] writes the control channel (docs/FLEET.md). See
//! docs/INSPECTOR.md.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod app;
pub mod cli;
pub mod commands;
pub mod ctl;
pub mod demo;
pub mod error;
pub mod export;
pub mod input;
pub mod interactive;
pub mod json;
pub mod keys;
pub mod listing;
pub mod owner;
pub mod procfs;
pub mod record;
pub mod segment;
pub mod source;
pub mod state;
pub mod symbolize;
pub mod synthetic;
pub mod terminal;
pub mod view;
mod workload;
