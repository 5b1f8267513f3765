//! Event kinds of the ring and their arguments.
//!
//! An event on the wire is a kind code, the emitting thread's tid, a monotonic time and
//! up to [`EVENT_ARGS`] `u64` arguments. [`EventKind`] is the typed form. A newer minor
//! version may add kinds; a reader decodes them as [`EventKind::Unknown`].

use crate::heap_error::HeapError;
use crate::heap_error_table::{pack_what, unpack_what, HEAP_ERROR_UNKNOWN};
use crate::layout::{EVENT_ARGS, NO_CLASS};

/// Why a magazine was drained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum DrainReason {
    /// The magazine was full on free: half went back to the slots.
    Overflow,
    /// `drain_interval` frees since the last drain.
    Interval,
    /// The thread exited.
    ThreadExit,
    /// Requested (API call, control channel, or before an OOM report).
    Requested,
    /// A code this reader does not know.
    Other,
}

impl DrainReason {
    /// Wire code.
    pub const fn code(self) -> u64 {
        match self {
            Self::Overflow => 1,
            Self::Interval => 2,
            Self::ThreadExit => 3,
            Self::Requested => 4,
            Self::Other => 0,
        }
    }

    /// Decodes a wire code (unknown codes become `Other`).
    pub const fn from_code(c: u64) -> Self {
        match c {
            1 => Self::Overflow,
            2 => Self::Interval,
            3 => Self::ThreadExit,
            4 => Self::Requested,
            _ => Self::Other,
        }
    }
}

/// Bits of [`EventKind::ControlAck`]'s `commands`: which commands a control file held.
pub mod control_command {
    /// `log=<filter>`: the tracing filter.
    pub const LOG: u16 = 1 << 0;
    /// `sample=<bytes>`: the leak-sampling rate.
    pub const SAMPLE: u16 = 1 << 1;
    /// `drain`: every thread drains its magazines.
    pub const DRAIN: u16 = 1 << 2;
    /// `trim`: cached empty SuperSlabs go back to the OS.
    pub const TRIM: u16 = 1 << 3;
    /// `check=1|abort`: heap checks report and go on, or report and abort (a process
    /// started with `SLABSCOPE_CHECK` on only; 1.4).
    pub const CHECK: u16 = 1 << 4;
    /// Every bit this version knows.
    pub const ALL: u16 = LOG | SAMPLE | DRAIN | TRIM | CHECK;
    /// Each bit and its command's name in the control file, in bit order.
    pub const NAMES: [(u16, &str); 5] = [
        (LOG, "log"),
        (SAMPLE, "sample"),
        (DRAIN, "drain"),
        (TRIM, "trim"),
        (CHECK, "check"),
    ];

    /// The names of the commands set in `bits`, in bit order.
    pub fn names(bits: u16) -> impl Iterator<Item = &'static str> {
        NAMES
            .into_iter()
            .filter(move |(bit, _)| bits & bit != 0)
            .map(|(_, name)| name)
    }
}

/// Why a control file was refused (`Accepted` when it was not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum ControlReason {
    /// Not refused.
    Accepted,
    /// A line is not `seq=<n>`, `<command>` or `<command>=<value>`, or `seq=` is missing.
    Syntax,
    /// A command this allocator does not know.
    UnknownCommand,
    /// A command's value is out of range or not of its syntax.
    BadValue,
    /// The same command twice in one file.
    Duplicate,
    /// The file holds no command.
    Empty,
    /// The file is larger than the allocator reads (4 KiB).
    TooLarge,
    /// The file is not owned by the process's effective user.
    NotOwner,
    /// A symbolic link or anything but a regular file.
    NotRegular,
    /// Its `seq` is not newer than the process start and the last file acted on.
    Stale,
    /// The file could not be opened or read.
    Io,
    /// A command the process cannot carry out: `check=` in a process that started
    /// without heap checks (1.4).
    Unavailable,
    /// A code this reader does not know.
    Other,
}

impl ControlReason {
    /// Wire code.
    pub const fn code(self) -> u64 {
        match self {
            Self::Accepted => 0,
            Self::Syntax => 1,
            Self::UnknownCommand => 2,
            Self::BadValue => 3,
            Self::Duplicate => 4,
            Self::Empty => 5,
            Self::TooLarge => 6,
            Self::NotOwner => 7,
            Self::NotRegular => 8,
            Self::Stale => 9,
            Self::Io => 10,
            Self::Unavailable => 11,
            Self::Other => 0xffff,
        }
    }

    /// Decodes a wire code (unknown codes become `Other`).
    pub const fn from_code(c: u64) -> Self {
        match c {
            0 => Self::Accepted,
            1 => Self::Syntax,
            2 => Self::UnknownCommand,
            3 => Self::BadValue,
            4 => Self::Duplicate,
            5 => Self::Empty,
            6 => Self::TooLarge,
            7 => Self::NotOwner,
            8 => Self::NotRegular,
            9 => Self::Stale,
            10 => Self::Io,
            11 => Self::Unavailable,
            _ => Self::Other,
        }
    }

    /// A short human-readable explanation.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Syntax => "syntax error",
            Self::UnknownCommand => "unknown command",
            Self::BadValue => "bad value",
            Self::Duplicate => "command given twice",
            Self::Empty => "no command",
            Self::TooLarge => "file too large",
            Self::NotOwner => "file not owned by the process's user",
            Self::NotRegular => "not a regular file",
            Self::Stale => "stale sequence number",
            Self::Io => "file could not be read",
            Self::Unavailable => "not available in this process",
            Self::Other => "unknown reason",
        }
    }
}

/// The hash a [`EventKind::ControlAck`] carries for the log filter in force: 64-bit
/// FNV-1a of its bytes, never 0 (0 means "no filter set").
pub const fn control_log_hash(filter: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < filter.len() {
        h ^= filter[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    if h == 0 {
        1
    } else {
        h
    }
}

/// A decoded event. Addresses are in the writer's address space; `class` is `None` where
/// the event concerns no size class (large allocations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(tag = "kind", rename_all = "snake_case")
)]
pub enum EventKind {
    /// A magazine gave `blocks` blocks of `class` back to their slots.
    MagazineDrain {
        /// Size class.
        class: u32,
        /// Blocks returned.
        blocks: u64,
        /// Why.
        reason: DrainReason,
    },
    /// A slot was acquired for `class` at `stage` (1 EMPTY reuse, 2 UNUSED, 3 new SuperSlab).
    SlotAcquire {
        /// SuperSlab base address.
        superslab: u64,
        /// Slot index (0..32).
        slot: u32,
        /// Size class.
        class: u32,
        /// Acquire stage, 1..=3.
        stage: u8,
    },
    /// Every block of a slot came back: the slot became EMPTY.
    SlotEmpty {
        /// SuperSlab base address.
        superslab: u64,
        /// Slot index.
        slot: u32,
        /// Size class.
        class: u32,
    },
    /// An EMPTY slot was released (decommitted, back to UNUSED).
    SlotRelease {
        /// SuperSlab base address.
        superslab: u64,
        /// Slot index.
        slot: u32,
        /// Size class it had.
        class: u32,
    },
    /// A new SuperSlab was mapped.
    SuperSlabMap {
        /// Base address.
        superslab: u64,
        /// Total mapped bytes after the map.
        mapped_bytes: u64,
    },
    /// Every slot of a SuperSlab is EMPTY or UNUSED.
    SuperSlabEmpty {
        /// Base address.
        superslab: u64,
    },
    /// An empty SuperSlab was returned to the OS (`munmap`).
    SuperSlabReturn {
        /// Base address.
        superslab: u64,
        /// Total mapped bytes after the return.
        mapped_bytes: u64,
    },
    /// A large allocation was mapped directly.
    LargeMap {
        /// Address returned to the user.
        addr: u64,
        /// Bytes mapped.
        bytes: u64,
        /// Requested alignment.
        align: u64,
    },
    /// A large allocation was unmapped.
    LargeUnmap {
        /// Address that was freed.
        addr: u64,
        /// Bytes unmapped.
        bytes: u64,
    },
    /// An allocation failed for lack of memory (mmap failure or `SLABSCOPE_LIMIT`).
    Oom {
        /// Requested size.
        request: u64,
        /// Requested alignment.
        align: u64,
        /// Size class, `None` for a large request.
        class: Option<u32>,
        /// Mapped bytes when it failed.
        mapped_bytes: u64,
        /// The limit in force (0 = none).
        limit_bytes: u64,
    },
    /// A GPU pool allocation missed its bucket's cache and went to the device.
    GpuMiss {
        /// Pool id.
        pool: u32,
        /// Bucket size.
        bucket_bytes: u64,
        /// Requested size.
        request: u64,
    },
    /// A GPU pool request above the ceiling went straight to the device.
    GpuOversize {
        /// Pool id.
        pool: u32,
        /// Requested size.
        request: u64,
    },
    /// A GPU pool released cached buffers.
    GpuTrim {
        /// Pool id.
        pool: u32,
        /// Bytes released.
        bytes: u64,
        /// Buffers released.
        buffers: u64,
    },
    /// A GPU pool allocation failed after trimming and retrying.
    GpuOom {
        /// Pool id.
        pool: u32,
        /// Requested size.
        request: u64,
        /// Live bytes in the pool.
        live_bytes: u64,
        /// Cached bytes in the pool.
        cached_bytes: u64,
        /// Free device memory reported by the device.
        device_free_bytes: u64,
    },
    /// A thread exited and drained its magazines.
    ThreadExit {
        /// Blocks drained.
        blocks: u64,
    },
    /// A control file (`slabscope.<pid>.ctl`) was read: acted on whole, or refused whole.
    ControlAck {
        /// The file's `seq` (0 when it could not be read).
        seq: u64,
        /// Whether every command in it was carried out.
        accepted: bool,
        /// The commands it held ([`control_command`] bits; 0 when unparsed).
        commands: u16,
        /// Why it was refused (`Accepted` when it was not).
        reason: ControlReason,
        /// 1-based line of the refusal (0: the whole file).
        line: u16,
        /// Leak-sampling rate in force after it, bytes (0 = off).
        sample_bytes: u64,
        /// [`control_log_hash`] of the log filter in force after it (0 = none set).
        log_hash: u64,
        /// SuperSlabs its `trim` returned to the OS.
        trimmed: u64,
    },
    /// `SLABSCOPE_CHECK` found a heap error (protocol 1.4); the thread is the event's.
    /// The header's heap error table holds the latest ones whole (with the sample site).
    HeapError {
        /// The error (`thread` and `time_ns` 0: the event's own apply; no `site`, which
        /// only the table keeps; see [`HeapError::as_event`]).
        error: HeapError,
    },
    /// A kind this reader does not know (written by a newer minor version).
    Unknown {
        /// Kind code.
        code: u16,
        /// Raw arguments.
        args: [u64; EVENT_ARGS],
    },
}

/// Wire codes of the event kinds.
pub mod code {
    /// [`super::EventKind::MagazineDrain`].
    pub const MAGAZINE_DRAIN: u16 = 1;
    /// [`super::EventKind::SlotAcquire`].
    pub const SLOT_ACQUIRE: u16 = 2;
    /// [`super::EventKind::SlotEmpty`].
    pub const SLOT_EMPTY: u16 = 3;
    /// [`super::EventKind::SlotRelease`].
    pub const SLOT_RELEASE: u16 = 4;
    /// [`super::EventKind::SuperSlabMap`].
    pub const SUPERSLAB_MAP: u16 = 5;
    /// [`super::EventKind::SuperSlabEmpty`].
    pub const SUPERSLAB_EMPTY: u16 = 6;
    /// [`super::EventKind::SuperSlabReturn`].
    pub const SUPERSLAB_RETURN: u16 = 7;
    /// [`super::EventKind::LargeMap`].
    pub const LARGE_MAP: u16 = 8;
    /// [`super::EventKind::LargeUnmap`].
    pub const LARGE_UNMAP: u16 = 9;
    /// [`super::EventKind::Oom`].
    pub const OOM: u16 = 10;
    /// [`super::EventKind::GpuMiss`].
    pub const GPU_MISS: u16 = 11;
    /// [`super::EventKind::GpuOversize`].
    pub const GPU_OVERSIZE: u16 = 12;
    /// [`super::EventKind::GpuTrim`].
    pub const GPU_TRIM: u16 = 13;
    /// [`super::EventKind::GpuOom`].
    pub const GPU_OOM: u16 = 14;
    /// [`super::EventKind::ThreadExit`].
    pub const THREAD_EXIT: u16 = 15;
    /// [`super::EventKind::ControlAck`] (protocol 1.1).
    pub const CONTROL_ACK: u16 = 16;
    /// [`super::EventKind::HeapError`] (protocol 1.4).
    pub const HEAP_ERROR: u16 = 17;
    /// Highest code this version knows.
    pub const MAX_KNOWN: u16 = 17;
}

fn class_arg(v: u64) -> Option<u32> {
    if v == NO_CLASS {
        None
    } else {
        Some(v as u32)
    }
}

impl EventKind {
    /// The wire code of this kind.
    pub const fn code(&self) -> u16 {
        match self {
            Self::MagazineDrain { .. } => code::MAGAZINE_DRAIN,
            Self::SlotAcquire { .. } => code::SLOT_ACQUIRE,
            Self::SlotEmpty { .. } => code::SLOT_EMPTY,
            Self::SlotRelease { .. } => code::SLOT_RELEASE,
            Self::SuperSlabMap { .. } => code::SUPERSLAB_MAP,
            Self::SuperSlabEmpty { .. } => code::SUPERSLAB_EMPTY,
            Self::SuperSlabReturn { .. } => code::SUPERSLAB_RETURN,
            Self::LargeMap { .. } => code::LARGE_MAP,
            Self::LargeUnmap { .. } => code::LARGE_UNMAP,
            Self::Oom { .. } => code::OOM,
            Self::GpuMiss { .. } => code::GPU_MISS,
            Self::GpuOversize { .. } => code::GPU_OVERSIZE,
            Self::GpuTrim { .. } => code::GPU_TRIM,
            Self::GpuOom { .. } => code::GPU_OOM,
            Self::ThreadExit { .. } => code::THREAD_EXIT,
            Self::ControlAck { .. } => code::CONTROL_ACK,
            Self::HeapError { .. } => code::HEAP_ERROR,
            Self::Unknown { code, .. } => *code,
        }
    }

    /// A short stable name (`"magazine_drain"`, ...) for filters, logs and JSON.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::MagazineDrain { .. } => "magazine_drain",
            Self::SlotAcquire { .. } => "slot_acquire",
            Self::SlotEmpty { .. } => "slot_empty",
            Self::SlotRelease { .. } => "slot_release",
            Self::SuperSlabMap { .. } => "superslab_map",
            Self::SuperSlabEmpty { .. } => "superslab_empty",
            Self::SuperSlabReturn { .. } => "superslab_return",
            Self::LargeMap { .. } => "large_map",
            Self::LargeUnmap { .. } => "large_unmap",
            Self::Oom { .. } => "oom",
            Self::GpuMiss { .. } => "gpu_miss",
            Self::GpuOversize { .. } => "gpu_oversize",
            Self::GpuTrim { .. } => "gpu_trim",
            Self::GpuOom { .. } => "gpu_oom",
            Self::ThreadExit { .. } => "thread_exit",
            Self::ControlAck { .. } => "control_ack",
            Self::HeapError { .. } => "heap_error",
            Self::Unknown { .. } => "unknown",
        }
    }

    /// Encodes the arguments for the wire.
    pub fn args(&self) -> [u64; EVENT_ARGS] {
        match *self {
            Self::MagazineDrain {
                class,
                blocks,
                reason,
            } => [class as u64, blocks, reason.code(), 0, 0],
            Self::SlotAcquire {
                superslab,
                slot,
                class,
                stage,
            } => [superslab, slot as u64, class as u64, stage as u64, 0],
            Self::SlotEmpty {
                superslab,
                slot,
                class,
            }
            | Self::SlotRelease {
                superslab,
                slot,
                class,
            } => [superslab, slot as u64, class as u64, 0, 0],
            Self::SuperSlabMap {
                superslab,
                mapped_bytes,
            }
            | Self::SuperSlabReturn {
                superslab,
                mapped_bytes,
            } => [superslab, mapped_bytes, 0, 0, 0],
            Self::SuperSlabEmpty { superslab } => [superslab, 0, 0, 0, 0],
            Self::LargeMap { addr, bytes, align } => [addr, bytes, align, 0, 0],
            Self::LargeUnmap { addr, bytes } => [addr, bytes, 0, 0, 0],
            Self::Oom {
                request,
                align,
                class,
                mapped_bytes,
                limit_bytes,
            } => [
                request,
                align,
                class.map_or(NO_CLASS, |c| c as u64),
                mapped_bytes,
                limit_bytes,
            ],
            Self::GpuMiss {
                pool,
                bucket_bytes,
                request,
            } => [pool as u64, bucket_bytes, request, 0, 0],
            Self::GpuOversize { pool, request } => [pool as u64, request, 0, 0, 0],
            Self::GpuTrim {
                pool,
                bytes,
                buffers,
            } => [pool as u64, bytes, buffers, 0, 0],
            Self::GpuOom {
                pool,
                request,
                live_bytes,
                cached_bytes,
                device_free_bytes,
            } => [
                pool as u64,
                request,
                live_bytes,
                cached_bytes,
                device_free_bytes,
            ],
            Self::ThreadExit { blocks } => [blocks, 0, 0, 0, 0],
            Self::ControlAck {
                seq,
                accepted,
                commands,
                reason,
                line,
                sample_bytes,
                log_hash,
                trimmed,
            } => [
                seq,
                accepted as u64
                    | (commands as u64) << 16
                    | (reason.code() & 0xffff) << 32
                    | (line as u64) << 48,
                sample_bytes,
                log_hash,
                trimmed,
            ],
            Self::HeapError { error: e } => [
                e.address,
                e.block_bytes,
                e.requested.unwrap_or(HEAP_ERROR_UNKNOWN),
                e.offset.unwrap_or(HEAP_ERROR_UNKNOWN),
                u64::from(pack_what(e.kind, e.op, e.reason)) | u64::from(e.class) << 32,
            ],
            Self::Unknown { args, .. } => args,
        }
    }

    /// Decodes a kind code and its arguments.
    ///
    /// Returns `Err` with a reason when a known kind carries an argument out of range
    /// (a corrupt or hostile segment); unknown codes decode as `Unknown`.
    pub fn decode(code: u16, a: [u64; EVENT_ARGS]) -> Result<Self, &'static str> {
        let u32_arg = |v: u64, what: &'static str| u32::try_from(v).map_err(|_| what);
        Ok(match code {
            code::MAGAZINE_DRAIN => Self::MagazineDrain {
                class: u32_arg(a[0], "drain class out of range")?,
                blocks: a[1],
                reason: DrainReason::from_code(a[2]),
            },
            code::SLOT_ACQUIRE => {
                let stage = match a[3] {
                    1..=3 => a[3] as u8,
                    _ => return Err("slot acquire stage not in 1..=3"),
                };
                Self::SlotAcquire {
                    superslab: a[0],
                    slot: slot_arg(a[1])?,
                    class: u32_arg(a[2], "slot class out of range")?,
                    stage,
                }
            }
            code::SLOT_EMPTY => Self::SlotEmpty {
                superslab: a[0],
                slot: slot_arg(a[1])?,
                class: u32_arg(a[2], "slot class out of range")?,
            },
            code::SLOT_RELEASE => Self::SlotRelease {
                superslab: a[0],
                slot: slot_arg(a[1])?,
                class: u32_arg(a[2], "slot class out of range")?,
            },
            code::SUPERSLAB_MAP => Self::SuperSlabMap {
                superslab: a[0],
                mapped_bytes: a[1],
            },
            code::SUPERSLAB_EMPTY => Self::SuperSlabEmpty { superslab: a[0] },
            code::SUPERSLAB_RETURN => Self::SuperSlabReturn {
                superslab: a[0],
                mapped_bytes: a[1],
            },
            code::LARGE_MAP => Self::LargeMap {
                addr: a[0],
                bytes: a[1],
                align: a[2],
            },
            code::LARGE_UNMAP => Self::LargeUnmap {
                addr: a[0],
                bytes: a[1],
            },
            code::OOM => Self::Oom {
                request: a[0],
                align: a[1],
                class: class_arg(a[2]),
                mapped_bytes: a[3],
                limit_bytes: a[4],
            },
            code::GPU_MISS => Self::GpuMiss {
                pool: u32_arg(a[0], "gpu pool id out of range")?,
                bucket_bytes: a[1],
                request: a[2],
            },
            code::GPU_OVERSIZE => Self::GpuOversize {
                pool: u32_arg(a[0], "gpu pool id out of range")?,
                request: a[1],
            },
            code::GPU_TRIM => Self::GpuTrim {
                pool: u32_arg(a[0], "gpu pool id out of range")?,
                bytes: a[1],
                buffers: a[2],
            },
            code::GPU_OOM => Self::GpuOom {
                pool: u32_arg(a[0], "gpu pool id out of range")?,
                request: a[1],
                live_bytes: a[2],
                cached_bytes: a[3],
                device_free_bytes: a[4],
            },
            code::THREAD_EXIT => Self::ThreadExit { blocks: a[0] },
            code::CONTROL_ACK => {
                let bits = a[1];
                if bits & 0xfffe != 0 {
                    return Err("control ack flags out of range");
                }
                let accepted = bits & 1 == 1;
                let reason = ControlReason::from_code((bits >> 32) & 0xffff);
                if accepted != (reason == ControlReason::Accepted) {
                    return Err("control ack accepted with a refusal reason");
                }
                Self::ControlAck {
                    seq: a[0],
                    accepted,
                    commands: (bits >> 16) as u16,
                    reason,
                    line: (bits >> 48) as u16,
                    sample_bytes: a[2],
                    log_hash: a[3],
                    trimmed: a[4],
                }
            }
            code::HEAP_ERROR => {
                let (kind, op, reason) = unpack_what(a[4] as u32)?;
                let known = |v: u64| (v != HEAP_ERROR_UNKNOWN).then_some(v);
                let error = HeapError {
                    kind,
                    op,
                    reason,
                    address: a[0],
                    class: (a[4] >> 32) as u32,
                    block_bytes: a[1],
                    requested: known(a[2]),
                    offset: known(a[3]),
                    thread: 0,
                    site: None,
                    time_ns: 0,
                };
                Self::HeapError { error }
            }
            0 => return Err("event kind 0 is not a kind"),
            other => Self::Unknown {
                code: other,
                args: a,
            },
        })
    }
}

fn slot_arg(v: u64) -> Result<u32, &'static str> {
    if v < crate::layout::SLOTS_PER_SUPERSLAB as u64 {
        Ok(v as u32)
    } else {
        Err("slot index out of range")
    }
}

/// One event as read from the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Event {
    /// Sequence number (0-based, gap-free as written).
    pub seq: u64,
    /// `CLOCK_MONOTONIC` ns when it happened.
    pub time_ns: u64,
    /// Kernel tid of the thread that emitted it.
    pub thread: u32,
    /// What happened.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub kind: EventKind,
}

impl HeapError {
    /// The error as [`EventKind::HeapError`] carries it: `thread` and `time_ns` 0 (the
    /// event has its own) and no `site` (the table holds it).
    pub fn as_event(&self) -> EventKind {
        EventKind::HeapError {
            error: HeapError {
                thread: 0,
                site: None,
                time_ns: 0,
                ..*self
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap_error::{HeapErrorKind, HeapErrorOp, InvalidReason};

    fn all_kinds() -> Vec<EventKind> {
        vec![
            EventKind::MagazineDrain {
                class: 3,
                blocks: 17,
                reason: DrainReason::Interval,
            },
            EventKind::SlotAcquire {
                superslab: 0x20_0000,
                slot: 31,
                class: 2,
                stage: 3,
            },
            EventKind::SlotEmpty {
                superslab: 0x40_0000,
                slot: 0,
                class: 9,
            },
            EventKind::SlotRelease {
                superslab: 0x40_0000,
                slot: 5,
                class: 9,
            },
            EventKind::SuperSlabMap {
                superslab: 0x60_0000,
                mapped_bytes: 4 << 20,
            },
            EventKind::SuperSlabEmpty {
                superslab: 0x60_0000,
            },
            EventKind::SuperSlabReturn {
                superslab: 0x60_0000,
                mapped_bytes: 2 << 20,
            },
            EventKind::LargeMap {
                addr: 0x7000_0000,
                bytes: 1 << 20,
                align: 4096,
            },
            EventKind::LargeUnmap {
                addr: 0x7000_0000,
                bytes: 1 << 20,
            },
            EventKind::Oom {
                request: 99,
                align: 8,
                class: Some(4),
                mapped_bytes: 1 << 30,
                limit_bytes: 1 << 30,
            },
            EventKind::Oom {
                request: 1 << 40,
                align: 8,
                class: None,
                mapped_bytes: 0,
                limit_bytes: 0,
            },
            EventKind::GpuMiss {
                pool: 1,
                bucket_bytes: 8192,
                request: 5000,
            },
            EventKind::GpuOversize {
                pool: 1,
                request: 1 << 30,
            },
            EventKind::GpuTrim {
                pool: 1,
                bytes: 1 << 20,
                buffers: 4,
            },
            EventKind::GpuOom {
                pool: 2,
                request: 1 << 30,
                live_bytes: 5,
                cached_bytes: 6,
                device_free_bytes: 7,
            },
            EventKind::ThreadExit { blocks: 12 },
            EventKind::ControlAck {
                seq: 1_700_000_000_000_000_000,
                accepted: true,
                commands: control_command::ALL,
                reason: ControlReason::Accepted,
                line: 0,
                sample_bytes: 512 << 10,
                log_hash: control_log_hash(b"slabscope=debug"),
                trimmed: 3,
            },
            EventKind::ControlAck {
                seq: 9,
                accepted: false,
                commands: 0,
                reason: ControlReason::BadValue,
                line: 3,
                sample_bytes: 0,
                log_hash: 0,
                trimmed: 0,
            },
            HeapError {
                kind: HeapErrorKind::InvalidFree,
                op: HeapErrorOp::Realloc,
                reason: InvalidReason::Interior,
                address: 0x7f3a_1c00_4010,
                class: 4,
                block_bytes: 64,
                requested: Some(50),
                offset: None,
                thread: 0,
                site: None,
                time_ns: 0,
            }
            .as_event(),
            HeapError {
                kind: HeapErrorKind::Overflow,
                op: HeapErrorOp::Free,
                reason: InvalidReason::None,
                address: 0x7e00_0000_0000,
                class: crate::heap_error::HEAP_ERROR_LARGE,
                block_bytes: 1 << 20,
                requested: None,
                offset: Some(1 << 20),
                thread: 0,
                site: None,
                time_ns: 0,
            }
            .as_event(),
        ]
    }

    #[test]
    fn every_kind_round_trips_through_its_wire_form() {
        let kinds = all_kinds();
        assert_eq!(
            kinds.iter().map(|k| k.code()).max(),
            Some(code::MAX_KNOWN),
            "the list covers every known code"
        );
        for k in kinds {
            assert_eq!(EventKind::decode(k.code(), k.args()), Ok(k), "{}", k.name());
        }
    }

    #[test]
    fn unknown_codes_decode_as_unknown_and_bad_arguments_are_refused() {
        assert_eq!(
            EventKind::decode(200, [1, 2, 3, 4, 5]),
            Ok(EventKind::Unknown {
                code: 200,
                args: [1, 2, 3, 4, 5]
            })
        );
        assert!(EventKind::decode(0, [0; 5]).is_err());
        assert!(EventKind::decode(code::SLOT_ACQUIRE, [0, 32, 0, 1, 0]).is_err());
        assert!(EventKind::decode(code::SLOT_ACQUIRE, [0, 1, 0, 4, 0]).is_err());
        assert!(EventKind::decode(code::MAGAZINE_DRAIN, [u64::MAX, 0, 0, 0, 0]).is_err());
        // A heap error: an unknown kind, op or reason, or stray bits, is corrupt.
        assert!(EventKind::decode(code::HEAP_ERROR, [0, 0, 0, 0, 0x0102]).is_ok());
        assert!(EventKind::decode(code::HEAP_ERROR, [0, 0, 0, 0, 0x0105]).is_err());
        assert!(EventKind::decode(code::HEAP_ERROR, [0, 0, 0, 0, 0x0401]).is_err());
        assert!(EventKind::decode(code::HEAP_ERROR, [0, 0, 0, 0, 0x05_0101]).is_err());
        assert!(EventKind::decode(code::HEAP_ERROR, [0, 0, 0, 0, 0x0100_0101]).is_err());
        // A control ack: stray flag bits, or "accepted" with a refusal reason, are corrupt.
        assert!(EventKind::decode(code::CONTROL_ACK, [1, 2, 0, 0, 0]).is_err());
        assert!(EventKind::decode(code::CONTROL_ACK, [1, 1 | 3 << 32, 0, 0, 0]).is_err());
        assert!(EventKind::decode(code::CONTROL_ACK, [1, 0, 0, 0, 0]).is_err());
        assert_eq!(
            EventKind::decode(code::CONTROL_ACK, [1, 77 << 32, 0, 0, 0]),
            Ok(EventKind::ControlAck {
                seq: 1,
                accepted: false,
                commands: 0,
                reason: ControlReason::Other,
                line: 0,
                sample_bytes: 0,
                log_hash: 0,
                trimmed: 0,
            })
        );
    }

    #[test]
    fn log_hash_is_fnv1a_and_never_zero() {
        assert_eq!(control_log_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(control_log_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(
            control_log_hash(b"off"),
            control_log_hash(b"slabscope=debug")
        );
    }
}
