//! Which processes the exporter reads, attached and dropped as they come and go.
//!
//! With `--all`, the segment directory is listed on every scrape: a new segment is
//! attached, and a process that exited (its pid no longer runs, or it closed its
//! segment) is dropped. With `--pid`, the same rules apply to the pids given. A segment
//! replaced under the same pid (the pid was reused) is attached afresh.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use slabscope_proto::{list_segments, Cursor, Event, SegmentReader, Snapshot};

use super::metrics::{kind_names, EventCounts};
use crate::procfs;

/// Which processes to export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// These pids, while they run.
    Pids(Vec<u32>),
    /// Every segment in the directory.
    All,
}

/// One attached process.
struct Target {
    reader: SegmentReader,
    ino: u64,
    cursor: Cursor,
    events: EventCounts,
}

impl Target {
    fn attach(path: &Path) -> Option<Self> {
        let ino = std::fs::symlink_metadata(path).ok()?.ino();
        let reader = SegmentReader::open(path).ok()?;
        let head = reader.snapshot().ok()?.ring.head;
        let mut events = EventCounts::default();
        for k in kind_names() {
            events.by_kind.insert(k, 0);
        }
        Some(Self {
            reader,
            ino,
            cursor: Cursor::from_seq(head),
            events,
        })
    }

    /// A fresh snapshot, and the events since the last scrape folded into the counts.
    /// Events are read before the snapshot, so the ring head it shows is never behind
    /// the events counted.
    fn read(&mut self) -> Option<Snapshot> {
        let mut out: Vec<Event> = Vec::new();
        let st = self
            .reader
            .poll_events(&mut self.cursor, usize::MAX, &mut out);
        for e in &out {
            *self.events.by_kind.entry(e.kind.name()).or_insert(0) += 1;
        }
        *self.events.by_kind.entry("unknown").or_insert(0) += st.unknown;
        self.events.missed += st.missed + st.corrupt + st.abandoned;
        self.reader.snapshot().ok()
    }
}

/// The processes exported, and their per-process state across scrapes.
pub struct Targets {
    dir: PathBuf,
    selection: Selection,
    attached: BTreeMap<u32, Target>,
}

impl Targets {
    /// Exports `selection`, with segments in `dir`.
    pub fn new(dir: PathBuf, selection: Selection) -> Self {
        Self {
            dir,
            selection,
            attached: BTreeMap::new(),
        }
    }

    fn candidates(&self) -> Vec<(u32, PathBuf)> {
        match &self.selection {
            Selection::All => list_segments(&self.dir).unwrap_or_default(),
            Selection::Pids(pids) => pids
                .iter()
                .map(|&p| (p, self.dir.join(format!("slabscope.{p}"))))
                .collect(),
        }
    }

    /// Attaches new processes, drops gone ones, and reads a fresh snapshot of each.
    /// Returns the snapshots with their event counts, by pid.
    pub fn scrape(&mut self) -> Vec<(Snapshot, EventCounts)> {
        let wanted = self.candidates();
        self.attached
            .retain(|pid, _| wanted.iter().any(|(p, _)| p == pid));
        let mut out = Vec::new();
        for (pid, path) in wanted {
            if !procfs::alive(pid) {
                self.attached.remove(&pid);
                continue;
            }
            let ino = std::fs::symlink_metadata(&path).map(|m| m.ino()).ok();
            if ino.is_none() || self.attached.get(&pid).is_some_and(|t| Some(t.ino) != ino) {
                self.attached.remove(&pid);
            }
            if ino.is_none() {
                continue;
            }
            let t = match self.attached.entry(pid) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => match Target::attach(&path) {
                    Some(t) => e.insert(t),
                    None => continue,
                },
            };
            if !procfs::runs_segment(pid, t.reader.start_mono_ns()) {
                // The pid now belongs to a newer process: the segment is a crash's leftover.
                self.attached.remove(&pid);
                continue;
            }
            match t.read() {
                Some(snap) if !snap.flags.closed && snap.pid == pid => {
                    out.push((snap, t.events.clone()))
                }
                _ => {
                    self.attached.remove(&pid);
                }
            }
        }
        out
    }
}
