//! Whether the calling thread may run the subscriber now: the caller works it out from
//! the thread's allocator state (a flush asks only when tracing is on), so that tracing
//! never reaches into the allocator's mechanism itself.
#![forbid(unsafe_code)]

/// What the calling thread's state allows a flush (the subscriber allocates).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Turn {
    /// The subscriber may run.
    Now,
    /// The thread's state is being created: the slow path around this one flushes.
    Later,
    /// The thread's state is gone (its thread-local storage is being torn down): the
    /// buffered events are dropped.
    Never,
}
