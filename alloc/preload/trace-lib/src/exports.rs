//! The two functions the preload looks up with `dlsym`
//! (`slabscope_trace_sink::abi::FINGERPRINT_SYMBOL` and `WRITE_SYMBOL`).

use std::panic::{catch_unwind, AssertUnwindSafe};

use slabscope_trace_sink::abi::{RawBatch, RawBytes, RawEvent, FINGERPRINT};
use slabscope_trace_sink::{write, Batch, Filter};

/// `abi::FINGERPRINT_SYMBOL`: the layout this library was built with.
#[no_mangle]
pub extern "C" fn slabscope_trace_fingerprint() -> u64 {
    FINGERPRINT
}

/// `abi::WRITE_SYMBOL`: writes `batch` through the subscriber; 1, or 0 when tracing
/// stays off. A panic inside the subscriber is caught and answers 0.
///
/// # Safety
///
/// `batch` points to a valid `RawBatch` whose pointers are valid for their lengths for
/// the length of the call.
#[no_mangle]
pub unsafe extern "C" fn slabscope_trace_write(batch: *const RawBatch) -> u8 {
    if batch.is_null() {
        return 0;
    }
    // SAFETY: the caller passes a valid batch (this function's contract).
    let b = unsafe { &*batch };
    // SAFETY: the caller's events and bytes are valid for their lengths (the contract).
    let events: &[RawEvent] = unsafe { slice(b.events, b.n) };
    // SAFETY: as above.
    let (text, source, log_file) = unsafe { (bytes(b.filter), bytes(b.source), bytes(b.log_file)) };
    let run = || {
        let kinds: Vec<_> = events.iter().filter_map(RawEvent::kind).collect();
        write(&Batch {
            events: &kinds,
            dropped: b.dropped,
            filter: (b.has_filter != 0).then(|| Filter {
                text,
                source: std::str::from_utf8(source).unwrap_or("a filter "),
                generation: b.generation,
            }),
            log_file: (!log_file.is_empty()).then_some(log_file),
        })
    };
    u8::from(catch_unwind(AssertUnwindSafe(run)).unwrap_or(false))
}

/// # Safety
///
/// `ptr` is valid for `n` reads of `T` for `'a` (or `n` is 0).
unsafe fn slice<'a, T>(ptr: *const T, n: usize) -> &'a [T] {
    if n == 0 || ptr.is_null() {
        return &[];
    }
    // SAFETY: valid for `n` elements (this function's contract).
    unsafe { std::slice::from_raw_parts(ptr, n) }
}

/// # Safety
///
/// `b.ptr` is valid for `b.len` bytes for `'a` (or `b.len` is 0).
unsafe fn bytes<'a>(b: RawBytes) -> &'a [u8] {
    // SAFETY: this function's contract.
    unsafe { slice(b.ptr, b.len) }
}
