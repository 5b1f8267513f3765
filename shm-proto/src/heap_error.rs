//! Heap errors (protocol 1.4): the misuse `SLABSCOPE_CHECK` catches, as plain values.
//!
//! This module declares the vocabulary once: the kinds, the calls that find them and
//! the reasons an invalid free has, with the names used on stderr, in JSON and in the
//! Prometheus labels. The allocator fills a [`HeapError`] and hands it to the writer;
//! readers get the same struct back.

/// What went wrong.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum HeapErrorKind {
    /// A block freed again: it sat in a magazine or on a slot's list, or two threads
    /// freed it at once.
    DoubleFree = 1,
    /// A free of what is not a live block start: a SuperSlab header address, an interior
    /// pointer (also one that would be a block start of another class), an address in a
    /// slot that holds no blocks, a block never handed out.
    InvalidFree = 2,
    /// A freed block written to before it was handed out again.
    WriteAfterFree = 3,
    /// A write past the requested size, into the block's slack.
    Overflow = 4,
}

impl HeapErrorKind {
    /// Every kind, in the order of their numbers (index `kind as usize - 1`).
    pub const ALL: [HeapErrorKind; 4] = [
        HeapErrorKind::DoubleFree,
        HeapErrorKind::InvalidFree,
        HeapErrorKind::WriteAfterFree,
        HeapErrorKind::Overflow,
    ];

    /// The name on stderr, in JSON and in Prometheus labels.
    pub const fn name(self) -> &'static str {
        match self {
            HeapErrorKind::DoubleFree => "double_free",
            HeapErrorKind::InvalidFree => "invalid_free",
            HeapErrorKind::WriteAfterFree => "write_after_free",
            HeapErrorKind::Overflow => "overflow",
        }
    }

    /// Decodes a kind number; `None` for numbers this reader does not know.
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => HeapErrorKind::DoubleFree,
            2 => HeapErrorKind::InvalidFree,
            3 => HeapErrorKind::WriteAfterFree,
            4 => HeapErrorKind::Overflow,
            _ => return None,
        })
    }
}

/// The call that found the error.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum HeapErrorOp {
    /// An allocation (`malloc`, `calloc`, `alloc`, ...): a write after free found when the
    /// block was handed out again.
    Alloc = 1,
    /// `free` (or `dealloc`).
    Free = 2,
    /// `realloc`.
    Realloc = 3,
}

impl HeapErrorOp {
    /// The name on stderr and in JSON.
    pub const fn name(self) -> &'static str {
        match self {
            HeapErrorOp::Alloc => "alloc",
            HeapErrorOp::Free => "free",
            HeapErrorOp::Realloc => "realloc",
        }
    }

    /// Decodes an op number.
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => HeapErrorOp::Alloc,
            2 => HeapErrorOp::Free,
            3 => HeapErrorOp::Realloc,
            _ => return None,
        })
    }
}

/// Why a free was invalid ([`HeapErrorKind::InvalidFree`]); [`InvalidReason::None`] for
/// the other kinds.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum InvalidReason {
    /// Not an invalid free.
    None = 0,
    /// The address lies in a SuperSlab's header slot.
    Header = 1,
    /// The address lies inside a block of the slot's class, not at its start.
    Interior = 2,
    /// The address lies in a slot that holds no blocks (UNUSED or EMPTY).
    NoBlocks = 3,
    /// A block start whose trailer (the check word at the block's end) is neither live
    /// nor freed: never handed out, or the trailer was overwritten by a write past the
    /// block's slack.
    NotLive = 4,
}

impl InvalidReason {
    /// The name in JSON (empty for [`InvalidReason::None`]).
    pub const fn name(self) -> &'static str {
        match self {
            InvalidReason::None => "",
            InvalidReason::Header => "header",
            InvalidReason::Interior => "interior",
            InvalidReason::NoBlocks => "no_blocks",
            InvalidReason::NotLive => "not_live",
        }
    }

    /// The explanation on stderr and in the inspector (empty for
    /// [`InvalidReason::None`]).
    pub const fn text(self) -> &'static str {
        match self {
            InvalidReason::None => "",
            InvalidReason::Header => "a SuperSlab header address",
            InvalidReason::Interior => "not the start of a block",
            InvalidReason::NoBlocks => "in a slot that holds no blocks",
            InvalidReason::NotLive => {
                "not a live block (never handed out, or its trailer was overwritten)"
            }
        }
    }

    /// Decodes a reason number (unknown numbers read as [`InvalidReason::None`]).
    pub const fn from_u8(v: u8) -> Self {
        match v {
            1 => InvalidReason::Header,
            2 => InvalidReason::Interior,
            3 => InvalidReason::NoBlocks,
            4 => InvalidReason::NotLive,
            _ => InvalidReason::None,
        }
    }
}

/// [`HeapError::class`] of a large (directly mapped) allocation.
pub const HEAP_ERROR_LARGE: u32 = u32::MAX;
/// [`HeapError::class`] of an address in no class's blocks (a header address, a slot
/// that holds no blocks).
pub const HEAP_ERROR_NO_CLASS: u32 = u32::MAX - 1;

/// One heap error, as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HeapError {
    /// What went wrong.
    pub kind: HeapErrorKind,
    /// The call that found it.
    pub op: HeapErrorOp,
    /// Why, for an invalid free.
    pub reason: InvalidReason,
    /// The address passed to the call (the block's start for a write after free).
    pub address: u64,
    /// The block's size class, [`HEAP_ERROR_LARGE`] or [`HEAP_ERROR_NO_CLASS`].
    pub class: u32,
    /// The block's size in bytes (0 when the address is in no block).
    pub block_bytes: u64,
    /// The bytes requested for the block, when known.
    pub requested: Option<u64>,
    /// The offset in the block of the first byte found changed (write after free,
    /// overflow).
    pub offset: Option<u64>,
    /// Kernel thread id of the thread that found it.
    pub thread: u32,
    /// Index of the block's sampled allocation site, when the block was sampled.
    pub site: Option<u32>,
    /// `CLOCK_MONOTONIC` ns when it was found (the writer fills it in).
    pub time_ns: u64,
}
