//! The driver end to end: a smoke-sized comparison of every allocator binary, whose
//! JSON result is parsed and sanity-checked. Nothing here asserts speed.

use std::collections::BTreeSet;
use std::process::Command;

use slabscope_bench::report::CompareFile;
use slabscope_bench::Workload;

/// The variants the driver must have run, from the binaries this build has.
fn expected_allocators() -> Vec<&'static str> {
    let mut v = Vec::new();
    if option_env!("CARGO_BIN_EXE_bench-slabscope").is_some() {
        v.extend([
            "slabscope",
            "slabscope-nopub",
            "slabscope-reader60",
            "slabscope-sample",
            "slabscope-noctl",
        ]);
    }
    v.extend(["mimalloc", "jemalloc", "system"]);
    v
}

#[test]
fn smoke_run_reports_every_allocator_on_every_case() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("compare.json");
    let run = Command::new(env!("CARGO_BIN_EXE_slabscope-bench"))
        .args(["--quick", "--smoke", "--rounds", "1", "--no-build", "--out"])
        .arg(&out)
        // Segments go to a private directory, not the shared /dev/shm.
        .env("SLABSCOPE_SHM_DIR", dir.path())
        .output()
        .expect("run the driver");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "driver failed: {}\n{stderr}",
        run.status
    );
    assert!(
        stdout.contains("Throughput"),
        "no table on stdout:\n{stdout}"
    );

    check_compare(&out, "smoke", 1, &stderr);
}

/// The `--quick` run that scripts/test makes (release build, 5 rounds) before it runs
/// this test by name: its compare.json is complete and every figure positive.
#[test]
#[ignore = "checks the JSON of a `slabscope-bench --quick` run; scripts/test runs it after that run"]
fn quick_run_json_is_complete() {
    let out = std::env::var("SLABSCOPE_BENCH_JSON")
        .expect("SLABSCOPE_BENCH_JSON must name the compare.json of a --quick run");
    let log = std::env::var("SLABSCOPE_BENCH_LOG")
        .expect("SLABSCOPE_BENCH_LOG must name the --quick run's stderr log");
    let stderr = std::fs::read_to_string(log).expect("read the --quick run's stderr log");
    check_compare(std::path::Path::new(&out), "quick", 5, &stderr);
}

/// Checks a compare.json written in `mode` with at least `min_rounds` rounds; `stderr`
/// is the driver's stderr (it reports the checks made against the segment).
fn check_compare(out: &std::path::Path, mode: &str, min_rounds: usize, stderr: &str) {
    let text = std::fs::read_to_string(out).expect("compare.json written");
    let c: CompareFile = serde_json::from_str(&text).expect("compare.json parses");
    assert_eq!((c.mode.as_str(), c.preload), (mode, false));
    assert!(c.rounds >= min_rounds, "{} rounds", c.rounds);

    let expected = expected_allocators();
    let cases: BTreeSet<(String, usize)> = Workload::ALL
        .iter()
        .flat_map(|w| w.cases())
        .map(|c| (c.workload.name().to_string(), c.threads))
        .collect();
    assert_eq!(cases.len(), 8);
    for (workload, threads) in &cases {
        for a in &expected {
            let r = c
                .results
                .iter()
                .find(|r| &r.workload == workload && r.threads == *threads && r.allocator == *a)
                .unwrap_or_else(|| panic!("no result for {a} on {workload} x{threads}"));
            assert!(
                r.ops_per_sec > 0.0,
                "{a} {workload}: ops/s {}",
                r.ops_per_sec
            );
            assert!(r.peak_rss_bytes > 0, "{a} {workload}: no peak RSS");
            assert_eq!(r.ops_per_sec_rounds.len(), c.rounds);
        }
    }
    for r in c.results.iter().filter(|r| r.workload == "rss16") {
        assert!(
            r.extra["bytes_per_alloc"] > 0.0,
            "{}: rss16 figure",
            r.allocator
        );
    }
    for r in c.results.iter().filter(|r| r.workload == "fragmentation") {
        assert!(r.extra["rss_kept_bytes"] > 0.0 && r.extra["rss_after_return_bytes"] > 0.0);
    }

    if expected.contains(&"slabscope") {
        assert_eq!(c.subject.as_deref(), Some("slabscope"));
        assert!(c.skipped.is_empty(), "skipped: {:?}", c.skipped);
        for (workload, threads) in &cases {
            for vs in expected.iter().filter(|a| **a != "slabscope") {
                let ratio = c
                    .ratios
                    .iter()
                    .find(|r| &r.workload == workload && r.threads == *threads && r.vs == *vs)
                    .unwrap_or_else(|| panic!("no ratio vs {vs} on {workload} x{threads}"));
                assert!(ratio.ratio.is_finite() && ratio.ratio > 0.0);
            }
            for what in ["publishing", "reader-60hz", "sampling", "control-polling"] {
                assert!(
                    c.overhead.iter().any(|o| &o.workload == workload
                        && o.what == what
                        && o.overhead_pct.is_finite()),
                    "no {what} overhead row for {workload}"
                );
            }
        }
        // Every slabscope run was checked against its segment or its own counters.
        assert!(stderr.contains("segment counts"), "{stderr}");
        assert!(stderr.contains("own counters show"), "{stderr}");
        // The sampling variant's segment published the interval it was started with.
        assert!(stderr.contains("samples every 524288 bytes"), "{stderr}");
    } else {
        // Without the slabscope binary the driver still runs, and says why.
        assert_eq!(c.subject, None);
        assert!(c.ratios.is_empty());
        assert!(c.skipped.iter().any(|s| s.allocator == "slabscope"));
    }
}
