//! `alloc-inspect export` end to end: two demo workloads (this binary's `__demo-child`,
//! the real allocator), the exporter on a free loopback port, scrapes over HTTP parsed
//! with a Prometheus text parser (`prometheus-parse`), and the figures checked against
//! each process's `--once --json` snapshot.
//!
//! The demo never stops changing, so the checks are of three kinds: facts that do not
//! move (the class table and block sizes, the limit, the command), monotonic counters
//! bracketed by two scrapes (scrape 1 <= JSON <= scrape 2 for every class's allocs and
//! frees and the ring head), and agreement within a factor of 4 for gauges (mapped and
//! live bytes; the demo stays in its churn phase, whose working set is steady). A process started after the exporter is picked up; one that exits is
//! gone from the next scrape.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloc_inspect::state::ByteTotals;
use prometheus_parse::{Sample, Scrape, Value};
use serde_json::Value as Json;
use slabscope_proto::SegmentReader;

mod support;
use support::BIN;

/// A child process killed and reaped when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn demo(dir: &Path) -> Proc {
    let child = Command::new(BIN)
        .args(["__demo-child", "--seconds", "120", "--threads", "1"])
        // One long phase: the churn phase keeps a steady working set of 10 000 objects.
        .args(["--phase-ms", "600000"])
        .env("SLABSCOPE_PUBLISH", "1")
        .env("SLABSCOPE_SHM_DIR", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let seg = dir.join(format!("slabscope.{}", child.id()));
    let deadline = Instant::now() + Duration::from_secs(60);
    // Wait until the working set is built (more than 1 MiB live).
    loop {
        let live = SegmentReader::open(&seg)
            .and_then(|r| r.snapshot())
            .map_or(0, |s| ByteTotals::of(&s).live);
        if live > 1 << 20 {
            break;
        }
        assert!(Instant::now() < deadline, "{} never filled", seg.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    Proc(child)
}

/// Starts the exporter on port 0 and returns it with the address it printed.
fn exporter(dir: &Path) -> (Proc, String) {
    let mut child = Command::new(BIN)
        .args(["export", "--listen", "127.0.0.1:0", "--all"])
        .env("SLABSCOPE_SHM_DIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("serving http://")
        .and_then(|s| s.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (Proc(child), addr)
}

/// `GET path` over HTTP/1.0 (no chunking); returns status line, headers and body.
fn get(addr: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    (head.to_string(), body.to_string())
}

struct Metrics {
    text: String,
    scrape: Scrape,
}

impl Metrics {
    fn fetch(addr: &str) -> Self {
        let (head, text) = get(addr, "/metrics");
        assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"));
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/openmetrics-text"),
            "{head}"
        );
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
        Self { text, scrape }
    }

    fn samples<'a>(&'a self, metric: &'a str, pid: u32) -> impl Iterator<Item = &'a Sample> {
        let pid = pid.to_string();
        self.scrape
            .samples
            .iter()
            .filter(move |s| s.metric == metric && s.labels.get("pid") == Some(pid.as_str()))
    }

    fn value(&self, metric: &str, pid: u32) -> f64 {
        let v: Vec<f64> = self.samples(metric, pid).map(|s| num(&s.value)).collect();
        assert_eq!(v.len(), 1, "{metric} for pid {pid}: {v:?}");
        v[0]
    }

    /// Per-class values by class index.
    fn by_class(&self, metric: &str, pid: u32) -> HashMap<u64, (f64, u64)> {
        self.samples(metric, pid)
            .map(|s| {
                let class = s.labels.get("class").unwrap().parse().unwrap();
                let bs = s.labels.get("block_size").unwrap().parse().unwrap();
                (class, (num(&s.value), bs))
            })
            .collect()
    }

    fn pids(&self) -> Vec<u32> {
        let mut p: Vec<u32> = self
            .scrape
            .samples
            .iter()
            .filter(|s| s.metric == "slabscope_process_info")
            .map(|s| s.labels.get("pid").unwrap().parse().unwrap())
            .collect();
        p.sort();
        p
    }
}

fn num(v: &Value) -> f64 {
    match *v {
        Value::Counter(x) | Value::Gauge(x) | Value::Untyped(x) => x,
        ref other => panic!("not a number: {other:?}"),
    }
}

fn once_json(dir: &Path, pid: u32) -> Json {
    support::once_json(pid, dir)
}

/// The exposition follows the conventions: every family has HELP and TYPE, every
/// sample is `slabscope_*`, counters are exposed as `<name>_total`, units as suffixes.
fn check_conventions(m: &Metrics) {
    let mut types: HashMap<&str, &str> = HashMap::new();
    for l in m.text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').unwrap();
            types.insert(name, ty);
            assert!(m.scrape.docs.contains_key(name), "{name} has a # HELP line");
        }
    }
    assert!(m.text.ends_with("# EOF\n"));
    assert!(!m.scrape.samples.is_empty());
    for s in &m.scrape.samples {
        assert!(s.metric.starts_with("slabscope_"), "{}", s.metric);
        let family = match types.get(s.metric.as_str()) {
            Some(ty) => {
                assert_ne!(*ty, "counter", "counter {} without _total", s.metric);
                s.metric.as_str()
            }
            None => {
                let base = s.metric.strip_suffix("_total").unwrap_or_else(|| {
                    panic!("{} has no # TYPE and is not a counter total", s.metric)
                });
                assert_eq!(types.get(base), Some(&"counter"), "{}", s.metric);
                base
            }
        };
        if m.text.contains(&format!("# UNIT {family} bytes")) {
            assert!(family.ends_with("_bytes"), "{family}");
        }
    }
}

/// The figures of `pid` in two scrapes bracket its `--once --json` snapshot taken
/// between them.
fn check_against_json(before: &Metrics, json: &Json, after: &Metrics, pid: u32) {
    assert_eq!(json["pid"], pid);
    for m in [before, after] {
        let info: Vec<&Sample> = m.samples("slabscope_process_info", pid).collect();
        assert_eq!(info.len(), 1);
        assert_eq!(info[0].labels.get("command"), Some("alloc-inspect"));
        assert_eq!(
            m.value("slabscope_limit_bytes", pid),
            json["totals"]["limit_bytes"].as_f64().unwrap()
        );
        let frag = m.value("slabscope_fragmentation_ratio", pid);
        assert!((0.0..=1.0).contains(&frag), "{frag}");
    }
    // The class table: the same classes with the same block sizes.
    let classes = json["classes"].as_array().unwrap();
    for metric in [
        "slabscope_class_capacity_blocks",
        "slabscope_class_live_bytes",
        "slabscope_class_cached_blocks",
        "slabscope_class_free_bytes",
    ] {
        let got = after.by_class(metric, pid);
        assert_eq!(got.len(), classes.len(), "{metric}");
        for c in classes {
            let (_, bs) = got[&c["class"].as_u64().unwrap()];
            assert_eq!(bs, c["block_size_bytes"].as_u64().unwrap(), "{metric}");
        }
    }
    // Monotonic counters: scrape 1 <= JSON <= scrape 2.
    for (metric, key) in [
        ("slabscope_class_allocs_total", "allocs"),
        ("slabscope_class_frees_total", "frees"),
    ] {
        let (b, a) = (before.by_class(metric, pid), after.by_class(metric, pid));
        for c in classes {
            let i = c["class"].as_u64().unwrap();
            let j = c[key].as_f64().unwrap();
            assert!(
                b[&i].0 <= j && j <= a[&i].0,
                "{metric} class {i}: {} <= {j} <= {}",
                b[&i].0,
                a[&i].0
            );
        }
    }
    // Bytes that move both ways (the churn keeps the working set steady): within 4x.
    for (metric, key) in [
        ("slabscope_mapped_bytes", "mapped_bytes"),
        ("slabscope_live_bytes", "live_bytes"),
    ] {
        let j = json["totals"][key].as_f64().unwrap();
        for m in [before, after] {
            let v = m.value(metric, pid);
            assert!(v > 0.0 && j > 0.0, "{metric}: {v} / {j}");
            assert!(
                v / j < 4.0 && j / v < 4.0,
                "{metric}: exporter {v}, json {j}"
            );
        }
    }
    // Events: the ring head only grows, and every event read since the exporter
    // attached was written in that time.
    let head = |m: &Metrics| m.value("slabscope_ring_events_total", pid);
    assert!(head(before) <= head(after));
    let read: f64 = after
        .samples("slabscope_events_total", pid)
        .map(|s| num(&s.value))
        .sum();
    assert!(
        read <= head(after),
        "{read} events read, head {}",
        head(after)
    );
    let kinds: Vec<&str> = after
        .samples("slabscope_events_total", pid)
        .map(|s| s.labels.get("kind").unwrap())
        .collect();
    for k in [
        "magazine_drain",
        "superslab_map",
        "oom",
        "control_ack",
        "unknown",
    ] {
        assert!(kinds.contains(&k), "events_total has kind {k}");
    }
    assert_eq!(
        after.samples("slabscope_events_dropped_total", pid).count(),
        2,
        "writer and missed"
    );
    // Heap errors: one sample per kind, as the JSON counts them (none in the demo).
    let counts = json["heap_error_counts"].as_object().unwrap();
    assert_eq!(counts.len(), 4);
    for (kind, n) in counts {
        let v: Vec<f64> = after
            .samples("slabscope_heap_errors_total", pid)
            .filter(|s| s.labels.get("kind") == Some(kind.as_str()))
            .map(|s| num(&s.value))
            .collect();
        assert_eq!(v, vec![n.as_f64().unwrap()], "heap errors of kind {kind}");
    }
}

#[test]
fn exporter_serves_every_process_and_follows_them_coming_and_going() {
    let dir = tempfile::tempdir().unwrap();
    let a = demo(dir.path());
    let (_exporter, addr) = exporter(dir.path());
    let (head, body) = get(&addr, "/");
    assert!(head.contains(" 200") && body.contains("/metrics"), "{head}");
    assert!(get(&addr, "/nope").0.contains(" 404"));

    let first = Metrics::fetch(&addr);
    check_conventions(&first);
    assert_eq!(first.pids(), vec![a.0.id()]);

    // A process started after the exporter is picked up by the next scrape.
    let b = demo(dir.path());
    let mut pids = vec![a.0.id(), b.0.id()];
    pids.sort();
    let before = Metrics::fetch(&addr);
    assert_eq!(before.pids(), pids);
    assert_eq!(before.value_any("slabscope_exporter_targets"), 2.0);
    // Let both workloads run on, so the counters move between the reads.
    std::thread::sleep(Duration::from_millis(300));
    let jsons: Vec<Json> = pids.iter().map(|&p| once_json(dir.path(), p)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let after = Metrics::fetch(&addr);
    check_conventions(&after);
    for (pid, json) in pids.iter().zip(&jsons) {
        check_against_json(&before, json, &after, *pid);
    }

    // A process that exits is gone from the next scrape; the other stays.
    let gone = b.0.id();
    drop(b);
    let next = Metrics::fetch(&addr);
    assert_eq!(next.pids(), vec![a.0.id()], "pid {gone} dropped");
    assert_eq!(next.samples("slabscope_mapped_bytes", gone).count(), 0);
    assert_eq!(next.value_any("slabscope_exporter_targets"), 1.0);
}

impl Metrics {
    /// The value of an unlabelled-by-pid metric.
    fn value_any(&self, metric: &str) -> f64 {
        let v: Vec<f64> = self
            .scrape
            .samples
            .iter()
            .filter(|s| s.metric == metric)
            .map(|s| num(&s.value))
            .collect();
        assert_eq!(v.len(), 1, "{metric}");
        v[0]
    }
}
