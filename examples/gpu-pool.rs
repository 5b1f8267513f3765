//! gpu-pool: a batch workload on the GPU slab pool, visible in `alloc-inspect`.
//!
//! Every batch allocates a cohort of buffers (mostly 8 KiB containers, some metadata,
//! a few large staging buffers and the odd oversize one), holds them while the batch
//! "runs", and drops them together: the pattern of a batched decompress, where each
//! call needs one output buffer per chunk. On a machine with a CUDA device the pool sits
//! on device memory; otherwise on host memory. It says which on stdout.
//!
//! ```text
//! cargo run -p slabscope-examples --example gpu-pool -- --seconds 30
//! alloc-inspect <pid>          # in another terminal: the GPU view shows the pool
//! cargo run --release -p slabscope-examples --example gpu-pool -- --bench
//! ```
//!
//! Options: `--seconds N` (default 10), `--host` (host memory even with a GPU),
//! `--cache-limit BYTES`, `--pause-ms N` between batches (default 2), `--bench`
//! (pool hit vs raw device allocate+free on every backend present, then exit).

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use slabscope::gpu::{human_bytes, CudaMemory, DeviceMemory, HostMemory, PoolConfig, SlabPool};

// The host allocator publishes this process's segment; the pool joins it (its default
// `Publish::Process`), so `alloc-inspect <pid>` shows both.
#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

struct Args {
    seconds: u64,
    host: bool,
    cache_limit: Option<u64>,
    pause_ms: u64,
    bench: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seconds: 10,
        host: false,
        cache_limit: None,
        pause_ms: 2,
        bench: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.parse().map_err(|_| format!("{name}: not a number: {v}"))
        };
        match a.as_str() {
            "--seconds" => args.seconds = num("--seconds")?,
            "--cache-limit" => args.cache_limit = Some(num("--cache-limit")?),
            "--pause-ms" => args.pause_ms = num("--pause-ms")?,
            "--host" => args.host = true,
            "--bench" => args.bench = true,
            "-h" | "--help" => {
                return Err(
                    "usage: gpu-pool [--seconds N] [--host] [--cache-limit BYTES] \
                            [--pause-ms N] [--bench]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument: {other} (try --help)")),
        }
    }
    Ok(args)
}

/// CUDA device 0 when there is one (and `--host` was not given), else host memory.
fn pick_memory(force_host: bool) -> Box<dyn DeviceMemory> {
    if !force_host {
        match CudaMemory::new(0) {
            Ok(cuda) => {
                println!("backend: cuda device 0 ({})", cuda.name());
                return Box::new(cuda);
            }
            Err(e) => println!("backend: host memory (no CUDA device: {e})"),
        }
    } else {
        println!("backend: host memory (--host)");
    }
    Box::new(HostMemory::new())
}

/// A small xorshift generator: the same workload on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One buffer size of a cohort: 8 KiB containers mostly, like a bitmap cohort.
fn cohort_size(rng: &mut Rng) -> u64 {
    match rng.next() % 100 {
        0..=59 => 8 << 10,
        60..=79 => 512 + rng.next() % 3584, // metadata, 4 KiB bucket
        80..=94 => (16 << 10) << (rng.next() % 6), // 16 KiB .. 512 KiB staging
        95..=98 => (1 << 20) + rng.next() % (1 << 20), // 2 MiB bucket
        _ => 3 << 20,                       // oversize
    }
}

fn run_workload(args: &Args) -> ExitCode {
    let memory = pick_memory(args.host);
    let config = PoolConfig {
        cache_limit: args.cache_limit,
        name: Some(format!("gpu-pool {}", memory.name())),
        ..PoolConfig::default()
    };
    let pool = match SlabPool::with_config(memory, config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("gpu-pool: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pid = std::process::id();
    if pool.is_published() {
        println!("pid {pid}: inspect with `alloc-inspect {pid}`");
    } else {
        println!("pid {pid}: not published (SLABSCOPE_PUBLISH=0, or no segment could be created)");
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.seconds);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut batches, mut last_report) = (0u64, start);
    let mut status = ExitCode::SUCCESS;
    while Instant::now() < deadline {
        let cohort = 4 + rng.next() % 21;
        let mut buffers = Vec::with_capacity(cohort as usize);
        for _ in 0..cohort {
            match pool.alloc(cohort_size(&mut rng)) {
                Ok(b) => buffers.push(b),
                Err(e) => {
                    eprintln!("gpu-pool: batch {batches}: {e}");
                    status = ExitCode::FAILURE;
                    break;
                }
            }
        }
        // The batch "runs" while its buffers are held; then the cohort goes back at once.
        black_box(
            buffers
                .iter()
                .map(|b| b.device_ptr())
                .fold(0, u64::wrapping_add),
        );
        std::thread::sleep(Duration::from_millis(args.pause_ms));
        drop(buffers);
        batches += 1;
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            let s = pool.stats();
            println!(
                "{:>4.0}s  batches {batches}  hits {}  misses {}  oversize {}  cached {}  high-water {}",
                start.elapsed().as_secs_f64(),
                s.hits(),
                s.misses(),
                s.oversize,
                human_bytes(s.cached_bytes()),
                human_bytes(s.high_water_bytes),
            );
        }
    }
    let s = pool.stats();
    let served = s.hits() + s.misses();
    println!(
        "done: {batches} batches, {served} pooled allocations, hit rate {:.1}%, {} oversize",
        if served > 0 {
            100.0 * s.hits() as f64 / served as f64
        } else {
            0.0
        },
        s.oversize
    );
    match pool.trim() {
        Ok(t) => println!(
            "trim: {} buffers, {} given back",
            t.buffers,
            human_bytes(t.bytes)
        ),
        Err(e) => {
            eprintln!("gpu-pool: trim: {e}");
            status = ExitCode::FAILURE;
        }
    }
    status
}

/// Nanoseconds per iteration of `f`, best of three rounds of `iters`.
fn time_ns(iters: u32, mut f: impl FnMut()) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / f64::from(iters)
        })
        .fold(f64::INFINITY, f64::min)
}

fn bench_backend(memory: Box<dyn DeviceMemory>, iters: u32) -> Result<(), String> {
    println!(
        "\n{} ({}), {iters} iterations x 3 rounds, best round:",
        memory.name(),
        memory.backend()
    );
    println!("| size | raw allocate+free | pool hit (alloc+drop) | speed-up |");
    println!("|---:|---:|---:|---:|");
    let config = PoolConfig {
        publish: slabscope::gpu::Publish::Off,
        ..PoolConfig::default()
    };
    let pool = SlabPool::with_config(memory, config).map_err(|e| e.to_string())?;
    for size in [4u64 << 10, 64 << 10, 1 << 20] {
        let mut err = None;
        let raw = time_ns(iters, || match pool.memory().allocate(size) {
            Ok(a) => {
                if let Err(e) = pool.memory().free(black_box(a)) {
                    err = Some(e.to_string());
                }
            }
            Err(e) => err = Some(e.to_string()),
        });
        drop(pool.alloc(size).map_err(|e| e.to_string())?); // warm the bucket
        let hit = time_ns(iters, || match pool.alloc(size) {
            Ok(b) => drop(black_box(b)),
            Err(e) => err = Some(e.to_string()),
        });
        if let Some(e) = err {
            return Err(e);
        }
        println!(
            "| {} | {raw:.0} ns | {hit:.0} ns | {:.0}x |",
            human_bytes(size),
            raw / hit
        );
    }
    let s = pool.stats();
    if s.misses() != 3 {
        return Err(format!(
            "expected only the 3 warming misses, the pool saw {}",
            s.misses()
        ));
    }
    Ok(())
}

fn run_bench() -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    let mut run = |m: Box<dyn DeviceMemory>, iters| {
        if let Err(e) = bench_backend(m, iters) {
            eprintln!("gpu-pool: bench: {e}");
            status = ExitCode::FAILURE;
        }
    };
    run(Box::new(HostMemory::new()), 20_000);
    match CudaMemory::new(0) {
        Ok(cuda) => run(Box::new(cuda), 2_000),
        Err(e) => println!("\ncuda: not measured ({e})"),
    }
    status
}

fn main() -> ExitCode {
    match parse_args() {
        Ok(args) if args.bench => run_bench(),
        Ok(args) => run_workload(&args),
        Err(msg) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}
