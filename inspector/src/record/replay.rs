//! Recording a process's frames to a file, and [`ReplaySource`]: playing them back
//! through the same [`Source`] interface, with pause and seek.

use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use slabscope_proto::{monotonic_ns, segment_path, Cursor, SegmentReader, Snapshot};

use super::file::{self, FrameLine, Header, RecordedLiveness};
use crate::error::InspectError;
use crate::procfs;
use crate::source::{LiveSource, Source, SourceControl, MAX_EVENTS_PER_FRAME};
use crate::state::{Action, Frame, Liveness, ProcessStatus, TargetInfo, HISTORY_LEN};
use crate::symbolize::{parse_maps, Symbolizer};

/// Frames a seek key (← / →) moves.
pub const SEEK_FRAMES: usize = 10;

fn read_err(path: &Path, error: slabscope_proto::ReadError) -> InspectError {
    InspectError::Read {
        path: path.to_path_buf(),
        error,
    }
}

/// The frame a segment copy makes: its snapshot and the events since `from_seq`.
fn decode(line: &FrameLine, bytes: &[u8], path: &Path) -> Result<Frame, InspectError> {
    let reader = SegmentReader::from_bytes(bytes).map_err(|e| read_err(path, e))?;
    let snapshot = reader.snapshot().map_err(|e| read_err(path, e))?;
    let oldest = snapshot.ring.head.saturating_sub(snapshot.ring.capacity);
    let mut cursor = Cursor::from_seq(line.ring_head.max(oldest));
    let mut events = Vec::new();
    let poll = reader.poll_events(&mut cursor, MAX_EVENTS_PER_FRAME, &mut events);
    Ok(Frame {
        snapshot,
        events,
        poll,
        process: match (line.rss_bytes, line.peak_rss_bytes) {
            (Some(rss_bytes), Some(peak_rss_bytes)) => Some(ProcessStatus {
                rss_bytes,
                peak_rss_bytes,
            }),
            _ => None,
        },
        liveness: match line.liveness {
            RecordedLiveness::Alive => Liveness::Alive,
            RecordedLiveness::Gone => Liveness::Gone,
            RecordedLiveness::Unknown => Liveness::Unknown,
        },
        now_mono_ns: line.now_mono_ns,
    })
}

/// What a recording ends with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordEnd {
    /// After `frames` frames.
    Frames(u64),
    /// After `seconds`.
    Seconds(u64),
    /// When the process is gone (or the recorder is interrupted).
    Exit,
}

/// `alloc-inspect record <pid> -o FILE`: copies `pid`'s segment to `out` every
/// `interval_ms`, until `end`. Returns the snapshots recorded, as a replay will read them.
pub fn record(
    pid: u32,
    out: &Path,
    interval_ms: u64,
    end: RecordEnd,
) -> Result<Vec<Snapshot>, InspectError> {
    record_segment(pid, &segment_path(pid), out, interval_ms, end)
}

/// [`record`] from the segment at `path`.
pub fn record_segment(
    pid: u32,
    path: &Path,
    out: &Path,
    interval_ms: u64,
    end: RecordEnd,
) -> Result<Vec<Snapshot>, InspectError> {
    // The same checks as attaching (the caller's process, a valid segment).
    let live = LiveSource::attach_path(pid, path.to_path_buf(), interval_ms)?;
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let segment_start = live.reader().start_mono_ns();
    drop(live);
    let f = std::fs::File::create(out)
        .map_err(|e| InspectError::Io(format!("{}: {e}", out.display())))?;
    let mut w = BufWriter::new(f);
    file::write_header(
        &mut w,
        &Header {
            format: file::FORMAT.into(),
            version: file::VERSION,
            pid,
            interval_ms,
            maps,
        },
    )?;
    let start = Instant::now();
    let mut head = None;
    let mut snaps = Vec::new();
    loop {
        let n = snaps.len() as u64;
        let done = match end {
            RecordEnd::Frames(f) => n >= f,
            RecordEnd::Seconds(s) => start.elapsed() >= Duration::from_secs(s),
            RecordEnd::Exit => false,
        };
        if done {
            break;
        }
        let alive = procfs::runs_segment(pid, segment_start);
        let Ok(bytes) = std::fs::read(path) else {
            break; // the segment is gone with its process
        };
        let status = procfs::status(pid);
        let mut line = FrameLine {
            frame: n,
            now_mono_ns: monotonic_ns(),
            liveness: if alive {
                RecordedLiveness::Alive
            } else {
                RecordedLiveness::Gone
            },
            rss_bytes: status.as_ref().map(|s| s.rss_bytes),
            peak_rss_bytes: status.as_ref().map(|s| s.peak_rss_bytes),
            ring_head: 0,
            segment_bytes: bytes.len() as u64,
        };
        let reader = SegmentReader::from_bytes(&bytes).map_err(|e| read_err(path, e))?;
        let snap = reader.snapshot().map_err(|e| read_err(path, e))?;
        line.ring_head = head.unwrap_or(snap.ring.head.saturating_sub(snap.ring.capacity));
        head = Some(snap.ring.head);
        file::write_frame(&mut w, &line, &bytes)?;
        w.flush()
            .map_err(|e| InspectError::Io(format!("{}: {e}", out.display())))?;
        snaps.push(snap);
        if !alive {
            break;
        }
        std::thread::sleep(Duration::from_millis(interval_ms));
    }
    Ok(snaps)
}

/// A recording played back: one frame per refresh, paused with space, moved with
/// ← / → ([`SEEK_FRAMES`] frames); it stays on its last frame at the end.
pub struct ReplaySource {
    path: std::path::PathBuf,
    header: Header,
    frames: Vec<(FrameLine, Vec<u8>)>,
    /// The next frame to hand out.
    pos: usize,
    paused: bool,
}

impl ReplaySource {
    /// Reads the recording at `path` (every whole frame).
    pub fn open(path: &Path) -> Result<Self, InspectError> {
        let f = std::fs::File::open(path)
            .map_err(|e| InspectError::Io(format!("{}: {e}", path.display())))?;
        let mut r = BufReader::new(f);
        let header = file::read_header(&mut r)?;
        let mut frames = Vec::new();
        while let Some(fr) = file::read_frame(&mut r)? {
            frames.push(fr);
        }
        if frames.is_empty() {
            return Err(InspectError::Io(format!(
                "{}: the recording holds no frame",
                path.display()
            )));
        }
        Ok(Self {
            path: path.to_path_buf(),
            header,
            frames,
            pos: 0,
            paused: false,
        })
    }

    /// Frames in the recording.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the recording is empty (never: `open` refuses it).
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Index of the frame on screen.
    pub fn position(&self) -> usize {
        self.pos.saturating_sub(1)
    }

    /// A symbolizer over the mappings recorded with the process.
    pub fn symbolizer(&self) -> Symbolizer {
        Symbolizer::from_maps(parse_maps(&self.header.maps))
    }

    /// Frame `i`, decoded.
    pub fn frame(&self, i: usize) -> Result<Frame, InspectError> {
        let (line, bytes) = &self.frames[i.min(self.frames.len() - 1)];
        decode(line, bytes, &self.path)
    }
}

impl Source for ReplaySource {
    fn target(&self) -> TargetInfo {
        TargetInfo {
            pid: self.header.pid,
            path: self.path.display().to_string(),
            interval_ms: self.header.interval_ms,
        }
    }

    fn next_frame(&mut self) -> Result<Frame, InspectError> {
        let i = if self.paused {
            self.position()
        } else {
            self.pos.min(self.frames.len() - 1)
        };
        self.pos = i + 1;
        self.frame(i)
    }

    fn paused(&self) -> bool {
        self.paused || self.pos >= self.frames.len()
    }

    fn control(&mut self, action: Action) -> SourceControl {
        let seek = match action {
            Action::TogglePause => {
                self.paused = !self.paused;
                return SourceControl::Handled;
            }
            Action::Left => -(SEEK_FRAMES as isize),
            Action::Right => SEEK_FRAMES as isize,
            _ => return SourceControl::Ignored,
        };
        let target = self
            .position()
            .saturating_add_signed(seek)
            .min(self.frames.len() - 1);
        // The state is rebuilt from the frames before the new position (history).
        let first = target.saturating_sub(HISTORY_LEN);
        let frames: Result<Vec<Frame>, InspectError> =
            (first..=target).map(|i| self.frame(i)).collect();
        self.pos = target + 1;
        match frames {
            Ok(f) => SourceControl::Rewind(f),
            Err(_) => SourceControl::Handled,
        }
    }
}
