//! A heap error's report: one line on stderr (written without allocating, `errno` kept),
//! then the publishing sink (the segment's table, counters and ring); in
//! [`ABORT`](super::mode::ABORT) mode the process then aborts.
#![forbid(unsafe_code)]

use slabscope_proto::heap_error::{HEAP_ERROR_LARGE, HEAP_ERROR_NO_CLASS};
use slabscope_proto::{monotonic_ns, HeapError};

use crate::{pal, publish};

/// What the allocator did about a heap error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The bad free (or `realloc`) was not performed.
    NotPerformed,
    /// The block was freed anyway (an overflow found at its free).
    Freed,
    /// The block was handed out anyway (a write after free found at its allocation).
    HandedOut,
    /// The block was resized in place anyway (an overflow found at its `realloc`).
    Resized,
    /// The block left the quarantine for the allocator anyway (a write after free into
    /// its first bytes, found when a later free pushed it out).
    GivenBack,
}

impl Action {
    fn text(self) -> &'static [u8] {
        match self {
            Action::NotPerformed => b"not performed",
            Action::Freed => b"block freed",
            Action::HandedOut => b"block handed out",
            Action::Resized => b"block resized",
            Action::GivenBack => b"block given back",
        }
    }
}

/// Reports `e` (its `thread` and `time_ns` are filled in here) and what was done about
/// it; aborts in [`ABORT`](super::mode::ABORT) mode.
#[cold]
#[inline(never)]
pub fn report(mut e: HeapError, action: Action) {
    e.thread = pal::gettid();
    e.time_ns = monotonic_ns();
    let abort = super::mode::get() == super::mode::ABORT;
    let saved = pal::errno();
    write_line(&e, if abort { b"aborting" } else { action.text() });
    publish::heap_error(&e);
    if abort {
        pal::abort();
    }
    pal::set_errno(saved);
}

/// Writes the one-line report of `e`, ending with what was done (`action`):
///
/// ```text
/// slabscope: heap error: double_free of 0x7f3a1c0040 in free (class 4, block 64 B, requested 50 B, thread 4242): not performed
/// ```
pub fn write_line(e: &HeapError, action: &[u8]) {
    let mut addr = [0u8; 18];
    let mut off = [0u8; 20];
    let mut class = [0u8; 20];
    let mut block = [0u8; 20];
    let mut req = [0u8; 20];
    let mut thread = [0u8; 20];
    let mut site = [0u8; 20];
    let offset: &[&[u8]] = match e.offset {
        Some(o) => &[b" at offset ", pal::fmt_u64(o, &mut off)],
        None => &[],
    };
    let reason = e.reason.text().as_bytes();
    let reason_part: &[&[u8]] = if reason.is_empty() {
        &[]
    } else {
        &[b": ", reason]
    };
    let class_part: &[&[u8]] = match e.class {
        HEAP_ERROR_LARGE => &[b"large"],
        HEAP_ERROR_NO_CLASS => &[b"no class"],
        c => &[b"class ", pal::fmt_u64(u64::from(c), &mut class)],
    };
    let block_part: &[&[u8]] = if e.block_bytes != 0 {
        &[b", block ", pal::fmt_u64(e.block_bytes, &mut block), b" B"]
    } else {
        &[]
    };
    let req_part: &[&[u8]] = match e.requested {
        Some(r) => &[b", requested ", pal::fmt_u64(r, &mut req), b" B"],
        None => &[],
    };
    let site_part: &[&[u8]] = match e.site {
        Some(s) => &[b", sample site ", pal::fmt_u64(u64::from(s), &mut site)],
        None => &[],
    };
    let groups: [&[&[u8]]; 9] = [
        &[
            b"slabscope: heap error: ",
            e.kind.name().as_bytes(),
            b" of ",
            pal::fmt_hex(e.address as usize, &mut addr),
        ],
        offset,
        &[b" in ", e.op.name().as_bytes()],
        reason_part,
        &[b" ("],
        class_part,
        block_part,
        req_part,
        &[b", thread ", pal::fmt_u64(u64::from(e.thread), &mut thread)],
    ];
    let mut parts: [&[u8]; 28] = [b""; 28];
    let mut n = 0;
    let tail: [&[u8]; 2] = [b"): ", action];
    for &x in groups
        .iter()
        .flat_map(|g| g.iter())
        .chain(site_part.iter())
        .chain(tail.iter())
    {
        if n < parts.len() {
            parts[n] = x;
            n += 1;
        }
    }
    pal::write_stderr(&parts[..n]);
}
