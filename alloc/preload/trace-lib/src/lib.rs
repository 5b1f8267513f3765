//! `libslabscope_trace.so`: slabscope's tracing sink (`slabscope-trace-sink`) behind the C
//! ABI of `slabscope_trace_sink::abi`. The `LD_PRELOAD` library loads it with `dlopen`
//! the first time a process asks for debug tracing (`SLABSCOPE_LOG`, or a `log=` filter
//! through the control channel), so that the processes that do not ask never map or
//! relocate tracing-subscriber. Its allocations go to the process's `malloc` (the
//! preload's), which the preload lets through while it is writing.
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod exports;

pub use exports::{slabscope_trace_fingerprint, slabscope_trace_write};
