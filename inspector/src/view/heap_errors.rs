//! The Heap errors view: the misuse `SLABSCOPE_CHECK` caught (double free, invalid free,
//! write after free, overflow), newest first, with the counts of every kind since the
//! process started. The segment keeps the latest `HEAP_ERROR_SLOTS` errors whole; the
//! counts cover every one.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{
    Block, Borders, Paragraph, Row, StatefulWidget, Table, TableState, Widget, Wrap,
};
use slabscope_proto::layout::HEAP_ERROR_SLOTS;
use slabscope_proto::{HeapError, HeapErrorCounts, HeapErrorKind};

use super::stack::stack_lines;
use super::{format as fmt, palette};
use crate::state::heap_errors::ErrorBlock;
use crate::state::State;

/// The Heap errors view.
pub struct HeapErrors<'a>(pub &'a State);

/// Rows the stack pane keeps below the table (its title and five frames) when the
/// screen is too short for both whole.
const STACK_ROWS: u16 = 6;

/// Where the address lies: `class 4, 64 B`, `large, 1.0 MiB`, `no block`.
pub fn block_text(class: u32, block_bytes: u64) -> String {
    match ErrorBlock::of(class) {
        ErrorBlock::Class(c) => format!("class {c}, {}", fmt::bytes(block_bytes)),
        ErrorBlock::Large if block_bytes == 0 => "large".to_string(),
        ErrorBlock::Large => format!("large, {}", fmt::bytes(block_bytes)),
        ErrorBlock::None => "no block".to_string(),
    }
}

/// One line for a heap error, as the event log and the allocator's stderr line word it:
/// `double_free of 0x7f3a1c0040 in free (class 4, 64 B, requested 50 B)`, with the
/// offset of the first changed byte and the reason of an invalid free when there are.
pub fn describe(e: &HeapError) -> String {
    let mut s = format!("{} of {}", e.kind.name(), fmt::addr(e.address));
    if let Some(o) = e.offset {
        s.push_str(&format!(" at offset {o}"));
    }
    s.push_str(&format!(" in {}", e.op.name()));
    if !e.reason.text().is_empty() {
        s.push_str(&format!(": {}", e.reason.text()));
    }
    s.push_str(&format!(" ({}", block_text(e.class, e.block_bytes)));
    if let Some(r) = e.requested {
        s.push_str(&format!(", requested {}", fmt::bytes(r)));
    }
    s.push(')');
    s
}

/// `5 heap errors: double_free 3, invalid_free 2` (kinds with none left out).
pub fn counts_text(c: &HeapErrorCounts) -> String {
    let total = c.total();
    let kinds: Vec<String> = c
        .iter()
        .filter(|&(_, n)| n > 0)
        .map(|(k, n)| format!("{} {n}", k.name()))
        .collect();
    format!(
        "{total} heap error{}: {}",
        if total == 1 { "" } else { "s" },
        kinds.join(", ")
    )
}

fn row(st: &State, e: &HeapError) -> Row<'static> {
    let dash = || "-".to_string();
    let mut why = e.reason.text().to_string();
    if let Some(site) = e.site {
        if !why.is_empty() {
            why.push_str("; ");
        }
        match st.heap_error_site(e) {
            Some(n) => why.push_str(&format!(
                "allocated in {}",
                fmt::site(&n.function, n.location.as_deref())
            )),
            None => why.push_str(&format!("sampled at site {site}")),
        }
    }
    Row::new([
        fmt::duration_ns(st.heap_error_age_ns(e)),
        e.kind.name().to_string(),
        e.op.name().to_string(),
        fmt::addr(e.address),
        block_text(e.class, e.block_bytes),
        e.requested.map_or_else(dash, fmt::bytes),
        e.offset.map_or_else(dash, |o| o.to_string()),
        e.thread.to_string(),
        why,
    ])
}

impl Widget for HeapErrors<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let st = self.0;
        let counts = st.heap_error_counts();
        let shown = st.heap_errors_newest_first().count();
        // The table (a border, the header, a line an error) whole where the stack pane
        // below it keeps STACK_ROWS; on a shorter screen the table scrolls to the
        // selected error.
        let rows_at_most = area.height.saturating_sub(2 + STACK_ROWS).max(3);
        let [top, body, stack] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length((shown.max(1) as u16 + 2).min(rows_at_most)),
            Constraint::Fill(1),
        ])
        .areas(area);
        let kept = if counts.total() > shown as u64 {
            format!("; the segment keeps the latest {HEAP_ERROR_SLOTS}")
        } else {
            String::new()
        };
        Paragraph::new(vec![
            Line::styled(counts_text(&counts), palette::lost()),
            Line::styled(format!("{shown} shown, newest first{kept}"), palette::dim()),
        ])
        .render(top, buf);
        let header = Row::new([
            "age",
            "kind",
            "op",
            "address",
            "block",
            "requested",
            "offset",
            "tid",
            "reason",
        ])
        .style(palette::header());
        let kind_style = Style::new().fg(Color::Red);
        let rows: Vec<Row> = st
            .heap_errors_newest_first()
            .enumerate()
            .map(|(i, e)| {
                if i == 0 {
                    row(st, e).style(kind_style.add_modifier(Modifier::BOLD))
                } else {
                    row(st, e).style(kind_style)
                }
            })
            .collect();
        let block = Block::new()
            .borders(Borders::TOP)
            .title(" heap errors (SLABSCOPE_CHECK) ");
        if rows.is_empty() {
            Paragraph::new("No heap error record is readable now (being written).")
                .style(palette::dim())
                .block(block)
                .render(body, buf);
            return;
        }
        let table = Table::new(
            rows,
            [
                Constraint::Length(8),
                Constraint::Length(16),
                Constraint::Length(7),
                Constraint::Length(14),
                Constraint::Length(18),
                Constraint::Length(9),
                Constraint::Length(6),
                Constraint::Length(7),
                Constraint::Fill(1),
            ],
        )
        .header(header)
        .block(block)
        .row_highlight_style(palette::selected());
        let mut ts = TableState::default().with_selected(Some(st.heap_error_sel));
        StatefulWidget::render(table, body, buf, &mut ts);
        Paragraph::new(site_lines(st))
            .wrap(Wrap { trim: false })
            .block(
                Block::new()
                    .borders(Borders::TOP)
                    .title(" where the selected error's block was allocated (innermost first) "),
            )
            .render(stack, buf);
    }
}

/// The call stack of the selected error's block, or why there is none.
fn site_lines(st: &State) -> Vec<Line<'static>> {
    let why = match st.selected_heap_error() {
        None => "No error selected.".to_string(),
        Some(e) => match (e.site, st.heap_error_site(e)) {
            (_, Some(n)) => return stack_lines(&n.frames),
            (Some(_), None) => "The block was sampled; its site is not readable now.".into(),
            (None, None) if ErrorBlock::of(e.class) == ErrorBlock::None => {
                "The address is in no block.".into()
            }
            (None, None) if st.leaks.interval_bytes == 0 => {
                "The block was not sampled: with SLABSCOPE_SAMPLE set (docs/ENV.md) the \
                 allocation stacks of sampled blocks show here."
                    .into()
            }
            (None, None) if e.kind == HeapErrorKind::DoubleFree => format!(
                "No sample holds the block: a sample ends with the block's first free \
                 (sampling takes one allocation per {} allocated, on average).",
                fmt::bytes(st.leaks.interval_bytes)
            ),
            (None, None) => format!(
                "The block was not sampled (sampling takes one allocation per {} \
                 allocated, on average): a smaller SLABSCOPE_SAMPLE samples more.",
                fmt::bytes(st.leaks.interval_bytes)
            ),
        },
    };
    vec![Line::styled(why, palette::dim())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use slabscope_proto::heap_error::{HEAP_ERROR_LARGE, HEAP_ERROR_NO_CLASS};
    use slabscope_proto::{HeapErrorKind, HeapErrorOp, InvalidReason};

    fn error() -> HeapError {
        HeapError {
            kind: HeapErrorKind::InvalidFree,
            op: HeapErrorOp::Free,
            reason: InvalidReason::Interior,
            address: 0x7f3a_1c00_4050,
            class: 4,
            block_bytes: 64,
            requested: Some(50),
            offset: None,
            thread: 7,
            site: None,
            time_ns: 1,
        }
    }

    #[test]
    fn a_heap_error_reads_as_one_line() {
        assert_eq!(
            describe(&error()),
            "invalid_free of 0x7f3a1c004050 in free: not the start of a block \
             (class 4, 64 B, requested 50 B)"
        );
        let overflow = HeapError {
            kind: HeapErrorKind::Overflow,
            reason: InvalidReason::None,
            class: HEAP_ERROR_LARGE,
            block_bytes: 1 << 20,
            requested: None,
            offset: Some(1000),
            ..error()
        };
        assert_eq!(
            describe(&overflow),
            "overflow of 0x7f3a1c004050 at offset 1000 in free (large, 1.0 MiB)"
        );
        assert_eq!(block_text(HEAP_ERROR_NO_CLASS, 0), "no block");
    }

    #[test]
    fn counts_name_the_kinds_found() {
        assert_eq!(
            counts_text(&HeapErrorCounts([3, 0, 1, 0])),
            "4 heap errors: double_free 3, write_after_free 1"
        );
        assert_eq!(
            counts_text(&HeapErrorCounts([0, 0, 0, 1])),
            "1 heap error: overflow 1"
        );
    }
}
