//! The segments of the segment directory as `list` shows them: each one's process,
//! whether it still runs, and what its segment says (or why it cannot be read). The
//! text table (`commands`) and the `list --json` document (`json`) both render these.

use std::path::PathBuf;

use slabscope_proto::{list_segments, realtime_ns, segment_dir, SegmentReader};

use crate::error::InspectError;
use crate::procfs;
use crate::state::ByteTotals;

/// One segment of `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Pid.
    pub pid: u32,
    /// The segment file.
    pub path: PathBuf,
    /// Whether the process still runs.
    pub alive: bool,
    /// What the segment says, or why it cannot be read.
    pub summary: Result<SegmentSummary, String>,
}

/// The figures `list` shows of a readable segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentSummary {
    /// Command line (from the segment, else from `/proc`).
    pub command: String,
    /// Since the process created its segment.
    pub uptime_ns: u64,
    /// Bytes mapped from the OS.
    pub mapped_bytes: u64,
    /// Bytes in user hands.
    pub live_bytes: u64,
    /// `"major.minor"` of the segment.
    pub protocol: String,
}

/// Every segment in the segment directory, described.
pub fn entries() -> Result<Vec<ListEntry>, InspectError> {
    let dir = segment_dir();
    let segs =
        list_segments(&dir).map_err(|e| InspectError::Io(format!("{}: {e}", dir.display())))?;
    let now_unix = realtime_ns();
    Ok(segs
        .into_iter()
        .map(|(pid, path)| {
            let reader = SegmentReader::open(&path);
            let start = reader.as_ref().map_or(0, |r| r.start_mono_ns());
            let alive = procfs::runs_segment(pid, start);
            let summary = reader
                .and_then(|r| r.snapshot())
                .map(|s| {
                    let b = ByteTotals::of(&s);
                    SegmentSummary {
                        command: if s.command.is_empty() {
                            procfs::command(pid).unwrap_or_default()
                        } else {
                            s.command
                        },
                        uptime_ns: now_unix.saturating_sub(s.start_unix_ns),
                        mapped_bytes: b.mapped,
                        live_bytes: b.live,
                        protocol: s.protocol.to_string(),
                    }
                })
                .map_err(|e| e.to_string());
            ListEntry {
                pid,
                path,
                alive,
                summary,
            }
        })
        .collect())
}
