//! The `--once --json` snapshot: a stable, documented schema (docs/INSPECTOR.md).
//! Fields are only ever added within protocol major 1.

use serde::Serialize;
use slabscope_proto::{Event, SlotOwner, SlotState, ThreadState};

use crate::state::leaks::rank;
use crate::state::{ByteTotals, Frame, Liveness};
use crate::symbolize::Symbolizer;

/// Process figures.
#[derive(Serialize)]
pub struct Process {
    /// `VmRSS` in bytes (null for a post-mortem file).
    pub rss_bytes: Option<u64>,
    /// `VmHWM` in bytes (null for a post-mortem file).
    pub peak_rss_bytes: Option<u64>,
    /// Command line as the segment recorded it.
    pub command: String,
    /// Whether the process still runs (null for a post-mortem file).
    pub alive: Option<bool>,
    /// ns since the process created its segment.
    pub uptime_ns: u64,
}

/// Byte totals.
#[derive(Serialize)]
pub struct Totals {
    /// Bytes mapped from the OS.
    pub mapped_bytes: u64,
    /// Highest mapped bytes seen.
    pub peak_mapped_bytes: u64,
    /// Bytes in user hands (classes and large allocations).
    pub live_bytes: u64,
    /// Bytes cached in magazines.
    pub cached_bytes: u64,
    /// Bytes free in slots.
    pub free_bytes: u64,
    /// SuperSlabs mapped.
    pub superslabs: u64,
    /// `1 - live / mapped`.
    pub fragmentation: f64,
    /// Live large allocations.
    pub large_count: u64,
    /// Bytes in live large allocations.
    pub large_bytes: u64,
    /// Allocations that failed for lack of memory.
    pub oom_count: u64,
    /// `SLABSCOPE_LIMIT` (0 = none).
    pub limit_bytes: u64,
}

/// One size class.
#[derive(Serialize)]
pub struct Class {
    /// Class index.
    pub class: u32,
    /// Block size.
    pub block_size: u32,
    /// Blocks in user hands.
    pub live: u64,
    /// Blocks in magazines.
    pub cached: u64,
    /// Blocks free in slots.
    pub free: u64,
    /// Blocks carved.
    pub capacity: u64,
    /// Allocations served.
    pub allocs: u64,
    /// Frees received.
    pub frees: u64,
    /// Frees from another thread.
    pub remote_frees: u64,
}

/// One magazine.
#[derive(Serialize)]
pub struct Magazine {
    /// Class.
    pub class: u32,
    /// Blocks held.
    pub fill: u32,
    /// Capacity in blocks.
    pub capacity: u32,
}

/// One thread.
#[derive(Serialize)]
pub struct Thread {
    /// Kernel tid.
    pub thread: u64,
    /// Thread name.
    pub name: String,
    /// `"live"` or `"exited"`.
    pub state: ThreadState,
    /// Magazines.
    pub magazines: Vec<Magazine>,
    /// Drains performed.
    pub drains: u64,
}

/// One slot.
#[derive(Serialize)]
pub struct Slot {
    /// `"unused"`, `"active"` or `"empty"`.
    pub state: SlotState,
    /// Class (0 for unused).
    pub class: u32,
    /// Blocks in use.
    pub used: u32,
    /// Blocks the slot holds.
    pub capacity: u32,
    /// Its owner: `{"kind": "thread", "tid": N}`, `{"kind": "abandoned"}` or
    /// `{"kind": "none"}` (also for segments older than protocol 1.3).
    pub owner: SlotOwner,
}

/// One SuperSlab.
#[derive(Serialize)]
pub struct SuperSlab {
    /// Base address in the target.
    pub base: u64,
    /// `"mapped"` or `"empty"`.
    pub state: slabscope_proto::SuperSlabState,
    /// The 32 slots.
    pub slots: Vec<Slot>,
}

/// One sampled allocation site (`SLABSCOPE_SAMPLE`), ranked by estimated live bytes.
#[derive(Serialize)]
pub struct Leak {
    /// The first frame outside the allocator and the standard library's allocation
    /// plumbing.
    pub function: String,
    /// Every frame, innermost first: demangled function names (`file+0xOFFSET` without a
    /// symbol, `0xADDR` outside every mapping or for a process that is gone).
    pub frames: Vec<String>,
    /// Estimated bytes of every live allocation of the site.
    pub live_bytes: u64,
    /// Live sampled allocations.
    pub live_samples: u64,
    /// Growth of `live_bytes` in bytes per second: for one read, `live_bytes` over the
    /// time since the site's first sample.
    pub growth_bytes_per_s: f64,
}

/// The whole document.
#[derive(Serialize)]
pub struct Document<'a> {
    /// `"major.minor"` of the segment.
    pub protocol: String,
    /// Writer pid.
    pub pid: u32,
    /// Process figures.
    pub process: Process,
    /// Byte totals.
    pub totals: Totals,
    /// Size classes.
    pub classes: Vec<Class>,
    /// Threads.
    pub threads: Vec<Thread>,
    /// SuperSlabs.
    pub superslabs: Vec<SuperSlab>,
    /// Sampled allocation sites with live samples, by estimated live bytes (empty when
    /// the process does not sample).
    pub leaks: Vec<Leak>,
    /// Events still in the ring, oldest first.
    pub events: &'a [Event],
    /// Events lost: dropped by the writer plus overwritten before this read.
    pub events_dropped: u64,
    /// GPU pools (empty without one).
    pub gpu: &'a [slabscope_proto::GpuPoolSnapshot],
    /// The OOM report: the latest failed allocation and the allocator's state at it
    /// (null when no allocation failed, or for a segment older than protocol 1.2).
    pub oom: Option<&'a slabscope_proto::OomReport>,
}

/// Builds the document of one frame.
pub fn document(frame: &Frame) -> Document<'_> {
    let s = &frame.snapshot;
    let b = ByteTotals::of(s);
    Document {
        protocol: s.protocol.to_string(),
        pid: s.pid,
        process: Process {
            rss_bytes: frame.process.as_ref().map(|p| p.rss_bytes),
            peak_rss_bytes: frame.process.as_ref().map(|p| p.peak_rss_bytes),
            command: s.command.clone(),
            alive: match frame.liveness {
                crate::state::Liveness::Alive => Some(true),
                crate::state::Liveness::Gone => Some(false),
                crate::state::Liveness::Unknown => None,
            },
            uptime_ns: frame.now_mono_ns.saturating_sub(s.start_mono_ns),
        },
        totals: Totals {
            mapped_bytes: b.mapped,
            peak_mapped_bytes: s.totals.peak_mapped_bytes,
            live_bytes: b.live,
            cached_bytes: b.cached,
            free_bytes: b.free,
            superslabs: s.totals.superslabs,
            fragmentation: b.fragmentation,
            large_count: s.totals.large_count,
            large_bytes: s.totals.large_bytes,
            oom_count: s.totals.oom_count,
            limit_bytes: s.totals.limit_bytes,
        },
        classes: s
            .classes
            .iter()
            .map(|c| Class {
                class: c.class,
                block_size: c.block_size,
                live: c.live,
                cached: c.counters.cached_blocks,
                free: c.counters.free_blocks,
                capacity: c.counters.capacity_blocks,
                allocs: c.counters.allocs,
                frees: c.counters.frees,
                remote_frees: c.counters.remote_frees,
            })
            .collect(),
        threads: s
            .threads
            .iter()
            .map(|t| Thread {
                thread: t.tid,
                name: t.name.clone(),
                state: t.state,
                magazines: t
                    .magazines
                    .iter()
                    .map(|m| Magazine {
                        class: m.class,
                        fill: m.fill,
                        capacity: m.capacity,
                    })
                    .collect(),
                drains: t.drains,
            })
            .collect(),
        superslabs: s
            .superslabs
            .iter()
            .map(|ss| SuperSlab {
                base: ss.base,
                state: ss.state,
                slots: ss
                    .slots
                    .iter()
                    .map(|sl| Slot {
                        state: sl.state,
                        class: sl.class,
                        used: sl.used,
                        capacity: sl.capacity,
                        owner: sl.owner,
                    })
                    .collect(),
            })
            .collect(),
        leaks: leaks(frame),
        events: &frame.events,
        events_dropped: s.ring.dropped
            + frame.poll.missed
            + frame.poll.corrupt
            + frame.poll.abandoned,
        gpu: &s.gpu,
        oom: s.oom.as_ref(),
    }
}

/// The ranked sites of `frame`, symbolized from the process's mappings while it runs.
fn leaks(frame: &Frame) -> Vec<Leak> {
    let s = &frame.snapshot;
    let mut symbolizer = (!s.sites.is_empty() && frame.liveness == Liveness::Alive)
        .then(|| Symbolizer::for_pid(s.pid));
    rank(s, frame.now_mono_ns, symbolizer.as_mut())
        .into_iter()
        .map(|l| Leak {
            function: l.function,
            frames: l.frames,
            live_bytes: l.live_bytes,
            live_samples: l.live_samples,
            growth_bytes_per_s: l.growth_bytes_per_s,
        })
        .collect()
}

/// The document of `frame` as pretty-printed JSON.
pub fn to_string(frame: &Frame) -> String {
    serde_json::to_string_pretty(&document(frame)).expect("the document serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::Synthetic;

    #[test]
    fn document_has_the_documented_fields() {
        let f = Synthetic {
            gpu: true,
            ..Default::default()
        }
        .frame(2);
        let v: serde_json::Value = serde_json::from_str(&to_string(&f)).unwrap();
        assert_eq!(v["protocol"], "1.0");
        assert_eq!(v["pid"], 4242);
        for k in ["rss_bytes", "peak_rss_bytes", "command"] {
            assert!(v["process"].get(k).is_some(), "process.{k}");
        }
        for k in [
            "mapped_bytes",
            "live_bytes",
            "cached_bytes",
            "free_bytes",
            "superslabs",
            "fragmentation",
        ] {
            assert!(v["totals"][k].is_number(), "totals.{k}");
        }
        let c = &v["classes"][0];
        for k in [
            "class",
            "block_size",
            "live",
            "cached",
            "free",
            "capacity",
            "allocs",
            "frees",
        ] {
            assert!(c[k].is_number(), "classes[].{k}");
        }
        let t = &v["threads"][0];
        assert!(t["thread"].is_number() && t["drains"].is_number());
        assert_eq!(t["magazines"][0].as_object().unwrap().len(), 3);
        let slot = &v["superslabs"][0]["slots"][6];
        assert_eq!(slot["state"], "unused");
        assert!(v["superslabs"][0]["base"].is_number());
        let e = &v["events"][0];
        assert!(e["seq"].is_number() && e["time_ns"].is_number() && e["kind"].is_string());
        assert_eq!(v["events_dropped"], 3);
        assert_eq!(v["leaks"].as_array().map(Vec::len), Some(0));
        assert_eq!(v["gpu"][0]["buckets"].as_array().unwrap().len(), 10);
        let live = ByteTotals::of(&f.snapshot).live;
        assert_eq!(v["totals"]["live_bytes"], live);
    }
}
