//! What a source hands to the state on every refresh.

use slabscope_proto::{Event, PollStats, Snapshot};

use crate::procfs::ProcessStatus;

/// Whether the target process is still there, as far as the source can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// The process runs.
    Alive,
    /// The process is gone (exited, killed, or a zombie awaiting its parent).
    Gone,
    /// Not known: a post-mortem file, or a pid this machine cannot see.
    Unknown,
}

/// One refresh: a snapshot, the events read since the previous frame, and context.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The segment's state.
    pub snapshot: Snapshot,
    /// Events read from the ring since the previous frame, oldest first.
    pub events: Vec<Event>,
    /// What the ring read skipped (missed, corrupt, ...).
    pub poll: PollStats,
    /// `/proc` figures, when the process is visible.
    pub process: Option<ProcessStatus>,
    /// Whether the process runs.
    pub liveness: Liveness,
    /// `CLOCK_MONOTONIC` ns when the frame was read (the clock of the segment's times).
    pub now_mono_ns: u64,
}
