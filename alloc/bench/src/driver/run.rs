//! The driver's main loop: build, run interleaved rounds, summarise, write.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use super::cli::{DriverArgs, USAGE};
use super::spawn::run_one;
use super::stats::{summarize, Samples};
use super::{attach, table, variants};
use crate::procfs;
use crate::workloads::Case;

/// Runs the driver with `std::env::args`.
pub fn main() -> ExitCode {
    let args = match DriverArgs::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("slabscope-bench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(pid) = args.attach_reader {
        return attach::reader_main(pid, args.hz);
    }
    match drive(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slabscope-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Where the driver and its sibling binaries live: (`bin_dir`, `target_dir`).
fn locate() -> Result<(PathBuf, PathBuf, PathBuf), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the driver binary: {e}"))?;
    let bin_dir = exe
        .parent()
        .ok_or("the driver binary has no directory")?
        .to_path_buf();
    let target_dir = bin_dir.parent().unwrap_or(&bin_dir).to_path_buf();
    Ok((exe, bin_dir, target_dir))
}

/// Under `cargo run`, rebuilds the allocator binaries with the driver's profile so that
/// none of them is missing or stale (`cargo run` builds only the driver), and with
/// `preload` the preload library too (a stale `libslabscope_preload.so` would be
/// measured otherwise, with no sign of it).
fn build_siblings(bin_dir: &Path, target_dir: &Path, preload: bool) -> Result<(), String> {
    let Some(cargo) = std::env::var_os("CARGO") else {
        return Ok(());
    };
    let profile = bin_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    let mut builds: Vec<(&str, &[&str])> = vec![(
        "the allocator binaries",
        &["-p", "slabscope-bench", "--bins"],
    )];
    if preload {
        builds.push((
            "libslabscope_preload.so",
            &["-p", "slabscope-preload", "--lib"],
        ));
    }
    for (what, args) in builds {
        let mut cmd = Command::new(&cargo);
        cmd.args(["build", "--quiet"]).args(args);
        match profile {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        cmd.env("CARGO_TARGET_DIR", target_dir);
        eprintln!("slabscope-bench: building {what} ({profile})");
        let status = cmd
            .status()
            .map_err(|e| format!("running cargo build: {e}"))?;
        if !status.success() {
            return Err(format!("cargo build of {what} failed: {status}"));
        }
    }
    Ok(())
}

/// The order in which round `round` runs `n` allocators: a row of a Williams design,
/// as crossover trials order their treatments. Over `n` rounds (`2n` for an odd `n`),
/// each allocator runs once in each place of a round, and right after each other one
/// equally often, so that an effect of the run before (caches, clock speed, the page
/// cache) falls on every allocator alike. In a fixed order one allocator always ran
/// right after the same other one.
fn round_order(n: usize, round: usize) -> Vec<usize> {
    // The first row 0, 1, n-1, 2, n-2, ...; row r adds r to each entry (mod n). For an
    // odd n the rows n..2n are the first n reversed.
    let first = (0..n).map(|k| match k {
        0 => 0,
        k if k % 2 == 1 => k.div_ceil(2),
        k => n - k / 2,
    });
    let rows = if n.is_multiple_of(2) { n } else { 2 * n };
    let row = round % rows.max(1);
    let mut order: Vec<usize> = first.map(|v| (v + row % n) % n).collect();
    if row >= n {
        order.reverse();
    }
    order
}

fn drive(args: &DriverArgs) -> Result<(), String> {
    let (exe, bin_dir, target_dir) = locate()?;
    if !args.no_build {
        build_siblings(&bin_dir, &target_dir, args.preload)?;
    }
    let lineup = if args.preload {
        variants::preload(&bin_dir, &target_dir)?
    } else {
        variants::normal(&bin_dir)?
    }
    .with_slabscope_env(&args.slabscope_env);
    for s in &lineup.skipped {
        eprintln!("slabscope-bench: skipping {}: {}", s.allocator, s.reason);
    }
    if lineup.variants.is_empty() {
        return Err("no allocator to run".into());
    }
    let cases: Vec<Case> = args.workloads.iter().flat_map(|w| w.cases()).collect();
    let total = cases.len() * args.rounds * lineup.variants.len();
    let load_start = procfs::loadavg_1min().unwrap_or(f64::NAN);
    let mut samples = Samples::new();
    let mut done = 0;
    for &case in &cases {
        for round in 0..args.rounds {
            // One round: every allocator once, in an order of its own (see
            // `round_order`).
            for i in round_order(lineup.variants.len(), round) {
                let v = &lineup.variants[i];
                done += 1;
                let sample = run_one(v, case, args.mode, &exe).map_err(|e| {
                    format!(
                        "{} x{} round {} on {}: {e}",
                        case.workload,
                        case.threads,
                        round + 1,
                        v.name
                    )
                })?;
                eprintln!(
                    "[{done:>4}/{total}] {:<14} x{} {:<20} {:>9.2} M ops/s {:>8.1} MiB  ({})",
                    case.workload.name(),
                    case.threads,
                    v.name,
                    sample.report.ops_per_sec / 1e6,
                    sample.report.peak_rss_bytes as f64 / (1024.0 * 1024.0),
                    sample.evidence
                );
                samples
                    .entry(case)
                    .or_default()
                    .entry(v.name.clone())
                    .or_default()
                    .push(sample);
            }
        }
    }
    let mut compare = summarize(&lineup, &samples, args.rounds, args.mode, args.preload);
    compare.loadavg = [load_start, procfs::loadavg_1min().unwrap_or(f64::NAN)];
    print!("{}", table::render(&compare));
    let out = args.out.clone().unwrap_or_else(|| {
        target_dir.join("bench").join(if args.preload {
            "compare-preload.json"
        } else {
            "compare.json"
        })
    });
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(&compare).map_err(|e| e.to_string())?;
    std::fs::File::create(&out)
        .and_then(|mut f| f.write_all(json.as_bytes()))
        .map_err(|e| format!("writing {}: {e}", out.display()))?;
    println!("\nwrote {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::round_order;

    #[test]
    fn every_place_and_every_predecessor_comes_equally_often() {
        for n in 1usize..=9 {
            let rows = if n.is_multiple_of(2) { n } else { 2 * n };
            let mut place = vec![vec![0u32; n]; n];
            let mut after = vec![vec![0u32; n]; n];
            for round in 0..rows {
                let order = round_order(n, round);
                let mut seen = order.clone();
                seen.sort_unstable();
                assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n {n} round {round}");
                for (k, &v) in order.iter().enumerate() {
                    place[v][k] += 1;
                }
                for w in order.windows(2) {
                    after[w[1]][w[0]] += 1;
                }
            }
            let per_place = (rows / n) as u32;
            assert!(
                place.iter().flatten().all(|&c| c == per_place),
                "n {n}: {place:?}"
            );
            // Within the rows, each allocator follows each other one equally often.
            let per_pair = if n > 1 { (rows / n) as u32 } else { 0 };
            for (v, afters) in after.iter().enumerate() {
                for (p, &c) in afters.iter().enumerate().filter(|&(p, _)| p != v) {
                    assert_eq!(c, per_pair, "n {n}: {v} after {p}");
                }
            }
        }
        // The design repeats after its rows, and its first row is the textbook one.
        assert_eq!(round_order(8, 0), [0, 1, 7, 2, 6, 3, 5, 4]);
        assert_eq!(round_order(8, 9), round_order(8, 1));
    }
}
