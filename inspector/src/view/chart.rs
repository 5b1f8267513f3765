//! A byte-history line chart shared by the Overview and Classes views.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Widget};

use crate::state::History;

/// One named series.
pub struct Series<'a> {
    /// Legend name.
    pub name: &'a str,
    /// Samples, oldest first.
    pub history: &'a History,
    /// Line colour.
    pub colour: Color,
}

/// Draws `series` (newest sample at the right edge) scaled to their maximum, with the
/// y axis labelled by `label` (e.g. a byte formatter).
pub fn render(
    area: Rect,
    buf: &mut Buffer,
    block: Block<'_>,
    series: &[Series<'_>],
    label: fn(u64) -> String,
) {
    let width = area.width.saturating_sub(12).max(1) as usize * 2;
    let points: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            let tail = s.history.tail(width);
            let off = (width - tail.len()) as f64;
            tail.iter()
                .enumerate()
                .map(|(i, &v)| (off + i as f64, v as f64))
                .collect()
        })
        .collect();
    let max = series
        .iter()
        .map(|s| s.history.max())
        .max()
        .unwrap_or(0)
        .max(1);
    let datasets = series
        .iter()
        .zip(&points)
        .map(|(s, p)| {
            Dataset::default()
                .name(s.name)
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(s.colour))
                .data(p)
        })
        .collect();
    let top = max as f64 * 1.1;
    Chart::new(datasets)
        .block(block)
        .x_axis(Axis::default().bounds([0.0, width as f64]))
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .labels([Span::raw("0"), Span::raw(label(top as u64))]),
        )
        .hidden_legend_constraints((
            ratatui::layout::Constraint::Percentage(50),
            ratatui::layout::Constraint::Percentage(50),
        ))
        .render(area, buf);
}
