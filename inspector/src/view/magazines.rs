//! View 4, Magazines: threads x classes magazine fill as a heat map, with drain counts.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Block, Widget};
use slabscope_proto::ThreadState;

use super::draw::put;
use super::{format as fmt, palette};
use crate::state::State;

/// The Magazines view.
pub struct Magazines<'a>(pub &'a State);

/// Width of one class column.
const CELL: u16 = 6;
/// Width of the thread label column.
const LABEL: u16 = 24;
/// Width of the drains column.
const DRAINS: u16 = 8;

impl Widget for Magazines<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let st = self.0;
        let Some(snap) = &st.snapshot else { return };
        let block = Block::bordered().title(format!(
            " Magazines: fill per thread and class ({} threads; drain interval {} frees) ",
            snap.threads.len(),
            snap.drain_interval
        ));
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.height == 0 || inner.width == 0 {
            return;
        }
        let fit = inner.width.saturating_sub(LABEL + DRAINS) / CELL;
        let shown = (snap.classes.len() as u16).min(fit) as usize;
        let y = inner.y;
        let col = |i: usize| inner.x + LABEL + DRAINS + i as u16 * CELL;
        put(buf, inner, inner.x, y, "thread", palette::header());
        put(buf, inner, inner.x + LABEL, y, " drains", palette::header());
        for (i, c) in snap.classes.iter().take(shown).enumerate() {
            let size = short_size(c.block_size);
            let style = palette::header().fg(palette::class_colour(c.class));
            put(buf, inner, col(i), y, &format!("{size:>5}"), style);
        }
        if shown < snap.classes.len() {
            let more = format!("+{} classes", snap.classes.len() - shown);
            put(buf, inner, col(shown), y, &more, palette::dim());
        }
        let rows = inner.height.saturating_sub(1) as usize;
        let first = st.thread_sel.saturating_sub(rows.saturating_sub(1));
        for (i, t) in snap.threads.iter().enumerate().skip(first).take(rows) {
            let y = inner.y + 1 + (i - first) as u16;
            let mut label = format!("{:>7} {}", t.tid, t.name);
            if t.state == ThreadState::Exited {
                label.push_str(" (exited)");
            }
            label.truncate(
                label
                    .char_indices()
                    .nth(LABEL as usize - 1)
                    .map_or(label.len(), |(b, _)| b),
            );
            let label_style = if i == st.thread_sel {
                palette::selected()
            } else {
                Style::new()
            };
            put(buf, inner, inner.x, y, &label, label_style);
            put(
                buf,
                inner,
                inner.x + LABEL,
                y,
                &format!("{:>7}", fmt::count(t.drains)),
                Style::new(),
            );
            for m in t.magazines.iter().filter(|m| (m.class as usize) < shown) {
                let text = format!("{:>5}", m.fill);
                put(
                    buf,
                    inner,
                    col(m.class as usize),
                    y,
                    &text,
                    palette::heat(m.fill, m.capacity),
                );
            }
        }
        if let Some(t) = snap.threads.get(st.thread_sel) {
            let cached: u64 = t
                .magazines
                .iter()
                .map(|m| {
                    u64::from(m.fill)
                        * snap
                            .classes
                            .get(m.class as usize)
                            .map_or(0, |c| u64::from(c.block_size))
                })
                .sum();
            let line = format!(
                " {} {}: {} cached in magazines · {} frees · {} drains ",
                t.tid,
                t.name,
                fmt::bytes(cached),
                fmt::count(t.frees),
                fmt::count(t.drains)
            );
            if area.height >= 3 {
                let bottom = Rect::new(
                    area.x + 1,
                    area.bottom() - 1,
                    area.width.saturating_sub(2),
                    1,
                );
                put(buf, bottom, bottom.x, bottom.y, &line, palette::header());
            }
        }
    }
}

/// A block size in at most five characters: `16`, `512`, `4K`, `32K`, `1M`.
fn short_size(bs: u32) -> String {
    match bs {
        0..=1023 => bs.to_string(),
        _ if bs.is_multiple_of(1 << 20) => format!("{}M", bs >> 20),
        _ if bs.is_multiple_of(1024) => format!("{}K", bs >> 10),
        _ => format!("{:.1}K", f64::from(bs) / 1024.0),
    }
}
