//! The metric families of one scrape, built from fresh snapshots: plain data, encoded
//! by `encode.rs`. Names follow Prometheus conventions: a unit suffix (`_bytes`,
//! `_ratio`) and `_total` on counters (added by the encoder), lower snake case.

use std::borrow::Cow;
use std::collections::BTreeMap;

use slabscope_proto::layout::{ClassCounterDesc, CounterKind, CLASS_COUNTERS};
use slabscope_proto::{EventKind, Snapshot};

use crate::state::ByteTotals;

/// What kind of metric a family is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Goes up and down.
    Gauge,
    /// Only goes up (exposed with `_total`).
    Counter,
}

/// A sample's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// An integer.
    Int(u64),
    /// A float (ratios).
    Float(f64),
}

/// One metric family.
#[derive(Clone, Debug)]
pub struct Family {
    /// Name without unit and `_total` suffixes.
    pub name: Cow<'static, str>,
    /// `# HELP` text.
    pub help: &'static str,
    /// Unit suffix (`bytes`, `ratio`), if any.
    pub unit: Option<&'static str>,
    /// Gauge or counter.
    pub kind: Kind,
    /// Samples: labels and value.
    pub samples: Vec<(Vec<(&'static str, String)>, Value)>,
}

/// Families of one scrape, in first-registration order.
#[derive(Debug, Default)]
pub struct Families {
    order: Vec<Cow<'static, str>>,
    by_name: BTreeMap<Cow<'static, str>, Family>,
}

impl Families {
    /// Adds a sample to family `name` (created with the given description on first use).
    pub fn add(&mut self, desc: Desc, labels: Vec<(&'static str, String)>, value: Value) {
        let (name, help, unit, kind) = desc;
        if !self.by_name.contains_key(&name) {
            self.order.push(name.clone());
        }
        let f = self.by_name.entry(name.clone()).or_insert_with(|| Family {
            name,
            help,
            unit,
            kind,
            samples: Vec::new(),
        });
        f.samples.push((labels, value));
    }

    /// The families in order.
    pub fn iter(&self) -> impl Iterator<Item = &Family> {
        self.order.iter().filter_map(|n| self.by_name.get(n))
    }

    /// The family called `name`.
    pub fn get(&self, name: &str) -> Option<&Family> {
        self.by_name.get(name)
    }
}

/// A family's name, help, unit and kind.
pub type Desc = (Cow<'static, str>, &'static str, Option<&'static str>, Kind);

const fn gauge(name: &'static str, unit: Option<&'static str>, help: &'static str) -> Desc {
    (Cow::Borrowed(name), help, unit, Kind::Gauge)
}

const fn counter(name: &'static str, help: &'static str) -> Desc {
    (Cow::Borrowed(name), help, None, Kind::Counter)
}

const B: Option<&str> = Some("bytes");

/// Per-process figures.
pub mod process {
    use super::*;
    /// `slabscope_process_info`.
    pub const INFO: Desc = gauge(
        "slabscope_process_info",
        None,
        "A process publishing slabscope state (always 1); cmdline holds its command line.",
    );
    /// Mapped bytes.
    pub const MAPPED: Desc = gauge(
        "slabscope_mapped",
        B,
        "Bytes the allocator mapped from the OS (SuperSlabs and large allocations).",
    );
    /// Peak mapped bytes.
    pub const PEAK_MAPPED: Desc = gauge("slabscope_peak_mapped", B, "Highest mapped bytes seen.");
    /// Live bytes.
    pub const LIVE: Desc = gauge(
        "slabscope_live",
        B,
        "Bytes in user hands: live blocks times block size over classes, plus large allocations.",
    );
    /// Cached bytes.
    pub const CACHED: Desc = gauge("slabscope_cached", B, "Bytes held in thread magazines.");
    /// Free bytes.
    pub const FREE: Desc = gauge("slabscope_free", B, "Bytes free inside slots.");
    /// Large bytes.
    pub const LARGE: Desc = gauge(
        "slabscope_large",
        B,
        "Bytes in live large (directly mapped) allocations.",
    );
    /// Fragmentation.
    pub const FRAGMENTATION: Desc = gauge(
        "slabscope_fragmentation",
        Some("ratio"),
        "1 - live / mapped: the share of mapped memory not in user hands (0 to 1).",
    );
    /// SuperSlabs mapped.
    pub const SUPERSLABS: Desc = gauge(
        "slabscope_superslabs",
        None,
        "SuperSlabs mapped now, including empty ones held in the cache.",
    );
    /// SuperSlabs cached.
    pub const SUPERSLABS_CACHED: Desc = gauge(
        "slabscope_superslabs_cached",
        None,
        "Empty SuperSlabs held in the cache, not yet returned to the OS.",
    );
    /// SuperSlabs mapped over the lifetime.
    pub const SUPERSLABS_MAPPED: Desc = counter(
        "slabscope_superslabs_mapped",
        "SuperSlabs mapped over the process lifetime.",
    );
    /// SuperSlabs returned over the lifetime.
    pub const SUPERSLABS_RETURNED: Desc = counter(
        "slabscope_superslabs_returned",
        "SuperSlabs returned to the OS over the process lifetime.",
    );
    /// OOMs.
    pub const OOM: Desc = counter(
        "slabscope_oom",
        "Allocations that failed for lack of memory (mmap failure or SLABSCOPE_LIMIT).",
    );
    /// The limit.
    pub const LIMIT: Desc = gauge("slabscope_limit", B, "SLABSCOPE_LIMIT in bytes (0: none).");
    /// Foreign frees.
    pub const FOREIGN_FREES: Desc = counter(
        "slabscope_foreign_frees",
        "Frees of pointers the allocator does not own, ignored.",
    );
    /// Live threads.
    pub const THREADS: Desc = gauge(
        "slabscope_threads",
        None,
        "Threads with a live record in the segment.",
    );
    /// Heap errors by kind.
    pub const HEAP_ERRORS: Desc = counter(
        "slabscope_heap_errors",
        "Heap errors SLABSCOPE_CHECK found since the process started, by kind (double_free, \
         invalid_free, write_after_free, overflow).",
    );
    /// Events written.
    pub const RING_EVENTS: Desc = counter(
        "slabscope_ring_events",
        "Events the process wrote into its ring since it started (the ring head).",
    );
    /// Events by kind.
    pub const EVENTS: Desc = counter(
        "slabscope_events",
        "Events read from the ring since the exporter attached, by kind.",
    );
    /// Events lost.
    pub const EVENTS_DROPPED: Desc = counter(
        "slabscope_events_dropped",
        "Events lost: by the writer (ring slot busy, since the process started) or missed \
         by the exporter (overwritten before it read them, corrupt, abandoned; since it attached).",
    );
    /// Uptime.
    pub const START: Desc = gauge(
        "slabscope_process_start_time",
        Some("seconds"),
        "When the process created its segment, in seconds since the Unix epoch.",
    );
}

/// Per-class figures.
pub mod class {
    use super::*;
    /// Live bytes.
    pub const LIVE_BYTES: Desc = gauge(
        "slabscope_class_live",
        B,
        "Bytes in user hands, by size class.",
    );
    /// Cached bytes.
    pub const CACHED_BYTES: Desc = gauge(
        "slabscope_class_cached",
        B,
        "Bytes in thread magazines, by size class.",
    );
    /// Free bytes.
    pub const FREE_BYTES: Desc = gauge(
        "slabscope_class_free",
        B,
        "Bytes free inside slots, by size class.",
    );
    /// Capacity bytes.
    pub const CAPACITY_BYTES: Desc = gauge(
        "slabscope_class_capacity",
        B,
        "Bytes carved into blocks, by size class.",
    );
    /// Live blocks.
    pub const LIVE_BLOCKS: Desc = gauge(
        "slabscope_class_live_blocks",
        None,
        "Blocks in user hands, by size class.",
    );

    /// The family of one declared per-class counter (`layout::CLASS_COUNTERS`):
    /// `slabscope_class_<name>`, a counter for running totals.
    pub fn declared(d: &ClassCounterDesc) -> Desc {
        let kind = match d.kind {
            CounterKind::Gauge => Kind::Gauge,
            CounterKind::Total => Kind::Counter,
        };
        (
            Cow::Owned(format!("slabscope_class_{}", d.name)),
            d.help(),
            None,
            kind,
        )
    }
}

/// Per GPU pool and bucket.
pub mod gpu {
    use super::*;
    /// Live bytes.
    pub const LIVE: Desc = gauge(
        "slabscope_gpu_live",
        B,
        "Bytes of buffers handed out, by GPU pool and bucket.",
    );
    /// Cached bytes.
    pub const CACHED: Desc = gauge(
        "slabscope_gpu_cached",
        B,
        "Bytes of buffers cached for reuse, by GPU pool and bucket.",
    );
    /// Live buffers.
    pub const LIVE_BUFFERS: Desc = gauge(
        "slabscope_gpu_live_buffers",
        None,
        "Buffers handed out, by GPU pool and bucket.",
    );
    /// Cached buffers.
    pub const CACHED_BUFFERS: Desc = gauge(
        "slabscope_gpu_cached_buffers",
        None,
        "Buffers cached for reuse, by GPU pool and bucket.",
    );
    /// Hits.
    pub const HITS: Desc = counter(
        "slabscope_gpu_hits",
        "Allocations served from the cache, by GPU pool and bucket.",
    );
    /// Misses.
    pub const MISSES: Desc = counter(
        "slabscope_gpu_misses",
        "Allocations that went to the device, by GPU pool and bucket.",
    );
}

/// The exporter's own figures.
pub const TARGETS: Desc = gauge(
    "slabscope_exporter_targets",
    None,
    "Processes this exporter reads now.",
);

/// What the exporter knows about one process besides its snapshot.
#[derive(Clone, Debug, Default)]
pub struct EventCounts {
    /// Events read since the exporter attached, by kind name.
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Events the exporter missed since it attached.
    pub missed: u64,
}

/// Arguments every known event kind decodes from: a slot index below 32 and a control
/// ack's "accepted" bit (argument 1), an acquire stage (argument 3), a heap error's
/// kind and op (argument 4).
const PROBE_ARGS: [u64; slabscope_proto::layout::EVENT_ARGS] = [0, 1, 0, 1, 0x0101];

/// One event of every kind this inspector knows, in code order.
pub fn known_kinds() -> Vec<EventKind> {
    (1..=slabscope_proto::event::code::MAX_KNOWN)
        .filter_map(|c| EventKind::decode(c, PROBE_ARGS).ok())
        .collect()
}

/// Every kind name this inspector knows (so each has a sample from the first scrape).
pub fn kind_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = known_kinds().iter().map(|k| k.name()).collect();
    v.push("unknown");
    v
}

/// The `command` label: the program name (`argv[0]` without its directory).
pub fn command_label(command: &str) -> String {
    let argv0 = command.split(' ').next().unwrap_or("");
    argv0.rsplit('/').next().unwrap_or(argv0).to_string()
}

/// Adds one process's families.
pub fn add_process(f: &mut Families, snap: &Snapshot, events: &EventCounts) {
    let base = vec![
        ("pid", snap.pid.to_string()),
        ("command", command_label(&snap.command)),
    ];
    let with = |extra: &[(&'static str, String)]| {
        let mut l = base.clone();
        l.extend_from_slice(extra);
        l
    };
    let int = Value::Int;
    let b = ByteTotals::of(snap);
    let t = &snap.totals;
    f.add(
        process::INFO,
        with(&[("cmdline", snap.command.clone())]),
        int(1),
    );
    for (d, v) in [
        (process::MAPPED, b.mapped),
        (process::PEAK_MAPPED, t.peak_mapped_bytes),
        (process::LIVE, b.live),
        (process::CACHED, b.cached),
        (process::FREE, b.free),
        (process::LARGE, t.large_bytes),
        (process::SUPERSLABS, t.superslabs),
        (process::SUPERSLABS_CACHED, t.superslabs_cached),
        (process::SUPERSLABS_MAPPED, t.superslabs_mapped_total),
        (process::SUPERSLABS_RETURNED, t.superslabs_returned_total),
        (process::OOM, t.oom_count),
        (process::LIMIT, t.limit_bytes),
        (process::FOREIGN_FREES, t.foreign_frees),
        (
            process::THREADS,
            snap.threads
                .iter()
                .filter(|th| th.state == slabscope_proto::ThreadState::Live)
                .count() as u64,
        ),
        (process::RING_EVENTS, snap.ring.head),
    ] {
        f.add(d, with(&[]), int(v));
    }
    f.add(
        process::FRAGMENTATION,
        with(&[]),
        Value::Float(b.fragmentation),
    );
    f.add(
        process::START,
        with(&[]),
        Value::Float(snap.start_unix_ns as f64 / 1e9),
    );
    for (kind, n) in snap.heap_error_counts.iter() {
        f.add(
            process::HEAP_ERRORS,
            with(&[("kind", kind.name().to_string())]),
            int(n),
        );
    }
    for (kind, n) in &events.by_kind {
        f.add(
            process::EVENTS,
            with(&[("kind", kind.to_string())]),
            int(*n),
        );
    }
    f.add(
        process::EVENTS_DROPPED,
        with(&[("reason", "writer".into())]),
        int(snap.ring.dropped),
    );
    f.add(
        process::EVENTS_DROPPED,
        with(&[("reason", "missed".into())]),
        int(events.missed),
    );
    for c in &snap.classes {
        let l = with(&[
            ("class", c.class.to_string()),
            ("block_size", c.block_size.to_string()),
        ]);
        let bs = u64::from(c.block_size);
        let k = &c.counters;
        for (d, v) in [
            (class::LIVE_BYTES, c.live.saturating_mul(bs)),
            (class::CACHED_BYTES, k.cached_blocks.saturating_mul(bs)),
            (class::FREE_BYTES, k.free_blocks.saturating_mul(bs)),
            (class::CAPACITY_BYTES, k.capacity_blocks.saturating_mul(bs)),
            (class::LIVE_BLOCKS, c.live),
        ] {
            f.add(d, l.clone(), int(v));
        }
        for d in CLASS_COUNTERS {
            f.add(class::declared(d), l.clone(), int((d.get)(k)));
        }
    }
    for p in &snap.gpu {
        let device = p
            .device
            .map_or_else(|| "host".to_string(), |d| d.to_string());
        for bk in &p.buckets {
            let l = with(&[
                ("pool", p.pool.to_string()),
                ("device", device.clone()),
                ("bucket_bytes", bk.bucket_bytes.to_string()),
            ]);
            for (d, v) in [
                (gpu::LIVE, bk.live.saturating_mul(bk.bucket_bytes)),
                (gpu::CACHED, bk.cached.saturating_mul(bk.bucket_bytes)),
                (gpu::LIVE_BUFFERS, bk.live),
                (gpu::CACHED_BUFFERS, bk.cached),
                (gpu::HITS, bk.hits),
                (gpu::MISSES, bk.misses),
            ] {
                f.add(d, l.clone(), int(v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::Synthetic;

    #[test]
    fn a_snapshot_gives_every_family_with_pid_and_command() {
        let snap = Synthetic {
            gpu: true,
            ..Default::default()
        }
        .snapshot(1);
        let mut f = Families::default();
        let mut ev = EventCounts::default();
        for k in kind_names() {
            ev.by_kind.insert(k, 0);
        }
        add_process(&mut f, &snap, &ev);
        let live = f.get("slabscope_live").unwrap();
        assert_eq!(live.samples.len(), 1);
        assert_eq!(live.samples[0].1, Value::Int(ByteTotals::of(&snap).live));
        assert_eq!(live.samples[0].0[0], ("pid", snap.pid.to_string()));
        assert_eq!(
            f.get("slabscope_class_capacity_blocks")
                .unwrap()
                .samples
                .len(),
            snap.classes.len()
        );
        let gpu_rows: usize = snap.gpu.iter().map(|p| p.buckets.len()).sum();
        assert_eq!(f.get("slabscope_gpu_hits").unwrap().samples.len(), gpu_rows);
        let events = f.get("slabscope_events").unwrap();
        assert_eq!(events.kind, Kind::Counter);
        assert!(events.samples.len() >= 18, "every kind, and unknown");
        assert!(kind_names().contains(&"control_ack"));
        assert!(kind_names().contains(&"heap_error"));
    }

    #[test]
    fn heap_errors_are_counted_by_kind_zero_included() {
        let snap = Synthetic {
            heap_errors: true,
            ..Default::default()
        }
        .snapshot(1);
        let mut f = Families::default();
        add_process(&mut f, &snap, &EventCounts::default());
        let fam = f.get("slabscope_heap_errors").unwrap();
        assert_eq!(fam.kind, Kind::Counter);
        let got: Vec<(String, Value)> = fam
            .samples
            .iter()
            .map(|(l, v)| (l.last().unwrap().1.clone(), *v))
            .collect();
        let want: Vec<(String, Value)> = slabscope_proto::HeapErrorKind::ALL
            .iter()
            .map(|k| {
                (
                    k.name().to_string(),
                    Value::Int(snap.heap_error_counts.get(*k)),
                )
            })
            .collect();
        assert_eq!(got, want);
        assert_eq!(got[0], ("double_free".to_string(), Value::Int(2)));
        // A process without heap errors still has one zero sample per kind.
        let mut f = Families::default();
        add_process(
            &mut f,
            &Synthetic::default().snapshot(1),
            &EventCounts::default(),
        );
        let fam = f.get("slabscope_heap_errors").unwrap();
        assert_eq!(fam.samples.len(), 4);
        assert!(fam.samples.iter().all(|s| s.1 == Value::Int(0)));
    }

    #[test]
    fn every_declared_class_counter_is_a_family_with_one_sample_per_class() {
        let snap = Synthetic::default().snapshot(1);
        let mut f = Families::default();
        add_process(&mut f, &snap, &EventCounts::default());
        for d in CLASS_COUNTERS {
            let name = format!("slabscope_class_{}", d.name);
            let fam = f.get(&name).unwrap_or_else(|| panic!("no family {name}"));
            let want = if d.kind == CounterKind::Total {
                Kind::Counter
            } else {
                Kind::Gauge
            };
            assert_eq!(fam.kind, want, "{name}");
            assert_eq!(fam.help, d.help(), "{name}");
            let values: Vec<Value> = fam.samples.iter().map(|s| s.1).collect();
            let expect: Vec<Value> = snap
                .classes
                .iter()
                .map(|c| Value::Int((d.get)(&c.counters)))
                .collect();
            assert_eq!(values, expect, "{name}");
        }
    }

    #[test]
    fn the_command_label_is_the_program_name() {
        assert_eq!(command_label("/usr/bin/python3 -m x"), "python3");
        assert_eq!(command_label("demo"), "demo");
        assert_eq!(command_label(""), "");
    }
}
