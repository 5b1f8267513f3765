//! `SlabScope`: the `GlobalAlloc` front end.
#![forbid(unsafe_code)]

/// The slabscope allocator. Use it as the global allocator:
///
/// ```no_run
/// #[global_allocator]
/// static A: slabscope::SlabScope = slabscope::SlabScope::new();
/// # fn main() {}
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SlabScope {
    pub(crate) publish_default: bool,
}

impl SlabScope {
    /// The allocator, publishing by default (`SLABSCOPE_PUBLISH=0` turns it off).
    pub const fn new() -> Self {
        Self {
            publish_default: true,
        }
    }

    /// Sets whether this binary publishes when `SLABSCOPE_PUBLISH` is unset.
    /// `SLABSCOPE_PUBLISH` in the environment always wins.
    pub const fn publish_by_default(self, on: bool) -> Self {
        Self {
            publish_default: on,
        }
    }
}

impl Default for SlabScope {
    fn default() -> Self {
        Self::new()
    }
}
