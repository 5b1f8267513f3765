//! The sizes and counts the protocol fixes, on which the records' shapes are built:
//! the SuperSlab's geometry, the most classes, GPU buckets and sections a segment
//! describes, the lengths of its names and command line, an event's arguments and a
//! sample's frames. Depends on nothing; `layout` re-exports them.

/// Bytes in one SuperSlab (2 MiB, 2 MiB-aligned).
pub const SUPERSLAB_BYTES: u64 = 2 << 20;
/// Slots in one SuperSlab.
pub const SLOTS_PER_SUPERSLAB: usize = 32;
/// Bytes in one slot (64 KiB).
pub const SLOT_BYTES: u64 = SUPERSLAB_BYTES / SLOTS_PER_SUPERSLAB as u64;
/// Most size classes a segment can describe (the thread record has one magazine word each).
pub const MAX_CLASSES: usize = 64;
/// Most buckets in one GPU pool record (4 KiB .. 32 GiB in powers of two).
pub const MAX_GPU_BUCKETS: usize = 24;
/// Number of entries in the header's section table.
pub const MAX_SECTIONS: usize = 8;
/// Bytes of the command line kept in the header (NUL-padded, truncated).
pub const COMMAND_BYTES: usize = 128;
/// Bytes of a thread's name kept in its record (NUL-padded, truncated).
pub const THREAD_NAME_BYTES: usize = 16;
/// Bytes of a GPU pool's name kept in its record (NUL-padded, truncated).
pub const GPU_NAME_BYTES: usize = 32;
/// Arguments carried by one ring event.
pub const EVENT_ARGS: usize = 5;
/// Alignment of every section's offset.
pub const SECTION_ALIGN: u64 = 64;
/// Return addresses kept per sampled allocation site.
pub const MAX_SAMPLE_FRAMES: usize = 16;
