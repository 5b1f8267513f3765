//! [`ReplaySource`]: a recording played back through the same [`Source`] interface,
//! with pause and seek, reading only the blocks it needs.

use std::fs::File;
use std::io::BufReader;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use slabscope_proto::{Cursor, SegmentReader};

use super::delta;
use super::file::{self, FrameLine, Head, Header, Kind, RecordedLiveness};
use crate::error::InspectError;
use crate::procfs::ProcessStatus;
use crate::source::{Source, SourceControl, MAX_EVENTS_PER_FRAME};
use crate::state::{Action, Frame, Liveness, TargetInfo, HISTORY_LEN};
use crate::symbolize::{parse_maps, Symbolizer};

/// Frames a seek key (← / →) moves.
pub const SEEK_FRAMES: usize = 10;

/// Frames before the new position a seek rebuilds the state from: 30 s at the default
/// interval, the leak view's growth window. Each costs about 0.8 ms (rebuilt and read as
/// a 5 MB segment), so a seek stays well under a second; the charts fill the rest of
/// their two minutes as the replay plays on.
pub const SEEK_HISTORY: usize = 300;

/// The frame a segment copy makes: its snapshot and the events since its `ring_head`.
fn decode(line: &FrameLine, bytes: &[u8], path: &Path) -> Result<Frame, InspectError> {
    let reader = SegmentReader::from_bytes(bytes).map_err(|e| InspectError::read(path, e))?;
    let snapshot = reader.snapshot().map_err(|e| InspectError::read(path, e))?;
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

/// One frame's block: where it starts and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    offset: u64,
    kind: Kind,
}

/// A frame's block, read and checked.
struct Block {
    kind: Kind,
    line: FrameLine,
    raw: Vec<u8>,
}

/// The segment copy of one frame, rebuilt.
struct Current {
    index: usize,
    line: FrameLine,
    bytes: Vec<u8>,
}

/// A recording played back: one frame per refresh, paused with space, moved with
/// ← / → ([`SEEK_FRAMES`] frames); it stays on its last frame at the end.
///
/// Only the index is held in memory, and the segment copy of the frame on screen: a
/// frame is rebuilt from the key frame before it and the deltas since, so a recording
/// larger than memory plays, and a seek reads at most one key frame and the deltas
/// after it.
pub struct ReplaySource {
    path: PathBuf,
    file: File,
    header: Header,
    entries: Vec<Entry>,
    current: Option<Current>,
    /// What is wrong with the file, once found (reported once, see [`Self::take_damage`]).
    damage: Option<String>,
    /// The next frame to hand out.
    pos: usize,
    paused: bool,
}

impl ReplaySource {
    /// Opens the recording at `path`: its header and its index (the one at its end, or,
    /// for a file without one, a pass over its blocks that stops at the first one cut
    /// short or damaged; what is before it replays).
    pub fn open(path: &Path) -> Result<Self, InspectError> {
        let ioerr = |e: std::io::Error| InspectError::Io(format!("{}: {e}", path.display()));
        let file = File::open(path).map_err(ioerr)?;
        let (header, body) = file::read_header(&mut BufReader::new(&file))?;
        let len = file.metadata().map_err(ioerr)?.len();
        let (entries, damage) = match read_index(&file, body, len) {
            Some(entries) => (entries, None),
            None => scan(&file, body, len),
        };
        let first_key = entries.first().map(|e| e.kind) == Some(Kind::Key);
        if !first_key {
            return Err(InspectError::Io(format!(
                "{}: the recording holds no frame{}",
                path.display(),
                damage.map(|d| format!(" ({d})")).unwrap_or_default()
            )));
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            header,
            entries,
            current: None,
            damage,
            pos: 0,
            paused: false,
        })
    }

    /// Frames in the recording (those before any damage found).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the recording is empty (never: `open` refuses it).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Index of the frame on screen.
    pub fn position(&self) -> usize {
        self.pos.saturating_sub(1)
    }

    /// A symbolizer over the mappings recorded with the process.
    pub fn symbolizer(&self) -> Symbolizer {
        Symbolizer::from_maps(parse_maps(&self.header.maps))
    }

    /// What is wrong with the file, if something was found since the last call: a
    /// file cut short, or a block that fails its check (the replay then ends before
    /// it).
    pub fn take_damage(&mut self) -> Option<String> {
        self.damage.take()
    }

    /// Frame `i` (the last one for `i` past the end), decoded. A block found damaged
    /// ends the recording before it: the frame before is returned, and the damage is
    /// reported by [`Self::take_damage`].
    pub fn frame(&mut self, i: usize) -> Result<Frame, InspectError> {
        let i = i.min(self.entries.len() - 1);
        match self.rebuild(i) {
            Ok(()) => {}
            Err((k, why)) if k > 0 => {
                self.damage = Some(format!(
                    "{}: frame {k} is damaged ({why}); the replay ends at frame {}",
                    self.path.display(),
                    k - 1
                ));
                self.entries.truncate(k);
                self.pos = self.pos.min(k);
                return self.frame(k - 1);
            }
            Err((_, why)) => {
                return Err(InspectError::Io(format!(
                    "{}: frame 0 is damaged ({why})",
                    self.path.display()
                )))
            }
        }
        match &self.current {
            Some(c) => decode(&c.line, &c.bytes, &self.path),
            None => Err(InspectError::Io(format!(
                "{}: no frame",
                self.path.display()
            ))),
        }
    }

    /// Makes `current` frame `i`: from the copy on hand when it is at or before `i`
    /// and no key frame lies between, else from the key frame before `i`. `Err` names
    /// the frame that could not be read, and leaves no half-rebuilt copy behind.
    fn rebuild(&mut self, i: usize) -> Result<(), (usize, String)> {
        let r = self.rebuild_from(i);
        if r.is_err() {
            self.current = None;
        }
        r
    }

    fn rebuild_from(&mut self, i: usize) -> Result<(), (usize, String)> {
        let key = (0..=i)
            .rev()
            .find(|&k| self.entries[k].kind == Kind::Key)
            .ok_or((0, "no key frame before it".to_string()))?;
        let from = match &self.current {
            Some(c) if c.index <= i && c.index >= key => c.index + 1,
            _ => key,
        };
        for k in from..=i {
            self.step(k).map_err(|why| (k, why))?;
        }
        Ok(())
    }

    /// Makes `current` frame `k` from frame `k - 1` (or from nothing, for a key frame).
    fn step(&mut self, k: usize) -> Result<(), String> {
        let block = self.block(k)?;
        if block.kind == Kind::Key {
            if block.raw.len() as u64 != block.line.segment_bytes {
                return Err("a key frame of the wrong length".into());
            }
            self.current = Some(Current {
                index: k,
                line: block.line,
                bytes: block.raw,
            });
            return Ok(());
        }
        let c = self
            .current
            .as_mut()
            .ok_or("a delta without its key frame")?;
        delta::apply_frame(&mut c.bytes, block.line.segment_bytes as usize, &block.raw)?;
        c.index = k;
        c.line = block.line;
        Ok(())
    }

    /// Frame `k`'s block, read and checked.
    fn block(&self, k: usize) -> Result<Block, String> {
        let e = self.entries[k];
        let (head, line, data) = read_block(&self.file, e.offset)?;
        if head.kind != e.kind {
            return Err("its block is not the one the index names".into());
        }
        let line = file::parse_frame_line(&line)?;
        let raw = file::decompress(&data, head.raw_bytes)?;
        Ok(Block {
            kind: head.kind,
            line,
            raw,
        })
    }
}

/// Reads the block at `offset` and checks it; `Err` says what is wrong.
fn read_block(file: &File, offset: u64) -> Result<(Head, Vec<u8>, Vec<u8>), String> {
    let mut h = [0u8; file::HEAD_BYTES];
    file.read_exact_at(&mut h, offset)
        .map_err(|_| "the file ends inside a block".to_string())?;
    let head = Head::parse(&h)?;
    let mut line = vec![0u8; head.line_bytes as usize];
    let mut data = vec![0u8; head.data_bytes as usize];
    let at = offset + file::HEAD_BYTES as u64;
    file.read_exact_at(&mut line, at)
        .and_then(|()| file.read_exact_at(&mut data, at + u64::from(head.line_bytes)))
        .map_err(|_| "the file ends inside a block".to_string())?;
    if !head.checks(&line, &data) {
        return Err("its checksum does not match".into());
    }
    Ok((head, line, data))
}

/// The index the trailer of a file `len` bytes long points at, if both are whole and
/// agree with the file.
fn read_index(file: &File, body: u64, len: u64) -> Option<Vec<Entry>> {
    let mut t = [0u8; file::TRAILER_BYTES];
    file.read_exact_at(&mut t, len.checked_sub(file::TRAILER_BYTES as u64)?)
        .ok()?;
    let at = file::parse_trailer(&t)?;
    if at < body || at >= len {
        return None;
    }
    let (head, _, data) = read_block(file, at).ok()?;
    if head.kind != Kind::Index || at + head.block_bytes() + file::TRAILER_BYTES as u64 != len {
        return None;
    }
    let raw = file::decompress(&data, head.raw_bytes).ok()?;
    let entries: Vec<Entry> = file::parse_index(&raw)?
        .into_iter()
        .map(|(offset, kind)| Entry { offset, kind })
        .collect();
    let ordered = entries.windows(2).all(|w| w[0].offset < w[1].offset);
    let inside = entries.iter().all(|e| e.offset >= body && e.offset < at);
    (ordered && inside).then_some(entries)
}

/// The frames of a file without a usable index, block by block from `body`; stops at
/// the first block cut short or damaged, and says so.
fn scan(file: &File, body: u64, len: u64) -> (Vec<Entry>, Option<String>) {
    let mut entries = Vec::new();
    let mut at = body;
    let damage = loop {
        if at == len {
            break Some(format!(
                "the recording has no index (the recorder did not finish); {} frames read",
                entries.len()
            ));
        }
        match read_block(file, at) {
            Ok((head, _, _)) if head.kind == Kind::Index => {
                break Some(format!(
                    "the recording's index or trailer is damaged; {} frames read",
                    entries.len()
                ))
            }
            Ok((head, _, _)) => {
                entries.push(Entry {
                    offset: at,
                    kind: head.kind,
                });
                at += head.block_bytes();
            }
            Err(why) => {
                break Some(format!(
                    "frame {} at byte {at}: {why}; the replay ends before it",
                    entries.len()
                ))
            }
        }
    };
    (entries, damage)
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
            self.pos.min(self.entries.len() - 1)
        };
        self.pos = i + 1;
        self.frame(i)
    }

    fn paused(&self) -> bool {
        self.paused || self.pos >= self.entries.len()
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
            .min(self.entries.len() - 1);
        // The state is rebuilt from the frames before the new position (history).
        let first = target.saturating_sub(SEEK_HISTORY.min(HISTORY_LEN));
        let mut frames = Vec::with_capacity(target - first + 1);
        for i in first..=target {
            let Ok(f) = self.frame(i) else {
                return SourceControl::Handled;
            };
            // Damage found on the way ends the recording before it: `frame` then gave
            // the last intact frame again, wanted only if there is no other.
            let past_the_end = i >= self.entries.len();
            if !past_the_end || frames.is_empty() {
                frames.push(f);
            }
            if past_the_end {
                break;
            }
        }
        let target = target.min(self.entries.len() - 1);
        self.pos = target + 1;
        SourceControl::Rewind(frames)
    }
}
