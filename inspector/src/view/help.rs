//! The help overlay (`?`): every key, drawn over the current view.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget};

use super::palette;

/// The keys, as (keys, what they do).
pub const KEYS: [(&str, &str); 14] = [
    ("Tab / Shift-Tab", "next / previous view"),
    (
        "1 … 8",
        "Overview Classes SuperSlabs Magazines Events GPU OOM Leaks",
    ),
    ("↑ ↓ / k j", "select row (scroll the event log)"),
    ("← → / h l", "select slot (SuperSlabs)"),
    ("PgUp PgDn", "one page up / down"),
    ("Home End / g G", "first / last row (End: follow events)"),
    ("s", "sort classes by the next column"),
    ("r", "reverse the class order"),
    (
        "f",
        "event filter (all, drains, slots, superslabs, large, oom, gpu)",
    ),
    ("space", "pause / resume the event log"),
    (
        "D / T",
        "process: drain every magazine / return cached SuperSlabs",
    ),
    ("S / L", "process: leak sampling / debug log, on or off"),
    ("?", "show / hide this help"),
    ("q / Esc / Ctrl-C", "quit"),
];

/// The help overlay.
pub struct Help;

impl Widget for Help {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let h = (KEYS.len() as u16 + 2).min(area.height);
        let w = 84.min(area.width);
        let [_, mid, _] = Layout::vertical([
            Constraint::Fill(1),
            Constraint::Length(h),
            Constraint::Fill(1),
        ])
        .areas(area);
        let [_, r, _] = Layout::horizontal([
            Constraint::Fill(1),
            Constraint::Length(w),
            Constraint::Fill(1),
        ])
        .areas(mid);
        Clear.render(r, buf);
        let lines: Vec<Line> = KEYS
            .iter()
            .map(|(k, what)| {
                Line::from(vec![
                    Span::styled(format!(" {k:<18}"), palette::header()),
                    Span::raw(*what),
                ])
            })
            .collect();
        Paragraph::new(lines)
            .block(Block::bordered().title(" Keys (any key closes) "))
            .render(r, buf);
    }
}
