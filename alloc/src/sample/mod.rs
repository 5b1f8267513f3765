//! Sampled allocation sites (`SLABSCOPE_SAMPLE=<bytes>`): which call stacks hold the
//! live memory, cheaply enough to leave on in production.
//!
//! - The countdown: each thread state holds `sample_left`, the bytes still to allocate
//!   before the next sample. The allocation fast path subtracts the request from it and
//!   takes one predictable branch; when sampling is off the countdown is `u64::MAX` and
//!   never runs out. The allocation that exhausts it leaves the fast path, is served by
//!   the ordinary slow path, and is recorded here; the countdown restarts at a random
//!   value with mean `interval` ([`countdown`]).
//! - The interval in force: `SLABSCOPE_SAMPLE` at start, then whatever `sample=` the
//!   control channel last set ([`crate::control::sample_rate`]). A change bumps the
//!   channel's sampling generation; each thread compares it with its own copy on its
//!   slow paths (its sampled path, interval drain and magazine refill) and restarts its
//!   countdown when they differ ([`follow`]), so the fast path keeps its single
//!   countdown compare and subtract. The interval in force is published in the segment
//!   header (`sample_interval_bytes`). The segment always has the sample-site section,
//!   so sampling switched on at run time has somewhere to record its sites.
//! - The stack: [`stack`] walks frame pointers (the workspace builds with
//!   `-C force-frame-pointers=yes`, `.cargo/config.toml`), at most 16 return addresses,
//!   every frame pointer checked against the calling thread's stack bounds before it is
//!   read. No allocation, no unwinder, a few hundred nanoseconds.
//! - The lifetime: the sampled block's slot gets the `SAMPLED` bit in its `class_state`
//!   word (the slot's `sampled` count says how many live samples it holds). The free
//!   fast path already compares that word with `ACTIVE`, so a free into a tagged slot
//!   falls to the slow path with no extra instruction on the fast path; there
//!   [`on_free_small`] looks the block up in the live-sample table. Sampled large
//!   allocations are looked up on the large free path, which already takes a lock and
//!   makes a system call.
//! - The sites live in the segment's sample-site section (protocol 1.2): the live and
//!   total sampled bytes of each call stack, and the estimate of its live bytes (each
//!   live sample stands for `max(size, interval)` bytes).
//!
//! See docs/ALLOCATOR.md ("Sampling") for the costs.

mod record;
mod stack;
mod table;

pub(crate) use record::{
    countdown, enabled, follow, interval, lock, on_free_large, on_free_small, record, restart,
    tagged_class,
};
