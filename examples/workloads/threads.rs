//! A larson-style server workload: N threads each keep a window of live objects of
//! random sizes, replace random ones, and hand a share of what they replace to another
//! thread to free (remote frees). Reports operations per second.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::args::parse_pairs;

/// Options of the threads workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadsOptions {
    /// Seconds to run.
    pub seconds: u64,
    /// Threads (>= 1).
    pub threads: usize,
    /// Smallest object, bytes.
    pub min: usize,
    /// Largest object, bytes.
    pub max: usize,
    /// Live objects per thread.
    pub window: usize,
}

impl Default for ThreadsOptions {
    fn default() -> Self {
        Self {
            seconds: 5,
            threads: 2,
            min: 8,
            max: 1024,
            window: 10_000,
        }
    }
}

impl ThreadsOptions {
    /// Parses `--seconds N --threads N --min N --max N --window N`.
    pub fn from_args(args: impl Iterator<Item = String>) -> Result<ThreadsOptions, String> {
        let mut o = ThreadsOptions::default();
        parse_pairs(args, |name, v| {
            match name {
                "seconds" => o.seconds = v,
                "threads" if (1..=256).contains(&v) => o.threads = v as usize,
                "threads" => return Err("--threads must be between 1 and 256".into()),
                "min" => o.min = v.max(1) as usize,
                "max" => o.max = v as usize,
                "window" if v >= 1 => o.window = v as usize,
                "window" => return Err("--window must be at least 1".into()),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        if o.max < o.min {
            return Err(format!("--max {} is below --min {}", o.max, o.min));
        }
        Ok(o)
    }
}

/// The outcome of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThreadsReport {
    /// Allocations + frees performed.
    pub ops: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// `ops / seconds`.
    pub ops_per_sec: f64,
}

/// Runs the workload and returns its throughput.
pub fn run(opts: &ThreadsOptions) -> ThreadsReport {
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let mailboxes: Arc<Vec<Mutex<Vec<Vec<u8>>>>> =
        Arc::new((0..opts.threads).map(|_| Mutex::new(Vec::new())).collect());
    let start = Instant::now();
    let hs: Vec<_> = (0..opts.threads)
        .map(|t| {
            let (stop, ops, mailboxes, o) =
                (stop.clone(), ops.clone(), mailboxes.clone(), opts.clone());
            std::thread::spawn(move || {
                let mut x = 0x2545_F491_4F6C_DD1Du64 ^ (t as u64 + 1) << 17;
                let mut rnd = move |n: usize| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % n as u64) as usize
                };
                let span = o.max - o.min + 1;
                let mut window: Vec<Vec<u8>> = (0..o.window)
                    .map(|_| vec![t as u8; o.min + rnd(span)])
                    .collect();
                let mut outbox: Vec<Vec<u8>> = Vec::with_capacity(64);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        let i = rnd(o.window);
                        let old =
                            std::mem::replace(&mut window[i], vec![t as u8; o.min + rnd(span)]);
                        if i % 4 == 0 && o.threads > 1 {
                            outbox.push(old);
                        }
                        n += 2;
                    }
                    if outbox.len() >= 64 {
                        let to = (t + 1) % o.threads;
                        if let Ok(mut m) = mailboxes[to].lock() {
                            m.append(&mut outbox);
                        }
                        outbox.clear();
                    }
                    let given = mailboxes[t].lock().map(|mut m| std::mem::take(&mut *m));
                    drop(given);
                }
                ops.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    super::stop::sleep_until(start + Duration::from_secs(opts.seconds));
    stop.store(true, Ordering::Relaxed);
    for h in hs {
        let _ = h.join();
    }
    let seconds = start.elapsed().as_secs_f64();
    let ops = ops.load(Ordering::Relaxed);
    ThreadsReport {
        ops,
        seconds,
        ops_per_sec: ops as f64 / seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_a_short_run_counts_operations() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let o = ThreadsOptions::from_args(args("--threads 3 --seconds 1 --max 64").into_iter())
            .unwrap();
        assert_eq!((o.threads, o.seconds, o.max), (3, 1, 64));
        assert!(ThreadsOptions::from_args(args("--min 100 --max 10").into_iter()).is_err());
        let r = run(&ThreadsOptions {
            seconds: 1,
            threads: 2,
            window: 100,
            ..ThreadsOptions::default()
        });
        assert!(r.ops > 0 && r.ops_per_sec > 0.0);
    }
}
