//! Debug tracing of slow-path events (`SLABSCOPE_LOG`, `SLABSCOPE_LOG_FILE`) through
//! tracing-subscriber.
//!
//! Off (the default) nothing is installed: the allocation and free fast paths contain no
//! tracing code, and a slow path pays one relaxed load (`capture` and `flush` both
//! return on it). On, every event the allocator publishes (SuperSlab map/empty/return,
//! slot acquire/empty/release with the acquire stage, drains, large map/unmap, OOM, GPU
//! miss/oversize/trim/OOM) is also captured into a small per-thread buffer, wherever it
//! happens (often under a class lock or the global lock), and written out by `flush`
//! at the end of the slow path, when no allocator lock is held. While it writes, a
//! thread-local flag is up: allocations the subscriber makes (formatting, the filter)
//! take the allocator's ordinary paths and their slow paths capture nothing, so tracing
//! never recurses and never waits on an allocator lock. `SLABSCOPE_LIMIT` does not
//! refuse the subscriber's allocations (they are still mapped and counted), so the OOM
//! that the limit causes can itself be traced.
//!
//! A flush hands its events, as plain values, to a sink (`slabscope-trace-sink`): the
//! subscriber there (a reloadable `Targets` filter and a `fmt` layer) is built lazily,
//! once, by the first batch, and used only for slabscope's own events (a scoped
//! dispatch, never the global default). A `log=` line through the control channel
//! replaces the filter (tracing-subscriber's reload layer). The `trace` feature links
//! the sink in; the preload (feature `trace-hook`: capture and flush only) registers one
//! that loads `libslabscope_trace.so` in a process that asks for tracing, so that a
//! process that does not ask never maps or relocates tracing-subscriber.
//!
//! Targets: `slabscope::superslab`, `slabscope::slot`, `slabscope::drain`,
//! `slabscope::large`, `slabscope::oom`, `slabscope::gpu`.
//!
//! - `emit`: capturing into the thread's buffer and the flush.
//! - `pending`: the buffers, a static pool (not thread-locals: they would enlarge every
//!   thread's static TLS block).
//! - `sink`: the sink a flush writes to ([`set_sink`]), and the filter in force.
//! - `off`: the same entry points without tracing built in: nothing is captured, and a
//!   `SLABSCOPE_LOG` or a `log=` filter is reported once on stderr as not built in.
//! - `turn`: whether the calling thread may run the subscriber, a plain value from the
//!   caller (tracing never looks at the allocator's thread state itself).

#[cfg(feature = "trace-hook")]
mod emit;
#[cfg(not(feature = "trace-hook"))]
mod off;
#[cfg(feature = "trace-hook")]
mod pending;
#[cfg(feature = "trace-hook")]
mod sink;
mod turn;

#[cfg(feature = "trace-hook")]
pub use emit::paused;
#[cfg(feature = "trace-hook")]
pub(crate) use emit::{after_interval, capture, emit_now, flush, in_subscriber};
#[cfg(not(feature = "trace-hook"))]
pub(crate) use off::{after_interval, capture, emit_now, flush, in_subscriber};
/// Most events one batch carries (a thread's buffer).
#[cfg(feature = "trace-hook")]
pub use pending::CAP as BATCH_MAX;
#[cfg(feature = "trace-hook")]
pub use sink::{set_sink, Batch, Filter, Readiness, Sink};
pub(crate) use turn::Turn;
