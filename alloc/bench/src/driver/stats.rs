//! Medians and per-round ratios.

use std::collections::BTreeMap;

use super::spawn::Sample;
use super::variants::Lineup;
use crate::report::{CompareFile, OverheadRow, RatioRow, ResultRow};
use crate::workloads::{Case, Mode};

/// Median of `v` (mean of the middle two for an even count); NaN when empty.
pub fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// Median over rounds of `a[r] / b[r]`, pairing runs of the same round.
pub fn paired_ratio(a: &[f64], b: &[f64]) -> f64 {
    let r: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(_, &y)| y > 0.0)
        .map(|(x, y)| x / y)
        .collect();
    median(&r)
}

/// Samples of one run: per case, per variant, one per round in round order.
pub type Samples = BTreeMap<Case, BTreeMap<String, Vec<Sample>>>;

/// Folds the samples into `compare.json`.
pub fn summarize(
    lineup: &Lineup,
    samples: &Samples,
    rounds: usize,
    mode: Mode,
    preload: bool,
) -> CompareFile {
    let mut results = Vec::new();
    let mut ratios = Vec::new();
    let mut overhead = Vec::new();
    for (case, by_variant) in samples {
        let ops = |name: &str| -> Vec<f64> {
            by_variant
                .get(name)
                .map(|v| v.iter().map(|s| s.report.ops_per_sec).collect())
                .unwrap_or_default()
        };
        for v in &lineup.variants {
            let Some(runs) = by_variant.get(&v.name) else {
                continue;
            };
            let rss: Vec<f64> = runs
                .iter()
                .map(|s| s.report.peak_rss_bytes as f64)
                .collect();
            let mut extra_runs: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for s in runs {
                for (k, x) in &s.report.extra {
                    extra_runs.entry(k.clone()).or_default().push(*x);
                }
            }
            results.push(ResultRow {
                workload: case.workload.name().into(),
                threads: case.threads,
                allocator: v.name.clone(),
                ops_per_sec: median(&ops(&v.name)),
                peak_rss_bytes: median(&rss) as u64,
                extra: extra_runs
                    .into_iter()
                    .map(|(k, xs)| (k, median(&xs)))
                    .collect(),
                ops_per_sec_rounds: ops(&v.name),
            });
        }
        if let Some(subject) = &lineup.subject {
            let mine = ops(subject);
            for v in lineup.variants.iter().filter(|v| &v.name != subject) {
                let theirs = ops(&v.name);
                if mine.is_empty() || theirs.is_empty() {
                    continue;
                }
                ratios.push(RatioRow {
                    workload: case.workload.name().into(),
                    threads: case.threads,
                    vs: v.name.clone(),
                    ratio: paired_ratio(&mine, &theirs),
                });
            }
        }
        for pair in &lineup.overhead {
            let (with, without) = (ops(&pair.with), ops(&pair.without));
            if with.is_empty() || without.is_empty() {
                continue;
            }
            overhead.push(OverheadRow {
                workload: case.workload.name().into(),
                threads: case.threads,
                what: pair.what.into(),
                with: pair.with.clone(),
                without: pair.without.clone(),
                overhead_pct: 100.0 * (1.0 - paired_ratio(&with, &without)),
            });
        }
    }
    CompareFile {
        rounds,
        mode: mode.name().into(),
        preload,
        subject: lineup.subject.clone(),
        slabscope_env: lineup.slabscope_env.clone(),
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg: [0.0; 2],
        results,
        ratios,
        overhead,
        skipped: lineup.skipped.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn ratios_pair_rounds() {
        // Machine drift doubles both in round 2: the paired ratio stays 2.
        let a = [2.0, 4.0, 2.0];
        let b = [1.0, 2.0, 1.0];
        assert_eq!(paired_ratio(&a, &b), 2.0);
        assert_eq!(paired_ratio(&a, &[0.0, 2.0, 1.0]), 2.0);
    }
}
