//! View 3, SuperSlabs: the slot map, one row per SuperSlab and one cell per slot,
//! coloured by state and class (abandoned slots underlined), with the selected slot
//! described below, its owner thread included.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Widget};
use slabscope_proto::{SlotOwner, SlotSnapshot, SlotState, SuperSlabState, ThreadSnapshot};

use super::{format as fmt, palette};
use crate::state::State;

/// The SuperSlabs view.
pub struct SuperSlabs<'a>(pub &'a State);

/// The glyph and style of one slot cell; an abandoned slot (its owner thread exited
/// with blocks of it still out) is underlined.
pub fn slot_cell(s: &SlotSnapshot) -> (char, Style) {
    let (glyph, style) = slot_fill(s);
    if s.owner == SlotOwner::Abandoned {
        (glyph, style.add_modifier(Modifier::UNDERLINED))
    } else {
        (glyph, style)
    }
}

fn slot_fill(s: &SlotSnapshot) -> (char, Style) {
    match s.state {
        SlotState::Unused => ('·', palette::dim()),
        SlotState::Empty => ('░', Style::new().fg(palette::class_colour(s.class))),
        SlotState::Active => {
            let glyph = match (u64::from(s.used) * 4).checked_div(u64::from(s.capacity)) {
                Some(0) | None => '▂',
                Some(1) => '▄',
                Some(2) => '▆',
                _ => '█',
            };
            (glyph, Style::new().fg(palette::class_colour(s.class)))
        }
    }
}

fn legend() -> Line<'static> {
    Line::from(vec![
        Span::styled("·", palette::dim()),
        Span::raw(" unused  "),
        Span::raw("▂▄▆█ active (fill ¼…full, colour = class)  "),
        Span::raw("░ empty  "),
        Span::styled("▄", Style::new().add_modifier(Modifier::UNDERLINED)),
        Span::raw(" abandoned  "),
        Span::styled("E", Style::new().fg(Color::Yellow)),
        Span::raw(" SuperSlab empty, cached"),
    ])
}

/// Who owns the slot, for the detail line: the owner thread (tid and name), or
/// abandoned.
fn owner_text(s: &SlotSnapshot, threads: &[ThreadSnapshot]) -> String {
    match s.owner {
        SlotOwner::None => String::new(),
        SlotOwner::Abandoned => ", abandoned (its owner thread exited)".to_string(),
        SlotOwner::Thread(tid) => match threads.iter().find(|t| t.tid == u64::from(tid)) {
            Some(t) if !t.name.is_empty() => format!(", owner thread {tid} {}", t.name),
            _ => format!(", owner thread {tid}"),
        },
    }
}

impl Widget for SuperSlabs<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let st = self.0;
        let Some(snap) = &st.snapshot else { return };
        let [grid_area, info_area] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(4)]).areas(area);
        let title = format!(
            " SuperSlabs: {} shown of {} mapped (↑↓←→ select) ",
            snap.superslabs.len(),
            snap.totals.superslabs
        );
        let block = Block::bordered().title(title);
        let inner = block.inner(grid_area);
        block.render(grid_area, buf);

        let rows = inner.height as usize;
        let sel = st.slot_sel;
        let first = sel.row.saturating_sub(rows.saturating_sub(1));
        for (i, ss) in snap.superslabs.iter().enumerate().skip(first).take(rows) {
            let y = inner.y + (i - first) as u16;
            let mut x = inner.x;
            let right = inner.right();
            let addr_style = if i == sel.row {
                palette::header()
            } else {
                palette::dim()
            };
            let (after, _) =
                buf.set_stringn(x, y, fmt::addr(ss.base), inner.width as usize, addr_style);
            x = after.saturating_add(1);
            for (k, slot) in ss.slots.iter().enumerate() {
                if k > 0 && k % 8 == 0 {
                    x = x.saturating_add(1);
                }
                if x >= right {
                    break;
                }
                let (glyph, mut style) = slot_cell(slot);
                if i == sel.row && k == sel.slot {
                    style = style.add_modifier(Modifier::REVERSED);
                }
                if let Some(cell) = buf.cell_mut((x, y)) {
                    cell.set_char(glyph).set_style(style);
                }
                x = x.saturating_add(1);
            }
            if ss.state == SuperSlabState::Empty && x.saturating_add(2) < right {
                buf.set_string(x + 1, y, "E", Style::new().fg(Color::Yellow));
            }
        }

        let detail = snap
            .superslabs
            .get(sel.row)
            .and_then(|ss| ss.slots.get(sel.slot).map(|s| (ss, s)))
            .map(|(ss, s)| {
                let what = match s.state {
                    SlotState::Unused if sel.slot == 0 => {
                        "UNUSED: the SuperSlab's header slot (never carved)".to_string()
                    }
                    SlotState::Unused => "UNUSED (never carved)".to_string(),
                    state => {
                        let bs = snap
                            .classes
                            .get(s.class as usize)
                            .map_or(0, |c| u64::from(c.block_size));
                        let pct = if s.capacity == 0 {
                            0.0
                        } else {
                            f64::from(s.used) / f64::from(s.capacity)
                        };
                        format!(
                            "{} class {} ({}): {} / {} blocks used ({}){}",
                            if state == SlotState::Active {
                                "ACTIVE"
                            } else {
                                "EMPTY"
                            },
                            s.class,
                            fmt::bytes(bs),
                            s.used,
                            s.capacity,
                            fmt::percent(pct),
                            owner_text(s, &snap.threads)
                        )
                    }
                };
                Line::from(vec![
                    Span::styled(
                        format!(" {} slot {:>2}: ", fmt::addr(ss.base), sel.slot),
                        palette::header(),
                    ),
                    Span::raw(what),
                ])
            })
            .unwrap_or_else(|| Line::from(" no SuperSlab mapped"));
        Paragraph::new(vec![detail, legend()])
            .block(Block::bordered().title(" Selected slot "))
            .render(info_area, buf);
    }
}
