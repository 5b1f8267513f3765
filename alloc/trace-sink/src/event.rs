//! One tracing event per [`EventKind`], under the targets `slabscope::superslab`,
//! `slabscope::slot`, `slabscope::drain`, `slabscope::large`, `slabscope::oom` and
//! `slabscope::gpu` (levels: OOMs `warn`, drains `trace`, the rest `debug`).

use slabscope_proto::EventKind;

/// An address, shown in hex.
struct Hex(u64);

impl core::fmt::Display for Hex {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// One tracing event for `kind` (levels: OOMs `warn`, drains `trace`, the rest `debug`).
pub(crate) fn event(kind: &EventKind) {
    use tracing::{debug, trace, warn};
    match *kind {
        EventKind::SuperSlabMap {
            superslab,
            mapped_bytes,
        } => {
            debug!(target: "slabscope::superslab", superslab = %Hex(superslab), mapped_bytes, "map")
        }
        EventKind::SuperSlabEmpty { superslab } => {
            debug!(target: "slabscope::superslab", superslab = %Hex(superslab), "empty")
        }
        EventKind::SuperSlabReturn {
            superslab,
            mapped_bytes,
        } => {
            debug!(target: "slabscope::superslab", superslab = %Hex(superslab), mapped_bytes, "return")
        }
        EventKind::SlotAcquire {
            superslab,
            slot,
            class,
            stage,
        } => {
            debug!(target: "slabscope::slot", class, stage, superslab = %Hex(superslab), slot, "acquire")
        }
        EventKind::SlotEmpty {
            superslab,
            slot,
            class,
        } => debug!(target: "slabscope::slot", class, superslab = %Hex(superslab), slot, "empty"),
        EventKind::SlotRelease {
            superslab,
            slot,
            class,
        } => debug!(target: "slabscope::slot", class, superslab = %Hex(superslab), slot, "release"),
        EventKind::MagazineDrain {
            class,
            blocks,
            reason,
        } => trace!(target: "slabscope::drain", class, blocks, reason = ?reason, "drain"),
        EventKind::ThreadExit { blocks } => {
            debug!(target: "slabscope::drain", blocks, "thread exit")
        }
        EventKind::LargeMap { addr, bytes, align } => {
            debug!(target: "slabscope::large", addr = %Hex(addr), bytes, align, "map")
        }
        EventKind::LargeUnmap { addr, bytes } => {
            debug!(target: "slabscope::large", addr = %Hex(addr), bytes, "unmap")
        }
        EventKind::Oom {
            request,
            align,
            class,
            mapped_bytes,
            limit_bytes,
        } => {
            warn!(target: "slabscope::oom", request, align, class = ?class, mapped_bytes, limit_bytes, "out of memory")
        }
        EventKind::GpuMiss {
            pool,
            bucket_bytes,
            request,
        } => debug!(target: "slabscope::gpu", pool, bucket_bytes, request, "miss"),
        EventKind::GpuOversize { pool, request } => {
            debug!(target: "slabscope::gpu", pool, request, "oversize")
        }
        EventKind::GpuTrim {
            pool,
            bytes,
            buffers,
        } => debug!(target: "slabscope::gpu", pool, bytes, buffers, "trim"),
        EventKind::GpuOom {
            pool,
            request,
            live_bytes,
            cached_bytes,
            device_free_bytes,
        } => {
            warn!(target: "slabscope::gpu", pool, request, live_bytes, cached_bytes, device_free_bytes, "out of device memory")
        }
        // Heap errors have their own line on stderr (`check::report`).
        EventKind::HeapError { .. } | EventKind::ControlAck { .. } | EventKind::Unknown { .. } => {}
    }
}
