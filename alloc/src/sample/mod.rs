//! Sampled allocation sites (`SLABSCOPE_SAMPLE=<bytes>`): which call stacks hold the
//! live memory, cheaply enough to leave on in production.
//!
//! - The countdown: each thread state holds `sample_left`, the bytes still to allocate
//!   before the next sample. When sampling is off it is [`NEVER`] (`u64::MAX`): the
//!   allocation fast path compares it with that and writes nothing. Otherwise the fast
//!   path subtracts the request from it and takes one more predictable branch. The
//!   allocation that exhausts it leaves the fast path, is served from a sampled slot
//!   (small) or the large path, and is recorded here; the countdown restarts at a
//!   random value with mean `interval` ([`countdown`]). The segment's first sample-site
//!   records get their pages before sampling starts (at creation, or when `sample=`
//!   switches it on).
//! - The interval in force: `SLABSCOPE_SAMPLE` at start, then whatever `sample=` the
//!   control channel last set ([`crate::settings::sample_rate`]). A change bumps the
//!   channel's sampling generation; each thread compares it with its own copy on its
//!   slow paths (its sampled path, interval drain and magazine refill) and restarts its
//!   countdown when they differ ([`follow`]), so the fast path keeps its single
//!   countdown compare and subtract. The interval in force is published in the segment
//!   header (`sample_interval_bytes`). The segment always has the sample-site section,
//!   so sampling switched on at run time has somewhere to record its sites.
//! - The stack: at most 16 return addresses from the system's DWARF unwinder
//!   ([`crate::pal::backtrace`]), right whether or not the program keeps frame pointers;
//!   no allocation on any module the linker made.
//! - The lifetime: a sampled small block is served from a *sampled slot* of its class
//!   (`crate::sampled_slots`), a slot that holds only sampled blocks and is in state
//!   `SAMPLED` in its meta word. The free fast path's owner test already requires
//!   `ACTIVE` there, so the free of a sampled block falls to the slow path while
//!   every other free stays on the fast path, with no extra instruction there; the slow
//!   path ends the sample ([`on_free`]: the live-sample table, under the sample lock) and
//!   gives the block back to its sampled slot. Sampled large allocations are looked up
//!   on the large free path, which already takes a lock and makes a system call.
//! - The sites live in the segment's sample-site section (protocol 1.2): the live and
//!   total sampled bytes of each call stack, and the estimate of its live bytes (each
//!   live sample stands for `max(size, interval)` bytes).
//!
//! See docs/ALLOCATOR.md ("Sampling") for the costs.

mod record;
mod table;

pub(crate) use record::{
    charge, countdown, enabled, follow, lock, on_free, on_free_large, record, restart, site_of,
    NEVER,
};
