//! `SLABSCOPE_CHECK`: each kind of heap misuse is reported (one stderr line, the
//! segment's heap error table while the process lives), the bad operation is not
//! performed, and the allocator keeps working correctly afterwards. The test binary
//! runs on slabscope; each test runs again in a child with checks on, so the test
//! harness itself allocates through the checked paths there.

mod common;

use std::sync::{Arc, Barrier};

use slabscope::raw;

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

const SUPERSLAB: usize = 2 << 20;
/// Small blocks a thread holds back after freeing them (`check::quarantine`).
const QUARANTINE: usize = 256;

/// In the test process: runs test `name` in a child with `SLABSCOPE_CHECK=mode` and
/// returns the child's stderr. In the child: `None` (the test body runs).
fn checked_child(name: &str, mode: &str) -> Option<String> {
    checked_child_with(name, &[("SLABSCOPE_CHECK", mode)])
}

/// [`checked_child`] with the child's whole `SLABSCOPE_*` environment given.
fn checked_child_with(name: &str, env: &[(&str, &str)]) -> Option<String> {
    if common::in_child() {
        return None;
    }
    let dir = common::shm_dir();
    Some(common::run_child_both(name, dir.path(), env).1)
}

/// The heap error lines of `stderr`.
fn reports(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("slabscope: heap error: "))
        .collect()
}

/// The heap errors this process's segment holds now, oldest first, as
/// `(kind, address)`.
fn segment_errors() -> Vec<(String, u64)> {
    let r = common::open_own();
    let snap = r.snapshot().expect("snapshot");
    snap.heap_errors
        .iter()
        .map(|e| (e.kind.name().to_string(), e.address))
        .collect()
}

/// Allocates `n` blocks of `size` bytes, fills each with its index, and checks that no
/// two are the same and that none is `avoid`.
fn distinct_blocks(n: usize, size: usize, avoid: &[usize]) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).map(|_| raw::alloc(size, 8) as usize).collect();
    for (i, &p) in v.iter().enumerate() {
        assert!(
            !avoid.contains(&p),
            "{p:#x} handed out though its free was refused"
        );
        // SAFETY: a fresh block of `size` bytes.
        unsafe { (p as *mut u8).write_bytes(i as u8, size) };
    }
    for (i, &p) in v.iter().enumerate() {
        // SAFETY: live blocks written above.
        let b = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
        assert!(b.iter().all(|&x| x == i as u8), "block {p:#x} shared");
    }
    v.sort_unstable();
    v.dedup();
    assert_eq!(v.len(), n, "a block was handed out twice");
    v
}

fn free_all(v: &[usize]) {
    for &p in v {
        // SAFETY: live blocks of ours.
        unsafe { raw::free(p as *mut u8) };
    }
}

#[test]
fn a_double_free_is_reported_and_not_performed() {
    if let Some(err) = checked_child("a_double_free_is_reported_and_not_performed", "1") {
        let r = reports(&err);
        assert_eq!(r.len(), 2, "{err}");
        assert!(
            r[0].contains("double_free of 0x") && r[0].contains(" in free ("),
            "{err}"
        );
        assert!(
            r[0].contains("block 64 B") && r[0].ends_with("): not performed"),
            "{err}"
        );
        assert!(
            r[1].contains("double_free") && r[1].contains("(large,"),
            "{err}"
        );
        return;
    }
    let p = raw::alloc(50, 8);
    // SAFETY: a live block, freed once as it should be, then again (the misuse).
    unsafe {
        raw::free(p);
        raw::free(p);
    }
    // The block sat in the magazine once: it is handed out at most once.
    let v = distinct_blocks(1000, 50, &[]);
    assert_eq!(
        segment_errors(),
        vec![("double_free".to_string(), p as u64)]
    );
    free_all(&v);
    let big = raw::alloc(200_000, 8);
    // SAFETY: as above, with a large allocation.
    unsafe {
        raw::free(big);
        raw::free(big);
    }
    let r = common::open_own();
    let snap = r.snapshot().expect("snapshot");
    assert_eq!(snap.heap_errors.len(), 2);
    assert_eq!(snap.heap_errors[1].address, big as u64);
    assert_eq!(snap.heap_error_counts.total(), 2);
}

/// Whether the process's memory maps hold every byte of `[start, end)` in one mapping
/// (the kernel keeps adjacent anonymous mappings of the same flags as one).
fn mapped_as_one(start: usize, end: usize) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    maps.lines().any(|l| {
        let range = l.split_whitespace().next().unwrap_or("");
        let (a, b) = range.split_once('-').unwrap_or(("", ""));
        let a = usize::from_str_radix(a, 16).unwrap_or(usize::MAX);
        let b = usize::from_str_radix(b, 16).unwrap_or(0);
        a <= start && end <= b
    })
}

#[test]
fn a_large_double_free_after_its_neighbours_free_is_still_a_double_free() {
    if let Some(err) = checked_child(
        "a_large_double_free_after_its_neighbours_free_is_still_a_double_free",
        "1",
    ) {
        let r = reports(&err);
        assert_eq!(r.len(), 1, "{err}");
        assert!(
            r[0].contains("double_free of 0x") && r[0].contains("(large,"),
            "{err}"
        );
        return;
    }
    // Two large allocations side by side: freed, their mappings are one cache entry,
    // which starts at the lower one's address.
    let mut v: Vec<usize> = (0..8).map(|_| raw::alloc(200_000, 8) as usize).collect();
    v.sort_unstable();
    let i = (0..v.len() - 1)
        .min_by_key(|&i| v[i + 1] - v[i])
        .expect("two allocations");
    let (low, high) = (v[i], v[i + 1]);
    assert!(
        high - low < 400_000 && mapped_as_one(low, high + 200_000),
        "no two large allocations side by side ({v:x?}): the merge is not reached"
    );
    // SAFETY: live allocations of ours, each freed once; then `high` again (the misuse),
    // and an address inside it that no allocation ever started at (not a double free:
    // refused as a pointer slabscope did not hand out).
    unsafe {
        raw::free(low as *mut u8);
        raw::free(high as *mut u8);
        raw::free(high as *mut u8);
        raw::free((high + 8) as *mut u8);
    }
    assert_eq!(
        segment_errors(),
        vec![("double_free".to_string(), high as u64)]
    );
    v.remove(i + 1);
    v.remove(i);
    free_all(&v);
}

#[test]
fn a_free_inside_a_live_large_allocation_is_an_invalid_free() {
    if let Some(err) = checked_child(
        "a_free_inside_a_live_large_allocation_is_an_invalid_free",
        "1",
    ) {
        let r = reports(&err);
        assert_eq!(r.len(), 2, "{err}");
        for line in r {
            assert!(
                line.contains("invalid_free of 0x")
                    && line.contains("not the start of a block (large,")
                    && line.ends_with("): not performed"),
                "{err}"
            );
        }
        return;
    }
    let big = raw::alloc(300_000, 8);
    // SAFETY: a fresh allocation of 300,000 bytes; then two addresses inside it freed
    // (the misuse under test), then the allocation itself.
    unsafe {
        big.write_bytes(0x6b, 300_000);
        raw::free(big.add(8));
        raw::free(big.add(4096));
        let bytes = std::slice::from_raw_parts(big, 300_000);
        assert!(bytes.iter().all(|&b| b == 0x6b), "the allocation changed");
        raw::free(big);
    }
    let errors = segment_errors();
    assert_eq!(errors.len(), 2);
    assert!(errors.iter().all(|(k, _)| k == "invalid_free"));
}

#[test]
fn a_block_freed_again_after_its_address_was_handed_out_is_still_a_double_free() {
    if let Some(err) = checked_child(
        "a_block_freed_again_after_its_address_was_handed_out_is_still_a_double_free",
        "1",
    ) {
        let r = reports(&err);
        assert_eq!(r.len(), 1, "{err}");
        assert!(r[0].contains("double_free"), "{err}");
        return;
    }
    let p = raw::alloc(64, 8);
    // SAFETY: a live block, freed once.
    unsafe { raw::free(p) };
    // Without the quarantine the next allocation would be `p` again, and the second
    // free below would free it from under `q`.
    let q = raw::alloc(64, 8);
    assert_ne!(q, p);
    // SAFETY: `q` is a fresh block of 64 bytes; then the misuse under test.
    unsafe {
        q.write_bytes(0x42, 64);
        raw::free(p);
    }
    let v = distinct_blocks(500, 64, &[q as usize]);
    // SAFETY: `q` is live and was written above.
    assert!(unsafe { std::slice::from_raw_parts(q, 64) }
        .iter()
        .all(|&b| b == 0x42));
    assert_eq!(
        segment_errors(),
        vec![("double_free".to_string(), p as u64)]
    );
    free_all(&v);
    // SAFETY: a live block of ours.
    unsafe { raw::free(q) };
}

#[test]
fn two_threads_freeing_one_block_are_told_apart() {
    if let Some(err) = checked_child("two_threads_freeing_one_block_are_told_apart", "1") {
        let r = reports(&err);
        assert_eq!(r.len(), 300, "one report per raced block:\n{err}");
        assert!(r.iter().all(|l| l.contains("double_free")), "{err}");
        return;
    }
    let barrier = Arc::new(Barrier::new(2));
    let (tx, rx) = std::sync::mpsc::sync_channel::<usize>(0);
    let other = {
        let barrier = barrier.clone();
        std::thread::spawn(move || {
            while let Ok(p) = rx.recv() {
                barrier.wait();
                // SAFETY: the misuse under test: both threads free the same block.
                unsafe { raw::free(p as *mut u8) };
                barrier.wait();
            }
        })
    };
    let mut seen = Vec::new();
    for i in 0..300 {
        let p = raw::alloc(24 + i % 200, 8) as usize;
        seen.push(p);
        tx.send(p).unwrap();
        barrier.wait();
        // SAFETY: as above.
        unsafe { raw::free(p as *mut u8) };
        barrier.wait();
    }
    drop(tx);
    other.join().unwrap();
    let v = distinct_blocks(2000, 64, &[]);
    free_all(&v);
}

#[test]
fn header_interior_and_foreign_class_frees_are_invalid() {
    if let Some(err) = checked_child("header_interior_and_foreign_class_frees_are_invalid", "1") {
        let r = reports(&err);
        assert_eq!(r.len(), 3, "{err}");
        assert!(r[0].contains("invalid_free") && r[0].contains("a SuperSlab header address"));
        assert!(r[0].contains("(no class,"), "{err}");
        assert!(r[1].contains("invalid_free") && r[1].contains("not the start of a block"));
        assert!(r[2].contains("invalid_free") && r[2].contains("not the start of a block"));
        return;
    }
    let a = raw::alloc(100, 8) as usize;
    let b = raw::alloc(1000, 8) as usize;
    // SAFETY: fresh blocks.
    unsafe {
        (a as *mut u8).write_bytes(0xa5, 100);
        (b as *mut u8).write_bytes(0x5a, 1000);
    }
    let header = a & !(SUPERSLAB - 1);
    // `b + 112` lies inside `b`'s block, at what could be a block start of a smaller class.
    let bad = [header + 64, a + 8, b + 112];
    for &x in &bad {
        assert_eq!(raw::usable_size(x as *const u8), None);
        // SAFETY: the misuse under test; the allocator must refuse it.
        unsafe { raw::free(x as *mut u8) };
    }
    // SAFETY: live blocks written above.
    unsafe {
        assert!(std::slice::from_raw_parts(a as *const u8, 100)
            .iter()
            .all(|&x| x == 0xa5));
        assert!(std::slice::from_raw_parts(b as *const u8, 1000)
            .iter()
            .all(|&x| x == 0x5a));
    }
    let v = distinct_blocks(500, 100, &bad);
    for &p in &v {
        assert!(p & (SUPERSLAB - 1) >= 64 << 10, "{p:#x} is header memory");
    }
    free_all(&v);
    // SAFETY: live blocks of ours.
    unsafe {
        raw::free(a as *mut u8);
        raw::free(b as *mut u8);
    }
}

#[test]
fn a_write_after_free_is_found_when_the_block_is_handed_out_again() {
    if let Some(err) = checked_child(
        "a_write_after_free_is_found_when_the_block_is_handed_out_again",
        "1",
    ) {
        let r = reports(&err);
        assert_eq!(r.len(), 1, "{err}");
        assert!(r[0].contains("write_after_free of 0x"), "{err}");
        assert!(r[0].contains(" at offset 40 in alloc ("), "{err}");
        assert!(r[0].ends_with("): block handed out"), "{err}");
        return;
    }
    let p = raw::alloc(100, 8);
    let others: Vec<usize> = (0..QUARANTINE)
        .map(|_| raw::alloc(100, 8) as usize)
        .collect();
    // SAFETY: a live block, freed, then written (the misuse under test: the block sits
    // in this thread's quarantine, so the write lands in memory the allocator holds).
    unsafe {
        raw::free(p);
        p.add(40).write(3);
    }
    // The quarantine gives `p` back to the magazine once as many frees have followed,
    // and the magazine hands the newest block out first.
    free_all(&others);
    let q = raw::alloc(100, 8);
    assert_eq!(q, p);
    assert_eq!(
        segment_errors(),
        vec![("write_after_free".to_string(), p as u64)]
    );
    // SAFETY: a live block of ours.
    unsafe { raw::free(q) };
}

#[test]
fn a_write_into_a_freed_blocks_first_bytes_is_found_when_it_leaves_the_quarantine() {
    if let Some(err) = checked_child(
        "a_write_into_a_freed_blocks_first_bytes_is_found_when_it_leaves_the_quarantine",
        "1",
    ) {
        let r = reports(&err);
        assert_eq!(r.len(), 2, "{err}");
        for (line, offset) in r.iter().zip([0, 9]) {
            assert!(line.contains("write_after_free of 0x"), "{err}");
            assert!(
                line.contains(&format!(" at offset {offset} in free (")),
                "{err}"
            );
            assert!(line.ends_with("): block given back"), "{err}");
        }
        return;
    }
    // A small block and a larger one, each written in its first 16 bytes after its free
    // (where the allocator's lists write once the block is back): mimalloc-bench's
    // write_after_free_reuse does this with 8-byte blocks.
    let p = raw::alloc(8, 8);
    let big = raw::alloc(200, 8);
    let others: Vec<usize> = (0..QUARANTINE)
        .map(|_| raw::alloc(100, 8) as usize)
        .collect();
    // SAFETY: live blocks, freed, then written (the misuse under test: the blocks sit in
    // this thread's quarantine, so the writes land in memory the allocator holds).
    unsafe {
        raw::free(p);
        p.write(b'A');
        raw::free(big);
        big.add(9).write(b'B');
    }
    // As many frees again push both out of the quarantine.
    free_all(&others);
    assert_eq!(
        segment_errors(),
        vec![
            ("write_after_free".to_string(), p as u64),
            ("write_after_free".to_string(), big as u64)
        ]
    );
    // Both went back to the allocator: their classes hand out working blocks.
    free_all(&distinct_blocks(100, 8, &[]));
    free_all(&distinct_blocks(100, 200, &[]));
}

#[test]
fn writes_past_the_request_are_found_at_free() {
    if let Some(err) = checked_child("writes_past_the_request_are_found_at_free", "1") {
        let r = reports(&err);
        assert_eq!(r.len(), 3, "{err}");
        assert!(r[0].contains("overflow of 0x") && r[0].contains(" at offset 50 in free ("));
        assert!(r[0].contains("requested 50 B") && r[0].ends_with("): block freed"));
        assert!(
            r[1].contains("overflow") && r[1].contains("(large,"),
            "{err}"
        );
        assert!(r[1].contains(" at offset 300000 ") && r[1].contains("requested 300000 B"));
        assert!(
            r[2].contains("overflow") && r[2].contains(" in realloc ("),
            "{err}"
        );
        return;
    }
    let p = raw::alloc(50, 8);
    assert_eq!(raw::usable_size(p), Some(50), "usable size is the request");
    // SAFETY: the misuse under test: a write one byte past the request, inside the
    // block's slack.
    unsafe {
        p.add(50).write(7);
        raw::free(p);
    }
    let g = raw::alloc(300_000, 8);
    // SAFETY: as above, for a large allocation (the page holds the slack).
    unsafe {
        g.add(300_000).write(1);
        raw::free(g);
    }
    let r = raw::alloc(20, 8);
    // SAFETY: as above; then a realloc moves the block and frees the old one.
    unsafe {
        r.write_bytes(9, 20);
        r.add(21).write(1);
        let s = raw::realloc(r, 4000, 8);
        assert!(!s.is_null());
        assert!(std::slice::from_raw_parts(s, 20).iter().all(|&x| x == 9));
        raw::free(s);
    }
    let kinds: Vec<String> = segment_errors().into_iter().map(|e| e.0).collect();
    assert_eq!(kinds, ["overflow"; 3]);
}

#[test]
fn realloc_of_a_freed_block_is_refused() {
    if let Some(err) = checked_child("realloc_of_a_freed_block_is_refused", "1") {
        let r = reports(&err);
        assert_eq!(r.len(), 1, "{err}");
        assert!(
            r[0].contains("double_free") && r[0].contains(" in realloc ("),
            "{err}"
        );
        return;
    }
    let p = raw::alloc(64, 8);
    // SAFETY: a live block, freed, then passed to realloc (the misuse under test).
    unsafe {
        raw::free(p);
        assert!(raw::realloc(p, 128, 8).is_null(), "refused");
    }
    let v = distinct_blocks(500, 64, &[]);
    free_all(&v);
}

#[test]
fn abort_mode_reports_then_aborts() {
    if common::in_child() {
        let p = raw::alloc(32, 8);
        // SAFETY: the misuse under test.
        unsafe {
            raw::free(p);
            raw::free(p);
        }
        unreachable!("SLABSCOPE_CHECK=abort returned from a double free");
    }
    let dir = common::shm_dir();
    let out = common::child_command(
        "abort_mode_reports_then_aborts",
        dir.path(),
        &[("SLABSCOPE_CHECK", "abort")],
    )
    .output()
    .expect("spawn");
    let err = String::from_utf8_lossy(&out.stderr);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{err}");
    let r = reports(&err);
    assert_eq!(r.len(), 1, "{err}");
    assert!(
        r[0].contains("double_free") && r[0].ends_with("): aborting"),
        "{err}"
    );
}

#[test]
fn realloc_in_place_keeps_the_bytes_and_moves_the_canary() {
    if let Some(err) = checked_child("realloc_in_place_keeps_the_bytes_and_moves_the_canary", "1") {
        let r = reports(&err);
        assert_eq!(r.len(), 4, "{err}");
        assert!(r[0].contains("overflow") && r[0].contains(" at offset 50 in realloc ("));
        assert!(r[0].contains("requested 50 B") && r[0].ends_with("): block resized"));
        assert!(r[1].contains("overflow") && r[1].contains(" at offset 54 in free ("));
        assert!(r[1].contains("requested 54 B"), "{err}");
        assert!(r[2].contains("overflow") && r[2].contains(" at offset 100000 in realloc ("));
        assert!(r[2].contains("(large,") && r[2].contains("requested 100000 B"));
        assert!(r[2].ends_with("): block resized"), "{err}");
        assert!(r[3].contains("overflow") && r[3].contains(" at offset 250000 in free ("));
        assert!(r[3].contains("requested 250000 B"), "{err}");
        return;
    }
    // A small block grown within its block: the same address, its bytes kept; the old
    // request's overflow is reported by the realloc, the new one's by the free.
    // (50 and 54 bytes, 8 more each with the trailer, are served by 64-byte blocks.)
    let p = raw::alloc(50, 8);
    // SAFETY: `p` holds 50 bytes; the write at 50 is the misuse under test.
    unsafe {
        p.write_bytes(5, 50);
        p.add(50).write(1);
    }
    // SAFETY: `p` is live.
    let q = unsafe { raw::realloc(p, 54, 8) };
    assert_eq!(q, p, "a 54-byte request fits the 50-byte request's block");
    assert_eq!(raw::usable_size(q), Some(54));
    // SAFETY: `q` holds 54 bytes; the write at 54 is the misuse under test.
    unsafe {
        assert!(std::slice::from_raw_parts(q, 50).iter().all(|&x| x == 5));
        q.add(54).write(1);
        raw::free(q);
    }
    // A large allocation grown by the large path: its bytes kept, the canary at the new
    // request's end.
    let g = raw::alloc(100_000, 8);
    // SAFETY: `g` holds 100,000 bytes; the write at 100,000 is the misuse under test.
    unsafe {
        g.write_bytes(6, 100_000);
        g.add(100_000).write(1);
    }
    // SAFETY: `g` is live.
    let h = unsafe { raw::realloc(g, 250_000, 8) };
    assert!(!h.is_null());
    assert_eq!(raw::usable_size(h), Some(250_000));
    // SAFETY: `h` holds 250,000 bytes; the write at 250,000 is the misuse under test.
    unsafe {
        assert!(std::slice::from_raw_parts(h, 100_000)
            .iter()
            .all(|&x| x == 6));
        h.add(250_000).write(1);
        raw::free(h);
    }
    // Shrinking in place keeps the bytes too; a correct resize reports nothing more.
    let s = raw::alloc(200_000, 8);
    // SAFETY: `s` holds 200,000 bytes.
    unsafe {
        s.write_bytes(7, 200_000);
        let t = raw::realloc(s, 120_000, 8);
        assert_eq!(raw::usable_size(t), Some(120_000));
        assert!(std::slice::from_raw_parts(t, 120_000)
            .iter()
            .all(|&x| x == 7));
        raw::free(t);
    }
    let kinds: Vec<String> = segment_errors().into_iter().map(|e| e.0).collect();
    assert_eq!(kinds, ["overflow"; 4]);
}

#[test]
fn correct_programs_get_no_reports() {
    // Sampling on as well: sampled blocks come from slots of their own.
    let env = [("SLABSCOPE_CHECK", "1"), ("SLABSCOPE_SAMPLE", "4K")];
    if let Some(err) = checked_child_with("correct_programs_get_no_reports", &env) {
        assert!(reports(&err).is_empty(), "false reports:\n{err}");
        return;
    }
    // Threads hand blocks to each other (remote frees), grow them with realloc, zero
    // them with calloc, across small and large classes.
    let (tx, rx) = std::sync::mpsc::channel::<Vec<Vec<u8>>>();
    let producer = std::thread::spawn(move || {
        let mut seed = 7u64;
        for round in 0..200 {
            let mut batch = Vec::new();
            for i in 0..100 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let n = 1 + (seed >> 40) as usize % if i % 50 == 0 { 300_000 } else { 2000 };
                let mut v = vec![round as u8; n];
                v.push(1);
                v.extend_from_slice(&[2; 17]);
                batch.push(v);
            }
            tx.send(batch).unwrap();
        }
    });
    let mut kept: Vec<Vec<u8>> = Vec::new();
    let mut total = 0usize;
    while let Ok(batch) = rx.recv() {
        for mut v in batch {
            total += v.len();
            v.shrink_to_fit();
            if v.len() % 3 == 0 {
                kept.push(v);
            }
        }
        if kept.len() > 2000 {
            kept.drain(..1000);
        }
    }
    producer.join().unwrap();
    assert!(total > 0);
    let z = raw::alloc_zeroed(4096, 16);
    // SAFETY: a fresh zeroed block of 4096 bytes.
    unsafe {
        assert!(std::slice::from_raw_parts(z, 4096).iter().all(|&x| x == 0));
        raw::free(z);
    }
    assert!(segment_errors().is_empty());
}

#[test]
fn sampled_blocks_record_the_request_and_name_their_site() {
    let env = [("SLABSCOPE_CHECK", "1"), ("SLABSCOPE_SAMPLE", "1")];
    if let Some(err) = checked_child_with(
        "sampled_blocks_record_the_request_and_name_their_site",
        &env,
    ) {
        let r = reports(&err);
        assert_eq!(r.len(), 1, "{err}");
        assert!(
            r[0].contains("double_free") && r[0].contains(", sample site "),
            "{err}"
        );
        return;
    }
    // Every allocation exhausts a 1-byte countdown: each is sampled. The trailer the
    // check adds is not part of what the sample records.
    let small: Vec<usize> = (0..50).map(|_| raw::alloc(2300, 16) as usize).collect();
    let large: Vec<usize> = (0..3).map(|_| raw::alloc(100_000, 16) as usize).collect();
    let snap = common::open_own().snapshot().expect("snapshot");
    assert!(
        snap.sites.iter().any(|s| s.live_bytes == 50 * 2300),
        "no site holds exactly 50 x 2300 B: {:?}",
        snap.sites.iter().map(|s| s.live_bytes).collect::<Vec<_>>()
    );
    assert!(snap.sites.iter().any(|s| s.live_bytes == 3 * 100_000));
    free_all(&large);
    let p = small[0];
    free_all(&small);
    // SAFETY: the misuse under test: a sampled block freed again.
    unsafe { raw::free(p as *mut u8) };
}
