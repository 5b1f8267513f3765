//! The GPU pool on a real CUDA device.
//!
//! Whether a device is present is only known at run time, so this test binary uses a
//! custom harness (libtest-mimic, `harness = false`): with a device every test runs;
//! without one it prints `skipped: no CUDA device (<reason>)` once and reports every
//! test as *ignored* in the summary, so a skip is never counted as a pass. Running with
//! `--include-ignored` on a machine without a device makes each test fail with the
//! reason.

mod gpu_support;

use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use slabscope::gpu::{Backend, CudaMemory, DeviceMemory, PoolConfig, PoolError, Publish, SlabPool};
use slabscope_proto::layout::MAX_CLASSES;
use slabscope_proto::reader::SegmentReader;
use slabscope_proto::writer::{SegmentConfig, SegmentWriter};
use slabscope_proto::GpuBackend;

/// The host allocator is slabscope here too, so that CUDA's own address-space
/// reservations are made in a process whose SuperSlabs already sit in the placement
/// region (docs/ALLOCATOR.md), as in a CUDA program under the preload.
#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what().into())
    }
}

fn device() -> Result<CudaMemory, Failed> {
    CudaMemory::new(0).map_err(|e| format!("no CUDA device: {e}").into())
}

fn unpublished(memory: CudaMemory) -> SlabPool<CudaMemory> {
    let config = PoolConfig {
        publish: Publish::Off,
        ..PoolConfig::default()
    };
    SlabPool::with_config(memory, config).expect("default config is valid")
}

fn device_reports_name_and_memory() -> Result<(), Failed> {
    let d = device()?;
    let info = d.mem_info()?;
    ensure(!d.name().is_empty(), || "empty device name".into())?;
    ensure(
        d.backend() == Backend::Cuda && d.ordinal() == Some(0),
        || format!("{d:?}"),
    )?;
    ensure(info.total > 0 && info.free <= info.total, || {
        format!("{info:?}")
    })?;
    println!("{}: {} free of {} bytes", d.name(), info.free, info.total);
    Ok(())
}

fn raw_allocate_and_free() -> Result<(), Failed> {
    let d = device()?;
    let a = d.allocate(MIB)?;
    ensure(a.ptr() != 0 && a.ptr() % 256 == 0, || format!("{a:?}"))?;
    d.free(a)?;
    Ok(())
}

fn pool_buckets_reuse_and_bypass() -> Result<(), Failed> {
    let pool = unpublished(device()?);
    let a = pool.alloc(5000)?;
    let b = pool.alloc(5000)?;
    ensure(a.bucket_bytes() == Some(8 * KIB), || format!("{a:?}"))?;
    let (pa, pb) = (a.device_ptr(), b.device_ptr());
    drop(a);
    drop(b);
    let c = pool.alloc(8 * KIB)?;
    ensure(c.device_ptr() == pb, || "LIFO reuse".into())?;
    let d = pool.alloc(8 * KIB)?;
    ensure(d.device_ptr() == pa, || "LIFO reuse".into())?;
    let big = pool.alloc(3 * MIB)?;
    ensure(big.is_oversize(), || format!("{big:?}"))?;
    let s = pool.stats();
    let b8 = s.bucket(8 * KIB).ok_or("no 8 KiB bucket")?;
    ensure((b8.hits, b8.misses, s.oversize) == (2, 2, 1), || {
        format!("{s:?}")
    })?;
    drop((c, d, big));
    let t = pool.trim()?;
    ensure(t.buffers == 2 && t.bytes == 16 * KIB, || format!("{t:?}"))?;
    Ok(())
}

fn pool_oom_names_the_device() -> Result<(), Failed> {
    let d = device()?;
    let total = d.mem_info()?.total;
    let pool = unpublished(d);
    let err = match pool.alloc(total * 2) {
        Ok(b) => return Err(format!("allocated twice the device memory: {b:?}").into()),
        Err(e) => e,
    };
    let msg = err.to_string();
    println!("{msg}");
    ensure(matches!(err, PoolError::OutOfMemory(_)), || msg.clone())?;
    for needle in [
        "out of memory on cuda:0",
        "oversize",
        "free of",
        "CUDA_ERROR_OUT_OF_MEMORY",
    ] {
        ensure(msg.contains(needle), || {
            format!("missing {needle:?} in {msg}")
        })?;
    }
    ensure(pool.stats().device_ooms == 1, || "device_ooms".into())
}

fn pool_eight_threads() -> Result<(), Failed> {
    let pool = unpublished(device()?);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8u64)
            .map(|t| {
                let pool = &pool;
                s.spawn(move || -> Result<(), PoolError> {
                    let mut held = Vec::new();
                    for i in 0..200u64 {
                        held.push(pool.alloc((4 * KIB) << ((t + i) % 6))?);
                        if held.len() > 4 {
                            held.remove(0);
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| Failed::from("thread panicked"))?
                .map_err(Failed::from)
        })
    })?;
    let s = pool.stats();
    ensure(s.live_bytes() == 0 && s.hits() + s.misses() == 1600, || {
        format!("{s:?}")
    })
}

fn pool_published_as_cuda() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let mut class_sizes = [0u32; MAX_CLASSES];
    class_sizes[0] = 16;
    let cfg = SegmentConfig {
        class_sizes,
        class_count: 1,
        max_threads: 4,
        max_superslabs: 4,
        max_gpu_pools: 2,
        ring_capacity: 64,
        drain_interval: 1024,
        limit_bytes: 0,
        flags: 0,
    };
    let dir_bytes = dir.path().as_os_str().as_encoded_bytes();
    let writer = Arc::new(SegmentWriter::create(dir_bytes, std::process::id(), &cfg)?);
    let config = PoolConfig {
        publish: Publish::Segment(Arc::clone(&writer)),
        ..PoolConfig::default()
    };
    let pool = SlabPool::with_config(device()?, config)?;
    drop(pool.alloc(MIB)?);
    let path = std::path::PathBuf::from(String::from_utf8_lossy(writer.path_bytes()).into_owned());
    let snap = SegmentReader::open(&path)?.snapshot()?;
    let g = snap.gpu.first().ok_or("no GPU pool in the segment")?;
    ensure(g.backend == GpuBackend::Cuda && g.device == Some(0), || {
        format!("{g:?}")
    })?;
    ensure(g.device_total_bytes > 0, || format!("{g:?}"))?;
    let b = g
        .buckets
        .iter()
        .find(|b| b.bucket_bytes == MIB)
        .ok_or("no 1 MiB bucket")?;
    ensure((b.misses, b.cached) == (1, 1), || format!("{b:?}"))
}

/// One CUDA test: `Err` fails it.
type CudaTest = fn() -> Result<(), Failed>;

fn main() {
    let args = Arguments::from_args();
    let present = match CudaMemory::new(0) {
        Ok(_) => true,
        Err(e) => {
            println!("skipped: no CUDA device ({e})");
            false
        }
    };
    let tests: [(&str, CudaTest); 6] = [
        (
            "device_reports_name_and_memory",
            device_reports_name_and_memory,
        ),
        ("raw_allocate_and_free", raw_allocate_and_free),
        (
            "pool_buckets_reuse_and_bypass",
            pool_buckets_reuse_and_bypass,
        ),
        ("pool_oom_names_the_device", pool_oom_names_the_device),
        ("pool_eight_threads", pool_eight_threads),
        ("pool_published_as_cuda", pool_published_as_cuda),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, f)| Trial::test(name, f).with_ignored_flag(!present))
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
