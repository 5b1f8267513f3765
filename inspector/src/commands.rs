//! The non-interactive commands: `list`, `gc`, and the plain-text `--once` screen.

use std::io::Write;
use std::os::unix::fs::MetadataExt;

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use slabscope_proto::{list_segments, segment_dir, SegmentReader};

use crate::error::InspectError;
use crate::listing;
use crate::procfs;
use crate::state::{Frame, State, TargetInfo};
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

/// `alloc-inspect list`: a table, or with `json` the `list --json` document.
pub fn list(out: &mut dyn Write, json: bool) -> Result<(), InspectError> {
    let entries = listing::entries()?;
    if json {
        writeln!(out, "{}", crate::json::list_to_string(&entries))?;
        return Ok(());
    }
    writeln!(
        out,
        "{:>8}  {:<6} {:>9} {:>11} {:>11}  COMMAND",
        "PID", "STATE", "UPTIME", "MAPPED", "LIVE"
    )?;
    for e in &entries {
        let state = if e.alive { "live" } else { "STALE" };
        let detail = match &e.summary {
            Ok(s) => format!(
                "{:>9} {:>11} {:>11}  {}",
                fmt::duration_ns(s.uptime_ns),
                fmt::bytes(s.mapped_bytes),
                fmt::bytes(s.live_bytes),
                fmt::printable(&s.command)
            ),
            Err(e) => format!("unreadable: {e}"),
        };
        writeln!(out, "{:>8}  {:<6} {detail}", e.pid, state)?;
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
