//! `SLABSCOPE_LIMIT`: allocations beyond it return null, report an OOM event in the
//! ring, set the OOM flag, and leave every existing allocation intact.

mod common;

use std::alloc::{GlobalAlloc, Layout};

use slabscope::raw;
use slabscope::size_class::class_of;
use slabscope_proto::EventKind;

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

const LIMIT: u64 = 48 << 20;

#[test]
fn limit_makes_allocations_fail_with_an_oom_event() {
    if common::respawned(
        "limit_makes_allocations_fail_with_an_oom_event",
        &[("SLABSCOPE_LIMIT", "48M")],
    ) {
        return;
    }
    let r = common::open_own();
    let mut big: Vec<*mut u8> = Vec::with_capacity(100);
    let mut small: Vec<*mut u8> = Vec::with_capacity(4000);
    // Large allocations until the limit refuses one.
    loop {
        let p = raw::alloc(1 << 20, 16);
        if p.is_null() {
            break;
        }
        // SAFETY: fresh 1 MiB block.
        unsafe { p.write_bytes(big.len() as u8, 1 << 20) };
        big.push(p);
        assert!(big.len() < 100, "the limit never refused an allocation");
    }
    let after_large = raw::stats().totals;
    // Small blocks until no SuperSlab can be mapped any more.
    loop {
        let p = raw::alloc(16_000, 16);
        if p.is_null() {
            break;
        }
        // SAFETY: fresh block of 16_000 bytes.
        unsafe { p.write_bytes(0xC3, 16_000) };
        small.push(p);
        assert!(
            small.len() < 4000,
            "the limit never refused a small allocation"
        );
    }
    // GlobalAlloc returns null too (no abort inside the allocator).
    // SAFETY: non-zero size.
    let g = unsafe { A.alloc(Layout::from_size_align(8 << 20, 8).unwrap()) };
    assert!(g.is_null());
    let t = raw::stats().totals;
    assert!(t.mapped_bytes <= LIMIT, "mapped {} > limit", t.mapped_bytes);
    assert!(t.oom_count >= 3, "oom count {}", t.oom_count);
    assert!(after_large.oom_count >= 1);
    // Nothing that existed was disturbed.
    for (i, &p) in big.iter().enumerate() {
        // SAFETY: live 1 MiB blocks.
        let s = unsafe { std::slice::from_raw_parts(p, 1 << 20) };
        assert!(s.iter().all(|&b| b == i as u8));
    }
    for &p in &small {
        // SAFETY: live blocks of 16_000 bytes.
        let s = unsafe { std::slice::from_raw_parts(p, 16_000) };
        assert!(s.iter().all(|&b| b == 0xC3));
    }
    // Free everything, then read the segment (reading allocates).
    for p in big.drain(..).chain(small.drain(..)) {
        // SAFETY: live blocks.
        unsafe { raw::free(p) };
    }
    let snap = r.snapshot().unwrap();
    assert!(snap.flags.oom, "FLAG_OOM is set");
    assert!(snap.totals.oom_count >= 3);
    assert_eq!(snap.totals.limit_bytes, LIMIT);
    let events = common::all_events(&r);
    let large_oom = common::has_event(&events, |k| {
        matches!(k, EventKind::Oom { request, class: None, limit_bytes, mapped_bytes, .. }
            if *request == 1 << 20 && *limit_bytes == LIMIT && *mapped_bytes > 40 << 20)
    });
    assert!(large_oom, "OOM event for the large request: {events:?}");
    let small_class = class_of(16_000) as u32;
    let small_oom = common::has_event(
        &events,
        |k| matches!(k, EventKind::Oom { request: 16_000, class: Some(c), .. } if *c == small_class),
    );
    assert!(small_oom, "OOM event for the small request with its class");
    // Memory is usable again.
    let p = raw::alloc(1 << 20, 16);
    assert!(!p.is_null());
    // SAFETY: live block.
    unsafe { raw::free(p) };
}
