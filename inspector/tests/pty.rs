//! The binary in a real pseudo-terminal: it draws the Overview, Tab walks through every
//! view, `q` exits with code 0, and the terminal is restored (alternate screen left,
//! cursor shown, canonical mode and echo back on).

use std::io::{Read, Write};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloc_inspect::segment;
use alloc_inspect::synthetic::Synthetic;
use nix::sys::termios::LocalFlags;
use portable_pty::{native_pty_system, CommandBuilder, PtySize};

mod support;
use support::BIN;

struct Screen(Arc<Mutex<Vec<u8>>>);

impl Screen {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    /// Waits until output written after byte `from` contains `needle`.
    fn wait_for(&self, from: usize, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let t = String::from_utf8_lossy(&self.0.lock().unwrap()[from..]).into_owned();
            if t.contains(needle) {
                return;
            }
            if Instant::now() >= deadline {
                let tail: String = t
                    .chars()
                    .rev()
                    .take(1500)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                panic!("timed out waiting for {needle:?}; output ends with: {tail:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn overview_then_every_view_then_q_restores_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut target = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = target.id();
    let _w = segment::write(
        dir.path(),
        pid,
        &Synthetic {
            gpu: true,
            ..Default::default()
        },
        3,
    )
    .unwrap();

    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 40,
            cols: 120,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("openpty");
    let before = pty.master.get_termios().expect("termios");
    assert!(before
        .local_flags
        .contains(LocalFlags::ICANON | LocalFlags::ECHO));
    let mut cmd = CommandBuilder::new(BIN);
    cmd.arg(pid.to_string());
    cmd.args(["--interval", "50"]);
    cmd.env("SLABSCOPE_SHM_DIR", dir.path());
    cmd.env("TERM", "xterm-256color");
    let mut child = pty.slave.spawn_command(cmd).expect("spawn in pty");
    drop(pty.slave);

    let buf = support::collect_output(pty.master.try_clone_reader().unwrap());
    let screen = Screen(buf);
    let mut keys = pty.master.take_writer().unwrap();

    screen.wait_for(0, "\x1b[?1049h");
    screen.wait_for(0, "fragmentation");
    screen.wait_for(0, "Memory");
    // Raw mode while running.
    let during = pty.master.get_termios().expect("termios");
    assert!(!during.local_flags.contains(LocalFlags::ICANON));
    assert!(!during.local_flags.contains(LocalFlags::ECHO));

    // ratatui redraws only changed cells, so look for single words unique to each view.
    for needle in [
        "capacity",
        "Selected",
        "Magazines:",
        "filter:",
        "high-water",
        "fragmentation",
    ] {
        let from = screen.len();
        keys.write_all(b"\t").unwrap();
        keys.flush().unwrap();
        screen.wait_for(from, needle);
    }
    let from = screen.len();
    keys.write_all(b"q").unwrap();
    keys.flush().unwrap();
    let status = child.wait().expect("wait");
    assert!(status.success(), "exit status {status:?}");
    screen.wait_for(from, "\x1b[?1049l");
    let out = screen.text();
    let tail = &out[out.rfind("\x1b[?1049l").unwrap()..];
    assert!(out[from..].contains("\x1b[?25h"), "cursor shown again");
    assert!(!tail.contains("\x1b[?1049h"), "nothing drawn after leaving");
    let after = pty.master.get_termios().expect("termios");
    assert!(
        after
            .local_flags
            .contains(LocalFlags::ICANON | LocalFlags::ECHO),
        "cooked mode restored"
    );
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(
        files, 1,
        "the inspector publishes no segment of its own by default"
    );
    let _ = target.kill();
    let _ = target.wait();
}

/// With `SLABSCOPE_PUBLISH=1` the inspector (which runs on slabscope) publishes its own
/// segment: a real allocator's segment that `--once --json` then reads.
#[test]
fn the_real_allocator_publishes_and_once_json_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut target = Command::new("sleep").arg("60").spawn().unwrap();
    let _w = segment::write(dir.path(), target.id(), &Synthetic::default(), 3).unwrap();
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 40,
            cols: 120,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("openpty");
    let mut cmd = CommandBuilder::new(BIN);
    cmd.arg(target.id().to_string());
    cmd.env("SLABSCOPE_SHM_DIR", dir.path());
    cmd.env("SLABSCOPE_PUBLISH", "1");
    let mut child = pty.slave.spawn_command(cmd).expect("spawn in pty");
    drop(pty.slave);
    let mut reader = pty.master.try_clone_reader().unwrap();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while matches!(reader.read(&mut chunk), Ok(n) if n > 0) {}
    });
    let pid = child.process_id().expect("pid");
    let seg = dir.path().join(format!("slabscope.{pid}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let v: serde_json::Value = loop {
        assert!(
            Instant::now() < deadline,
            "the inspector never published {}",
            seg.display()
        );
        // The file exists a moment before its header is written: wait until it reads.
        if slabscope_proto::SegmentReader::open(&seg).is_ok() {
            let v = support::once_json(pid, dir.path());
            if v["totals"]["live_bytes"].as_u64().unwrap_or(0) > 0 {
                break v;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut keys = pty.master.take_writer().unwrap();
    keys.write_all(b"q").unwrap();
    keys.flush().unwrap();
    assert!(child.wait().unwrap().success());
    let _ = target.kill();
    let _ = target.wait();
    assert_eq!(v["pid"], pid);
    let classes = v["classes"].as_array().unwrap();
    assert!(
        classes.iter().any(|c| c["allocs"].as_u64().unwrap() > 0),
        "{classes:?}"
    );
    assert!(v["totals"]["mapped_bytes"].as_u64().unwrap() > 0);
    assert!(!v["superslabs"].as_array().unwrap().is_empty());
}
