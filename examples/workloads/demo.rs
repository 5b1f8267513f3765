//! The demo workload: a mixed multi-threaded program that changes phase every few
//! seconds so that `alloc-inspect` has something to show.
//!
//! Phases, in a loop:
//! 1. `churn`: steady allocation and free of small objects (16 B - 512 B);
//! 2. `growth`: every thread builds up objects of all classes (16 B - 32 KiB), about
//!    24 MiB per thread;
//! 3. `release`: most of that is freed, so slots go EMPTY, magazines drain and empty
//!    SuperSlabs are returned to the OS;
//! 4. `large`: a burst of large allocations (64 KiB - 4 MiB), mapped directly;
//! 5. `cross-thread`: objects allocated by one thread and freed by another (remote
//!    frees).
//!
//! One line is printed per phase change. Without `--seconds` the demo runs until it is
//! interrupted; in a binary that took [`super::stop::on_term_and_int`], SIGTERM and
//! Ctrl-C end it normally. `alloc-inspect demo` re-executes itself and runs this same workload.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::args::parse_pairs;

/// Options of the demo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoOptions {
    /// Stop after this many seconds (`None`: run until interrupted).
    pub seconds: Option<u64>,
    /// Worker threads (>= 1).
    pub threads: usize,
    /// Milliseconds per phase.
    pub phase_ms: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            seconds: None,
            threads: 4,
            phase_ms: 3000,
        }
    }
}

impl DemoOptions {
    /// Parses `--seconds N`, `--threads N` and `--phase-ms N` (program name excluded).
    pub fn from_args(args: impl Iterator<Item = String>) -> Result<DemoOptions, String> {
        let mut o = DemoOptions::default();
        parse_pairs(args, |name, v| {
            match name {
                "seconds" => o.seconds = Some(v),
                "threads" if (1..=256).contains(&v) => o.threads = v as usize,
                "threads" => return Err("--threads must be between 1 and 256".into()),
                "phase-ms" if v >= 10 => o.phase_ms = v,
                "phase-ms" => return Err("--phase-ms must be at least 10".into()),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(o)
    }
}

/// The phases, in order.
pub const PHASES: [&str; 5] = ["churn", "growth", "release", "large", "cross-thread"];

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DemoReport {
    /// Phases started (counting repeats).
    pub phases: usize,
    /// Allocations made by the workers.
    pub allocations: u64,
}

struct Shared {
    phase: AtomicUsize,
    stop: AtomicBool,
    mailboxes: Vec<Mutex<Vec<Box<[u8]>>>>,
    allocations: AtomicUsize,
}

/// Runs the demo, printing one line per phase change to stdout.
pub fn run(opts: &DemoOptions) -> DemoReport {
    let shared = Arc::new(Shared {
        phase: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        mailboxes: (0..opts.threads).map(|_| Mutex::new(Vec::new())).collect(),
        allocations: AtomicUsize::new(0),
    });
    let workers: Vec<_> = (0..opts.threads)
        .map(|i| {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("demo-{i}"))
                .spawn(move || worker(i, &shared))
                .expect("spawn a demo worker")
        })
        .collect();
    let start = Instant::now();
    let deadline = opts.seconds.map(|s| start + Duration::from_secs(s));
    let mut phases = 0;
    loop {
        let p = phases % PHASES.len();
        shared.phase.store(p, Ordering::Release);
        phases += 1;
        println!(
            "demo: {:>6.1}s phase {}/{} {} ({} threads)",
            start.elapsed().as_secs_f64(),
            p + 1,
            PHASES.len(),
            PHASES[p],
            opts.threads
        );
        let phase_end = Instant::now() + Duration::from_millis(opts.phase_ms);
        let end = deadline.map_or(phase_end, |d| d.min(phase_end));
        if super::stop::sleep_until(end) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    shared.stop.store(true, Ordering::Release);
    for w in workers {
        let _ = w.join();
    }
    for m in &shared.mailboxes {
        m.lock().map(|mut v| v.clear()).ok();
    }
    println!("demo: done after {:.1}s", start.elapsed().as_secs_f64());
    DemoReport {
        phases,
        allocations: shared.allocations.load(Ordering::Relaxed) as u64,
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn object(rng: &mut Rng, max: u64) -> Box<[u8]> {
    let n = 16 + rng.below(max - 15) as usize;
    let mut v = vec![0u8; n].into_boxed_slice();
    v[0] = n as u8;
    v[n - 1] = n as u8;
    v
}

fn worker(me: usize, shared: &Shared) {
    let mut rng = Rng(0x9E37_79B9 ^ ((me as u64 + 1) * 0x1234_5678_9ABC));
    let mut churn: Vec<Box<[u8]>> = Vec::new();
    let mut grown: Vec<Box<[u8]>> = Vec::new();
    let mut grown_bytes = 0usize;
    let mut large: Vec<Box<[u8]>> = Vec::new();
    let mut last_phase = usize::MAX;
    let mut count = 0usize;
    while !shared.stop.load(Ordering::Acquire) {
        let phase = shared.phase.load(Ordering::Acquire);
        if phase != last_phase {
            // Entering a phase: let go of what the previous one held where it says so.
            match PHASES[phase] {
                "churn" => {
                    grown.clear();
                    grown_bytes = 0;
                    large.clear();
                }
                "release" => {
                    // Keep about one object in ten.
                    let mut i = 0;
                    grown.retain(|_| {
                        i += 1;
                        i % 10 == 0
                    });
                    grown_bytes = grown.iter().map(|b| b.len()).sum();
                }
                _ => {}
            }
            last_phase = phase;
        }
        match PHASES[phase] {
            "churn" => {
                if churn.len() < 10_000 {
                    churn.push(object(&mut rng, 512));
                } else {
                    let i = rng.below(churn.len() as u64) as usize;
                    churn[i] = object(&mut rng, 512);
                }
            }
            "growth" => {
                if grown_bytes < 24 << 20 {
                    let o = object(&mut rng, 32 << 10);
                    grown_bytes += o.len();
                    grown.push(o);
                } else {
                    let i = rng.below(churn.len().max(1) as u64) as usize;
                    if let Some(slot) = churn.get_mut(i) {
                        *slot = object(&mut rng, 512);
                    }
                }
            }
            "release" => {
                let i = rng.below(churn.len().max(1) as u64) as usize;
                if let Some(slot) = churn.get_mut(i) {
                    *slot = object(&mut rng, 256);
                }
                if count.is_multiple_of(64) {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            "large" => {
                let n = (64 << 10) + rng.below(4 << 20) as usize;
                large.push(vec![1u8; n].into_boxed_slice());
                if large.len() > 8 {
                    large.remove(0);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            _ => {
                // cross-thread: give objects to the next worker, free what we were given.
                let next = (me + 1) % shared.mailboxes.len();
                let batch: Vec<Box<[u8]>> = (0..64).map(|_| object(&mut rng, 2048)).collect();
                if let Ok(mut m) = shared.mailboxes[next].lock() {
                    if m.len() < 100_000 {
                        m.extend(batch);
                    }
                }
                let mine = shared.mailboxes[me]
                    .lock()
                    .map(|mut m| std::mem::take(&mut *m))
                    .unwrap_or_default();
                for o in &mine {
                    let n = o.len();
                    assert!(o[0] == n as u8 && o[n - 1] == n as u8, "corrupt object");
                }
                drop(mine);
                count += 63;
            }
        }
        count += 1;
        if count.is_multiple_of(1024) {
            shared.allocations.fetch_add(1024, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_reject_bad_input() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let o = DemoOptions::from_args(args("--seconds 5 --threads 2").into_iter()).unwrap();
        assert_eq!(o.seconds, Some(5));
        assert_eq!(o.threads, 2);
        assert_eq!(
            DemoOptions::from_args(std::iter::empty()).unwrap(),
            DemoOptions::default()
        );
        assert!(DemoOptions::from_args(args("--threads 0").into_iter()).is_err());
        assert!(DemoOptions::from_args(args("--seconds").into_iter()).is_err());
        assert!(DemoOptions::from_args(args("--colour 3").into_iter()).is_err());
        assert!(DemoOptions::from_args(args("--seconds x").into_iter()).is_err());
    }

    #[test]
    fn a_short_run_goes_through_every_phase() {
        let r = run(&DemoOptions {
            seconds: Some(2),
            threads: 2,
            phase_ms: 150,
        });
        assert!(r.phases >= PHASES.len(), "{r:?}");
        assert!(r.allocations > 0);
    }
}
