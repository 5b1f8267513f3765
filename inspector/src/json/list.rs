//! The `list --json` document (JSON schema 1).

use serde::Serialize;

use super::schema::SCHEMA;
use crate::listing::ListEntry;

/// The document: every segment in the segment directory.
#[derive(Debug, Serialize)]
pub struct ListDocument {
    /// [`SCHEMA`].
    pub schema: u32,
    /// One entry per segment file, by pid.
    pub segments: Vec<ListSegment>,
}

/// One segment.
#[derive(Debug, Serialize)]
pub struct ListSegment {
    /// Pid in the file name.
    pub pid: u32,
    /// The segment file.
    pub path: String,
    /// `"live"`: the process runs; `"stale"`: it is gone (`--postmortem` reads it,
    /// `gc` removes it).
    pub state: &'static str,
    /// `"major.minor"` of the segment (null when unreadable).
    pub segment_protocol: Option<String>,
    /// Command line (null when unreadable).
    pub command: Option<String>,
    /// Since the process created its segment (null when unreadable).
    pub uptime_ns: Option<u64>,
    /// Mapped from the OS (null when unreadable).
    pub mapped_bytes: Option<u64>,
    /// In user hands (null when unreadable).
    pub live_bytes: Option<u64>,
    /// Why the segment cannot be read (null when it can).
    pub error: Option<String>,
}

/// The document of `entries`.
pub fn list_document(entries: &[ListEntry]) -> ListDocument {
    ListDocument {
        schema: SCHEMA,
        segments: entries
            .iter()
            .map(|e| {
                let ok = e.summary.as_ref().ok();
                ListSegment {
                    pid: e.pid,
                    path: e.path.display().to_string(),
                    state: if e.alive { "live" } else { "stale" },
                    segment_protocol: ok.map(|s| s.protocol.clone()),
                    command: ok.map(|s| s.command.clone()),
                    uptime_ns: ok.map(|s| s.uptime_ns),
                    mapped_bytes: ok.map(|s| s.mapped_bytes),
                    live_bytes: ok.map(|s| s.live_bytes),
                    error: e.summary.as_ref().err().cloned(),
                }
            })
            .collect(),
    }
}

/// The document of `entries` as pretty-printed JSON.
pub fn list_to_string(entries: &[ListEntry]) -> String {
    serde_json::to_string_pretty(&list_document(entries)).expect("the document serialises")
}
