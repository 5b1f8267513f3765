//! Heap errors (`SLABSCOPE_CHECK`, protocol 1.4) in JSON schema 1, converted from the
//! protocol's types by exhaustive destructuring (a field added there stops the build
//! here). Kind, op and reason names are the protocol's (`HeapErrorKind::name`, ...),
//! declared once.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use slabscope_proto::heap_error::{HEAP_ERROR_LARGE, HEAP_ERROR_NO_CLASS};
use slabscope_proto::InvalidReason;

use super::schema::StackFrame;
use crate::state::leaks::SiteName;

/// One heap error.
#[derive(Debug, Serialize)]
pub struct HeapError {
    /// `double_free`, `invalid_free`, `write_after_free` or `overflow`.
    pub kind: &'static str,
    /// The call that found it: `alloc`, `free` or `realloc`.
    pub op: &'static str,
    /// Why a free was invalid: `header`, `interior`, `no_blocks` or `not_live` (null for
    /// the other kinds).
    pub reason: Option<&'static str>,
    /// The address passed to the call (the block's start for a write after free).
    pub addr: u64,
    /// The block's size class (null for a large allocation or an address in no block).
    pub class: Option<u32>,
    /// The address is in a large (directly mapped) allocation.
    pub large: bool,
    /// The block's size (0 when the address is in no block).
    pub block_bytes: u64,
    /// Bytes requested for the block (null when not known).
    pub requested_bytes: Option<u64>,
    /// Offset in the block of the first byte found changed (null when not known).
    pub offset_bytes: Option<u64>,
    /// The thread that found it.
    pub tid: u32,
    /// The block's sampled allocation site (its record index; null when not sampled).
    pub site: Option<u32>,
    /// The site's function, named as a `leaks[]` entry's `function` (null when not
    /// sampled).
    pub site_function: Option<String>,
    /// That function's `file:line` (null when not known).
    pub site_location: Option<String>,
    /// The site's call stack, innermost first, as a `leaks[]` entry's `stack` (empty
    /// when not sampled).
    pub site_stack: Vec<StackFrame>,
    /// `CLOCK_MONOTONIC` when it was found.
    pub time_ns: u64,
}

/// A reason's name, null for [`InvalidReason::None`].
pub fn reason_name(r: InvalidReason) -> Option<&'static str> {
    (r != InvalidReason::None).then_some(r.name())
}

/// A class field: `(class, large)`.
pub fn class_of(class: u32) -> (Option<u32>, bool) {
    match class {
        HEAP_ERROR_LARGE => (None, true),
        HEAP_ERROR_NO_CLASS => (None, false),
        c => (Some(c), false),
    }
}

impl From<&slabscope_proto::HeapError> for HeapError {
    fn from(e: &slabscope_proto::HeapError) -> Self {
        let slabscope_proto::HeapError {
            kind,
            op,
            reason,
            address,
            class,
            block_bytes,
            requested,
            offset,
            thread,
            site,
            time_ns,
        } = *e;
        let (class, large) = class_of(class);
        Self {
            kind: kind.name(),
            op: op.name(),
            reason: reason_name(reason),
            addr: address,
            class,
            large,
            block_bytes,
            requested_bytes: requested,
            offset_bytes: offset,
            tid: thread,
            site,
            site_function: None,
            site_location: None,
            site_stack: Vec::new(),
            time_ns,
        }
    }
}

impl HeapError {
    /// The entry with its allocation site named (`None`: the site is not known).
    pub fn with_site(mut self, site: Option<&SiteName>) -> Self {
        if let Some(n) = site {
            self.site_function = Some(n.function.clone());
            self.site_location = n.location.clone();
            self.site_stack = n.frames.iter().map(StackFrame::from).collect();
        }
        self
    }
}

/// Heap errors found since the process started, one field per kind, named by
/// `HeapErrorKind::name` in the order of `HeapErrorKind::ALL` (all 0 for a segment
/// older than protocol 1.4).
#[derive(Debug)]
pub struct HeapErrorCounts(pub slabscope_proto::HeapErrorCounts);

impl Serialize for HeapErrorCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0 .0.len()))?;
        for (kind, n) in self.0.iter() {
            m.serialize_entry(kind.name(), &n)?;
        }
        m.end()
    }
}
