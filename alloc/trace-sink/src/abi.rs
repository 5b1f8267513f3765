//! The C ABI between the `LD_PRELOAD` library and `libslabscope_trace.so`, the tracing
//! sink it loads with `dlopen` (built from `alloc/preload/trace-lib`). Plain values only:
//! events in their ring form, byte strings as pointer and length. Both sides are built
//! from this module; [`FINGERPRINT`] tells the loader a library of another layout.

use slabscope_proto::layout::EVENT_ARGS;
use slabscope_proto::EventKind;

use crate::batch::Batch;

/// One event: [`EventKind::code`] and [`EventKind::args`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawEvent {
    /// The kind's code.
    pub code: u16,
    /// Its arguments.
    pub args: [u64; EVENT_ARGS],
}

impl RawEvent {
    /// `kind` in its ring form.
    pub fn of(kind: &EventKind) -> Self {
        Self {
            code: kind.code(),
            args: kind.args(),
        }
    }

    /// The event again; `None` for an argument out of range (a caller's bug).
    pub fn kind(&self) -> Option<EventKind> {
        EventKind::decode(self.code, self.args).ok()
    }
}

/// Bytes the caller owns for the length of the call; `len` 0 is empty (`ptr` unread).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RawBytes {
    /// First byte.
    pub ptr: *const u8,
    /// Bytes.
    pub len: usize,
}

impl RawBytes {
    /// Nothing.
    pub const EMPTY: Self = Self {
        ptr: core::ptr::null(),
        len: 0,
    };

    /// `bytes`, borrowed for the call.
    pub fn of(bytes: &[u8]) -> Self {
        Self {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }
}

/// One call's worth: a [`crate::Batch`] on the C ABI.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RawBatch {
    /// `n` events.
    pub events: *const RawEvent,
    /// Events at `events`.
    pub n: usize,
    /// Events that found no room in a buffer.
    pub dropped: u64,
    /// 1 when `filter` and `source` are given (the first call, or the filter changed).
    pub has_filter: u8,
    /// The filter's text.
    pub filter: RawBytes,
    /// Where it was set (`SLABSCOPE_LOG=`...).
    pub source: RawBytes,
    /// [`crate::Filter::generation`].
    pub generation: u64,
    /// `SLABSCOPE_LOG_FILE`; empty for stderr.
    pub log_file: RawBytes,
}

impl RawBatch {
    /// `batch` on the C ABI, its events copied into `room` (as many as fit; the rest
    /// are counted as dropped). Borrows `batch`'s bytes: valid while `batch` and `room`
    /// are.
    pub fn of(batch: &Batch<'_>, room: &mut [RawEvent]) -> Self {
        let n = batch.events.len().min(room.len());
        for (r, k) in room.iter_mut().zip(batch.events) {
            *r = RawEvent::of(k);
        }
        let (filter, source, generation) = match batch.filter {
            Some(f) => (
                RawBytes::of(f.text),
                RawBytes::of(f.source.as_bytes()),
                f.generation,
            ),
            None => (RawBytes::EMPTY, RawBytes::EMPTY, 0),
        };
        Self {
            events: room.as_ptr(),
            n,
            dropped: batch.dropped + (batch.events.len() - n) as u64,
            has_filter: u8::from(batch.filter.is_some()),
            filter,
            source,
            generation,
            log_file: batch.log_file.map_or(RawBytes::EMPTY, RawBytes::of),
        }
    }
}

/// The library's `slabscope_trace_fingerprint`: returns [`FINGERPRINT`].
pub type FingerprintFn = unsafe extern "C" fn() -> u64;
/// The library's `slabscope_trace_write`: writes one batch; returns 1, or 0 when
/// tracing stays off (the first filter did not parse).
pub type WriteFn = unsafe extern "C" fn(batch: *const RawBatch) -> u8;

/// Name of the [`FingerprintFn`] symbol (NUL-terminated, for `dlsym`).
pub const FINGERPRINT_SYMBOL: &[u8] = b"slabscope_trace_fingerprint\0";
/// Name of the [`WriteFn`] symbol.
pub const WRITE_SYMBOL: &[u8] = b"slabscope_trace_write\0";
/// The library's file name (`dlopen` looks for it beside the preload, then in the
/// library search path).
pub const LIBRARY: &[u8] = b"libslabscope_trace.so";

/// The ABI's revision (bumped when a function's meaning changes), the layout of its
/// records, the segment protocol's version (which fixes the event codes) and this
/// crate's version: a library whose fingerprint differs is not used.
pub const FINGERPRINT: u64 = (1 << 56
    | (slabscope_proto::PROTOCOL_MAJOR as u64) << 48
    | (slabscope_proto::PROTOCOL_MINOR as u64) << 40
    | (EVENT_ARGS as u64) << 32
    | (core::mem::size_of::<RawBatch>() as u64) << 16
    | core::mem::size_of::<RawEvent>() as u64)
    ^ (version_hash() & 0xff) << 8;

/// This crate's version, hashed (FNV-1a, as the control channel hashes a filter).
const fn version_hash() -> u64 {
    slabscope_proto::event::control_log_hash(env!("CARGO_PKG_VERSION").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_survives_its_ring_form() {
        let kinds = [
            EventKind::SuperSlabMap {
                superslab: 0x7f00_0000_0000,
                mapped_bytes: 2 << 20,
            },
            EventKind::SlotAcquire {
                superslab: 0x7f00_0000_0000,
                slot: 3,
                class: 17,
                stage: 2,
            },
            EventKind::LargeUnmap {
                addr: 0x1234_5000,
                bytes: 1 << 20,
            },
        ];
        for k in kinds {
            assert_eq!(RawEvent::of(&k).kind(), Some(k));
        }
    }

    #[test]
    fn the_symbol_names_are_c_strings() {
        for s in [FINGERPRINT_SYMBOL, WRITE_SYMBOL] {
            assert_eq!(s.iter().position(|&b| b == 0), Some(s.len() - 1));
        }
    }
}
