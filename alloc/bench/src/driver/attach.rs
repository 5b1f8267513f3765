//! The hidden `--attach-reader PID` mode: an inspector stand-in in its own process.
//!
//! Opens the segment of `PID` (retrying for up to [`OPEN_WAIT`]), takes a snapshot,
//! prints `attached`, then `hz` times a second takes a full snapshot and polls the
//! event ring, as `alloc-inspect` does at its fastest refresh, until its stdin closes or
//! the process goes away. At the end it prints one JSON line ([`ReaderStats`]).

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use slabscope_proto::{Cursor, SegmentReader};

use crate::procfs;

/// How long to wait for the segment to appear.
pub const OPEN_WAIT: Duration = Duration::from_secs(5);

/// What the reader did.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ReaderStats {
    /// Snapshots taken.
    pub snapshots: u64,
    /// Snapshots that failed.
    pub errors: u64,
    /// Events read from the ring.
    pub events: u64,
    /// Events the reader missed (overwritten before it read them).
    pub missed: u64,
    /// Seconds attached.
    pub seconds: f64,
    /// CPU seconds the reader's polling thread used while attached: what an inspector
    /// at this refresh rate takes from the machine.
    pub cpu_seconds: f64,
}

/// Runs the reader; returns the process exit code.
pub fn reader_main(pid: u32, hz: u32) -> ExitCode {
    let start = Instant::now();
    let reader = loop {
        match SegmentReader::open_pid(pid) {
            Ok(r) => break r,
            Err(e) if start.elapsed() > OPEN_WAIT => {
                eprintln!("slabscope-bench --attach-reader {pid}: {e}");
                return ExitCode::FAILURE;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    // One snapshot before `attached`: the driver starts the workload only after that
    // line, and a smoke-sized workload can end before the polling loop's first turn
    // (the process and its segment gone), which left a reader with no snapshot now and
    // then on a loaded machine.
    let mut stats = ReaderStats::default();
    snapshot(&reader, &mut stats);
    println!("attached");
    let _ = io::stdout().flush();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let _ = io::copy(&mut io::stdin().lock().take(u64::MAX), &mut io::sink());
            stop.store(true, Ordering::Relaxed);
        });
    }
    let period = Duration::from_secs_f64(1.0 / f64::from(hz));
    let proc_dir = format!("/proc/{pid}");
    let mut cursor = Cursor::default();
    let mut events = Vec::with_capacity(4096);
    let attached = Instant::now();
    let cpu_start = procfs::thread_cpu_ns();
    while !stop.load(Ordering::Relaxed) && std::path::Path::new(&proc_dir).exists() {
        let tick = Instant::now();
        snapshot(&reader, &mut stats);
        reader.poll_events(&mut cursor, 4096, &mut events);
        stats.events += events.len() as u64;
        events.clear();
        if let Some(rest) = period.checked_sub(tick.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    stats.missed = cursor.totals.missed;
    stats.seconds = attached.elapsed().as_secs_f64();
    if let (Some(a), Some(b)) = (cpu_start, procfs::thread_cpu_ns()) {
        stats.cpu_seconds = b.saturating_sub(a) as f64 / 1e9;
    }
    match serde_json::to_string(&stats) {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("slabscope-bench --attach-reader: {e}"),
    }
    ExitCode::SUCCESS
}

/// Takes one full snapshot of `reader`'s segment, counted in `stats`.
fn snapshot(reader: &SegmentReader, stats: &mut ReaderStats) {
    match reader.snapshot() {
        Ok(s) => {
            stats.snapshots += 1;
            std::hint::black_box(s.classes.len());
        }
        Err(_) => stats.errors += 1,
    }
}
