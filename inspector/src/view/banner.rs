//! The banner shown when the target is silent, gone, or a post-mortem file.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::format as fmt;
use crate::state::{State, TargetStatus};

/// The banner text and style for the state's target status (`None` while live).
pub fn message(st: &State) -> Option<(String, Style)> {
    let pid = st.target.pid;
    let alert = Style::new()
        .fg(Color::White)
        .bg(Color::Red)
        .add_modifier(Modifier::BOLD);
    let warn = Style::new().fg(Color::Black).bg(Color::Yellow);
    Some(match st.status {
        TargetStatus::Live => return None,
        TargetStatus::Silent { for_ns } => (
            format!(
                " process {pid} runs but its allocator has been silent for {} (idle or stopped) ",
                fmt::duration_ns(for_ns)
            ),
            warn,
        ),
        TargetStatus::Closed => (
            format!(" process {pid} exited normally: showing its last state (frozen) "),
            warn,
        ),
        TargetStatus::Gone => (
            format!(
                " process {pid} is gone (killed or crashed): showing its last state (frozen); \
                 its segment stays at {} for --postmortem ",
                st.target.path
            ),
            alert,
        ),
        TargetStatus::PostMortem => (
            format!(
                " post-mortem: the last state process {pid} left in {} ",
                st.target.path
            ),
            Style::new().fg(Color::White).bg(Color::Magenta),
        ),
    })
}

/// Rows the banner needs at `width` (0 while live).
pub fn height(st: &State, width: u16) -> u16 {
    match message(st) {
        None => 0,
        Some((text, _)) => {
            let w = usize::from(width.max(1));
            text.chars().count().div_ceil(w).clamp(1, 2) as u16
        }
    }
}

/// The banner.
pub struct Banner<'a>(pub &'a State);

impl Widget for Banner<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if let Some((text, style)) = message(self.0) {
            Paragraph::new(text)
                .style(style)
                .wrap(Wrap { trim: true })
                .render(area, buf);
        }
    }
}
