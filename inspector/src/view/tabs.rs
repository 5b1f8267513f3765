//! The tab bar (top line) and the status bar (bottom line).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::{format as fmt, palette};
use crate::state::{State, TargetStatus};

/// The tab bar: `1 Overview  2 Classes …` with the current view highlighted.
pub struct TabBar<'a>(pub &'a State);

impl Widget for TabBar<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let st = self.0;
        let mut spans = vec![Span::styled(
            " alloc-inspect ",
            Style::new().add_modifier(Modifier::BOLD),
        )];
        for v in st.views() {
            let text = format!(" {} {} ", v.number(), v.title());
            let style = if v == st.view {
                Style::new()
                    .fg(Color::Black)
                    .bg(Color::Cyan)
                    .add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            };
            spans.push(Span::styled(text, style));
        }
        Paragraph::new(Line::from(spans)).render(area, buf);
    }
}

/// The status bar: liveness, the heap errors found (red, when there are), target,
/// uptime, refresh and the key hint.
pub struct StatusBar<'a>(pub &'a State);

impl Widget for StatusBar<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let st = self.0;
        let (mark, style) = match st.status {
            TargetStatus::Live => ("● live", Style::new().fg(Color::Green)),
            TargetStatus::Silent { .. } => ("● silent", Style::new().fg(Color::Yellow)),
            TargetStatus::Closed => ("■ exited", Style::new().fg(Color::Yellow)),
            TargetStatus::Gone => ("■ gone", palette::lost()),
            TargetStatus::PostMortem => ("■ post-mortem", Style::new().fg(Color::Magenta)),
        };
        let refresh = if st.target.interval_ms == 0 {
            String::new()
        } else {
            format!(" │ every {} ms", st.target.interval_ms)
        };
        let cmd = st.snapshot.as_ref().map_or("", |s| s.command.as_str());
        let heap_errors = st.heap_error_counts().total();
        let mut spans = vec![Span::styled(format!(" {mark} "), style)];
        if heap_errors > 0 {
            spans.push(Span::raw("│"));
            spans.push(Span::styled(
                format!(
                    " {heap_errors} heap error{} (!) ",
                    if heap_errors == 1 { "" } else { "s" }
                ),
                palette::lost(),
            ));
        }
        spans.extend([
            Span::raw(format!(
                "│ pid {} │ {} │ up {}{} │ ",
                st.target.pid,
                cmd,
                fmt::duration_ns(st.uptime_ns()),
                refresh
            )),
            Span::styled("? help  q quit", palette::dim()),
        ]);
        Paragraph::new(Line::from(spans))
            .style(Style::new().bg(Color::Rgb(0x22, 0x22, 0x2a)))
            .render(area, buf);
    }
}
