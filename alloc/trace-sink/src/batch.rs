//! What the allocator hands a sink: a batch of events as plain values, and the sink's
//! two entry points. The allocator calls them at the end of a slow path, with no
//! allocator lock held and its re-entrancy flag up (a sink may allocate; its
//! allocations are not traced).

use slabscope_proto::EventKind;

/// A filter of targets and levels (`slabscope=debug`, `slabscope::drain=trace`...) and
/// where it came from, for the message when it does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filter<'a> {
    /// The filter's text.
    pub text: &'a [u8],
    /// Where it was set, as a message names it: `SLABSCOPE_LOG=`, say.
    pub source: &'a str,
    /// Which setting it is: 0 for `SLABSCOPE_LOG`, then increasing with each filter the
    /// control channel sets. A sink ignores a filter older than the one it has (two
    /// threads may hand it theirs in either order).
    pub generation: u64,
}

/// One flush's events.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// The events, oldest first.
    pub events: &'a [EventKind],
    /// Events that found no room in a buffer since the last batch.
    pub dropped: u64,
    /// The filter in force: given until a batch was written, and whenever it changed
    /// since the batch before.
    pub filter: Option<Filter<'a>>,
    /// `SLABSCOPE_LOG_FILE` (`None`: stderr), read when the sink starts.
    pub log_file: Option<&'a [u8]>,
}

/// Whether a sink can take a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Now.
    Now,
    /// Not yet (it is being loaded, or cannot be loaded at this moment): the events
    /// stay buffered.
    NotYet,
    /// Never (it cannot be loaded): tracing goes off.
    Never,
}

/// A sink's entry points.
#[derive(Debug)]
pub struct Sink {
    /// Whether it can take a batch; may load it.
    pub ready: fn() -> Readiness,
    /// Writes a batch; `false` when tracing must go off (the first filter did not parse).
    pub write: fn(&Batch<'_>) -> bool,
}
