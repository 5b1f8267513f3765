//! View 5, Events: the ring as a scrolling log with a kind filter and pause.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Widget};
use slabscope_proto::{Event, EventKind};

use super::{format as fmt, palette};
use crate::state::State;

/// The Events view.
pub struct Events<'a>(pub &'a State);

fn class_name(c: Option<u32>) -> String {
    c.map_or_else(|| "large".to_string(), |c| format!("class {c}"))
}

/// The kind-specific part of an event line.
pub fn describe(kind: &EventKind) -> String {
    use EventKind as K;
    match *kind {
        K::MagazineDrain {
            class,
            blocks,
            reason,
        } => format!("class {class}: {blocks} blocks back to slots ({reason:?})").to_lowercase(),
        K::SlotAcquire {
            superslab,
            slot,
            class,
            stage,
        } => {
            let how = match stage {
                1 => "reused an EMPTY slot",
                2 => "carved an UNUSED slot",
                _ => "mapped a new SuperSlab",
            };
            format!(
                "class {class}: stage {stage}, {how} ({} slot {slot})",
                fmt::addr(superslab)
            )
        }
        K::SlotEmpty {
            superslab,
            slot,
            class,
        } => {
            format!(
                "class {class}: slot EMPTY ({} slot {slot})",
                fmt::addr(superslab)
            )
        }
        K::SlotRelease {
            superslab,
            slot,
            class,
        } => {
            format!(
                "class {class}: EMPTY slot released ({} slot {slot})",
                fmt::addr(superslab)
            )
        }
        K::SuperSlabMap {
            superslab,
            mapped_bytes,
        } => {
            format!(
                "{} mapped; {} mapped in all",
                fmt::addr(superslab),
                fmt::bytes(mapped_bytes)
            )
        }
        K::SuperSlabEmpty { superslab } => format!("{} is empty", fmt::addr(superslab)),
        K::SuperSlabReturn {
            superslab,
            mapped_bytes,
        } => format!(
            "{} returned to the OS; {} mapped in all",
            fmt::addr(superslab),
            fmt::bytes(mapped_bytes)
        ),
        K::LargeMap { addr, bytes, align } => {
            format!(
                "{} at {} (align {align})",
                fmt::bytes(bytes),
                fmt::addr(addr)
            )
        }
        K::LargeUnmap { addr, bytes } => format!("{} at {}", fmt::bytes(bytes), fmt::addr(addr)),
        K::Oom {
            request,
            align,
            class,
            mapped_bytes,
            limit_bytes,
        } => format!(
            "request {} (align {align}, {}) failed with {} mapped, limit {}",
            fmt::bytes(request),
            class_name(class),
            fmt::bytes(mapped_bytes),
            if limit_bytes == 0 {
                "none".to_string()
            } else {
                fmt::bytes(limit_bytes)
            }
        ),
        K::GpuMiss {
            pool,
            bucket_bytes,
            request,
        } => format!(
            "pool {pool}: {} request missed the {} bucket",
            fmt::bytes(request),
            fmt::bytes(bucket_bytes)
        ),
        K::GpuOversize { pool, request } => {
            format!(
                "pool {pool}: {} above the ceiling, straight to the device",
                fmt::bytes(request)
            )
        }
        K::GpuTrim {
            pool,
            bytes,
            buffers,
        } => {
            format!(
                "pool {pool}: {buffers} buffers, {} released",
                fmt::bytes(bytes)
            )
        }
        K::GpuOom {
            pool,
            request,
            live_bytes,
            cached_bytes,
            device_free_bytes,
        } => format!(
            "pool {pool}: request {} failed; live {}, cached {}, device free {}",
            fmt::bytes(request),
            fmt::bytes(live_bytes),
            fmt::bytes(cached_bytes),
            fmt::bytes(device_free_bytes)
        ),
        K::ThreadExit { blocks } => format!("{blocks} blocks drained"),
        K::ControlAck { .. } => crate::ctl::describe(kind),
        // The event line shows its thread and time itself.
        K::HeapError { ref error } => super::heap_errors::describe(error),
        K::Unknown { code, args } => format!("kind {code} {args:?}"),
    }
}

/// One log line.
pub fn line(e: &Event, start_ns: u64) -> Line<'static> {
    let style = palette::event(&e.kind);
    Line::from(vec![
        Span::styled(format!("{:>8} ", e.seq), palette::dim()),
        Span::raw(format!("{:>10} ", fmt::since_start(e.time_ns, start_ns))),
        Span::styled(format!("{:>7} ", e.thread), palette::dim()),
        Span::styled(format!("{:<16} ", e.kind.name()), style),
        Span::raw(describe(&e.kind)),
    ])
}

impl Widget for Events<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let st = self.0;
        let log = &st.events;
        let [head, body] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
        let lost_style = if log.lost() > 0 {
            palette::lost()
        } else {
            palette::dim()
        };
        let mode = if log.paused() {
            Span::styled(
                format!(" PAUSED ({} new) ", log.pending()),
                Style::new()
                    .fg(ratatui::style::Color::Black)
                    .bg(ratatui::style::Color::Yellow),
            )
        } else {
            Span::styled(" following ", palette::dim())
        };
        Paragraph::new(Line::from(vec![
            Span::raw(format!(" filter: {} (f) ", log.filter.name())),
            Span::raw(format!(
                "│ {} shown │ {}/s │ ",
                log.visible_len(),
                fmt::rate(st.event_rate)
            )),
            Span::styled(
                format!("dropped by writer {} │ missed {} ", log.dropped, log.missed),
                lost_style,
            ),
            Span::raw("│"),
            mode,
            Span::styled("(space)", palette::dim()),
        ]))
        .render(head, buf);

        let block = Block::bordered().title(" Event ring (↑↓ PgUp PgDn scroll, End follow) ");
        let inner = block.inner(body);
        block.render(body, buf);
        let start = st.snapshot.as_ref().map_or(0, |s| s.start_mono_ns);
        let mut lines: Vec<Line> = Vec::new();
        if log.lost() > 0 && log.scroll == 0 && !log.paused() && inner.height > 1 {
            lines.push(Line::from(Span::styled(
                format!(
                    "… {} events lost (dropped by the writer or overwritten before read)",
                    log.lost()
                ),
                palette::lost(),
            )));
        }
        let room = (inner.height as usize).saturating_sub(lines.len());
        let page = log.page(room);
        let mut out: Vec<Line> = page.iter().map(|e| line(e, start)).collect();
        if out.is_empty() {
            out.push(Line::from(Span::styled(
                "no events match the filter",
                palette::dim(),
            )));
        }
        out.extend(lines);
        Paragraph::new(out).render(inner, buf);
    }
}
