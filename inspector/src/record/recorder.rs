//! `alloc-inspect record`: the segment read once per interval, written as key frames
//! and deltas ([`super::file`]), on a fixed schedule.

use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use slabscope_examples::stop;
use slabscope_proto::{monotonic_ns, segment_path, SegmentReader, Snapshot};

use super::delta;
use super::events::{self, Ring};
use super::file::{self, FrameLine, Header, Kind, RecordedLiveness};
use crate::error::InspectError;
use crate::procfs;
use crate::source::LiveSource;

/// Longest run of deltas between two key frames: a seek decompresses at most this many
/// after its key frame.
pub const MAX_DELTAS: u64 = 600;

/// Compressed bytes of deltas, in key frames, after which a new key frame is written: a
/// key frame costs tens of deltas, and rebuilding a frame from a key frame and its
/// deltas costs milliseconds.
pub const KEY_WEIGHT: u64 = 8;

/// What a recording ends with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordEnd {
    /// After `frames` frames.
    Frames(u64),
    /// After `seconds`.
    Seconds(u64),
    /// When the process is gone (or on SIGINT / SIGTERM).
    Exit,
}

/// What a recording wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordSummary {
    /// Frames written.
    pub frames: u64,
    /// Of which key frames.
    pub key_frames: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// Frames not taken because reading and writing one took longer than the interval
    /// (the schedule moves on to the next interval instead of drifting).
    pub missed: u64,
}

fn write_err(out: &Path, e: impl std::fmt::Display) -> InspectError {
    InspectError::Io(format!("{}: {e}", out.display()))
}

/// `alloc-inspect record <pid> -o FILE`: [`record_segment`] of `pid`'s segment.
pub fn record(
    pid: u32,
    out: &Path,
    interval_ms: u64,
    end: RecordEnd,
) -> Result<RecordSummary, InspectError> {
    stop::on_term_and_int().map_err(|e| InspectError::Io(format!("cannot handle SIGINT: {e}")))?;
    record_segment(pid, &segment_path(pid), out, interval_ms, end, |_| {})
}

/// Records the segment at `path` of process `pid` to `out` every `interval_ms`, until
/// `end` (or a SIGINT / SIGTERM handled by [`stop`]), handing each frame's snapshot, as
/// a replay will read it, to `each`.
pub fn record_segment(
    pid: u32,
    path: &Path,
    out: &Path,
    interval_ms: u64,
    end: RecordEnd,
    mut each: impl FnMut(&Snapshot),
) -> Result<RecordSummary, InspectError> {
    // The same checks as attaching (the caller's process, a valid segment).
    let live = LiveSource::attach_path(pid, path.to_path_buf(), interval_ms)?;
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let segment_start = live.reader().start_mono_ns();
    drop(live);
    let f = std::fs::File::create(out).map_err(|e| write_err(out, e))?;
    let mut w = BufWriter::new(f);
    let header = Header {
        format: file::FORMAT.into(),
        version: file::VERSION,
        pid,
        interval_ms,
        maps,
    };
    let mut at = {
        let mut line = Vec::new();
        file::write_header(&mut line, &header)?;
        w.write_all(&line).map_err(|e| write_err(out, e))?;
        line.len() as u64
    };
    let interval = Duration::from_millis(interval_ms);
    let start = Instant::now();
    let mut summary = RecordSummary::default();
    let mut index: Vec<(u64, Kind)> = Vec::new();
    let mut head = None;
    let (mut prev, mut bytes, mut raw, mut evs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Compressed bytes of the last key frame, and of the deltas since.
    let (mut key_bytes, mut since_key, mut deltas) = (0u64, 0u64, 0u64);
    let mut tick = 0u64;
    loop {
        let done = match end {
            RecordEnd::Frames(f) => summary.frames >= f,
            RecordEnd::Seconds(s) => start.elapsed() >= Duration::from_secs(s),
            RecordEnd::Exit => false,
        };
        if done || stop::requested() {
            break;
        }
        let alive = procfs::runs_segment(pid, segment_start);
        bytes.clear();
        let read = std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes));
        if read.is_err() {
            break; // the segment is gone with its process
        }
        let status = procfs::status(pid);
        let reader = SegmentReader::from_bytes(&bytes).map_err(|e| InspectError::read(path, e))?;
        let snap = reader.snapshot().map_err(|e| InspectError::read(path, e))?;
        let line = FrameLine {
            frame: summary.frames,
            now_mono_ns: monotonic_ns(),
            liveness: if alive {
                RecordedLiveness::Alive
            } else {
                RecordedLiveness::Gone
            },
            rss_bytes: status.as_ref().map(|s| s.rss_bytes),
            peak_rss_bytes: status.as_ref().map(|s| s.peak_rss_bytes),
            ring_head: head.unwrap_or(snap.ring.head.saturating_sub(snap.ring.capacity)),
            segment_bytes: bytes.len() as u64,
        };
        head = Some(snap.ring.head);
        // A key frame first, then deltas until they weigh KEY_WEIGHT times the key frame
        // (a seek reads at most that much after it) or number MAX_DELTAS.
        let key = index.is_empty() || since_key >= KEY_WEIGHT * key_bytes || deltas >= MAX_DELTAS;
        let (kind, payload) = if key {
            (Kind::Key, &bytes)
        } else {
            let (offset, capacity, stride) = reader.ring_records();
            let ring = Ring {
                offset,
                capacity,
                stride,
            };
            evs.clear();
            events::encode(&bytes, ring, line.ring_head, snap.ring.head, &mut evs);
            // The prediction the replay makes: the previous frame with the new events
            // written in.
            prev.resize(bytes.len(), 0);
            events::apply(&mut prev, &evs)
                .map_err(|e| InspectError::Io(format!("recording: {e}")))?;
            raw.clear();
            delta::encode_frame(&evs, &prev, &bytes, &mut raw);
            (Kind::Delta, &raw)
        };
        let n = file::write_frame(&mut w, kind, &line, payload)?;
        w.flush().map_err(|e| write_err(out, e))?;
        index.push((at, kind));
        at += n;
        if key {
            (key_bytes, since_key, deltas) = (n, 0, 0);
            summary.key_frames += 1;
        } else {
            since_key += n;
            deltas += 1;
        }
        summary.frames += 1;
        std::mem::swap(&mut prev, &mut bytes);
        each(&snap);
        if !alive {
            break;
        }
        // The next frame is due at the next multiple of the interval; one that could
        // not be taken in time is skipped, not made up.
        tick += 1;
        let due_at =
            |tick: u64| start + interval.saturating_mul(tick.min(u64::from(u32::MAX)) as u32);
        let mut due = due_at(tick);
        while due < Instant::now() {
            tick += 1;
            summary.missed += 1;
            due = due_at(tick);
        }
        if stop::sleep_until(due) {
            break;
        }
    }
    file::write_index(&mut w, at, &index)?;
    w.flush().map_err(|e| write_err(out, e))?;
    summary.bytes = w
        .get_ref()
        .metadata()
        .map(|m| m.len())
        .map_err(|e| write_err(out, e))?;
    Ok(summary)
}
