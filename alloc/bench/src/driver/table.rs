//! The text tables the driver prints (and docs/BENCHMARKS.md quotes).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::report::CompareFile;

const MIB: f64 = 1024.0 * 1024.0;

/// A grid: row label -> column -> cell text.
struct Grid {
    title: String,
    columns: Vec<String>,
    rows: Vec<(String, BTreeMap<String, String>)>,
}

impl Grid {
    fn new(title: &str, columns: Vec<String>) -> Self {
        Self {
            title: title.into(),
            columns,
            rows: Vec::new(),
        }
    }

    fn row(&mut self, label: String) -> &mut BTreeMap<String, String> {
        if self.rows.last().map(|r| &r.0) != Some(&label) {
            self.rows.push((label, BTreeMap::new()));
        }
        &mut self.rows.last_mut().expect("row just pushed").1
    }

    fn render(&self, out: &mut String) {
        if self.rows.is_empty() {
            return;
        }
        let first = self
            .rows
            .iter()
            .map(|r| r.0.len())
            .max()
            .unwrap_or(0)
            .max(4);
        let widths: Vec<usize> = self
            .columns
            .iter()
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.1.get(c).map(String::len))
                    .max()
                    .unwrap_or(1)
                    .max(c.len())
            })
            .collect();
        let _ = writeln!(out, "\n{}\n", self.title);
        let _ = write!(out, "| {:first$} |", "case");
        for (c, w) in self.columns.iter().zip(&widths) {
            let _ = write!(out, " {c:>w$} |");
        }
        let _ = write!(out, "\n|{}|", "-".repeat(first + 2));
        for w in &widths {
            let _ = write!(out, "{}:|", "-".repeat(w + 1));
        }
        out.push('\n');
        for (label, cells) in &self.rows {
            let _ = write!(out, "| {label:first$} |");
            for (c, w) in self.columns.iter().zip(&widths) {
                let cell = cells.get(c).map_or("-", String::as_str);
                let _ = write!(out, " {cell:>w$} |");
            }
            out.push('\n');
        }
    }
}

fn case_label(workload: &str, threads: usize) -> String {
    format!("{workload} x{threads}")
}

/// Renders the comparison as Markdown tables.
pub fn render(c: &CompareFile) -> String {
    let mut allocators: Vec<String> = Vec::new();
    for r in &c.results {
        if !allocators.contains(&r.allocator) {
            allocators.push(r.allocator.clone());
        }
    }
    let mut ops = Grid::new("Throughput, million ops/s (median)", allocators.clone());
    let mut rss = Grid::new("Peak RSS, MiB (median)", allocators.clone());
    let mut per16 = Grid::new(
        "rss16: resident bytes per 16-byte allocation",
        allocators.clone(),
    );
    let mut frag = Grid::new(
        "fragmentation: RSS MiB kept after freeing 90 % / after the allocator's return to the OS",
        allocators.clone(),
    );
    for r in &c.results {
        let label = case_label(&r.workload, r.threads);
        ops.row(label.clone())
            .insert(r.allocator.clone(), format!("{:.2}", r.ops_per_sec / 1e6));
        rss.row(label.clone()).insert(
            r.allocator.clone(),
            format!("{:.1}", r.peak_rss_bytes as f64 / MIB),
        );
        if let Some(b) = r.extra.get("bytes_per_alloc") {
            per16
                .row(label.clone())
                .insert(r.allocator.clone(), format!("{b:.2}"));
        }
        if let (Some(k), Some(a)) = (
            r.extra.get("rss_kept_bytes"),
            r.extra.get("rss_after_return_bytes"),
        ) {
            frag.row(label).insert(
                r.allocator.clone(),
                format!("{:.0} / {:.0}", k / MIB, a / MIB),
            );
        }
    }
    let mut vs: Vec<String> = Vec::new();
    for r in &c.ratios {
        if !vs.contains(&r.vs) {
            vs.push(r.vs.clone());
        }
    }
    let subject = c.subject.clone().unwrap_or_default();
    let mut ratios = Grid::new(
        &format!(
            "Ratio {subject} / other, ops/s (median of per-round ratios; > 1: {subject} faster)"
        ),
        vs,
    );
    for r in &c.ratios {
        ratios
            .row(case_label(&r.workload, r.threads))
            .insert(r.vs.clone(), format!("{:.3}", r.ratio));
    }
    let mut whats: Vec<String> = Vec::new();
    for o in &c.overhead {
        if !whats.contains(&o.what) {
            whats.push(o.what.clone());
        }
    }
    let mut over = Grid::new(
        "Overhead of slabscope's own features, % of throughput (median of per-round ratios)",
        whats,
    );
    const READER_CPU: &str = "reader CPU, % of a core";
    if c.results
        .iter()
        .any(|r| r.extra.contains_key("reader_cpu_pct"))
    {
        over.columns.push(READER_CPU.into());
    }
    for o in &c.overhead {
        let row = over.row(case_label(&o.workload, o.threads));
        row.insert(o.what.clone(), format!("{:+.1}", o.overhead_pct));
        let reader_cpu = c
            .results
            .iter()
            .filter(|r| r.workload == o.workload && r.threads == o.threads && r.allocator == o.with)
            .find_map(|r| r.extra.get("reader_cpu_pct"));
        if let Some(cpu) = reader_cpu {
            row.insert(READER_CPU.into(), format!("{cpu:.2}"));
        }
    }
    let mut out = format!(
        "slabscope-bench: {} mode, {} rounds{}; {} CPUs, load average {:.1} at start, {:.1} at end\n",
        c.mode,
        c.rounds,
        if c.preload { ", LD_PRELOAD" } else { "" },
        c.cpus,
        c.loadavg[0],
        c.loadavg[1]
    );
    for (k, v) in &c.slabscope_env {
        let _ = writeln!(out, "slabscope variants run with {k}={v}");
    }
    for s in &c.skipped {
        let _ = writeln!(out, "skipped {}: {}", s.allocator, s.reason);
    }
    for g in [&ops, &ratios, &over, &rss, &per16, &frag] {
        g.render(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{RatioRow, ResultRow};

    #[test]
    fn renders_every_section_present() {
        let row = |a: &str, ops: f64| ResultRow {
            workload: "larson".into(),
            threads: 2,
            allocator: a.into(),
            ops_per_sec: ops,
            peak_rss_bytes: 3 << 20,
            extra: Default::default(),
            ops_per_sec_rounds: vec![ops],
        };
        let c = CompareFile {
            rounds: 5,
            mode: "quick".into(),
            preload: false,
            subject: Some("slabscope".into()),
            slabscope_env: vec![],
            cpus: 2,
            loadavg: [0.5, 1.5],
            results: vec![row("slabscope", 12e6), row("mimalloc", 10e6)],
            ratios: vec![RatioRow {
                workload: "larson".into(),
                threads: 2,
                vs: "mimalloc".into(),
                ratio: 1.2,
            }],
            overhead: vec![],
            skipped: vec![],
        };
        let t = render(&c);
        assert!(t.contains("| larson x2 |     12.00 |    10.00 |"), "{t}");
        assert!(t.contains("1.200"));
        assert!(t.contains("3.0"));
        assert!(!t.contains("rss16"), "{t}");
        assert!(
            t.contains("2 CPUs, load average 0.5 at start, 1.5 at end"),
            "{t}"
        );
    }
}
