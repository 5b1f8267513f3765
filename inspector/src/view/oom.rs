//! The OOM view: why the process ran out of memory. The request and its cause, where
//! the mapped bytes are (SuperSlab headers, UNUSED slots, slot tails, the classes, large
//! allocations), the classes holding the most, EMPTY slots not yet returned, bytes
//! stranded in magazines of idle or exited threads, the largest free run, and the
//! events up to the failure.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Widget};
use slabscope_proto::{FreeRunKind, OomCause, OomReport};

use super::{describe_event, format as fmt, palette};
use crate::state::{oom as oom_state, State};

/// The OOM view.
pub struct Oom<'a>(pub &'a State);

fn summary(r: &OomReport) -> Vec<Line<'static>> {
    let class = match r.class {
        Some(c) => format!("class {c}"),
        None => "large".to_string(),
    };
    let cause = match r.cause {
        OomCause::Limit => format!("SLABSCOPE_LIMIT {} reached", fmt::bytes(r.limit_bytes)),
        OomCause::MmapFailed => "mmap refused by the kernel".to_string(),
    };
    let run = match r.largest_free_run.kind {
        FreeRunKind::None => "none".to_string(),
        FreeRunKind::Slots => format!(
            "{} of UNUSED/EMPTY slots from slot {} of SuperSlab {:#x}",
            fmt::bytes(r.largest_free_run.bytes),
            r.largest_free_run.slot,
            r.largest_free_run.superslab
        ),
        FreeRunKind::Uncarved => format!(
            "{} uncarved in slot {} of SuperSlab {:#x}",
            fmt::bytes(r.largest_free_run.bytes),
            r.largest_free_run.slot,
            r.largest_free_run.superslab
        ),
    };
    let stranded = match r.stranded.first() {
        Some(t) => format!(
            "{} in {} of {} threads (most: tid {}, {}{})",
            fmt::bytes(r.stranded_bytes),
            r.stranded_threads,
            r.threads_seen,
            t.tid,
            fmt::bytes(t.bytes),
            if t.exited { ", exited" } else { ", idle" }
        ),
        None => format!("none ({} threads looked at)", r.threads_seen),
    };
    let bold = Style::new().add_modifier(Modifier::BOLD);
    vec![
        Line::styled(
            format!(
                "Out of memory (#{}): {} ({}, align {}) on thread {}: {cause}",
                r.reports,
                fmt::bytes(r.request_bytes),
                class,
                r.align,
                r.tid
            ),
            bold.fg(Color::Red),
        ),
        Line::raw(format!(
            "mapped {} (peak {}) = {} SuperSlabs ({} cached empty) + {} large allocations ({})",
            fmt::bytes(r.mapped_bytes),
            fmt::bytes(r.peak_mapped_bytes),
            r.superslabs,
            r.superslabs_cached,
            r.large_count,
            fmt::bytes(r.large_bytes)
        )),
        Line::raw(format!(
            "SuperSlabs = headers {} + UNUSED slots {} ({}) + slot tails {} + classes {}",
            fmt::bytes(r.header_bytes),
            r.unused_slots,
            fmt::bytes(r.unused_bytes),
            fmt::bytes(r.tail_bytes),
            fmt::bytes(r.class_bytes())
        )),
        Line::raw(format!(
            "EMPTY slots not yet returned: {} ({})",
            r.empty_slots,
            fmt::bytes(r.empty_bytes)
        )),
        Line::raw(format!("stranded in magazines: {stranded}")),
        Line::raw(format!("largest free run: {run}")),
    ]
}

impl Widget for Oom<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let st = self.0;
        let Some(r) = st.oom() else {
            Paragraph::new("No allocation has failed.")
                .style(palette::dim())
                .render(area, buf);
            return;
        };
        let lines = summary(r);
        let [top, body] = Layout::vertical([
            Constraint::Length(lines.len() as u16 + 1),
            Constraint::Min(0),
        ])
        .areas(area);
        Paragraph::new(lines).render(top, buf);
        let [classes, events] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(body);
        let header = Row::new(["class", "block", "live", "cached", "free", "EMPTY"])
            .style(Style::new().add_modifier(Modifier::BOLD));
        let sizes = st.snapshot.as_ref().map(|s| &s.classes);
        let rows = oom_state::ranked_classes(r).into_iter().map(|c| {
            let block = sizes
                .and_then(|s| s.get(c.class as usize))
                .map_or(0, |s| s.block_size);
            let style = if Some(c.class) == r.class {
                Style::new().fg(Color::Red)
            } else {
                Style::new()
            };
            Row::new([
                c.class.to_string(),
                block.to_string(),
                fmt::bytes(c.live_bytes),
                fmt::bytes(c.cached_bytes),
                fmt::bytes(c.free_bytes),
                c.empty_slots.to_string(),
            ])
            .style(style)
        });
        Table::new(
            rows,
            [
                Constraint::Length(5),
                Constraint::Length(6),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(5),
            ],
        )
        .header(header)
        .block(
            Block::new()
                .borders(Borders::TOP)
                .title(" classes at the OOM "),
        )
        .render(classes, buf);
        let n = events.height.saturating_sub(1) as usize;
        let lines: Vec<Line> = st
            .events_before_oom(n)
            .into_iter()
            .map(|e| Line::raw(format!("#{} {}", e.seq, describe_event(&e.kind))))
            .collect();
        let title = match r.ring_seq {
            Some(seq) => format!(" events up to the OOM (#{seq}) "),
            None => " events up to the OOM ".to_string(),
        };
        Paragraph::new(lines)
            .block(Block::new().borders(Borders::TOP).title(title))
            .render(events, buf);
    }
}
