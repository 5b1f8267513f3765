//! [`SegmentReader`]: a validated, read-only view of one segment.
#![forbid(unsafe_code)]

use std::fs::File;
use std::path::{Path, PathBuf};

use core::sync::atomic::{fence, Ordering};

use super::collect;
use super::error::ReadError;
use super::open;
use super::validate::{validate, CompatInfo, Layout};
use crate::event::{Event, EventKind};
use crate::layout::{EventRecord, Header, FLAG_CLOSED};
use crate::raw::mapping::{read_only_region, OwnedSegment};
use crate::raw::Region;
use crate::ring::{Cursor, PollStats};
use crate::snapshot::{ProtocolVersion, Snapshot};

/// Where the segment's bytes are.
#[derive(Debug)]
enum Source {
    /// A live segment file, mapped read-only.
    Mapped {
        map: memmap2::MmapRaw,
        file: File,
        len: usize,
        path: PathBuf,
    },
    /// An owned copy (post-mortem files, fuzzing): never changes.
    Owned(OwnedSegment),
}

/// A validated, read-only view of one segment. Never writes to it, takes no lock,
/// and turns anything malformed into a [`ReadError`].
#[derive(Debug)]
pub struct SegmentReader {
    source: Source,
    layout: Layout,
}

impl SegmentReader {
    /// Opens the segment at `path`: refuses a symbolic link, anything but a regular file,
    /// and a file owned by another user; maps it read-only and validates its header.
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        let checked = open::open_checked(path)?;
        let need = core::mem::size_of::<Header>() as u64;
        if checked.len < 16 {
            return Err(ReadError::TooSmall {
                len: checked.len,
                need,
            });
        }
        let map = open::map_read_only(&checked.file, checked.len, path)?;
        let len = map.len();
        let region = read_only_region(&map, len).ok_or(ReadError::TooSmall {
            len: len as u64,
            need,
        })?;
        let layout = validate(region)?;
        Ok(Self {
            source: Source::Mapped {
                map,
                file: checked.file,
                len,
                path: path.to_path_buf(),
            },
            layout,
        })
    }

    /// Opens the segment of process `pid` (see [`super::segment_path`]).
    pub fn open_pid(pid: u32) -> Result<Self, ReadError> {
        Self::open(&open::segment_path(pid))
    }

    /// Reads a copy of a segment's bytes (a post-mortem file, fuzzing input). The bytes
    /// are copied into an aligned buffer; nothing in them is trusted.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ReadError> {
        let owned = OwnedSegment::copy_of(bytes);
        let layout = validate(owned.region())?;
        Ok(Self {
            source: Source::Owned(owned),
            layout,
        })
    }

    fn region(&self) -> Option<Region<'_>> {
        match &self.source {
            Source::Mapped { map, len, .. } => read_only_region(map, *len),
            Source::Owned(o) => Some(o.region()),
        }
    }

    /// Checks that the file still holds the whole segment (a truncated mapping would
    /// fault on access) and returns the region.
    fn live_region(&self) -> Result<Region<'_>, ReadError> {
        if let Source::Mapped { file, path, .. } = &self.source {
            let meta = file.metadata().map_err(|source| ReadError::Io {
                path: path.clone(),
                op: "stat",
                source,
            })?;
            if meta.len() < self.layout.total_size {
                return Err(ReadError::Truncated {
                    total_size: self.layout.total_size,
                    len: meta.len(),
                });
            }
        }
        self.region().ok_or(ReadError::Truncated {
            total_size: self.layout.total_size,
            len: 0,
        })
    }

    /// The segment's protocol version.
    pub fn version(&self) -> ProtocolVersion {
        self.layout.version
    }

    /// The writer's pid.
    pub fn pid(&self) -> u32 {
        self.layout.pid
    }

    /// `CLOCK_MONOTONIC` of the writer when it created the segment (0 when unreadable):
    /// a process with the segment's pid that started later is not its writer.
    pub fn start_mono_ns(&self) -> u64 {
        self.region()
            .and_then(|r| r.get::<Header>(0))
            .map_or(0, |h| h.start_mono_ns.load(Ordering::Relaxed))
    }

    /// What this reader skipped because the segment is of a newer minor version.
    pub fn compat(&self) -> CompatInfo {
        self.layout.compat
    }

    /// Whether the writer closed the segment (normal exit).
    pub fn is_closed(&self) -> bool {
        let Some(h) = self.region().and_then(|r| r.get::<Header>(0)) else {
            return true;
        };
        let flags = h.flags.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        flags & FLAG_CLOSED != 0
    }

    /// Where the event ring's records lie in the segment: the first record's offset,
    /// the records reserved (a power of two) and the bytes between records. A recorder
    /// uses it to store new events apart from the rest of a frame's changes.
    pub fn ring_records(&self) -> (usize, u32, usize) {
        let r = &self.layout.ring;
        (r.offset, r.capacity, r.stride)
    }

    /// Everything the segment says now.
    pub fn snapshot(&self) -> Result<Snapshot, ReadError> {
        collect::snapshot(self.live_region()?, &self.layout)
    }

    /// Reads the events published since `cursor`'s last poll (at most `max`) into `out`
    /// and says what was skipped. Once the writer closed the segment (or for a copy),
    /// slots still unwritten are given up on at once. Events naming a class the segment
    /// does not have are counted as corrupt, never returned.
    pub fn poll_events(&self, cursor: &mut Cursor, max: usize, out: &mut Vec<Event>) -> PollStats {
        let Ok(region) = self.live_region() else {
            return PollStats::default();
        };
        let (Some(h), Some(recs)) = (
            region.get::<Header>(0),
            region.records::<EventRecord>(
                self.layout.ring.offset,
                self.layout.ring.capacity as usize,
                self.layout.ring.stride,
            ),
        ) else {
            return PollStats::default();
        };
        let final_read = matches!(self.source, Source::Owned(_)) || self.is_closed();
        let start = out.len();
        let mut st = cursor.poll(&h.ring, recs, max, final_read, out);
        let classes = self.layout.class_count;
        let before = out.len();
        let mut kept = start;
        for i in start..before {
            if class_in_range(&out[i].kind, classes) {
                out.swap(kept, i);
                kept += 1;
            }
        }
        out.truncate(kept);
        let corrupt = (before - kept) as u64;
        st.corrupt += corrupt;
        cursor.totals.corrupt += corrupt;
        st
    }
}

/// Whether the class an event names (if any) exists in a segment of `classes` classes.
fn class_in_range(kind: &EventKind, classes: u32) -> bool {
    match *kind {
        EventKind::MagazineDrain { class, .. }
        | EventKind::SlotAcquire { class, .. }
        | EventKind::SlotEmpty { class, .. }
        | EventKind::SlotRelease { class, .. }
        | EventKind::Oom {
            class: Some(class), ..
        } => class < classes,
        EventKind::HeapError { error } => crate::heap_error_table::class_ok(error.class, classes),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::MAX_CLASSES;
    use crate::writer::{SegmentConfig, SegmentWriter};

    fn writer(dir: &tempfile::TempDir) -> SegmentWriter {
        let mut class_sizes = [0; MAX_CLASSES];
        class_sizes[..3].copy_from_slice(&[16, 32, 64]);
        let cfg = SegmentConfig {
            class_sizes,
            class_count: 3,
            max_threads: 4,
            max_superslabs: 4,
            max_gpu_pools: 2,
            ring_capacity: 16,
            drain_interval: 0,
            limit_bytes: 0,
            flags: 0,
        };
        SegmentWriter::create(dir.path().as_os_str().as_encoded_bytes(), 99, &cfg).unwrap()
    }

    #[test]
    fn a_mapped_segment_and_a_copy_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        w.claim_thread(5, b"t");
        w.push_event(1, 5, &EventKind::ThreadExit { blocks: 1 });
        let path = dir.path().join("slabscope.99");
        let live = SegmentReader::open(&path).unwrap();
        let copy = SegmentReader::from_bytes(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(live.pid(), 99);
        assert_eq!(live.version(), copy.version());
        assert_eq!(live.snapshot().unwrap(), copy.snapshot().unwrap());
        assert!(!live.is_closed());
    }

    #[test]
    fn events_naming_a_missing_class_are_counted_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        let drain = |class| EventKind::MagazineDrain {
            class,
            blocks: 1,
            reason: crate::event::DrainReason::Overflow,
        };
        w.push_event(1, 1, &drain(2));
        w.push_event(2, 1, &drain(3));
        w.push_event(3, 1, &drain(0));
        let r = SegmentReader::open(&dir.path().join("slabscope.99")).unwrap();
        let mut cur = Cursor::default();
        let mut out = Vec::new();
        let st = r.poll_events(&mut cur, usize::MAX, &mut out);
        assert_eq!(st.corrupt, 1);
        assert_eq!(cur.totals.corrupt, 1);
        assert_eq!(out.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![0, 2]);
    }
}
