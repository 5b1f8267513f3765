//! `alloc-inspect record <pid> -o FILE` and `alloc-inspect replay FILE`: a process's
//! frames saved to a versioned file ([`file`](mod@file)) and played back in the same views, with
//! pause and seek ([`ReplaySource`]). See docs/INSPECTOR.md, "Record and replay".

pub mod file;
mod replay;

pub use replay::{record, record_segment, RecordEnd, ReplaySource, SEEK_FRAMES};
