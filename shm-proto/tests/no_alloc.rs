//! The writer runs inside `malloc`: creating a segment and every update must not touch
//! the heap. A counting global allocator checks it.
#![cfg(not(loom))]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use slabscope_proto::layout::*;
use slabscope_proto::*;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards every call to System unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHING.with(|w| w.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's layout contract is passed on to System.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if WATCHING.with(|w| w.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: ptr was allocated by System with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if WATCHING.with(|w| w.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as for alloc and dealloc.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn the_writer_never_allocates() {
    let dir = tempfile::tempdir().unwrap();
    let dir_bytes = dir.path().as_os_str().as_encoded_bytes().to_vec();
    let cfg = common::config(4, 16);
    let kinds = common::all_kinds();
    let r = Ordering::Relaxed;

    WATCHING.with(|w| w.set(true));
    let w = SegmentWriter::create(&dir_bytes, 31, &cfg).unwrap();
    let exists = SegmentWriter::create(&dir_bytes, 31, &cfg).unwrap_err();
    let t = w.claim_thread(u64::from(gettid()), b"main").unwrap();
    w.update_thread(t, |rec| rec.magazines[0].store(1 | 8 << 32, r));
    let s = w.claim_superslab(0x20_0000).unwrap();
    w.update_superslab(s, |rec| {
        rec.slots[0].store(pack_slot(SLOT_ACTIVE, 0, 8, 1), r)
    });
    w.claim_gpu_pool(Some(0), GPU_BACKEND_CUDA, b"gpu", &[4096, 8192])
        .unwrap();
    for k in &kinds {
        w.push_event(monotonic_ns(), gettid(), k);
    }
    for i in 0..20 {
        w.heap_error(&HeapError {
            time_ns: 0,
            thread: 0,
            ..common::heap_error(i)
        });
    }
    w.header().totals.mapped_bytes.fetch_add(2 << 20, r);
    w.heartbeat(monotonic_ns());
    w.set_flag(FLAG_OOM);
    w.release_superslab(s);
    w.exit_thread(t);
    let _ = realtime_ns();
    w.close();
    w.unlink().unwrap();
    drop(w);
    WATCHING.with(|w| w.set(false));

    assert_eq!(exists, CreateError::Exists);
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "heap touched by the writer"
    );
}

#[test]
fn writer_and_reader_can_be_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SegmentWriter>();
    send_sync::<SegmentReader>();
}
