//! View 6, GPU: each pool with its buckets (live, cached, hits, misses, hit rate,
//! high-water). Offered only when the process has a GPU pool.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, StatefulWidget, Table, TableState, Widget};
use slabscope_proto::{GpuBackend, GpuPoolSnapshot};

use super::{format as fmt, palette};
use crate::state::State;

/// The GPU view.
pub struct Gpu<'a>(pub &'a State);

/// Hit rate of a bucket in `0.0..=1.0` (0 before any request).
pub fn hit_rate(hits: u64, misses: u64) -> f64 {
    let total = hits.saturating_add(misses);
    if total == 0 {
        0.0
    } else {
        hits as f64 / total as f64
    }
}

fn pool_title(p: &GpuPoolSnapshot) -> String {
    let dev = match (p.backend, p.device) {
        (GpuBackend::Cuda, Some(d)) => format!("cuda:{d}"),
        (GpuBackend::Cuda, None) => "cuda".to_string(),
        (GpuBackend::Host, _) => "host memory".to_string(),
    };
    format!(" Pool {} · {dev} · {} ", p.pool, p.name)
}

impl Widget for Gpu<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let st = self.0;
        let Some(snap) = &st.snapshot else { return };
        if snap.gpu.is_empty() {
            Paragraph::new("this process has no GPU pool").render(area, buf);
            return;
        }
        let header = Row::new(
            [
                "bucket",
                "live",
                "cached",
                "live bytes",
                "cached bytes",
                "hits",
                "misses",
                "hit rate",
                "high-water",
                "trimmed",
            ]
            .map(Cell::from),
        )
        .style(palette::header());
        let widths = [8, 7, 7, 11, 12, 9, 8, 9, 10, 8].map(Constraint::Length);
        let mut y = area.y;
        let mut base = 0usize;
        for p in &snap.gpu {
            let h = (p.buckets.len() as u16 + 5).min(area.bottom().saturating_sub(y));
            if h == 0 {
                break;
            }
            let r = Rect::new(area.x, y, area.width, h);
            y += h;
            let live_bytes: u64 = p.buckets.iter().map(|b| b.live * b.bucket_bytes).sum();
            let cached_bytes: u64 = p.buckets.iter().map(|b| b.cached * b.bucket_bytes).sum();
            let summary = Line::from(vec![
                Span::raw(format!(
                    " live {} · cached {} · oversize {} ({} live) · trims {} · ",
                    fmt::bytes(live_bytes),
                    fmt::bytes(cached_bytes),
                    p.oversize,
                    fmt::bytes(p.oversize_live_bytes),
                    p.trims
                )),
                Span::styled(
                    format!("device OOMs {}", p.device_ooms),
                    if p.device_ooms > 0 {
                        palette::lost()
                    } else {
                        palette::dim()
                    },
                ),
                Span::raw(format!(
                    " · device free {} of {} ",
                    fmt::bytes(p.device_free_bytes),
                    fmt::bytes(p.device_total_bytes)
                )),
            ]);
            let rows = p.buckets.iter().map(|b| {
                Row::new(vec![
                    Cell::from(format!("{:>8}", fmt::bytes(b.bucket_bytes))),
                    Cell::from(format!("{:>7}", b.live)),
                    Cell::from(format!("{:>7}", b.cached)),
                    Cell::from(format!("{:>11}", fmt::bytes(b.live * b.bucket_bytes))),
                    Cell::from(format!("{:>12}", fmt::bytes(b.cached * b.bucket_bytes))),
                    Cell::from(format!("{:>9}", fmt::count(b.hits))),
                    Cell::from(format!("{:>8}", fmt::count(b.misses))),
                    Cell::from(format!("{:>9}", fmt::percent(hit_rate(b.hits, b.misses)))),
                    Cell::from(format!("{:>10}", b.high_water)),
                    Cell::from(format!("{:>8}", b.trimmed)),
                ])
            });
            let block = Block::bordered().title(pool_title(p)).title_bottom(summary);
            let sel = st
                .bucket_sel
                .checked_sub(base)
                .filter(|i| *i < p.buckets.len());
            base += p.buckets.len();
            let table = Table::new(rows, widths)
                .header(header.clone())
                .block(block)
                .row_highlight_style(palette::selected());
            StatefulWidget::render(table, r, buf, &mut TableState::default().with_selected(sel));
        }
    }
}
