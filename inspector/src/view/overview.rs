//! View 1, Overview: the process, its byte totals, event rates and a history chart.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Widget};

use super::chart::{self, Series};
use super::{format as fmt, palette};
use crate::state::State;

/// The Overview view.
pub struct Overview<'a>(pub &'a State);

fn kv<'a>(key: &'a str, value: String) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{key:<14}"), palette::dim()),
        Span::raw(value),
    ])
}

impl Widget for Overview<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let st = self.0;
        let Some(snap) = &st.snapshot else {
            Paragraph::new("waiting for the first snapshot…").render(area, buf);
            return;
        };
        let [top, chart_area] =
            Layout::vertical([Constraint::Length(11), Constraint::Min(0)]).areas(area);
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(top);

        let b = &st.bytes;
        let rss = st.process.as_ref().map_or_else(
            || "n/a".to_string(),
            |p| {
                format!(
                    "{}  (peak {})",
                    fmt::bytes(p.rss_bytes),
                    fmt::bytes(p.peak_rss_bytes)
                )
            },
        );
        let ring = &snap.ring;
        let lost = Span::styled(
            format!("dropped {}  missed {}", ring.dropped, st.events.missed),
            if st.events.lost() > 0 {
                palette::lost()
            } else {
                palette::dim()
            },
        );
        let mut proc_lines = vec![
            kv("pid", snap.pid.to_string()),
            kv("command", snap.command.clone()),
            kv("uptime", fmt::duration_ns(st.uptime_ns())),
            kv("RSS", rss),
            kv("protocol", snap.protocol.to_string()),
            kv("threads", snap.threads.len().to_string()),
            kv("events/s", fmt::rate(st.event_rate)),
            Line::from(vec![
                Span::styled(format!("{:<14}", "events lost"), palette::dim()),
                lost,
            ]),
        ];
        let ov = &snap.overflow;
        if ov.threads + ov.superslabs + ov.gpu_pools > 0 {
            proc_lines.push(Line::from(Span::styled(
                format!(
                    "tables full: {} threads, {} SuperSlabs, {} GPU pools not shown",
                    ov.threads, ov.superslabs, ov.gpu_pools
                ),
                palette::lost(),
            )));
        }
        Paragraph::new(proc_lines)
            .block(Block::bordered().title(" Process "))
            .render(left, buf);

        let t = &snap.totals;
        let pct = |v: u64| {
            if b.mapped == 0 {
                String::new()
            } else {
                format!("  {:>5}", fmt::percent(v as f64 / b.mapped as f64))
            }
        };
        let limit = if t.limit_bytes == 0 {
            "none".to_string()
        } else {
            fmt::bytes(t.limit_bytes)
        };
        let mut mem_lines = vec![
            kv(
                "mapped",
                format!(
                    "{:>10}  (peak {})",
                    fmt::bytes(b.mapped),
                    fmt::bytes(t.peak_mapped_bytes)
                ),
            ),
            Line::from(vec![
                Span::styled(format!("{:<14}", "live"), palette::dim()),
                Span::styled(
                    format!("{:>10}", fmt::bytes(b.live)),
                    ratatui::style::Style::new().fg(palette::LIVE),
                ),
                Span::raw(pct(b.live)),
            ]),
            Line::from(vec![
                Span::styled(format!("{:<14}", "cached"), palette::dim()),
                Span::styled(
                    format!("{:>10}", fmt::bytes(b.cached)),
                    ratatui::style::Style::new().fg(palette::CACHED),
                ),
                Span::raw(pct(b.cached)),
            ]),
            Line::from(vec![
                Span::styled(format!("{:<14}", "free"), palette::dim()),
                Span::styled(
                    format!("{:>10}", fmt::bytes(b.free)),
                    ratatui::style::Style::new().fg(palette::FREE),
                ),
                Span::raw(pct(b.free)),
            ]),
            kv("fragmentation", fmt::percent(b.fragmentation)),
            kv(
                "SuperSlabs",
                format!(
                    "{}  ({} cached; {} mapped / {} returned total)",
                    t.superslabs,
                    t.superslabs_cached,
                    t.superslabs_mapped_total,
                    t.superslabs_returned_total
                ),
            ),
            kv(
                "large",
                format!(
                    "{} allocations, {}",
                    t.large_count,
                    fmt::bytes(t.large_bytes)
                ),
            ),
            kv("limit", limit),
        ];
        if t.oom_count > 0 {
            mem_lines.push(Line::from(Span::styled(
                format!("OUT OF MEMORY: {} allocations failed", t.oom_count),
                palette::lost(),
            )));
        } else {
            mem_lines.push(kv("OOM", "none".to_string()));
        }
        Paragraph::new(mem_lines)
            .block(Block::bordered().title(" Memory "))
            .render(right, buf);

        chart::render(
            chart_area,
            buf,
            Block::bordered().title(" History: mapped / live / cached "),
            &[
                Series {
                    name: "mapped",
                    history: &st.history.mapped,
                    colour: palette::MAPPED,
                },
                Series {
                    name: "live",
                    history: &st.history.live,
                    colour: palette::LIVE,
                },
                Series {
                    name: "cached",
                    history: &st.history.cached,
                    colour: palette::CACHED,
                },
            ],
            fmt::bytes,
        );
    }
}
