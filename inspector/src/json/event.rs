//! Ring events in JSON schema 1: the inspector's own form of `slabscope_proto::Event`.
//! Every conversion below is an exhaustive `match`, so that a kind or field changed in
//! the protocol stops the build here instead of changing the document.

use serde::Serialize;
use slabscope_proto::event::control_command;
use slabscope_proto::{event::ControlReason, DrainReason, EventKind};

/// One event.
#[derive(Debug, Serialize)]
pub struct Event {
    /// Sequence number (gap-free as written).
    pub seq: u64,
    /// `CLOCK_MONOTONIC` when it happened.
    pub time_ns: u64,
    /// Kernel tid of the thread that emitted it.
    pub tid: u32,
    /// `kind` and the kind's fields.
    #[serde(flatten)]
    pub detail: EventDetail,
}

/// What happened, tagged by `kind`.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventDetail {
    /// A magazine gave blocks back to their slots.
    MagazineDrain {
        /// Class.
        class: u32,
        /// Blocks given back.
        blocks: u64,
        /// `overflow`, `interval`, `thread_exit`, `requested` or `other`.
        reason: &'static str,
    },
    /// A thread acquired a slot for a class.
    SlotAcquire {
        /// SuperSlab base address.
        superslab_addr: u64,
        /// Slot index.
        slot: u32,
        /// Class.
        class: u32,
        /// 1: an EMPTY slot reused, 2: an UNUSED slot, 3: a new SuperSlab.
        stage: u8,
    },
    /// Every block of a slot came back.
    SlotEmpty {
        /// SuperSlab base address.
        superslab_addr: u64,
        /// Slot index.
        slot: u32,
        /// Class.
        class: u32,
    },
    /// An EMPTY slot was decommitted (back to UNUSED).
    SlotRelease {
        /// SuperSlab base address.
        superslab_addr: u64,
        /// Slot index.
        slot: u32,
        /// Class it had.
        class: u32,
    },
    /// A SuperSlab was mapped.
    SuperslabMap {
        /// Base address.
        superslab_addr: u64,
        /// Mapped bytes after it.
        mapped_bytes: u64,
    },
    /// Every slot of a SuperSlab is EMPTY or UNUSED.
    SuperslabEmpty {
        /// Base address.
        superslab_addr: u64,
    },
    /// An empty SuperSlab went back to the OS.
    SuperslabReturn {
        /// Base address.
        superslab_addr: u64,
        /// Mapped bytes after it.
        mapped_bytes: u64,
    },
    /// A large allocation was mapped.
    LargeMap {
        /// Address handed out.
        addr: u64,
        /// Mapped bytes.
        bytes: u64,
        /// Requested alignment.
        align_bytes: u64,
    },
    /// A large allocation was unmapped.
    LargeUnmap {
        /// Address freed.
        addr: u64,
        /// Unmapped bytes.
        bytes: u64,
    },
    /// An allocation failed for lack of memory.
    Oom {
        /// Requested size.
        request_bytes: u64,
        /// Requested alignment.
        align_bytes: u64,
        /// Class (null for a large request).
        class: Option<u32>,
        /// Mapped bytes when it failed.
        mapped_bytes: u64,
        /// Limit in force (0 = none).
        limit_bytes: u64,
    },
    /// A GPU pool allocation went to the device.
    GpuMiss {
        /// Pool id.
        pool: u32,
        /// Bucket size.
        bucket_bytes: u64,
        /// Requested size.
        request_bytes: u64,
    },
    /// A GPU request above the ceiling went straight to the device.
    GpuOversize {
        /// Pool id.
        pool: u32,
        /// Requested size.
        request_bytes: u64,
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
    /// A GPU allocation failed after trimming and retrying.
    GpuOom {
        /// Pool id.
        pool: u32,
        /// Requested size.
        request_bytes: u64,
        /// Live bytes in the pool.
        live_bytes: u64,
        /// Cached bytes in the pool.
        cached_bytes: u64,
        /// Free device memory.
        device_free_bytes: u64,
    },
    /// A thread exited and drained its magazines.
    ThreadExit {
        /// Blocks drained.
        blocks: u64,
    },
    /// A control file was read: acted on whole, or refused whole.
    ControlAck {
        /// The file's `seq` (0 when it could not be read).
        control_seq: u64,
        /// Whether every command in it was carried out.
        accepted: bool,
        /// The commands it held: `log`, `sample`, `drain`, `trim`.
        commands: Vec<&'static str>,
        /// Why it was refused (`accepted` when it was not).
        reason: &'static str,
        /// 1-based line of the refusal (0: the whole file).
        line: u16,
        /// Leak-sampling interval in force after it (0 = off).
        sample_interval_bytes: u64,
        /// FNV-1a hash of the log filter in force after it (0 = none).
        log_filter_hash: u64,
        /// SuperSlabs its `trim` returned.
        trimmed_superslabs: u64,
    },
    /// `SLABSCOPE_CHECK` found a heap error (the document's `heap_errors` holds the
    /// latest ones whole).
    HeapError {
        /// `double_free`, `invalid_free`, `write_after_free` or `overflow`.
        error: &'static str,
        /// `alloc`, `free` or `realloc`.
        op: &'static str,
        /// Why a free was invalid (null for the other kinds).
        reason: Option<&'static str>,
        /// The address passed to the call.
        addr: u64,
        /// The block's class (null for a large allocation or no block).
        class: Option<u32>,
        /// In a large allocation.
        large: bool,
        /// The block's size (0: no block).
        block_bytes: u64,
        /// Bytes requested for the block (null when not known).
        requested_bytes: Option<u64>,
        /// Offset of the first byte found changed (null when not known).
        offset_bytes: Option<u64>,
    },
    /// A kind this inspector does not know (from a newer writer).
    Unknown {
        /// Wire code.
        code: u16,
        /// Raw arguments.
        args: Vec<u64>,
    },
}

impl From<&slabscope_proto::Event> for Event {
    fn from(e: &slabscope_proto::Event) -> Self {
        Self {
            seq: e.seq,
            time_ns: e.time_ns,
            tid: e.thread,
            detail: detail(&e.kind),
        }
    }
}

fn detail(k: &EventKind) -> EventDetail {
    use EventDetail as D;
    match *k {
        EventKind::MagazineDrain {
            class,
            blocks,
            reason,
        } => D::MagazineDrain {
            class,
            blocks,
            reason: drain_reason(reason),
        },
        EventKind::SlotAcquire {
            superslab,
            slot,
            class,
            stage,
        } => D::SlotAcquire {
            superslab_addr: superslab,
            slot,
            class,
            stage,
        },
        EventKind::SlotEmpty {
            superslab,
            slot,
            class,
        } => D::SlotEmpty {
            superslab_addr: superslab,
            slot,
            class,
        },
        EventKind::SlotRelease {
            superslab,
            slot,
            class,
        } => D::SlotRelease {
            superslab_addr: superslab,
            slot,
            class,
        },
        EventKind::SuperSlabMap {
            superslab,
            mapped_bytes,
        } => D::SuperslabMap {
            superslab_addr: superslab,
            mapped_bytes,
        },
        EventKind::SuperSlabEmpty { superslab } => D::SuperslabEmpty {
            superslab_addr: superslab,
        },
        EventKind::SuperSlabReturn {
            superslab,
            mapped_bytes,
        } => D::SuperslabReturn {
            superslab_addr: superslab,
            mapped_bytes,
        },
        EventKind::LargeMap { addr, bytes, align } => D::LargeMap {
            addr,
            bytes,
            align_bytes: align,
        },
        EventKind::LargeUnmap { addr, bytes } => D::LargeUnmap { addr, bytes },
        EventKind::Oom {
            request,
            align,
            class,
            mapped_bytes,
            limit_bytes,
        } => D::Oom {
            request_bytes: request,
            align_bytes: align,
            class,
            mapped_bytes,
            limit_bytes,
        },
        EventKind::GpuMiss {
            pool,
            bucket_bytes,
            request,
        } => D::GpuMiss {
            pool,
            bucket_bytes,
            request_bytes: request,
        },
        EventKind::GpuOversize { pool, request } => D::GpuOversize {
            pool,
            request_bytes: request,
        },
        EventKind::GpuTrim {
            pool,
            bytes,
            buffers,
        } => D::GpuTrim {
            pool,
            bytes,
            buffers,
        },
        EventKind::GpuOom {
            pool,
            request,
            live_bytes,
            cached_bytes,
            device_free_bytes,
        } => D::GpuOom {
            pool,
            request_bytes: request,
            live_bytes,
            cached_bytes,
            device_free_bytes,
        },
        EventKind::ThreadExit { blocks } => D::ThreadExit { blocks },
        EventKind::ControlAck {
            seq,
            accepted,
            commands,
            reason,
            line,
            sample_bytes,
            log_hash,
            trimmed,
        } => D::ControlAck {
            control_seq: seq,
            accepted,
            commands: control_command::names(commands).collect(),
            reason: control_reason(reason),
            line,
            sample_interval_bytes: sample_bytes,
            log_filter_hash: log_hash,
            trimmed_superslabs: trimmed,
        },
        EventKind::HeapError { ref error } => {
            // The same fields as a `heap_errors[]` entry, the kind named `error` (`kind`
            // is the event's); its thread and time are the event's.
            let e = super::heap_error::HeapError::from(error);
            D::HeapError {
                error: e.kind,
                op: e.op,
                reason: e.reason,
                addr: e.addr,
                class: e.class,
                large: e.large,
                block_bytes: e.block_bytes,
                requested_bytes: e.requested_bytes,
                offset_bytes: e.offset_bytes,
            }
        }
        EventKind::Unknown { code, args } => D::Unknown {
            code,
            args: args.to_vec(),
        },
    }
}

const fn drain_reason(r: DrainReason) -> &'static str {
    match r {
        DrainReason::Overflow => "overflow",
        DrainReason::Interval => "interval",
        DrainReason::ThreadExit => "thread_exit",
        DrainReason::Requested => "requested",
        DrainReason::Other => "other",
    }
}

const fn control_reason(r: ControlReason) -> &'static str {
    match r {
        ControlReason::Accepted => "accepted",
        ControlReason::Syntax => "syntax",
        ControlReason::UnknownCommand => "unknown_command",
        ControlReason::BadValue => "bad_value",
        ControlReason::Duplicate => "duplicate",
        ControlReason::Empty => "empty",
        ControlReason::TooLarge => "too_large",
        ControlReason::NotOwner => "not_owner",
        ControlReason::NotRegular => "not_regular",
        ControlReason::Stale => "stale",
        ControlReason::Io => "io",
        ControlReason::Unavailable => "unavailable",
        ControlReason::Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_serialises_with_the_protocols_kind_name() {
        // The JSON `kind` is the protocol's stable name for every known kind.
        let kinds = crate::export::metrics::known_kinds();
        assert_eq!(
            kinds.len(),
            slabscope_proto::event::code::MAX_KNOWN as usize,
            "every known code decodes"
        );
        for kind in kinds {
            let code = kind.code();
            let e = slabscope_proto::Event {
                seq: 1,
                time_ns: 2,
                thread: 3,
                kind,
            };
            let v = serde_json::to_value(Event::from(&e)).unwrap();
            assert_eq!(v["kind"], kind.name(), "code {code}");
            assert_eq!(v["tid"], 3);
        }
    }

    #[test]
    fn control_commands_are_named() {
        let names = |bits| control_command::names(bits).collect::<Vec<_>>();
        assert_eq!(
            names(control_command::ALL),
            ["log", "sample", "drain", "trim", "check"]
        );
        assert!(names(0).is_empty());
    }
}
