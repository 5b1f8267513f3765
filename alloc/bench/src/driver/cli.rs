//! The driver's command line.

use std::path::PathBuf;

use crate::workloads::{Mode, Workload};

/// Parsed driver arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct DriverArgs {
    /// Size of every run.
    pub mode: Mode,
    /// Workloads to run (all when empty on the command line).
    pub workloads: Vec<Workload>,
    /// Rounds (every allocator runs every case once per round).
    pub rounds: usize,
    /// Reach the allocators through `LD_PRELOAD` of `bench-system`.
    pub preload: bool,
    /// Where to write the JSON result (default: `<target>/bench/compare.json`).
    pub out: Option<PathBuf>,
    /// Do not rebuild the allocator binaries before running.
    pub no_build: bool,
    /// Extra environment for every slabscope variant (`--env KEY=VALUE`), to measure
    /// a tuning of the allocator's options against the same competitors.
    pub slabscope_env: Vec<(String, String)>,
    /// Hidden mode: be the 60 Hz segment reader of this pid.
    pub attach_reader: Option<u32>,
    /// Refresh rate of the hidden reader.
    pub hz: u32,
}

/// Fewest rounds outside smoke mode: medians of fewer mean little.
pub const MIN_ROUNDS: usize = 5;

/// Rounds of a full run. A round of larson x2 lasts half a second, and one
/// descheduling of a thread turns it into a round of piled-up hand-offs for any
/// allocator (a fifth of the rounds on a 2-core VM): of 7 rounds, three such rounds of
/// one allocator and none of the other decided the median (docs/BENCHMARKS.md).
pub const FULL_ROUNDS: usize = 15;

/// Usage text.
pub const USAGE: &str = "\
usage: slabscope-bench [--quick | --full] [--smoke] [--workload NAME]... [--rounds N]
                       [--preload] [--out PATH] [--no-build] [--env SLABSCOPE_X=V]...

  --quick          short runs: the whole comparison in under 3 minutes on 2 cores
  --full           the published run (default)
  --smoke          tiny runs that only prove the harness works (tests); 1 round allowed
  --workload NAME  larson, random-mixed, xmalloc, cache-scratch, growth, rss16,
                   fragmentation (repeatable; default all)
  --rounds N       rounds of interleaved runs (default 5 quick, 15 full, 1 smoke; >= 5
                   except in smoke mode)
  --preload        run bench-system under LD_PRELOAD of Debian's mimalloc, jemalloc and
                   tcmalloc and of libslabscope_preload.so (alloc/bench/setup-preload.sh
                   installs the Debian ones)
  --out PATH       JSON result (default <target>/bench/compare.json, or
                   compare-preload.json with --preload)
  --no-build       do not run `cargo build` for the allocator binaries first
  --env K=V        set a SLABSCOPE_* option for every slabscope variant (tuning
                   experiments; recorded in compare.json)";

impl DriverArgs {
    /// Parses the arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut it = args.into_iter();
        let mut a = DriverArgs {
            mode: Mode::Full,
            workloads: Vec::new(),
            rounds: 0,
            preload: false,
            out: None,
            no_build: false,
            slabscope_env: Vec::new(),
            attach_reader: None,
            hz: 60,
        };
        let (mut quick, mut full, mut smoke, mut rounds) = (false, false, false, None);
        while let Some(arg) = it.next() {
            let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                "--quick" => quick = true,
                "--full" => full = true,
                "--smoke" => smoke = true,
                "--preload" => a.preload = true,
                "--no-build" => a.no_build = true,
                "--workload" => {
                    let w = value("--workload")?.parse()?;
                    if !a.workloads.contains(&w) {
                        a.workloads.push(w);
                    }
                }
                "--rounds" => {
                    let v = value("--rounds")?;
                    rounds = Some(
                        v.parse::<usize>()
                            .ok()
                            .filter(|&n| (1..=1000).contains(&n))
                            .ok_or(format!("--rounds {v}: expected 1 to 1000"))?,
                    );
                }
                "--out" => a.out = Some(PathBuf::from(value("--out")?)),
                "--env" => {
                    let v = value("--env")?;
                    let (k, val) = v
                        .split_once('=')
                        .filter(|(k, _)| k.starts_with("SLABSCOPE_") && k.len() > 10)
                        .ok_or(format!("--env {v}: expected SLABSCOPE_NAME=VALUE"))?;
                    if k == "SLABSCOPE_PUBLISH" {
                        return Err(
                            "--env SLABSCOPE_PUBLISH: the variants set it themselves".into()
                        );
                    }
                    a.slabscope_env.push((k.into(), val.into()));
                }
                "--attach-reader" => {
                    let v = value("--attach-reader")?;
                    a.attach_reader = Some(
                        v.parse()
                            .map_err(|_| format!("--attach-reader {v}: not a pid"))?,
                    );
                }
                "--hz" => {
                    let v = value("--hz")?;
                    a.hz = v
                        .parse()
                        .ok()
                        .filter(|&n| (1..=1000).contains(&n))
                        .ok_or(format!("--hz {v}: expected 1 to 1000"))?;
                }
                "-h" | "--help" => return Err(String::new()),
                _ => return Err(format!("unknown argument {arg:?}")),
            }
        }
        if quick && full {
            return Err("--quick and --full exclude each other".into());
        }
        a.mode = match (smoke, quick) {
            (true, _) => Mode::Smoke,
            (false, true) => Mode::Quick,
            (false, false) => Mode::Full,
        };
        a.rounds = match (rounds, a.mode) {
            (Some(n), Mode::Smoke) => n,
            (Some(n), _) if n < MIN_ROUNDS => {
                return Err(format!(
                    "--rounds {n}: at least {MIN_ROUNDS} (fewer only with --smoke)"
                ))
            }
            (Some(n), _) => n,
            (None, Mode::Smoke) => 1,
            (None, Mode::Quick) => 5,
            (None, Mode::Full) => FULL_ROUNDS,
        };
        if a.workloads.is_empty() {
            a.workloads = Workload::ALL.to_vec();
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<DriverArgs, String> {
        DriverArgs::parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn defaults_and_modes() {
        let a = parse("").unwrap();
        assert_eq!(
            (a.mode, a.rounds, a.workloads.len()),
            (Mode::Full, FULL_ROUNDS, 7)
        );
        let q = parse("--quick --workload larson --workload larson").unwrap();
        assert_eq!((q.mode, q.rounds), (Mode::Quick, 5));
        assert_eq!(q.workloads, vec![Workload::Larson]);
        let s = parse("--quick --smoke --rounds 2 --out /tmp/x.json --no-build").unwrap();
        assert_eq!((s.mode, s.rounds, s.no_build), (Mode::Smoke, 2, true));
        assert_eq!(s.out, Some(PathBuf::from("/tmp/x.json")));
        let r = parse("--attach-reader 42 --hz 30").unwrap();
        assert_eq!((r.attach_reader, r.hz), (Some(42), 30));
        let e = parse("--env SLABSCOPE_DRAIN_INTERVAL=16384").unwrap();
        assert_eq!(
            e.slabscope_env,
            vec![("SLABSCOPE_DRAIN_INTERVAL".to_string(), "16384".to_string())]
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse("--rounds 3").unwrap_err().contains("at least 5"));
        assert!(parse("--quick --full").is_err());
        assert!(parse("--workload nope")
            .unwrap_err()
            .contains("unknown workload"));
        assert!(parse("--rounds").unwrap_err().contains("needs a value"));
        assert!(parse("--frobnicate").is_err());
        assert!(parse("--attach-reader x").is_err());
        assert!(parse("--env FOO=1").is_err());
        assert!(parse("--env SLABSCOPE_LIMIT").is_err());
        assert!(parse("--env SLABSCOPE_PUBLISH=1").is_err());
    }
}
