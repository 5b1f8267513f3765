//! View 2, Classes: one row per size class, sortable, and the selected class's every
//! counter and history.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, StatefulWidget, Table, TableState, Widget};
use slabscope_proto::layout::CLASS_COUNTERS;

use super::chart::{self, Series};
use super::{format as fmt, palette};
use crate::state::{ClassRow, SortColumn, State};

/// The Classes view.
pub struct Classes<'a>(pub &'a State);

/// Width of one `name value` cell of the selected class's counters.
const COUNTER_CELL: usize = 30;

/// Every declared counter of the selected class (`layout::CLASS_COUNTERS`), as many
/// `name value` cells a line as `width` holds.
fn counter_lines(r: &ClassRow, width: u16) -> Vec<Line<'static>> {
    let per_line = (usize::from(width) / COUNTER_CELL).max(1);
    CLASS_COUNTERS
        .chunks(per_line)
        .map(|chunk| {
            Line::from(
                chunk
                    .iter()
                    .flat_map(|d| {
                        let value = fmt::count((d.get)(&r.counters));
                        let pad = COUNTER_CELL.saturating_sub(d.name.len() + 2);
                        [
                            Span::styled(format!(" {}", d.name), palette::header()),
                            Span::raw(format!(" {value:>pad$}")),
                        ]
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .collect()
}

/// Samples in each row's sparkline.
const SPARK: usize = 16;

const COLUMNS: [(&str, Option<SortColumn>, u16); 11] = [
    ("class", Some(SortColumn::Class), 6),
    ("size", None, 7),
    ("live", Some(SortColumn::Live), 8),
    ("live bytes", Some(SortColumn::LiveBytes), 11),
    ("cached", Some(SortColumn::Cached), 8),
    ("free", Some(SortColumn::Free), 8),
    ("capacity", Some(SortColumn::Capacity), 8),
    ("util", Some(SortColumn::Utilisation), 6),
    ("alloc/s", Some(SortColumn::AllocRate), 8),
    ("free/s", Some(SortColumn::FreeRate), 8),
    ("live history", None, SPARK as u16),
];

impl Widget for Classes<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let st = self.0;
        let t = &st.classes;
        let rows_h = (t.len() as u16).saturating_add(3);
        let [table_area, detail] =
            Layout::vertical([Constraint::Max(rows_h), Constraint::Min(0)]).areas(area);

        let header = Row::new(COLUMNS.iter().map(|(name, col, width)| {
            let mark = match col {
                Some(c) if *c == t.sort => {
                    if t.descending {
                        "▼"
                    } else {
                        "▲"
                    }
                }
                _ => "",
            };
            let w = usize::from(*width);
            if *name == "live history" {
                Cell::from(format!("{name}{mark}"))
            } else {
                Cell::from(format!("{:>w$}", format!("{name}{mark}")))
            }
        }))
        .style(palette::header());
        let rows = t.rows().map(|r| {
            let spark = fmt::sparkline(&r.live_history.tail(SPARK));
            Row::new(vec![
                Cell::from(Span::styled(
                    format!("{:>6}", r.class),
                    Style::new().fg(palette::class_colour(r.class)),
                )),
                Cell::from(format!("{:>7}", fmt::bytes(u64::from(r.block_size)))),
                Cell::from(format!("{:>8}", fmt::count(r.live))),
                Cell::from(format!("{:>11}", fmt::bytes(r.live_bytes()))),
                Cell::from(format!("{:>8}", fmt::count(r.counters.cached_blocks))),
                Cell::from(format!("{:>8}", fmt::count(r.counters.free_blocks))),
                Cell::from(format!("{:>8}", fmt::count(r.counters.capacity_blocks))),
                Cell::from(format!("{:>6}", fmt::percent(r.utilisation()))),
                Cell::from(format!("{:>8}", fmt::rate(r.alloc_rate))),
                Cell::from(format!("{:>8}", fmt::rate(r.free_rate))),
                Cell::from(Span::styled(spark, Style::new().fg(palette::LIVE))),
            ])
        });
        let title = format!(
            " Size classes (sorted by {}; s: next column, r: reverse) ",
            t.sort.name()
        );
        let table = Table::new(rows, COLUMNS.iter().map(|c| Constraint::Length(c.2)))
            .header(header)
            .block(Block::bordered().title(title))
            .row_highlight_style(palette::selected());
        let mut ts = TableState::default().with_selected(Some(st.class_sel));
        StatefulWidget::render(table, table_area, buf, &mut ts);

        let Some(r) = t.row_at(st.class_sel) else {
            return;
        };
        let lines = counter_lines(r, detail.width);
        let [info, counters, chart_area] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(lines.len() as u16),
            Constraint::Min(0),
        ])
        .areas(detail);
        Paragraph::new(Line::from(vec![
            Span::styled(
                format!(
                    " class {} ({}) ",
                    r.class,
                    fmt::bytes(u64::from(r.block_size))
                ),
                Style::new()
                    .fg(palette::class_colour(r.class))
                    .add_modifier(ratatui::style::Modifier::BOLD),
            ),
            Span::raw(format!(
                "{} live blocks, {} in user hands",
                fmt::count(r.live),
                fmt::bytes(r.live_bytes())
            )),
        ]))
        .render(info, buf);
        Paragraph::new(lines).render(counters, buf);
        chart::render(
            chart_area,
            buf,
            Block::bordered().title(format!(" Live blocks of class {} ", r.class)),
            &[Series {
                name: "live",
                history: &r.live_history,
                colour: palette::LIVE,
            }],
            fmt::count,
        );
    }
}
