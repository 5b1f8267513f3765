//! The recording file format, version 2 (docs/INSPECTOR.md, "Record and replay").
//!
//! ```text
//! {"format":"slabscope-record","version":2,"pid":P,"interval_ms":M,"maps":"..."}\n
//! block: a 24-byte head, a JSON frame line, a zstd frame
//! ... one block per frame: a key frame (the whole segment) or a delta (what changed)
//! an index block (every frame's offset and kind)
//! a 16-byte trailer pointing at the index
//! ```
//!
//! Block head, little-endian: `magic` "SRBK", `kind` (1 key, 2 delta, 3 index), three
//! zero bytes, the lengths of the frame line, of the compressed payload and of the
//! payload once decompressed (each a `u32`), and a CRC-32 of the head's first 20 bytes,
//! the line and the payload. A key frame's payload is the segment as docs/PROTOCOL.md
//! describes it; a delta's is [`super::delta`] against the frame before. The trailer is
//! "SRIX", a `u32` 0 and the index block's offset (`u64`); a file without one (the
//! recorder was killed, the file cut short) is read block by block instead.

use std::io::{BufRead, Read, Write};

use serde::{Deserialize, Serialize};

use crate::error::InspectError;

/// The `format` value of the header line.
pub const FORMAT: &str = "slabscope-record";
/// The format version this build writes and reads.
pub const VERSION: u32 = 2;
/// Longest JSON line accepted (the header carries the process's mappings).
pub const MAX_LINE_BYTES: u64 = 16 << 20;
/// Largest segment copy, frame line or compressed payload accepted when reading (bad
/// input must not exhaust memory).
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;

/// Magic of a block head.
pub const BLOCK_MAGIC: [u8; 4] = *b"SRBK";
/// Magic of the trailer.
pub const TRAILER_MAGIC: [u8; 4] = *b"SRIX";
/// Bytes of a block head.
pub const HEAD_BYTES: usize = 24;
/// Bytes of the trailer.
pub const TRAILER_BYTES: usize = 16;
/// Bytes of one index entry: the block's offset (`u64`) and kind (`u32`), and a zero
/// `u32`.
pub const INDEX_ENTRY_BYTES: usize = 16;

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

/// The JSON line of a frame's block.
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
    /// Length of the segment copy.
    pub segment_bytes: u64,
}

/// What a block holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A whole segment copy.
    Key,
    /// The changes since the frame before.
    Delta,
    /// The index of the frames before it.
    Index,
}

impl Kind {
    fn code(self) -> u8 {
        match self {
            Kind::Key => 1,
            Kind::Delta => 2,
            Kind::Index => 3,
        }
    }

    /// The kind of code `c`.
    pub fn from_code(c: u32) -> Option<Self> {
        match c {
            1 => Some(Kind::Key),
            2 => Some(Kind::Delta),
            3 => Some(Kind::Index),
            _ => None,
        }
    }
}

/// A block head, read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// What follows.
    pub kind: Kind,
    /// Bytes of the frame line.
    pub line_bytes: u32,
    /// Bytes of the compressed payload.
    pub data_bytes: u32,
    /// Bytes of the payload decompressed.
    pub raw_bytes: u32,
    /// CRC-32 of the head's first 20 bytes, the line and the payload.
    pub crc: u32,
}

impl Head {
    /// Bytes of the whole block.
    pub fn block_bytes(&self) -> u64 {
        HEAD_BYTES as u64 + u64::from(self.line_bytes) + u64::from(self.data_bytes)
    }

    fn prefix(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[..4].copy_from_slice(&BLOCK_MAGIC);
        b[4] = self.kind.code();
        b[8..12].copy_from_slice(&self.line_bytes.to_le_bytes());
        b[12..16].copy_from_slice(&self.data_bytes.to_le_bytes());
        b[16..20].copy_from_slice(&self.raw_bytes.to_le_bytes());
        b
    }

    /// Parses a head; `Err` names what is wrong.
    pub fn parse(b: &[u8; HEAD_BYTES]) -> Result<Self, String> {
        if b[..4] != BLOCK_MAGIC {
            return Err("no block starts here".into());
        }
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let kind = Kind::from_code(u32::from(b[4]))
            .filter(|_| b[5..8] == [0, 0, 0])
            .ok_or_else(|| format!("unknown block kind {}", b[4]))?;
        let h = Head {
            kind,
            line_bytes: word(8),
            data_bytes: word(12),
            raw_bytes: word(16),
            crc: word(20),
        };
        if u64::from(h.line_bytes) > MAX_LINE_BYTES
            || u64::from(h.data_bytes) > MAX_SEGMENT_BYTES
            || u64::from(h.raw_bytes) > MAX_SEGMENT_BYTES
        {
            return Err(format!(
                "a block claims {} + {} bytes ({} decompressed)",
                h.line_bytes, h.data_bytes, h.raw_bytes
            ));
        }
        Ok(h)
    }

    /// Whether `line` and `data` are the ones this head was written with.
    pub fn checks(&self, line: &[u8], data: &[u8]) -> bool {
        crc(&self.prefix(), line, data) == self.crc
    }
}

fn crc(prefix: &[u8], line: &[u8], data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(prefix);
    h.update(line);
    h.update(data);
    h.finalize()
}

fn io(what: &str, e: impl std::fmt::Display) -> InspectError {
    InspectError::Io(format!("recording: {what}: {e}"))
}

/// Writes the header line.
pub fn write_header(out: &mut impl Write, h: &Header) -> Result<(), InspectError> {
    let line = serde_json::to_string(h).map_err(|e| io("header", e))?;
    writeln!(out, "{line}").map_err(|e| io("write", e))
}

/// zstd level of a key frame: the library's default, a 5 MB segment in a few tens of
/// milliseconds.
const KEY_LEVEL: i32 = 3;
/// zstd level of deltas and the index: tens of kilobytes, about a millisecond at this
/// level, and a few per cent smaller than at the default.
const DELTA_LEVEL: i32 = 9;

/// Writes one block: `line` (a frame line, or empty) and `raw` compressed. Returns the
/// block's length in bytes.
pub fn write_block(
    out: &mut impl Write,
    kind: Kind,
    line: &[u8],
    raw: &[u8],
) -> Result<u64, InspectError> {
    let level = if kind == Kind::Key {
        KEY_LEVEL
    } else {
        DELTA_LEVEL
    };
    let data = zstd::bulk::compress(raw, level).map_err(|e| io("compress", e))?;
    let len = |n: usize| u32::try_from(n).map_err(|_| io("block", "larger than 4 GiB"));
    let mut head = Head {
        kind,
        line_bytes: len(line.len())?,
        data_bytes: len(data.len())?,
        raw_bytes: len(raw.len())?,
        crc: 0,
    };
    head.crc = crc(&head.prefix(), line, &data);
    out.write_all(&head.prefix()).map_err(|e| io("write", e))?;
    out.write_all(&head.crc.to_le_bytes())
        .map_err(|e| io("write", e))?;
    out.write_all(line).map_err(|e| io("write", e))?;
    out.write_all(&data).map_err(|e| io("write", e))?;
    Ok(head.block_bytes())
}

/// Writes a frame's block.
pub fn write_frame(
    out: &mut impl Write,
    kind: Kind,
    line: &FrameLine,
    raw: &[u8],
) -> Result<u64, InspectError> {
    let text = serde_json::to_vec(line).map_err(|e| io("frame", e))?;
    write_block(out, kind, &text, raw)
}

/// Writes the index of `frames` (each block's offset and kind) at offset `at`, and the
/// trailer that points at it.
pub fn write_index(
    out: &mut impl Write,
    at: u64,
    frames: &[(u64, Kind)],
) -> Result<(), InspectError> {
    let mut raw = Vec::with_capacity(frames.len() * INDEX_ENTRY_BYTES);
    for &(offset, kind) in frames {
        raw.extend_from_slice(&offset.to_le_bytes());
        raw.extend_from_slice(&u32::from(kind.code()).to_le_bytes());
        raw.extend_from_slice(&0u32.to_le_bytes());
    }
    write_block(out, Kind::Index, &[], &raw)?;
    let mut trailer = [0u8; TRAILER_BYTES];
    trailer[..4].copy_from_slice(&TRAILER_MAGIC);
    trailer[8..].copy_from_slice(&at.to_le_bytes());
    out.write_all(&trailer).map_err(|e| io("write", e))
}

/// The entries of an index payload; `None` if it is not one.
pub fn parse_index(raw: &[u8]) -> Option<Vec<(u64, Kind)>> {
    if !raw.len().is_multiple_of(INDEX_ENTRY_BYTES) {
        return None;
    }
    raw.chunks_exact(INDEX_ENTRY_BYTES)
        .map(|e| {
            let offset = u64::from_le_bytes(e[..8].try_into().ok()?);
            let kind = Kind::from_code(u32::from_le_bytes(e[8..12].try_into().ok()?))?;
            (kind != Kind::Index).then_some((offset, kind))
        })
        .collect()
}

/// The index offset a trailer points at; `None` if `b` is not a trailer.
pub fn parse_trailer(b: &[u8; TRAILER_BYTES]) -> Option<u64> {
    (b[..4] == TRAILER_MAGIC && b[4..8] == [0; 4])
        .then(|| u64::from_le_bytes(b[8..].try_into().unwrap_or_default()))
}

/// Decompresses a payload of `raw_bytes` bytes.
pub fn decompress(data: &[u8], raw_bytes: u32) -> Result<Vec<u8>, String> {
    let raw = zstd::bulk::decompress(data, raw_bytes as usize).map_err(|e| e.to_string())?;
    if raw.len() != raw_bytes as usize {
        return Err(format!(
            "the payload is {} bytes, its head says {raw_bytes}",
            raw.len()
        ));
    }
    Ok(raw)
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

/// Reads and checks the header line; returns it and its length in bytes (where the
/// first block starts).
pub fn read_header(input: &mut impl BufRead) -> Result<(Header, u64), InspectError> {
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
    Ok((h, line.len() as u64))
}

/// Parses a frame line.
pub fn parse_frame_line(line: &[u8]) -> Result<FrameLine, String> {
    let f: FrameLine = serde_json::from_slice(line).map_err(|e| format!("bad frame line: {e}"))?;
    if f.segment_bytes > MAX_SEGMENT_BYTES {
        return Err(format!(
            "frame {} claims a {}-byte segment",
            f.frame, f.segment_bytes
        ));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn header() -> Header {
        Header {
            format: FORMAT.into(),
            version: VERSION,
            pid: 7,
            interval_ms: 100,
            maps: "55d0c0001000-55d0c0100000 r-xp 00001000 08:01 42 /bin/x\n".into(),
        }
    }

    #[test]
    fn a_block_round_trips_and_any_changed_byte_fails_its_check() {
        let mut buf = Vec::new();
        let n = write_block(&mut buf, Kind::Delta, b"{\"x\":1}", &[5u8; 4000]).unwrap();
        assert_eq!(n as usize, buf.len());
        let head = Head::parse(buf[..HEAD_BYTES].try_into().unwrap()).unwrap();
        assert_eq!(
            (head.kind, head.line_bytes, head.raw_bytes),
            (Kind::Delta, 7, 4000)
        );
        let line = &buf[HEAD_BYTES..HEAD_BYTES + 7];
        let data = &buf[HEAD_BYTES + 7..];
        assert!(head.checks(line, data));
        assert_eq!(decompress(data, head.raw_bytes).unwrap(), vec![5u8; 4000]);
        for i in HEAD_BYTES..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x10;
            assert!(
                !head.checks(&bad[HEAD_BYTES..HEAD_BYTES + 7], &bad[HEAD_BYTES + 7..]),
                "byte {i}"
            );
        }
        let mut bad_head = buf.clone();
        bad_head[16] ^= 1;
        let h = Head::parse(bad_head[..HEAD_BYTES].try_into().unwrap()).unwrap();
        assert!(!h.checks(line, data), "the head is covered too");
        bad_head[0] = b'x';
        assert!(Head::parse(bad_head[..HEAD_BYTES].try_into().unwrap()).is_err());
    }

    #[test]
    fn the_index_and_trailer_round_trip() {
        let frames = [(100, Kind::Key), (250, Kind::Delta), (300, Kind::Delta)];
        let mut buf = Vec::new();
        write_index(&mut buf, 400, &frames).unwrap();
        let t: [u8; TRAILER_BYTES] = buf[buf.len() - TRAILER_BYTES..].try_into().unwrap();
        assert_eq!(parse_trailer(&t), Some(400));
        let head = Head::parse(buf[..HEAD_BYTES].try_into().unwrap()).unwrap();
        assert_eq!(head.kind, Kind::Index);
        let data = &buf[HEAD_BYTES..buf.len() - TRAILER_BYTES];
        let raw = decompress(data, head.raw_bytes).unwrap();
        assert_eq!(parse_index(&raw).unwrap(), frames);
        assert!(parse_index(&raw[1..]).is_none());
        assert!(parse_trailer(&[0u8; TRAILER_BYTES]).is_none());
    }

    #[test]
    fn other_files_and_versions_are_refused() {
        let mut r = std::io::BufReader::new(&b"SLSC\x00\x01binary"[..]);
        assert!(read_header(&mut r)
            .unwrap_err()
            .to_string()
            .contains("not a slabscope recording"));
        for version in [1, 3] {
            let mut h = header();
            h.version = version;
            let mut buf = Vec::new();
            write_header(&mut buf, &h).unwrap();
            let e = read_header(&mut std::io::BufReader::new(&buf[..])).unwrap_err();
            assert!(
                e.to_string()
                    .contains(&format!("version {version} is not supported")),
                "{e}"
            );
        }
        let mut buf = Vec::new();
        write_header(&mut buf, &header()).unwrap();
        let (h, len) = read_header(&mut std::io::BufReader::new(&buf[..])).unwrap();
        assert_eq!((h, len as usize), (header(), buf.len()));
    }
}
