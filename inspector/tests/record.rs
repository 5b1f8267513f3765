//! Record and replay: `alloc-inspect record` copies a running process's segment once per
//! frame to a file, and a replay of that file yields the same snapshots, with the
//! events of each frame, and pauses and seeks in the main loop.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use alloc_inspect::app::{self, ScriptedInput};
use alloc_inspect::record::{self, RecordEnd, ReplaySource, SEEK_FRAMES};
use alloc_inspect::source::Source;
use alloc_inspect::state::State;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use slabscope_proto::Snapshot;

mod support;
use support::BIN;

/// Kills and reaps the child when the test ends, passed or not.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn seg(dir: &Path, pid: u32) -> std::path::PathBuf {
    dir.join(format!("slabscope.{pid}"))
}

fn leaky_child(dir: &Path) -> Reaped {
    let child = Command::new(BIN)
        .args(["__leaky-child", "--seconds", "60"])
        .env("SLABSCOPE_PUBLISH", "1")
        .env("SLABSCOPE_SAMPLE", "256K")
        .env("SLABSCOPE_SHM_DIR", dir)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let path = dir.join(format!("slabscope.{}", child.id()));
    support::wait_for_segment(&path);
    Reaped(child)
}

/// Records `frames` frames of `pid` to `file`, returning their snapshots.
fn record_frames(
    pid: u32,
    dir: &Path,
    file: &Path,
    interval_ms: u64,
    frames: u64,
) -> Vec<Snapshot> {
    let mut recorded = Vec::new();
    let summary = record::record_segment(
        pid,
        &seg(dir, pid),
        file,
        interval_ms,
        RecordEnd::Frames(frames),
        |s| recorded.push(s.clone()),
    )
    .unwrap();
    assert_eq!(summary.frames, frames);
    assert_eq!(summary.bytes, std::fs::metadata(file).unwrap().len());
    assert!(summary.key_frames >= 1);
    recorded
}

#[test]
fn a_replay_reproduces_the_recorded_snapshots_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let child = leaky_child(dir.path());
    let pid = child.0.id();
    let file = dir.path().join("leaky.rec");
    let recorded = record_frames(pid, dir.path(), &file, 50, 8);
    assert_eq!(recorded.len(), 8);
    let mut replay = ReplaySource::open(&file).unwrap();
    assert_eq!(replay.len(), 8);
    assert_eq!(replay.target().pid, pid);
    let mut next_seq = None;
    for (i, want) in recorded.iter().enumerate() {
        let f = replay.next_frame().unwrap();
        assert_eq!(&f.snapshot, want, "frame {i}");
        // Each frame's events continue where the previous frame's ended.
        if let (Some(first), Some(seq)) = (f.events.first(), next_seq) {
            assert!(first.seq >= seq, "frame {i} repeats events");
        }
        if let Some(last) = f.events.last() {
            next_seq = Some(last.seq + 1);
        }
        assert!(f.now_mono_ns >= want.heartbeat_mono_ns.min(f.now_mono_ns));
    }
    assert!(
        recorded.last().unwrap().totals.mapped_bytes > 0,
        "the workload ran"
    );
    // At the end the replay stays on its last frame.
    assert!(replay.paused());
    assert_eq!(
        &replay.next_frame().unwrap().snapshot,
        recorded.last().unwrap()
    );
}

#[test]
fn record_command_writes_a_file_that_replay_opens() {
    let dir = tempfile::tempdir().unwrap();
    let child = leaky_child(dir.path());
    let pid = child.0.id();
    let file = dir.path().join("cli.rec");
    let out = Command::new(BIN)
        .args(["record", &pid.to_string(), "-o"])
        .arg(&file)
        .args(["--frames", "3", "--interval", "20"])
        .env("SLABSCOPE_SHM_DIR", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("recorded 3 frames of pid {pid}")),
        "{text}"
    );
    let replay = ReplaySource::open(&file).unwrap();
    assert_eq!(replay.len(), 3);
    // Something else is refused with one clear line.
    let bad = Command::new(BIN)
        .arg("replay")
        .arg(dir.path().join(format!("slabscope.{pid}")))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a slabscope recording"));
}

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

/// Runs the main loop on `replay` for `frames` loops, fed `keys`.
fn play<const N: usize>(
    term: &mut Terminal<TestBackend>,
    replay: &mut ReplaySource,
    state: &mut State,
    keys: [KeyEvent; N],
    frames: u64,
) {
    let mut input = ScriptedInput::new(keys);
    app::run(
        term,
        replay,
        &mut input,
        state,
        app::RunOptions::bounded(frames),
    )
    .unwrap();
}

#[test]
fn space_pauses_and_arrows_seek_in_the_main_loop() {
    let dir = tempfile::tempdir().unwrap();
    let child = leaky_child(dir.path());
    let file = dir.path().join("seek.rec");
    let recorded = record_frames(child.0.id(), dir.path(), &file, 20, 30);
    drop(child);
    let mut replay = ReplaySource::open(&file).unwrap();
    let mut state = State::new(replay.target());
    let mut term = Terminal::new(TestBackend::new(120, 36)).unwrap();
    // Two frames play, then pause: further loops read nothing.
    play(&mut term, &mut replay, &mut state, [], 2);
    assert_eq!(replay.position(), 1);
    play(
        &mut term,
        &mut replay,
        &mut state,
        [key(KeyCode::Char(' '))],
        1,
    );
    let at = replay.position();
    play(&mut term, &mut replay, &mut state, [], 5);
    assert_eq!(replay.position(), at, "paused");
    // → seeks forward; the state shows that frame.
    play(&mut term, &mut replay, &mut state, [key(KeyCode::Right)], 1);
    let ahead = at + SEEK_FRAMES;
    assert_eq!(replay.position(), ahead);
    assert_eq!(state.snapshot.as_ref(), Some(&recorded[ahead]));
    // ← seeks back.
    play(&mut term, &mut replay, &mut state, [key(KeyCode::Left)], 1);
    assert_eq!(replay.position(), at);
    assert_eq!(state.snapshot.as_ref(), Some(&recorded[at]));
}

/// The offsets of a recording's frame blocks, read from the file as the format
/// describes it (docs/INSPECTOR.md): after the header line, block after block.
fn block_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut at = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut out = Vec::new();
    while &bytes[at..at + 4] == b"SRBK" && bytes[at + 4] != 3 {
        out.push(at);
        let word = |i: usize| u32::from_le_bytes(bytes[at + i..at + i + 4].try_into().unwrap());
        at += 24 + word(8) as usize + word(12) as usize;
    }
    out
}

/// A recording of `frames` frames of a leaky child, 20 ms apart: the directory it is in,
/// the snapshots recorded, its bytes and the offsets of its frame blocks.
fn recording(frames: u64) -> (tempfile::TempDir, Vec<Snapshot>, Vec<u8>, Vec<usize>) {
    let dir = tempfile::tempdir().unwrap();
    let child = leaky_child(dir.path());
    let file = dir.path().join("whole.rec");
    let recorded = record_frames(child.0.id(), dir.path(), &file, 20, frames);
    drop(child);
    let bytes = std::fs::read(&file).unwrap();
    let blocks = block_offsets(&bytes);
    assert_eq!(blocks.len() as u64, frames);
    (dir, recorded, bytes, blocks)
}

#[test]
fn a_recording_cut_short_replays_its_whole_frames_and_says_so() {
    let (dir, recorded, bytes, blocks) = recording(12);
    // Cut inside frame 7: the index and trailer are gone with the end of the file.
    let cut = dir.path().join("cut-short.rec");
    std::fs::write(&cut, &bytes[..blocks[7] + 30]).unwrap();
    let mut replay = ReplaySource::open(&cut).unwrap();
    assert_eq!(replay.len(), 7);
    let damage = replay.take_damage().expect("the cut is reported");
    assert!(
        damage.contains("frame 7") && damage.contains("ends inside a block"),
        "{damage}"
    );
    assert!(replay.take_damage().is_none(), "reported once");
    for (i, want) in recorded.iter().take(7).enumerate() {
        assert_eq!(&replay.next_frame().unwrap().snapshot, want, "frame {i}");
    }
    // A file cut at a block boundary (the recorder was killed between frames).
    std::fs::write(&cut, &bytes[..blocks[5]]).unwrap();
    let mut replay = ReplaySource::open(&cut).unwrap();
    assert_eq!(replay.len(), 5);
    assert!(replay.take_damage().unwrap().contains("no index"));
    // Nothing but the header: one clear error.
    std::fs::write(&cut, &bytes[..blocks[0]]).unwrap();
    let e = ReplaySource::open(&cut).err().expect("no frame");
    assert!(e.to_string().contains("holds no frame"), "{e}");
}

#[test]
fn a_damaged_block_ends_the_replay_before_it_with_one_error() {
    let (dir, recorded, bytes, blocks) = recording(12);
    // One byte flipped inside frame 6's payload; the index at the end is intact.
    let mut bad = bytes.clone();
    bad[blocks[6] + 40] ^= 0x55;
    let damaged = dir.path().join("damaged.rec");
    std::fs::write(&damaged, &bad).unwrap();
    let mut replay = ReplaySource::open(&damaged).unwrap();
    assert_eq!(replay.len(), 12, "found when read, not at open");
    for (i, want) in recorded.iter().take(6).enumerate() {
        assert_eq!(&replay.next_frame().unwrap().snapshot, want, "frame {i}");
    }
    assert!(replay.take_damage().is_none());
    // Frame 6 gives frame 5 again, and the replay ends there.
    assert_eq!(&replay.next_frame().unwrap().snapshot, &recorded[5]);
    assert_eq!(replay.len(), 6);
    assert!(replay.paused(), "at its end");
    let damage = replay.take_damage().expect("reported");
    assert!(
        damage.contains("frame 6 is damaged") && damage.contains("checksum"),
        "{damage}"
    );
    // A seek past the damage, to a frame built on it (before the next key frame),
    // stops at the last intact frame.
    let next_key = (7..12).find(|&i| bytes[blocks[i] + 4] == 1).unwrap_or(12);
    let mut replay = ReplaySource::open(&damaged).unwrap();
    assert_eq!(&replay.frame(next_key - 1).unwrap().snapshot, &recorded[5]);
    assert_eq!(replay.len(), 6);
    // Damage in the index: the blocks are read one by one instead, up to the damage.
    let mut bad_index = bytes.clone();
    let n = bad_index.len();
    bad_index[n - 20] ^= 0x55;
    bad_index[blocks[9] + 40] ^= 0x55;
    std::fs::write(&damaged, &bad_index).unwrap();
    let mut replay = ReplaySource::open(&damaged).unwrap();
    assert_eq!(replay.len(), 9);
    let damage = replay.take_damage().unwrap();
    assert!(
        damage.contains("frame 9") && damage.contains("checksum"),
        "{damage}"
    );
    assert_eq!(&replay.frame(8).unwrap().snapshot, &recorded[8]);
}

#[test]
fn deltas_rebuild_every_frame_and_seeks_land_between_key_frames() {
    let dir = tempfile::tempdir().unwrap();
    let child = leaky_child(dir.path());
    let file = dir.path().join("deltas.rec");
    let recorded = record_frames(child.0.id(), dir.path(), &file, 10, 40);
    let segment_bytes = std::fs::metadata(seg(dir.path(), child.0.id()))
        .unwrap()
        .len() as usize;
    drop(child);
    let bytes = std::fs::read(&file).unwrap();
    let blocks = block_offsets(&bytes);
    let keys = blocks.iter().filter(|&&b| bytes[b + 4] == 1).count();
    assert!(
        (1..40).contains(&keys),
        "{keys} key frames of 40: deltas are written"
    );
    // Random access in any order gives the recorded frame.
    let mut replay = ReplaySource::open(&file).unwrap();
    for i in [39, 0, 20, 21, 5, 38, 13, 13, 2] {
        assert_eq!(
            &replay.frame(i).unwrap().snapshot,
            &recorded[i],
            "frame {i}"
        );
    }
    // Compressed deltas: the file is a small fraction of 40 copies of the segment.
    assert!(
        bytes.len() * 10 < 40 * segment_bytes,
        "{} bytes for 40 frames of a {segment_bytes}-byte segment",
        bytes.len()
    );
}

#[test]
fn a_recording_keeps_the_heap_errors_and_their_events() {
    use alloc_inspect::segment;
    use alloc_inspect::synthetic::Synthetic;
    let dir = tempfile::tempdir().unwrap();
    let sleeper = Reaped(Command::new("sleep").arg("60").spawn().unwrap());
    let pid = sleeper.0.id();
    let syn = Synthetic {
        heap_errors: true,
        ..Default::default()
    };
    // Written with `SegmentWriter::heap_error`: the header's table, counters and ring.
    let _w = segment::write(dir.path(), pid, &syn, 1).unwrap();
    let file = dir.path().join("heap.rec");
    let recorded = record_frames(pid, dir.path(), &file, 20, 3);
    let want = syn.snapshot(1);
    let mut replay = ReplaySource::open(&file).unwrap();
    let mut heap_events = 0;
    for (i, rec) in recorded.iter().enumerate() {
        assert_eq!(rec.heap_errors, want.heap_errors, "frame {i} as recorded");
        assert_eq!(rec.heap_error_counts, want.heap_error_counts);
        let f = replay.next_frame().unwrap();
        assert_eq!(&f.snapshot, rec, "frame {i} replayed");
        heap_events += f
            .events
            .iter()
            .filter(|e| matches!(e.kind, slabscope_proto::EventKind::HeapError { .. }))
            .count();
    }
    assert!(heap_events >= want.heap_errors.len(), "{heap_events}");
}
