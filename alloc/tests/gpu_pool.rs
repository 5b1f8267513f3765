//! Behaviour of the GPU slab pool on host memory (runs everywhere).

mod gpu_support;

use std::collections::HashSet;
use std::sync::Mutex;

use gpu_support::TestDevice;
use slabscope::gpu::{
    DeviceMemory, HostMemory, PoolConfig, PoolError, Publish, SlabPool, TrimReport,
    MIN_BUCKET_BYTES,
};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// A pool that is not published: these tests look at the pool alone (gpu_publish.rs
/// covers the segment).
fn unpublished<M: DeviceMemory>(memory: M) -> SlabPool<M> {
    pool_with(memory, PoolConfig::default())
}

fn pool() -> SlabPool<TestDevice> {
    unpublished(TestDevice::unlimited())
}

fn pool_with<M: DeviceMemory>(memory: M, config: PoolConfig) -> SlabPool<M> {
    let config = PoolConfig {
        publish: Publish::Off,
        ..config
    };
    SlabPool::with_config(memory, config).expect("valid config")
}

#[test]
fn requests_round_up_to_power_of_two_buckets_from_4k_to_the_ceiling() {
    let p = pool();
    assert_eq!(p.bucket_for(0), Some(4 * KIB));
    assert_eq!(p.bucket_for(1), Some(4 * KIB));
    assert_eq!(p.bucket_for(4 * KIB), Some(4 * KIB));
    assert_eq!(p.bucket_for(4 * KIB + 1), Some(8 * KIB));
    assert_eq!(p.bucket_for(5000), Some(8 * KIB));
    assert_eq!(p.bucket_for(9000), Some(16 * KIB));
    assert_eq!(p.bucket_for(2 * MIB), Some(2 * MIB));
    assert_eq!(p.bucket_for(2 * MIB + 1), None);
    assert_eq!(p.bucket_for(u64::MAX), None);
    assert_eq!(p.bucket_sizes().len(), 10); // 4 KiB .. 2 MiB

    let b = p.alloc(5000).unwrap();
    assert_eq!(
        (b.len(), b.capacity(), b.bucket_bytes()),
        (5000, 8 * KIB, Some(8 * KIB))
    );
    assert!(!b.is_oversize());
    assert_eq!(
        p.memory().used(),
        8 * KIB,
        "the device is asked for the whole bucket"
    );

    let zero = p.alloc(0).unwrap();
    assert!(zero.is_empty());
    assert_eq!(zero.bucket_bytes(), Some(MIN_BUCKET_BYTES));
    assert_ne!(zero.device_ptr(), 0);
}

#[test]
fn the_ceiling_is_configurable_and_checked() {
    let config = PoolConfig {
        max_bucket_bytes: 64 * KIB,
        ..PoolConfig::default()
    };
    let p = pool_with(TestDevice::unlimited(), config);
    assert_eq!(
        p.bucket_sizes(),
        &[4 * KIB, 8 * KIB, 16 * KIB, 32 * KIB, 64 * KIB]
    );
    assert_eq!(p.bucket_for(64 * KIB + 1), None);

    for bad in [0, 2 * KIB, 3 * 4 * KIB, 64 * 1024 * 1024 * MIB] {
        let config = PoolConfig {
            max_bucket_bytes: bad,
            ..PoolConfig::default()
        };
        let err = SlabPool::with_config(HostMemory::new(), config).unwrap_err();
        assert!(matches!(err, PoolError::InvalidConfig(_)), "{bad}: {err}");
        assert!(err.to_string().contains(&bad.to_string()), "{err}");
    }
}

#[test]
fn a_bucket_reuses_its_buffers_last_in_first_out() {
    let p = pool();
    let a = p.alloc(8 * KIB).unwrap();
    let b = p.alloc(8 * KIB).unwrap();
    let (pa, pb) = (a.device_ptr(), b.device_ptr());
    assert_ne!(pa, pb);
    drop(a);
    drop(b);
    let c = p.alloc(7000).unwrap();
    let d = p.alloc(8 * KIB).unwrap();
    assert_eq!(
        c.device_ptr(),
        pb,
        "most recently returned comes back first"
    );
    assert_eq!(d.device_ptr(), pa);
    assert_eq!(p.memory().allocs(), 2, "hits never reach the device");
    let s = p.stats();
    let b8 = s.bucket(8 * KIB).unwrap();
    assert_eq!((b8.hits, b8.misses, b8.live, b8.cached), (2, 2, 2, 0));
}

#[test]
fn buckets_are_independent() {
    let p = pool();
    let b8 = p.alloc(8 * KIB).unwrap();
    let b16 = p.alloc(16 * KIB).unwrap();
    let (p8, p16) = (b8.device_ptr(), b16.device_ptr());
    drop(b8);
    drop(b16);

    let again16 = p.alloc(16 * KIB).unwrap();
    assert_eq!(again16.device_ptr(), p16);
    let s = p.stats();
    assert_eq!(
        s.bucket(8 * KIB).unwrap().cached,
        1,
        "8 KiB cache untouched"
    );
    assert_eq!(s.bucket(16 * KIB).unwrap().cached, 0);

    // A 16 KiB request never takes the cached 8 KiB buffer, and vice versa.
    let fresh16 = p.alloc(16 * KIB).unwrap();
    assert_ne!(fresh16.device_ptr(), p8);
    let again8 = p.alloc(8 * KIB).unwrap();
    assert_eq!(again8.device_ptr(), p8);
    assert_eq!(p.stats().bucket(16 * KIB).unwrap().misses, 2);
}

#[test]
fn oversize_requests_bypass_the_pool() {
    let p = pool();
    let big = p.alloc(2 * MIB + 1).unwrap();
    assert!(big.is_oversize());
    assert_eq!((big.bucket_bytes(), big.capacity()), (None, 2 * MIB + 1));
    let s = p.stats();
    assert_eq!(
        (s.oversize, s.oversize_live, s.oversize_live_bytes),
        (1, 1, 2 * MIB + 1)
    );
    assert_eq!(s.hits() + s.misses(), 0, "no bucket involved");
    assert_eq!(s.live_bytes(), 2 * MIB + 1);
    drop(big);

    let s = p.stats();
    assert_eq!(
        (s.oversize, s.oversize_live, s.oversize_live_bytes),
        (1, 0, 0)
    );
    assert_eq!(s.cached_bytes(), 0, "oversize buffers are never cached");
    assert_eq!(p.memory().frees(), 1, "went straight back to the device");
    assert_eq!(p.memory().used(), 0);
}

#[test]
fn high_water_counts_the_most_buffers_held_at_once() {
    let p = pool();
    let held: Vec<_> = (0..3).map(|_| p.alloc(8 * KIB).unwrap()).collect();
    drop(held);
    let again: Vec<_> = (0..2).map(|_| p.alloc(8 * KIB).unwrap()).collect();
    let big = p.alloc(4 * MIB).unwrap();
    let s = p.stats();
    let b8 = s.bucket(8 * KIB).unwrap();
    assert_eq!((b8.high_water, b8.live, b8.cached), (3, 2, 1));
    assert_eq!(s.high_water_bytes, 3 * 8 * KIB + 4 * MIB);
    drop((again, big));
    assert_eq!(p.stats().bucket(8 * KIB).unwrap().high_water, 3);
}

#[test]
fn trim_gives_every_cached_buffer_back() {
    let p = pool();
    let bufs: Vec<_> = [4 * KIB, 8 * KIB, 8 * KIB, 64 * KIB]
        .iter()
        .map(|&n| p.alloc(n).unwrap())
        .collect();
    let keep = p.alloc(16 * KIB).unwrap();
    drop(bufs);
    assert_eq!(p.stats().cached_bytes(), 84 * KIB);

    let report = p.trim().unwrap();
    assert_eq!(
        report,
        TrimReport {
            buffers: 4,
            bytes: 84 * KIB
        }
    );
    let s = p.stats();
    assert_eq!(s.cached_bytes(), 0);
    assert_eq!((s.trims, s.trimmed_bytes), (1, 84 * KIB));
    assert_eq!(s.bucket(8 * KIB).unwrap().trimmed, 2);
    assert_eq!(s.live_bytes(), 16 * KIB, "live buffers are not touched");
    assert_eq!(p.memory().used(), 16 * KIB);

    assert_eq!(
        p.trim().unwrap(),
        TrimReport::default(),
        "nothing left to trim"
    );
    assert_eq!(p.stats().trims, 1, "an empty trim is not counted");
    let after = p.alloc(8 * KIB).unwrap();
    assert_eq!(
        p.stats().bucket(8 * KIB).unwrap().misses,
        3,
        "the cache was empty"
    );
    drop((keep, after));
}

#[test]
fn cache_limit_keeps_cached_bytes_under_budget() {
    let config = PoolConfig {
        cache_limit: Some(24 * KIB),
        ..PoolConfig::default()
    };
    let p = pool_with(TestDevice::unlimited(), config);
    let b16 = p.alloc(16 * KIB).unwrap();
    let eights: Vec<_> = (0..3).map(|_| p.alloc(8 * KIB).unwrap()).collect();
    drop(b16);
    let mut eights = eights.into_iter();
    drop(eights.next()); // 16 + 8 = 24 KiB cached: at the limit
    assert_eq!(p.stats().cached_bytes(), 24 * KIB);
    assert_eq!(p.stats().trims, 0);

    drop(eights.next()); // would be 32 KiB: the 16 KiB buffer (largest bucket) goes
    let s = p.stats();
    assert_eq!(s.cached_bytes(), 16 * KIB);
    assert_eq!(
        (
            s.bucket(16 * KIB).unwrap().trimmed,
            s.bucket(8 * KIB).unwrap().cached
        ),
        (1, 2)
    );
    assert_eq!(s.trims, 1);

    drop(eights.next()); // 24 KiB: fits
    assert_eq!(p.stats().cached_bytes(), 24 * KIB);

    // A buffer larger than the whole budget is given straight back.
    let big = p.alloc(32 * KIB).unwrap();
    drop(big);
    let s = p.stats();
    assert_eq!(s.cached_bytes(), 24 * KIB);
    assert_eq!(s.bucket(32 * KIB).unwrap().trimmed, 1);
    assert_eq!(
        p.memory().used(),
        24 * KIB,
        "the device holds only the cache"
    );
}

#[test]
fn a_zero_cache_limit_caches_nothing() {
    let config = PoolConfig {
        cache_limit: Some(0),
        ..PoolConfig::default()
    };
    let p = pool_with(TestDevice::unlimited(), config);
    for _ in 0..3 {
        drop(p.alloc(8 * KIB).unwrap());
    }
    let s = p.stats();
    assert_eq!((s.cached_bytes(), s.hits(), s.misses()), (0, 0, 3));
    assert_eq!(p.memory().used(), 0);
}

#[test]
fn eight_threads_share_one_pool() {
    const THREADS: u64 = 8;
    const ROUNDS: u64 = 400;
    let p = pool();
    let live = Mutex::new(HashSet::new());
    let sizes = [
        100,
        4 * KIB,
        5000,
        8 * KIB,
        20 * KIB,
        64 * KIB,
        300 * KIB,
        3 * MIB,
    ];
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (p, live) = (&p, &live);
            s.spawn(move || {
                let mut held = Vec::new();
                let mut x = t * 7919 + 1;
                for _ in 0..ROUNDS {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let size = sizes[(x >> 33) as usize % sizes.len()];
                    let buf = p.alloc(size).unwrap();
                    assert!(buf.capacity() >= size);
                    assert!(
                        live.lock().unwrap().insert(buf.device_ptr()),
                        "pointer handed out twice"
                    );
                    held.push(buf);
                    if held.len() > 6 || (x >> 40) % 3 == 0 {
                        let out = held.swap_remove((x >> 20) as usize % held.len());
                        assert!(live.lock().unwrap().remove(&out.device_ptr()));
                        drop(out);
                    }
                }
                for b in held {
                    assert!(live.lock().unwrap().remove(&b.device_ptr()));
                }
            });
        }
    });
    let s = p.stats();
    assert_eq!(s.live_bytes(), 0);
    assert_eq!(s.hits() + s.misses() + s.oversize, THREADS * ROUNDS);
    assert!(s.hits() > 0);
    assert_eq!(
        s.cached_bytes(),
        p.memory().used(),
        "the device holds exactly the cache"
    );
    for b in &s.buckets {
        assert!(b.high_water >= b.cached, "{b:?}");
        assert_eq!(
            b.misses, b.cached,
            "nothing was trimmed, so every miss is still cached: {b:?}"
        );
    }
    p.trim().unwrap();
    assert_eq!(p.memory().used(), 0);
}

#[test]
fn buffers_can_be_dropped_on_another_thread() {
    let p = pool();
    let buf = p.alloc(8 * KIB).unwrap();
    let ptr = buf.device_ptr();
    std::thread::scope(|s| {
        s.spawn(move || drop(buf));
    });
    assert_eq!(p.alloc(8 * KIB).unwrap().device_ptr(), ptr);
}

#[test]
fn out_of_memory_trims_the_cache_and_retries_once() {
    let p = unpublished(TestDevice::with_limit(64 * KIB));
    let live: Vec<_> = (0..4).map(|_| p.alloc(8 * KIB).unwrap()).collect();
    drop((p.alloc(16 * KIB).unwrap(), p.alloc(16 * KIB).unwrap()));
    assert_eq!(p.memory().used(), 64 * KIB);

    // Full, but 32 KiB of it is cache: the pool gives it back and the retry succeeds.
    let b = p.alloc(32 * KIB).unwrap();
    let s = p.stats();
    assert_eq!((s.trims, s.device_ooms, s.cached_bytes()), (1, 0, 0));
    assert_eq!(s.bucket(16 * KIB).unwrap().trimmed, 2);
    drop((live, b));
}

#[test]
fn out_of_memory_after_the_retry_explains_itself() {
    let p = unpublished(TestDevice::with_limit(256 * KIB));
    let held: Vec<_> = (0..10).map(|_| p.alloc(8 * KIB).unwrap()).collect(); // 80 KiB
    let big = p.alloc(128 * KIB).unwrap();
    drop(p.alloc(16 * KIB).unwrap()); // 16 KiB cached: 224 KiB used, 32 KiB free
    let err = p.alloc(40 * KIB).unwrap_err(); // 64 KiB bucket: does not fit even after the trim

    let PoolError::OutOfMemory(report) = &err else {
        panic!("not an OOM: {err}")
    };
    assert_eq!(
        (report.request, report.bucket_bytes),
        (40 * KIB, Some(64 * KIB))
    );
    assert_eq!(
        (report.trimmed_buffers, report.trimmed_bytes),
        (1, 16 * KIB)
    );
    let msg = err.to_string();
    println!("{msg}");
    for needle in [
        "out of memory on host (test device)",
        "tried to allocate 40.00 KiB (40960 bytes, 64.00 KiB bucket)",
        "device has 48.00 KiB free of 256.00 KiB total",
        "this pool holds 208.00 KiB live and 0 B cached",
        "gave back 1 cached buffer(s) (16.00 KiB) and retried once",
        "test device full",
        "hint: live buffers are held by callers",
        "the 64.00 KiB bucket rounds this request up by 24.00 KiB",
    ] {
        assert!(msg.contains(needle), "missing {needle:?} in:\n{msg}");
    }
    // One table row per bucket that holds something: bucket, live (bytes), cached (bytes).
    let rows: Vec<Vec<&str>> = msg
        .lines()
        .skip(2)
        .filter(|l| l.starts_with("  "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            ["8.00", "KiB", "10", "(80.00", "KiB)", "0", "(0", "B)"],
            ["128.00", "KiB", "1", "(128.00", "KiB)", "0", "(0", "B)"],
        ],
        "{msg}"
    );
    assert_eq!(p.stats().device_ooms, 1);

    let err = p.alloc(3 * MIB).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("oversize: above the 2.00 MiB ceiling, not pooled"),
        "{msg}"
    );
    assert_eq!(p.stats().device_ooms, 2);

    drop(held);
    drop(big);
    assert!(
        p.alloc(40 * KIB).is_ok(),
        "memory given back makes room again"
    );
}

#[test]
fn a_free_refused_in_drop_is_reported_by_the_next_call() {
    let p = pool();
    let big = p.alloc(4 * MIB).unwrap();
    p.memory().fail_frees(true);
    drop(big); // the device refuses: Drop cannot say so
    p.memory().fail_frees(false);

    let err = p.alloc(8 * KIB).unwrap_err();
    let PoolError::FreeFailed {
        deferred,
        errors,
        more,
    } = &err
    else {
        panic!("{err}")
    };
    assert!(*deferred);
    assert_eq!((errors.len(), *more), (1, 0));
    assert!(
        err.to_string()
            .contains("1 device free(s) failed earlier (reported now); test free failed"),
        "{err}"
    );
    assert_eq!(p.stats().free_errors, 1);
    assert!(
        p.alloc(8 * KIB).is_ok(),
        "reported once, then the pool carries on"
    );
}

#[test]
fn trim_reports_refused_frees() {
    let p = pool();
    drop((p.alloc(8 * KIB).unwrap(), p.alloc(8 * KIB).unwrap()));
    p.memory().fail_frees(true);
    let err = p.trim().unwrap_err();
    let PoolError::FreeFailed {
        deferred, errors, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert!(!*deferred);
    assert_eq!(errors.len(), 2);
    assert!(
        err.to_string()
            .starts_with("2 device free(s) failed during trim"),
        "{err}"
    );
    p.memory().fail_frees(false);
    assert_eq!(
        p.stats().cached_bytes(),
        0,
        "refused buffers are no longer counted"
    );
}

#[test]
fn dropping_the_pool_frees_the_cache() {
    let device = std::sync::Arc::new(TestDevice::unlimited());
    {
        let p = unpublished(std::sync::Arc::clone(&device));
        drop((p.alloc(8 * KIB).unwrap(), p.alloc(MIB).unwrap()));
        assert_eq!(device.used(), 8 * KIB + MIB);
    }
    assert_eq!(device.used(), 0);
    assert_eq!(device.frees(), 2);
}

#[test]
fn host_memory_pool_hands_out_page_aligned_writable_buffers() {
    let host = HostMemory::new();
    let page = host.page_size();
    let p = unpublished(host);
    let b = p.alloc(10_000).unwrap();
    assert_eq!(b.device_ptr() % page, 0);
    assert_eq!(p.memory().name(), "host memory");
    assert!(format!("{b:?}").contains("bucket_bytes: Some(16384)"));
}
