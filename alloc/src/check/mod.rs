//! `SLABSCOPE_CHECK`: heap misuse caught at the allocator's boundary.
//!
//! In check mode the thread-local word points at a record on which every fast path misses
//! (`thread::ThreadState::checked`), so every allocation, free and `realloc` reaches the
//! front end's slow entries, which hand it to `checked`; the default mode's fast paths
//! are the same instructions as without this module.
//!
//! - [`block`]: the checked block layout (a trailer word at the end of every block
//!   holding a tag of its state and its slack, a canary in the slack, a pattern in
//!   freed blocks) and the reads and writes that set and verify it;
//! - [`mode`]: the switch (off, report, abort);
//! - [`quarantine`]: the small blocks a thread freed last, held back from reuse so
//!   that a second free of one is still seen;
//! - [`report`]: the stderr line of a heap error, handed on to the publishing sink.
//!
//! Nothing here calls back into the mechanism: `checked` passes addresses, block sizes
//! and classes in, and acts on what comes back.

pub mod block;
pub mod mode;
pub mod quarantine;
pub mod report;

pub use mode::on;
