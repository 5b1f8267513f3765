//! The segment reader, used by the inspector: maps a segment read-only, validates every
//! header field, offset, count and enum before use, copies multi-field records under
//! their sequence locks, and reports ring events it missed.
//!
//! - `open`: finding, checking (no symlinks, regular files, owned by the caller) and
//!   mapping segment files.
//! - `validate`: the header and section table, checked once.
//! - `collect`: building a [`crate::Snapshot`].
//! - `segment`: [`SegmentReader`].
//! - `error`: [`ReadError`].
//!
//! The reader never forms a `&[u8]` over the shared mapping and never performs a
//! read-modify-write on it: `Relaxed` loads and `Acquire` fences only.

mod collect;
mod error;
mod open;
mod segment;
mod validate;

pub use error::ReadError;
pub use open::{dir_ok, list_segments, owner_allowed, segment_dir, segment_path, MAX_DIR_BYTES};
pub use segment::SegmentReader;
pub use validate::CompatInfo;
