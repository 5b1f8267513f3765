//! Where frames come from: a live segment, a post-mortem file, or synthetic data.
//! The main loop only sees the [`Source`] trait, so tests drive it with scripted frames.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use slabscope_proto::{
    monotonic_ns, segment_path, Cursor, Event, ReadError, SegmentReader, Snapshot,
};

use crate::error::InspectError;
use crate::owner;
use crate::procfs;
use crate::state::{Action, Frame, Liveness, TargetInfo};
use crate::synthetic::Synthetic;

/// Most events read per frame (the ring is at most this big in practice).
pub const MAX_EVENTS_PER_FRAME: usize = 1 << 16;

/// What a source did with a user intent (see [`Source::control`]).
#[derive(Debug)]
pub enum SourceControl {
    /// Not the source's: the state applies it.
    Ignored,
    /// Carried out by the source (a replay paused or resumed).
    Handled,
    /// The source moved (a replay seeked): the state is rebuilt from these frames.
    Rewind(Vec<Frame>),
}

/// A producer of frames.
pub trait Source {
    /// What is being watched.
    fn target(&self) -> TargetInfo;
    /// The next frame (called once per refresh).
    fn next_frame(&mut self) -> Result<Frame, InspectError>;
    /// Whether no new frame is due (a paused replay, or one at its end).
    fn paused(&self) -> bool {
        false
    }
    /// Offers a user intent to the source first (a replay's pause and seek keys).
    fn control(&mut self, _action: Action) -> SourceControl {
        SourceControl::Ignored
    }
}

/// A cursor positioned at the oldest event still in the ring.
fn cursor_at_oldest(snap: &Snapshot) -> Cursor {
    Cursor::from_seq(snap.ring.head.saturating_sub(snap.ring.capacity))
}

/// A running process's segment.
pub struct LiveSource {
    reader: SegmentReader,
    pid: u32,
    path: PathBuf,
    cursor: Cursor,
    interval_ms: u64,
}

impl LiveSource {
    /// Attaches to `pid`: checks the process exists and is the caller's, then opens and
    /// validates its segment.
    pub fn attach(pid: u32, interval_ms: u64) -> Result<Self, InspectError> {
        Self::attach_path(pid, segment_path(pid), interval_ms)
    }

    /// Attaches to `pid` through the segment at `path`.
    pub fn attach_path(pid: u32, path: PathBuf, interval_ms: u64) -> Result<Self, InspectError> {
        owner::check(pid)?;
        let running = procfs::alive(pid);
        let reader = match SegmentReader::open(&path) {
            Ok(r) => r,
            Err(ReadError::NotFound { .. }) if running => {
                return Err(InspectError::no_segment(pid, path))
            }
            Err(ReadError::NotFound { .. }) => return Err(InspectError::NoProcess { pid }),
            Err(e) => return Err(InspectError::read(&path, e)),
        };
        if !running {
            return Err(InspectError::Exited { pid, path });
        }
        // A pid that came round again to a newer process is not the segment's writer.
        if !procfs::runs_segment(pid, reader.start_mono_ns()) {
            return Err(InspectError::PidReused { pid, path });
        }
        let first = reader
            .snapshot()
            .map_err(|e| InspectError::read(&path, e))?;
        Ok(Self {
            cursor: cursor_at_oldest(&first),
            reader,
            pid,
            path,
            interval_ms,
        })
    }

    /// The validated reader.
    pub fn reader(&self) -> &SegmentReader {
        &self.reader
    }
}

impl Source for LiveSource {
    fn target(&self) -> TargetInfo {
        TargetInfo {
            pid: self.pid,
            path: self.path.display().to_string(),
            interval_ms: self.interval_ms,
        }
    }

    fn next_frame(&mut self) -> Result<Frame, InspectError> {
        let snapshot = self
            .reader
            .snapshot()
            .map_err(|e| InspectError::read(&self.path, e))?;
        let mut events: Vec<Event> = Vec::new();
        let poll = self
            .reader
            .poll_events(&mut self.cursor, MAX_EVENTS_PER_FRAME, &mut events);
        let liveness = if procfs::runs_segment(self.pid, self.reader.start_mono_ns()) {
            Liveness::Alive
        } else {
            Liveness::Gone
        };
        Ok(Frame {
            snapshot,
            events,
            poll,
            process: procfs::status(self.pid),
            liveness,
            now_mono_ns: monotonic_ns(),
        })
    }
}

/// A segment file left by a process (or copied from one), read once.
pub struct PostMortemSource {
    path: PathBuf,
    pid: u32,
    frame: Option<Frame>,
}

impl PostMortemSource {
    /// Opens `path` with the same checks as a live segment (no symlinks, regular file,
    /// owned by the caller), then reads a private copy so that unfinished ring slots are
    /// given up on at once.
    pub fn open(path: &Path) -> Result<Self, InspectError> {
        let checked = SegmentReader::open(path).map_err(|e| InspectError::read(path, e))?;
        drop(checked);
        let bytes = std::fs::read(path)
            .map_err(|e| InspectError::Io(format!("{}: {e}", path.display())))?;
        let reader = SegmentReader::from_bytes(&bytes).map_err(|e| InspectError::read(path, e))?;
        let snapshot = reader.snapshot().map_err(|e| InspectError::read(path, e))?;
        let mut cursor = cursor_at_oldest(&snapshot);
        let mut events = Vec::new();
        let poll = reader.poll_events(&mut cursor, MAX_EVENTS_PER_FRAME, &mut events);
        let now = snapshot.heartbeat_mono_ns;
        Ok(Self {
            path: path.to_path_buf(),
            pid: snapshot.pid,
            frame: Some(Frame {
                snapshot,
                events,
                poll,
                process: None,
                liveness: Liveness::Unknown,
                now_mono_ns: now,
            }),
        })
    }

    /// The one frame the file holds.
    pub fn frame(&self) -> Option<&Frame> {
        self.frame.as_ref()
    }
}

impl Source for PostMortemSource {
    fn target(&self) -> TargetInfo {
        TargetInfo {
            pid: self.pid,
            path: self.path.display().to_string(),
            interval_ms: 0,
        }
    }

    fn next_frame(&mut self) -> Result<Frame, InspectError> {
        // The state freezes after the first frame; later calls repeat it.
        self.frame
            .clone()
            .ok_or_else(|| InspectError::Io("post-mortem frame already taken".into()))
    }
}

/// Synthetic frames from [`Synthetic`], one tick per call, optionally followed by the
/// target's disappearance.
pub struct SyntheticSource {
    /// The synthetic process.
    pub syn: Synthetic,
    tick: u64,
    /// After this many frames, report the process gone.
    pub gone_after: Option<u64>,
}

impl SyntheticSource {
    /// Frames of `syn`, starting at tick 0.
    pub fn new(syn: Synthetic) -> Self {
        Self {
            syn,
            tick: 0,
            gone_after: None,
        }
    }
}

impl Source for SyntheticSource {
    fn target(&self) -> TargetInfo {
        TargetInfo {
            pid: self.syn.pid,
            path: format!("(synthetic {})", self.syn.pid),
            interval_ms: 100,
        }
    }

    fn next_frame(&mut self) -> Result<Frame, InspectError> {
        let mut f = self.syn.frame(self.tick);
        if self.gone_after.is_some_and(|n| self.tick >= n) {
            f.liveness = Liveness::Gone;
        }
        self.tick += 1;
        Ok(f)
    }
}

/// Frames handed out in order; the last one repeats.
pub struct ScriptedSource {
    target: TargetInfo,
    frames: VecDeque<Frame>,
}

impl ScriptedSource {
    /// A source that returns `frames` in order (at least one is needed).
    pub fn new(target: TargetInfo, frames: Vec<Frame>) -> Self {
        Self {
            target,
            frames: frames.into(),
        }
    }
}

impl Source for ScriptedSource {
    fn target(&self) -> TargetInfo {
        self.target.clone()
    }

    fn next_frame(&mut self) -> Result<Frame, InspectError> {
        match self.frames.len() {
            0 => Err(InspectError::Io("no frame scripted".into())),
            1 => Ok(self.frames[0].clone()),
            _ => Ok(self.frames.pop_front().expect("non-empty")),
        }
    }
}
