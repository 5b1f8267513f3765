//! The segment writer, used by the allocator: no heap allocation, no locks, safe to call
//! from inside `malloc`.
//!
//! [`SegmentWriter::create`] lays the segment out (header, then each section 64-aligned:
//! classes, threads, SuperSlabs, GPU pools, ring, and the sample sites of a sampling
//! writer), creates the file
//! `dir/slabscope.<pid>` with `O_CREAT|O_EXCL|O_NOFOLLOW` and mode 0600, maps it shared,
//! fills the header and stores [`MAGIC`](crate::layout::MAGIC) last, with `Release`. After that every update
//! is an atomic store or read-modify-write on the mapping.
//!
//! - `config`: [`SegmentConfig`], [`CreateError`], and the layout plan and path built
//!   from them (no allocation).
//! - `segment`: [`SegmentWriter`] and the clock and thread-id helpers.

mod backing;
mod config;
mod segment;
#[cfg(test)]
mod tests;

pub use config::{CreateError, SampleConfig, SegmentConfig, MAX_PATH_BYTES, MAX_SEGMENT_BYTES};
pub use segment::{
    coarse_monotonic_ns, command_from_proc, gettid, monotonic_ns, realtime_ns, SegmentWriter,
};
