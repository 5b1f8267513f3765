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

#[test]
fn a_replay_reproduces_the_recorded_snapshots_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let child = leaky_child(dir.path());
    let pid = child.0.id();
    let file = dir.path().join("leaky.rec");
    let recorded =
        record::record_segment(pid, &seg(dir.path(), pid), &file, 50, RecordEnd::Frames(8))
            .unwrap();
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
    let recorded = record::record_segment(
        child.0.id(),
        &seg(dir.path(), child.0.id()),
        &file,
        20,
        RecordEnd::Frames(30),
    )
    .unwrap();
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
