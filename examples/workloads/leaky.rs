//! `leaky`: a service-like loop with one slow leak, for the leak-hunting workflow
//! (docs/DEBUGGING.md). A few worker threads handle "requests": each allocates and frees
//! buffers of various sizes (normal churn, nothing kept). Every few requests one of them
//! also calls [`leak_session_cache_entry`], which puts a session entry into a cache
//! that is never evicted: the leak, about `--leak-kib` KiB per second in total.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::args::parse_pairs;

/// What `leaky` does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeakyOptions {
    /// Stop after this many seconds (`None`: run until interrupted).
    pub seconds: Option<u64>,
    /// Worker threads.
    pub threads: u64,
    /// KiB leaked per second, all threads together.
    pub leak_kib: u64,
}

impl Default for LeakyOptions {
    fn default() -> Self {
        Self {
            seconds: None,
            threads: 3,
            leak_kib: 2048,
        }
    }
}

impl LeakyOptions {
    /// Parses `--seconds N`, `--threads N`, `--leak-kib N`.
    pub fn from_args(args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut o = Self::default();
        parse_pairs(args, |name, n| {
            match name {
                "seconds" => o.seconds = Some(n),
                "threads" if (1..=64).contains(&n) => o.threads = n,
                "threads" => return Err("--threads must be 1..=64".into()),
                "leak-kib" if (1..=1 << 20).contains(&n) => o.leak_kib = n,
                "leak-kib" => return Err("--leak-kib must be 1..=1048576".into()),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(o)
    }
}

/// The cache that is never evicted.
static SESSION_CACHE: Mutex<Vec<Box<[u8]>>> = Mutex::new(Vec::new());

/// The leak: stores a 4 KiB session entry in a cache nothing ever evicts.
#[inline(never)]
pub fn leak_session_cache_entry(request: u64) {
    let entry = vec![request as u8; 4096].into_boxed_slice();
    SESSION_CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(std::hint::black_box(entry));
}

/// One request: parse, build a response, all freed at the end (normal churn).
#[inline(never)]
fn handle_request(request: u64) -> usize {
    let header = vec![0u8; 64 + (request % 7) as usize * 48];
    let body: Vec<Vec<u8>> = (0..8)
        .map(|i| vec![i as u8; 128 << ((request + i) % 6)])
        .collect();
    let response = format!(
        "{} {}",
        header.len(),
        body.iter().map(Vec::len).sum::<usize>()
    );
    std::hint::black_box(&body);
    response.len()
}

/// Entries leaked so far.
pub fn leaked_entries() -> usize {
    SESSION_CACHE.lock().map(|c| c.len()).unwrap_or(0)
}

/// Runs the workload until `opts.seconds` pass (forever without it) or an end is
/// requested ([`super::stop`]).
pub fn run(opts: &LeakyOptions) {
    let start = Instant::now();
    let deadline = opts.seconds.map(|s| start + Duration::from_secs(s));
    // Each thread leaks one 4 KiB entry every `gap` of its time.
    let per_thread_per_s = (opts.leak_kib / 4).max(1) as f64 / opts.threads as f64;
    let gap = Duration::from_secs_f64(1.0 / per_thread_per_s.max(0.001));
    std::thread::scope(|s| {
        for t in 0..opts.threads {
            s.spawn(move || {
                let mut request = t << 32;
                let mut next_leak = Instant::now();
                loop {
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) || super::stop::requested() {
                        break;
                    }
                    for _ in 0..64 {
                        std::hint::black_box(handle_request(request));
                        request += 1;
                    }
                    if now >= next_leak {
                        leak_session_cache_entry(request);
                        next_leak += gap;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_a_short_run_leaks() {
        let o = LeakyOptions::from_args(
            ["--seconds", "1", "--threads", "2", "--leak-kib", "400"]
                .iter()
                .map(|s| s.to_string()),
        )
        .unwrap();
        assert_eq!(
            o,
            LeakyOptions {
                seconds: Some(1),
                threads: 2,
                leak_kib: 400
            }
        );
        assert!(LeakyOptions::from_args(["--threads", "0"].iter().map(|s| s.to_string())).is_err());
        let before = leaked_entries();
        run(&o);
        assert!(leaked_entries() > before, "a one-second run leaks");
    }
}
