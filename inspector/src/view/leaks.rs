//! The Leaks view: sampled allocation sites ranked by estimated live bytes (with their
//! growth), the selected site's call stack, and the size classes whose live count keeps
//! growing.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Widget};

use super::stack::stack_lines;
use super::{format as fmt, palette};
use crate::state::leaks::LeakTracker;
use crate::state::State;

/// The Leaks view.
pub struct Leaks<'a>(pub &'a State);

/// A signed growth rate per second: `+12.0 KiB/s`, `-3.0 KiB/s`, `0`.
fn growth(bytes_per_s: f64) -> String {
    if !bytes_per_s.is_finite() || bytes_per_s.abs() < 1.0 {
        return "0".to_string();
    }
    let sign = if bytes_per_s < 0.0 { "-" } else { "+" };
    format!("{sign}{}/s", fmt::bytes(bytes_per_s.abs().round() as u64))
}

fn title(l: &LeakTracker) -> String {
    let mut t = format!(
        " sites: one sample per {} allocated ",
        fmt::bytes(l.interval_bytes)
    );
    if l.sites_overflow != 0 {
        t.push_str(&format!(
            "({} sites not recorded: table full) ",
            l.sites_overflow
        ));
    }
    t
}

impl Widget for Leaks<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let st = self.0;
        let l = &st.leaks;
        let growing_rows = (l.growing.len() as u16).clamp(1, 6) + 2;
        let [sites, stack, classes] = Layout::vertical([
            Constraint::Fill(3),
            Constraint::Fill(2),
            Constraint::Length(growing_rows),
        ])
        .areas(area);
        let header =
            Row::new(["#", "est. live", "samples", "growth", "site"]).style(palette::header());
        let rows = l.ranked.iter().enumerate().map(|(i, s)| {
            let style = if i == st.leak_sel {
                palette::selected()
            } else if s.growth_bytes_per_s >= 1.0 {
                Style::new().fg(Color::Yellow)
            } else {
                Style::new()
            };
            Row::new([
                (i + 1).to_string(),
                fmt::bytes(s.live_bytes),
                fmt::count(s.live_samples),
                growth(s.growth_bytes_per_s),
                fmt::site(&s.name.function, s.name.location.as_deref()),
            ])
            .style(style)
        });
        Table::new(
            rows,
            [
                Constraint::Length(4),
                Constraint::Length(11),
                Constraint::Length(8),
                Constraint::Length(13),
                Constraint::Fill(1),
            ],
        )
        .header(header)
        .block(Block::new().borders(Borders::TOP).title(title(l)))
        .render(sites, buf);

        let frames: Vec<Line> = match l.ranked.get(st.leak_sel) {
            Some(s) => stack_lines(&s.name.frames),
            None => vec![Line::styled(
                "No live sampled allocation yet.",
                palette::dim(),
            )],
        };
        Paragraph::new(frames)
            .block(
                Block::new()
                    .borders(Borders::TOP)
                    .title(" call stack of the selected site (innermost first) "),
            )
            .render(stack, buf);

        let lines: Vec<Line> = if l.growing.is_empty() {
            vec![Line::styled(
                "No class's live count keeps growing.",
                palette::dim(),
            )]
        } else {
            l.growing
                .iter()
                .take(6)
                .map(|g| {
                    Line::styled(
                        format!(
                            "class {:>2} ({:>6} B): {} live blocks, {}",
                            g.class,
                            g.block_size,
                            fmt::count(g.live),
                            growth(g.bytes_per_s)
                        ),
                        Style::new().fg(Color::Yellow),
                    )
                })
                .collect()
        };
        Paragraph::new(lines)
            .block(
                Block::new()
                    .borders(Borders::TOP)
                    .title(" growing classes ")
                    .title_style(Style::new().add_modifier(Modifier::BOLD)),
            )
            .render(classes, buf);
    }
}
