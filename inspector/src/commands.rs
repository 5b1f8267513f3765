//! The non-interactive commands: `list`, `gc`, and the plain-text `--once` screen.

use std::io::Write;
use std::os::unix::fs::MetadataExt;

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use slabscope_proto::{list_segments, realtime_ns, segment_dir, SegmentReader};

use crate::error::InspectError;
use crate::procfs;
use crate::state::{ByteTotals, Frame, State, TargetInfo};
use crate::view::format as fmt;

/// Renders one frame as plain text (`--once` without `--json`).
pub fn text_screen(target: TargetInfo, frame: Frame, w: u16, h: u16) -> String {
    let mut st = State::new(target);
    st.fold(frame);
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    term.draw(|f| f.render_widget(&st, f.area()))
        .expect("draw on a test backend");
    let buf = term.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
            line.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One line of `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Pid.
    pub pid: u32,
    /// Whether the process still runs.
    pub alive: bool,
    /// Command line, uptime, mapped and live bytes; or why it cannot be read.
    pub detail: String,
}

/// Every segment in the segment directory, described.
pub fn entries() -> Result<Vec<ListEntry>, InspectError> {
    let dir = segment_dir();
    let segs =
        list_segments(&dir).map_err(|e| InspectError::Io(format!("{}: {e}", dir.display())))?;
    let now_unix = realtime_ns();
    Ok(segs
        .into_iter()
        .map(|(pid, path)| {
            let reader = SegmentReader::open(&path);
            let start = reader.as_ref().map_or(0, |r| r.start_mono_ns());
            let alive = procfs::runs_segment(pid, start);
            let detail = match reader.and_then(|r| r.snapshot()) {
                Ok(s) => {
                    let b = ByteTotals::of(&s);
                    format!(
                        "{:>9} {:>11} {:>11}  {}",
                        fmt::duration_ns(now_unix.saturating_sub(s.start_unix_ns)),
                        fmt::bytes(b.mapped),
                        fmt::bytes(b.live),
                        if s.command.is_empty() {
                            procfs::command(pid).unwrap_or_default()
                        } else {
                            s.command
                        }
                    )
                }
                Err(e) => format!("unreadable: {e}"),
            };
            ListEntry { pid, alive, detail }
        })
        .collect())
}

/// `alloc-inspect list`.
pub fn list(out: &mut dyn Write) -> Result<(), InspectError> {
    let entries = entries()?;
    writeln!(
        out,
        "{:>8}  {:<6} {:>9} {:>11} {:>11}  COMMAND",
        "PID", "STATE", "UPTIME", "MAPPED", "LIVE"
    )?;
    for e in &entries {
        let state = if e.alive { "live" } else { "STALE" };
        writeln!(out, "{:>8}  {:<6} {}", e.pid, state, e.detail)?;
    }
    if entries.iter().any(|e| !e.alive) {
        writeln!(
            out,
            "STALE: the process is gone; view with --postmortem, remove with `alloc-inspect gc`"
        )?;
    }
    Ok(())
}

/// `alloc-inspect gc`: removes segments of processes that are gone.
pub fn gc(out: &mut dyn Write) -> Result<(), InspectError> {
    let dir = segment_dir();
    let segs =
        list_segments(&dir).map_err(|e| InspectError::Io(format!("{}: {e}", dir.display())))?;
    let mut removed = 0;
    for (pid, path) in segs {
        let start = SegmentReader::open(&path).map_or(0, |r| r.start_mono_ns());
        if procfs::runs_segment(pid, start) {
            continue;
        }
        let note = if procfs::alive(pid) {
            format!("pid {pid} now belongs to a newer process")
        } else {
            format!("pid {pid} is gone")
        };
        // Only our own regular files: never follow a symlink, never touch others' files.
        let own = std::fs::symlink_metadata(&path)
            .map(|m| m.file_type().is_file() && Some(m.uid()) == procfs::my_uid())
            .unwrap_or(false);
        if !own {
            writeln!(out, "kept {}: not a regular file of yours", path.display())?;
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                removed += 1;
                writeln!(out, "removed {} ({note})", path.display())?;
            }
            Err(e) => writeln!(out, "kept {}: {e}", path.display())?,
        }
    }
    writeln!(out, "{removed} stale segment(s) removed")?;
    Ok(())
}
