//! The cache of freed large mappings: reuse of the same rounded size, splitting of a
//! longer entry, alignment kept, zeroing of reused memory, the byte bound, growth by
//! `realloc`, accounting, and `trim`.

mod common;

use slabscope::raw;

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

fn totals() -> slabscope::TotalStats {
    raw::stats().totals
}

#[test]
fn freed_large_mappings_are_reused_bounded_and_accounted() {
    if common::respawned("freed_large_mappings_are_reused_bounded_and_accounted", &[]) {
        return;
    }
    let base = totals();

    // Reuse: the same rounded size gets the same mapping back, without new mapped bytes.
    let p = raw::alloc(100 * KIB, 16);
    assert!(!p.is_null());
    // SAFETY: fresh 100 KiB block.
    unsafe { p.write_bytes(0xAB, 100 * KIB) };
    let mapped = totals().mapped_bytes;
    let len = raw::usable_size(p).unwrap() as u64;
    assert!(
        (100 * KIB as u64..=125 * KIB as u64).contains(&len),
        "length {len}"
    );
    assert_eq!(totals().large_bytes, base.large_bytes + len);
    // SAFETY: live block.
    unsafe { raw::free(p) };
    let t = totals();
    assert_eq!(t.large_bytes, base.large_bytes, "cached bytes are not live");
    assert_eq!(t.large_cached_bytes, base.large_cached_bytes + len);
    assert_eq!(t.mapped_bytes, mapped, "cached bytes stay mapped");
    assert!(!raw::owns(p), "a cached mapping is not a live allocation");
    let q = raw::alloc(100 * KIB - 100, 16);
    assert_eq!(q, p, "same rounded size reuses the cached mapping");
    assert_eq!(totals().mapped_bytes, mapped);
    assert_eq!(totals().large_cached_bytes, base.large_cached_bytes);

    // alloc_zeroed on a reused (dirty) mapping returns zeroes.
    // SAFETY: live block of 100 KiB.
    unsafe { q.write_bytes(0xCD, 100 * KIB) };
    // SAFETY: live block.
    unsafe { raw::free(q) };
    let z = raw::alloc_zeroed(100 * KIB, 16);
    assert_eq!(z, p);
    // SAFETY: live block of 100 KiB.
    let s = unsafe { std::slice::from_raw_parts(z, 100 * KIB) };
    assert!(s.iter().all(|&b| b == 0), "reused mapping was not zeroed");
    // The same for a mapping long enough to be decommitted instead of written.
    let big = raw::alloc(2 * MIB, 16);
    // SAFETY: fresh 2 MiB block.
    unsafe { big.write_bytes(0xEF, 2 * MIB) };
    // SAFETY: live block.
    unsafe { raw::free(big) };
    let bz = raw::alloc_zeroed(2 * MIB, 16);
    assert_eq!(bz, big);
    // SAFETY: live block of 2 MiB.
    let s = unsafe { std::slice::from_raw_parts(bz, 2 * MIB) };
    assert!(
        s.iter().all(|&b| b == 0),
        "reused 2 MiB mapping was not zeroed"
    );

    // A much smaller request takes only the head of a much larger entry; the tail stays
    // cached.
    // SAFETY: live blocks.
    unsafe { raw::free(bz) };
    let cached = totals().large_cached_bytes;
    let small = raw::alloc(64 * KIB, 16);
    assert_eq!(
        raw::usable_size(small),
        Some(64 * KIB),
        "took the whole entry"
    );
    assert_eq!(totals().large_cached_bytes, cached - 64 * KIB as u64);

    // Alignment: an over-aligned request only takes an aligned entry.
    let align = 256 * KIB;
    let a = raw::alloc(300 * KIB, align);
    assert!(!a.is_null() && (a as usize).is_multiple_of(align));
    // SAFETY: live block.
    unsafe { raw::free(a) };
    let b = raw::alloc(300 * KIB, align);
    assert!(
        (b as usize).is_multiple_of(align),
        "reused entry lost its alignment"
    );
    // SAFETY: live blocks.
    unsafe {
        raw::free(b);
        raw::free(small);
        raw::free(z);
    }

    // Bound: freeing far more than the cache may hold leaves at most its bound cached.
    let blocks: Vec<*mut u8> = (0..100).map(|_| raw::alloc(MIB, 16)).collect();
    assert!(blocks.iter().all(|p| !p.is_null()));
    for (i, &p) in blocks.iter().enumerate() {
        // SAFETY: live blocks.
        unsafe { raw::free(p) };
        if i == 0 {
            // The first one is cached: a fresh entry, the cache far from its bound.
            assert!(totals().large_cached_bytes >= MIB as u64);
        }
    }
    let t = totals();
    assert!(
        t.large_cached_bytes <= 64 * MIB as u64,
        "cache holds {} bytes",
        t.large_cached_bytes
    );
    // The cache may hold nothing now: neighbouring mappings freed in turn merge into
    // one entry (up to 32 MiB), which goes whole once it passes the bound (16 MiB here);
    // where the run of frees ends decides what is left, and that depends on where the
    // kernel placed the mappings.
    assert_eq!(t.large_bytes, base.large_bytes);

    // Growth in place with mremap keeps the contents.
    let mut g = raw::alloc(40 * KIB, 16);
    for i in 0..6 {
        let len = (40 * KIB) << i;
        // SAFETY: live block of `len` bytes.
        unsafe { g.add(len - 1).write(i as u8) };
        // SAFETY: live block; grown to twice its length.
        g = unsafe { raw::realloc(g, len * 2, 16) };
        assert!(!g.is_null());
        // SAFETY: the old contents are kept.
        assert_eq!(unsafe { g.add(len - 1).read() }, i as u8);
    }
    // SAFETY: live block.
    unsafe { raw::free(g) };

    // trim gives every cached mapping back: mapped bytes fall by the cached bytes.
    let before = totals();
    raw::trim();
    let after = totals();
    assert_eq!(after.large_cached_bytes, 0);
    assert!(
        after.mapped_bytes + before.large_cached_bytes <= before.mapped_bytes,
        "trim did not unmap the cache: {before:?} -> {after:?}"
    );
}

#[test]
fn large_allocations_grow_and_shrink_in_place_through_the_cache() {
    if common::respawned(
        "large_allocations_grow_and_shrink_in_place_through_the_cache",
        &[],
    ) {
        return;
    }
    raw::trim();
    // A freed 1 MiB mapping is one cached entry; a 64 KiB request takes its head.
    let whole = raw::alloc(MIB, 16);
    assert!(!whole.is_null());
    // SAFETY: fresh 1 MiB block.
    unsafe { whole.write_bytes(0x11, MIB) };
    // SAFETY: live block.
    unsafe { raw::free(whole) };
    let p = raw::alloc(64 * KIB, 16);
    assert_eq!(p, whole, "the head of the cached entry");
    // SAFETY: live 64 KiB block.
    unsafe { p.write_bytes(0x22, 64 * KIB) };
    let before = totals();

    // Growing takes the cached space right after the block: same address, contents
    // kept, bytes moved from the cache to the live allocation, nothing new mapped.
    // SAFETY: live block, grown.
    let q = unsafe { raw::realloc(p, 200 * KIB, 16) };
    assert_eq!(q, p, "grown in place");
    let grown = raw::usable_size(q).unwrap();
    assert!(grown >= 200 * KIB, "{grown}");
    // SAFETY: the first 64 KiB are the old contents, the rest is the block's now.
    let s = unsafe { std::slice::from_raw_parts(q, 64 * KIB) };
    assert!(s.iter().all(|&b| b == 0x22), "contents kept");
    // SAFETY: live block of `grown` bytes.
    unsafe { q.write_bytes(0x33, grown) };
    let delta = (grown - 64 * KIB) as u64;
    let t = totals();
    assert_eq!(t.mapped_bytes, before.mapped_bytes, "no new mapping");
    assert_eq!(t.large_bytes, before.large_bytes + delta);
    assert_eq!(t.large_cached_bytes, before.large_cached_bytes - delta);

    // Shrinking hands the tail back to the cache.
    // SAFETY: live block, shrunk below half its length.
    let r = unsafe { raw::realloc(q, 40 * KIB, 16) };
    assert_eq!(r, p, "shrunk in place");
    let kept = raw::usable_size(r).unwrap();
    assert!((40 * KIB..64 * KIB).contains(&kept), "{kept}");
    // SAFETY: the kept bytes are the block's.
    let s = unsafe { std::slice::from_raw_parts(r, kept) };
    assert!(s.iter().all(|&b| b == 0x33), "contents kept");
    let t = totals();
    assert_eq!(t.mapped_bytes, before.mapped_bytes);
    assert_eq!(
        t.large_bytes + t.large_cached_bytes,
        before.large_bytes + before.large_cached_bytes
    );

    // Freed, the pieces are one entry again: a 1 MiB request gets the same mapping.
    // SAFETY: live block.
    unsafe { raw::free(r) };
    let again = raw::alloc(MIB, 16);
    assert_eq!(again, whole, "the pieces merged back into one entry");
    assert_eq!(totals().mapped_bytes, before.mapped_bytes);
    // SAFETY: live block.
    unsafe { raw::free(again) };
}
