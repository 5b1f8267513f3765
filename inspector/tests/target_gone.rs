//! The target is killed while the inspector is attached: the last frame stays on
//! screen under a banner, and nothing panics.

mod common;

use std::process::Command;
use std::time::Duration;

use alloc_inspect::app::{self, ScriptedInput};
use alloc_inspect::segment;
use alloc_inspect::source::{LiveSource, Source};
use alloc_inspect::state::{State, TargetStatus};
use alloc_inspect::synthetic::Synthetic;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

#[test]
fn killing_the_target_freezes_the_last_frame_with_a_banner() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = child.id();
    let path = dir.path().join(format!("slabscope.{pid}"));
    let w = segment::write(dir.path(), pid, &Synthetic::default(), 2).unwrap();
    let mut source = LiveSource::attach_path(pid, path, 100).unwrap();
    let mut state = State::new(source.target());
    let mut term = Terminal::new(TestBackend::new(120, 36)).unwrap();
    let mut no_keys = ScriptedInput::new([]);
    app::run(
        &mut term,
        &mut source,
        &mut no_keys,
        &mut state,
        app::RunOptions::bounded(3),
    )
    .unwrap();
    assert_eq!(state.status, TargetStatus::Live);
    let live_before = state.bytes.live;
    assert!(live_before > 0);

    // Kill it (and leave it a zombie for a moment: a zombie counts as gone too).
    child.kill().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    app::run(
        &mut term,
        &mut source,
        &mut no_keys,
        &mut state,
        app::RunOptions::bounded(2),
    )
    .unwrap();
    child.wait().unwrap();
    app::run(
        &mut term,
        &mut source,
        &mut no_keys,
        &mut state,
        app::RunOptions::bounded(2),
    )
    .unwrap();
    assert_eq!(state.status, TargetStatus::Gone);
    assert!(state.frozen());
    assert_eq!(state.bytes.live, live_before, "the last frame stays");
    let screen = common::text(&term).join("\n");
    assert!(
        screen.contains(&format!("process {pid} is gone (killed or crashed)")),
        "{screen}"
    );
    assert!(screen.contains("■ gone"), "{screen}");

    // Keys still work on a frozen screen, and q quits cleanly.
    let mut keys = ScriptedInput::new(
        [KeyCode::Tab, KeyCode::Tab, KeyCode::Char('q')]
            .map(|c| KeyEvent::new(c, KeyModifiers::NONE)),
    );
    app::run(
        &mut term,
        &mut source,
        &mut keys,
        &mut state,
        app::RunOptions::bounded(50),
    )
    .unwrap();
    assert!(state.quit);
    drop(w);
}

#[test]
fn a_closed_segment_reads_as_a_normal_exit() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = child.id();
    let w = segment::write(dir.path(), pid, &Synthetic::default(), 2).unwrap();
    let mut source =
        LiveSource::attach_path(pid, dir.path().join(format!("slabscope.{pid}")), 100).unwrap();
    let mut state = State::new(source.target());
    state.fold(source.next_frame().unwrap());
    w.close();
    state.fold(source.next_frame().unwrap());
    assert_eq!(state.status, TargetStatus::Closed);
    let screen = common::text(&common::render(&state, 120, 36)).join("\n");
    assert!(screen.contains("exited normally"), "{screen}");
    child.kill().unwrap();
    child.wait().unwrap();
}
