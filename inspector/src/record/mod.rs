//! `alloc-inspect record <pid> -o FILE` and `alloc-inspect replay FILE`: a process's
//! frames saved to a versioned file of compressed key frames and deltas ([`file`](mod@file),
//! [`delta`], [`events`]) and played back in the same views, with pause and seek ([`ReplaySource`]).
//! See docs/INSPECTOR.md, "Record and replay".

pub mod delta;
pub mod events;
pub mod file;
mod recorder;
mod replay;

pub use recorder::{record, record_segment, RecordEnd, RecordSummary, MAX_DELTAS};
pub use replay::{ReplaySource, SEEK_FRAMES, SEEK_HISTORY};
