//! The help overlay (`?`): every row of the key table (`keys::KEYS`), drawn over the
//! current view.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget};

use super::palette;
use crate::keys::{self, KEYS};

/// The help overlay.
pub struct Help;

impl Widget for Help {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let h = (KEYS.len() as u16 + 2).min(area.height);
        let w = 100.min(area.width);
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
            .map(|row| {
                Line::from(vec![
                    Span::styled(format!(" {:<18}", keys::row_keys(row)), palette::header()),
                    Span::raw(keys::row_help(row)),
                ])
            })
            .collect();
        Paragraph::new(lines)
            .block(Block::bordered().title(" Keys (any key closes) "))
            .render(r, buf);
    }
}
