//! Recording cost: `record` of the demo workload for a while at the default interval,
//! then what a replay of the file costs. Prints the file's size and rate, the frames
//! taken against those asked for, and the times to open the file, to rebuild its
//! middle frame, and to seek there as the replay's `→` does (the frame and the
//! history before it, folded into a fresh state). Run:
//! `cargo bench -p alloc-inspect --bench recording -- [SECONDS] [INTERVAL_MS]`; with
//! `RECORDING_FILE=F` the recording is kept at `F`, with `REPLAY_FILE=F` only the replay
//! of `F` is measured (default 600 s at 100 ms).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloc_inspect::record::{self, RecordEnd, ReplaySource};
use alloc_inspect::source::{Source, SourceControl};
use alloc_inspect::state::{Action, State};

/// Kills and reaps the demo when the benchmark ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Decodes timed.
const DECODES: u32 = 20;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    // `REPLAY_FILE=F`: measure the replay of an existing recording only.
    if let Some(f) = std::env::var_os("REPLAY_FILE") {
        replay(std::path::Path::new(&f));
        return;
    }
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = args.first().copied().unwrap_or(600);
    let interval_ms = args.get(1).copied().unwrap_or(100);
    let dir = tempfile::tempdir().expect("tempdir");
    // The demo as `alloc-inspect demo` runs it: its own process, publishing.
    let child = Command::new(env!("CARGO_BIN_EXE_alloc-inspect"))
        .args(["__demo-child", "--seconds", &(seconds + 30).to_string()])
        .env("SLABSCOPE_PUBLISH", "1")
        .env("SLABSCOPE_SHM_DIR", dir.path())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn the demo");
    let child = Reaped(child);
    let pid = child.0.id();
    let segment = dir.path().join(format!("slabscope.{pid}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !segment.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The segment exists before its header is complete: give the demo a moment.
    std::thread::sleep(Duration::from_millis(500));
    let file = std::env::var_os("RECORDING_FILE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("demo.rec"));
    let started = Instant::now();
    let summary = record::record_segment(
        pid,
        &segment,
        &file,
        interval_ms,
        RecordEnd::Seconds(seconds),
        |_| {},
    )
    .expect("record");
    let took = started.elapsed();
    let segment_bytes = std::fs::metadata(&segment).map(|m| m.len()).unwrap_or(0);
    drop(child);
    let asked = took.as_millis() as u64 / interval_ms;
    let mib = summary.bytes as f64 / (1 << 20) as f64;
    println!(
        "recorded {seconds} s at {interval_ms} ms: {} frames of {asked} due ({} missed), {} key frames",
        summary.frames, summary.missed, summary.key_frames
    );
    println!(
        "file {:.1} MiB ({:.1} MiB a minute; the segment is {:.1} MiB, {:.0} MiB a minute as copies)",
        mib,
        mib * 60.0 / seconds as f64,
        segment_bytes as f64 / (1 << 20) as f64,
        segment_bytes as f64 * summary.frames as f64 / (1 << 20) as f64 * 60.0 / seconds as f64
    );
    replay(&file);
}

/// Prints what opening, rebuilding and seeking in `file` take.
fn replay(file: &std::path::Path) {
    let t = Instant::now();
    let mut replay = ReplaySource::open(file).expect("open");
    let open = t.elapsed();
    let mid = replay.len() / 2;
    let t = Instant::now();
    replay.frame(mid).expect("middle frame");
    let middle = t.elapsed();
    // Decoding alone (the copy on hand, read as a segment: snapshot and events).
    let t = Instant::now();
    for _ in 0..DECODES {
        replay.frame(mid).expect("middle frame");
    }
    let decode = t.elapsed() / DECODES;
    println!("decode of one frame: {:.2} ms", ms(decode));
    // A seek as `→` makes it from ten frames before the middle, on a fresh open: the
    // frames of the history rebuilt and folded into a new state.
    let mut replay = ReplaySource::open(file).expect("open");
    let mut state = State::new(replay.target());
    for _ in 0..=mid - record::SEEK_FRAMES.min(mid) {
        replay.next_frame().expect("frame");
    }
    let t = Instant::now();
    let SourceControl::Rewind(frames) = replay.control(Action::Right) else {
        panic!("the seek was refused");
    };
    let rebuilt = t.elapsed();
    let n = frames.len();
    for f in frames {
        state.fold(f);
    }
    let seek = t.elapsed();
    println!(
        "replay: open {:.1} ms, middle frame (#{mid}) rebuilt {:.1} ms, seek to it {:.1} ms ({n} frames of history rebuilt in {:.1} ms, folded in {:.1} ms)",
        ms(open),
        ms(middle),
        ms(seek),
        ms(rebuilt),
        ms(seek - rebuilt)
    );
}
