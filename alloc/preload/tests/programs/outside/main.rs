//! A Rust program that depends on slabscope from outside its workspace (none of the
//! workspace's build settings, so no forced frame pointers) and leaks from one function.

use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: slabscope::SlabScope = slabscope::SlabScope::new();

/// The leak: one 1 KiB entry per call, kept for ever.
#[inline(never)]
fn remember(cache: &mut Vec<Vec<u8>>, key: u64) {
    cache.push(vec![key as u8; 1024]);
}

/// Churn: buffers that live for one request.
#[inline(never)]
fn handle_request(cache: &mut Vec<Vec<u8>>, n: u64) -> u64 {
    let parts: Vec<String> = (0..8u64)
        .map(|i| "x".repeat(16 + ((n * 7 + i * 13) % 2000) as usize))
        .collect();
    let sum = parts.iter().map(|p| p.len() as u64).sum();
    if n % 16 == 0 {
        remember(cache, n);
    }
    sum
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1e9);
    let start = Instant::now();
    let mut cache = Vec::new();
    let mut sum = 0u64;
    for n in 1.. {
        sum = sum.wrapping_add(handle_request(&mut cache, n));
        if n % 64 == 0 {
            if start.elapsed().as_secs_f64() >= seconds {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    println!("{sum} {}", cache.len());
}
