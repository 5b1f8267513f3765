//! The recording file format, version 1 (docs/INSPECTOR.md, "Record and replay").
//!
//! ```text
//! {"format":"slabscope-record","version":1,"pid":P,"interval_ms":M,"maps":"..."}\n
//! {"frame":0,"now_mono_ns":T,"liveness":"alive","rss_bytes":R,"peak_rss_bytes":H,
//!  "ring_head":S,"segment_bytes":N}\n
//! <N bytes: a copy of the segment at that moment>
//! ... one JSON line and one copy per frame
//! ```
//!
//! The header line names the format and its version, the process and its executable
//! mappings (`/proc/<pid>/maps` text, so that a replay can name sample-site frames while
//! the binaries are still on disk). Each frame is a JSON line followed by the raw segment
//! bytes (protocol 1.x, docs/PROTOCOL.md): a replay reads them with the same validating
//! reader as a live segment. `ring_head` is the event head of the previous frame, where
//! this frame's events start. A file cut short (the recorder was killed) replays up to
//! its last whole frame.

use std::io::{BufRead, Read, Write};

use serde::{Deserialize, Serialize};

use crate::error::InspectError;

/// The `format` value of the header line.
pub const FORMAT: &str = "slabscope-record";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Longest JSON line accepted (the header carries the process's mappings).
pub const MAX_LINE_BYTES: u64 = 16 << 20;
/// Largest segment copy accepted when reading (bad input must not exhaust memory).
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;

/// The header line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version.
    pub version: u32,
    /// Recorded process.
    pub pid: u32,
    /// Recording interval in milliseconds.
    pub interval_ms: u64,
    /// The process's `/proc/<pid>/maps` at the start (empty when unreadable).
    pub maps: String,
}

/// How the process looked when the frame was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedLiveness {
    /// Running.
    Alive,
    /// Gone.
    Gone,
    /// Not known.
    Unknown,
}

/// The JSON line before each segment copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameLine {
    /// Frame number, from 0.
    pub frame: u64,
    /// `CLOCK_MONOTONIC` ns when the copy was taken.
    pub now_mono_ns: u64,
    /// Whether the process ran.
    pub liveness: RecordedLiveness,
    /// `VmRSS` (absent when unreadable).
    pub rss_bytes: Option<u64>,
    /// `VmHWM` (absent when unreadable).
    pub peak_rss_bytes: Option<u64>,
    /// Event sequence number this frame's events start at.
    pub ring_head: u64,
    /// Length of the segment copy that follows.
    pub segment_bytes: u64,
}

fn io(what: &str, e: impl std::fmt::Display) -> InspectError {
    InspectError::Io(format!("recording: {what}: {e}"))
}

/// Writes the header line.
pub fn write_header(out: &mut impl Write, h: &Header) -> Result<(), InspectError> {
    let line = serde_json::to_string(h).map_err(|e| io("header", e))?;
    writeln!(out, "{line}").map_err(|e| io("write", e))
}

/// Writes one frame: its line and its segment copy.
pub fn write_frame(
    out: &mut impl Write,
    line: &FrameLine,
    segment: &[u8],
) -> Result<(), InspectError> {
    let text = serde_json::to_string(line).map_err(|e| io("frame", e))?;
    writeln!(out, "{text}").map_err(|e| io("write", e))?;
    out.write_all(segment).map_err(|e| io("write", e))
}

/// One line, newline included, of at most [`MAX_LINE_BYTES`] (bytes, not text: a file
/// that is not a recording must give a clear error, not a UTF-8 one).
fn read_line(input: &mut impl BufRead) -> Result<Vec<u8>, InspectError> {
    let mut line = Vec::new();
    input
        .take(MAX_LINE_BYTES)
        .read_until(b'\n', &mut line)
        .map_err(|e| io("read", e))?;
    Ok(line)
}

/// Reads and checks the header line.
pub fn read_header(input: &mut impl BufRead) -> Result<Header, InspectError> {
    let line = read_line(input)?;
    let h: Header = serde_json::from_slice(line.trim_ascii_end())
        .map_err(|_| InspectError::Io("not a slabscope recording (bad header line)".into()))?;
    if h.format != FORMAT {
        return Err(InspectError::Io(format!(
            "not a slabscope recording (format {:?})",
            h.format
        )));
    }
    if h.version != VERSION {
        return Err(InspectError::Io(format!(
            "recording format version {} is not supported (this build reads {VERSION})",
            h.version
        )));
    }
    Ok(h)
}

/// Reads the next frame; `None` at the end of the file or after a frame cut short.
pub fn read_frame(input: &mut impl BufRead) -> Result<Option<(FrameLine, Vec<u8>)>, InspectError> {
    let line = read_line(input)?;
    if !line.ends_with(b"\n") {
        return Ok(None);
    }
    let f: FrameLine = serde_json::from_slice(line.trim_ascii_end())
        .map_err(|e| InspectError::Io(format!("recording: bad frame line: {e}")))?;
    if f.segment_bytes > MAX_SEGMENT_BYTES {
        return Err(InspectError::Io(format!(
            "recording: frame {} claims a {}-byte segment",
            f.frame, f.segment_bytes
        )));
    }
    let mut bytes = Vec::with_capacity(f.segment_bytes as usize);
    input
        .take(f.segment_bytes)
        .read_to_end(&mut bytes)
        .map_err(|e| io("read", e))?;
    if bytes.len() as u64 != f.segment_bytes {
        return Ok(None);
    }
    Ok(Some((f, bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            format: FORMAT.into(),
            version: VERSION,
            pid: 7,
            interval_ms: 100,
            maps: "55d0c0001000-55d0c0100000 r-xp 00001000 08:01 42 /bin/x\n".into(),
        }
    }

    fn line(frame: u64, n: usize) -> FrameLine {
        FrameLine {
            frame,
            now_mono_ns: 1000 + frame,
            liveness: RecordedLiveness::Alive,
            rss_bytes: Some(4096),
            peak_rss_bytes: None,
            ring_head: frame * 3,
            segment_bytes: n as u64,
        }
    }

    #[test]
    fn frames_round_trip_and_a_cut_frame_ends_the_file() {
        let mut buf = Vec::new();
        write_header(&mut buf, &header()).unwrap();
        write_frame(&mut buf, &line(0, 5), b"ab\ncd").unwrap();
        write_frame(&mut buf, &line(1, 3), b"xyz").unwrap();
        let whole = buf.len();
        write_frame(&mut buf, &line(2, 10), b"0123456789").unwrap();
        buf.truncate(whole + 20);
        let mut r = std::io::BufReader::new(&buf[..]);
        assert_eq!(read_header(&mut r).unwrap(), header());
        let (f0, b0) = read_frame(&mut r).unwrap().unwrap();
        assert_eq!((f0, b0), (line(0, 5), b"ab\ncd".to_vec()));
        let (f1, _) = read_frame(&mut r).unwrap().unwrap();
        assert_eq!(f1.frame, 1);
        assert!(read_frame(&mut r).unwrap().is_none());
    }

    #[test]
    fn other_files_and_versions_are_refused() {
        let mut r = std::io::BufReader::new(&b"SLSC\x00\x01binary"[..]);
        assert!(read_header(&mut r)
            .unwrap_err()
            .to_string()
            .contains("not a slabscope recording"));
        let mut h = header();
        h.version = 2;
        let mut buf = Vec::new();
        write_header(&mut buf, &h).unwrap();
        let e = read_header(&mut std::io::BufReader::new(&buf[..])).unwrap_err();
        assert!(e.to_string().contains("version 2 is not supported"), "{e}");
    }
}
