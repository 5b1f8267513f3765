//! Building the `--once --json` document of one frame (types in [`super::schema`]).

use slabscope_proto::{SlotOwner, SlotState, SuperSlabState, ThreadState};

use super::schema::{
    Class, Counters, Document, Event, GpuPool, HeapError, HeapErrorCounts, Leak, Magazine, Oom,
    Owner, Process, Slot, StackFrame, SuperSlab, Thread, Totals, SCHEMA,
};
use crate::state::leaks::{heap_error_sites, rank};
use crate::state::{ByteTotals, Frame, Liveness};
use crate::symbolize::{Namer, Symbolizer};

/// Builds the document of one frame.
pub fn document(frame: &Frame) -> Document {
    let s = &frame.snapshot;
    let b = ByteTotals::of(s);
    let t = &s.totals;
    let mut symbolizer = (!s.sites.is_empty() && frame.liveness == Liveness::Alive)
        .then(|| Symbolizer::for_pid(s.pid));
    let error_sites = heap_error_sites(s, symbolizer.as_mut().map(|n| n as &mut dyn Namer));
    Document {
        schema: SCHEMA,
        segment_protocol: s.protocol.to_string(),
        pid: s.pid,
        process: Process {
            rss_bytes: frame.process.as_ref().map(|p| p.rss_bytes),
            peak_rss_bytes: frame.process.as_ref().map(|p| p.peak_rss_bytes),
            command: s.command.clone(),
            alive: match frame.liveness {
                Liveness::Alive => Some(true),
                Liveness::Gone => Some(false),
                Liveness::Unknown => None,
            },
            uptime_ns: frame.now_mono_ns.saturating_sub(s.start_mono_ns),
            start_unix_ns: s.start_unix_ns,
            preload: s.flags.preload,
            drain_interval_frees: s.drain_interval,
        },
        totals: Totals {
            mapped_bytes: b.mapped,
            peak_mapped_bytes: t.peak_mapped_bytes,
            live_bytes: b.live,
            cached_bytes: b.cached,
            free_bytes: b.free,
            fragmentation_ratio: b.fragmentation,
            superslabs: t.superslabs,
            superslabs_cached: t.superslabs_cached,
            superslabs_mapped_total: t.superslabs_mapped_total,
            superslabs_returned_total: t.superslabs_returned_total,
            large_count: t.large_count,
            large_bytes: t.large_bytes,
            oom_count: t.oom_count,
            foreign_frees: t.foreign_frees,
            limit_bytes: t.limit_bytes,
            sample_interval_bytes: s.sample_interval_bytes,
        },
        classes: s
            .classes
            .iter()
            .map(|c| Class {
                class: c.class,
                block_size_bytes: c.block_size,
                live_blocks: c.live,
                live_bytes: c.live.saturating_mul(u64::from(c.block_size)),
                counters: Counters(c.counters),
            })
            .collect(),
        threads: s
            .threads
            .iter()
            .map(|t| Thread {
                tid: t.tid,
                name: t.name.clone(),
                state: match t.state {
                    ThreadState::Live => "live",
                    ThreadState::Exited => "exited",
                },
                drains: t.drains,
                frees: t.frees,
                magazines: t
                    .magazines
                    .iter()
                    .map(|m| Magazine {
                        class: m.class,
                        fill_blocks: m.fill,
                        capacity_blocks: m.capacity,
                    })
                    .collect(),
            })
            .collect(),
        superslabs: s
            .superslabs
            .iter()
            .map(|ss| SuperSlab {
                addr: ss.base,
                state: match ss.state {
                    SuperSlabState::Mapped => "mapped",
                    SuperSlabState::Empty => "empty",
                },
                slots: ss
                    .slots
                    .iter()
                    .zip(0..)
                    .map(|(sl, index)| Slot {
                        index,
                        state: match sl.state {
                            SlotState::Unused => "unused",
                            SlotState::Active => "active",
                            SlotState::Empty => "empty",
                        },
                        class: (sl.state != SlotState::Unused).then_some(sl.class),
                        used_blocks: sl.used,
                        capacity_blocks: sl.capacity,
                        owner: match sl.owner {
                            SlotOwner::None => Owner::None,
                            SlotOwner::Thread(tid) => Owner::Thread { tid },
                            SlotOwner::Abandoned => Owner::Abandoned,
                        },
                    })
                    .collect(),
            })
            .collect(),
        leaks: leaks(frame, symbolizer.as_mut().map(|n| n as &mut dyn Namer)),
        events: frame.events.iter().map(Event::from).collect(),
        events_dropped: s.ring.dropped
            + frame.poll.missed
            + frame.poll.corrupt
            + frame.poll.abandoned,
        gpu: s.gpu.iter().map(GpuPool::from).collect(),
        oom: s.oom.as_ref().map(Oom::from),
        heap_errors: s
            .heap_errors
            .iter()
            .map(|e| HeapError::from(e).with_site(e.site.and_then(|i| error_sites.get(&i))))
            .collect(),
        heap_error_counts: HeapErrorCounts(s.heap_error_counts),
    }
}

/// The ranked sites of `frame`, symbolized by `namer` (the process's mappings while it
/// runs).
fn leaks(frame: &Frame, namer: Option<&mut (dyn Namer + 'static)>) -> Vec<Leak> {
    rank(&frame.snapshot, frame.now_mono_ns, namer)
        .into_iter()
        .map(|l| Leak {
            frames: l.name.frames.iter().map(|f| f.function.clone()).collect(),
            stack: l.name.frames.iter().map(StackFrame::from).collect(),
            function: l.name.function,
            location: l.name.location,
            live_bytes: l.live_bytes,
            sampled_live_bytes: l.sampled_live_bytes,
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
    use crate::synthetic::{oom_report, Synthetic};
    use slabscope_proto::layout::CLASS_COUNTERS;

    /// A small synthetic frame with every part of the document filled in.
    fn frame() -> Frame {
        let mut f = Synthetic {
            superslabs: 1,
            threads: 2,
            gpu: true,
            heap_errors: true,
            ..Default::default()
        }
        .frame(2);
        f.events.truncate(6);
        f.snapshot.oom = Some(oom_report());
        f
    }

    #[test]
    fn the_schema_1_document_of_a_synthetic_frame() {
        insta::assert_json_snapshot!(document(&frame()));
    }

    #[test]
    fn every_declared_counter_is_a_field_of_every_class() {
        let f = frame();
        let v = serde_json::to_value(document(&f)).unwrap();
        let classes = v["classes"].as_array().unwrap();
        assert_eq!(classes.len(), f.snapshot.classes.len());
        for (c, snap) in classes.iter().zip(&f.snapshot.classes) {
            for d in CLASS_COUNTERS {
                assert_eq!(
                    c[d.name].as_u64(),
                    Some((d.get)(&snap.counters)),
                    "classes[{}].{}",
                    snap.class,
                    d.name
                );
            }
        }
    }

    #[test]
    fn heap_errors_carry_every_field_and_the_counts_every_kind() {
        let f = frame();
        let v = serde_json::to_value(document(&f)).unwrap();
        let errors = v["heap_errors"].as_array().unwrap();
        assert_eq!(errors.len(), f.snapshot.heap_errors.len());
        for (j, e) in errors.iter().zip(&f.snapshot.heap_errors) {
            assert_eq!(j["kind"], e.kind.name());
            assert_eq!(j["op"], e.op.name());
            assert_eq!(j["addr"], e.address);
            assert_eq!(j["block_bytes"], e.block_bytes);
            assert_eq!(j["tid"], e.thread);
            assert_eq!(j["time_ns"], e.time_ns);
            assert_eq!(j["requested_bytes"].as_u64(), e.requested);
            assert_eq!(j["offset_bytes"].as_u64(), e.offset);
        }
        assert_eq!(errors[1]["reason"], "interior");
        assert_eq!(errors[0]["reason"], serde_json::Value::Null);
        assert_eq!(
            (errors[4]["class"].clone(), errors[4]["large"].clone()),
            (serde_json::Value::Null, false.into())
        );
        assert_eq!(errors[5]["large"], true);
        let counts = v["heap_error_counts"].as_object().unwrap();
        assert_eq!(
            counts.len(),
            slabscope_proto::HeapErrorKind::ALL.len(),
            "one field per kind"
        );
        for k in slabscope_proto::HeapErrorKind::ALL {
            assert_eq!(counts[k.name()], f.snapshot.heap_error_counts.get(k));
        }
    }

    #[test]
    fn a_heap_error_names_the_allocation_site_of_its_block() {
        let mut f = frame();
        f.liveness = Liveness::Gone;
        let site = f
            .snapshot
            .heap_errors
            .iter()
            .find_map(|e| e.site)
            .expect("a heap error of a sampled block");
        // The block was the site's only sample: freed, the site has nothing live.
        f.snapshot.sites.push(slabscope_proto::SampleSiteSnapshot {
            index: site,
            hash: 7,
            frames: vec![0x40_11d0, 0x40_1234],
            live_bytes: 0,
            live_samples: 0,
            live_estimated_bytes: 0,
            total_bytes: 96,
            total_samples: 1,
            first_mono_ns: 1,
            last_mono_ns: 1,
        });
        let v = serde_json::to_value(document(&f)).unwrap();
        assert_eq!(v["leaks"].as_array().unwrap().len(), 0, "nothing live");
        let errors = v["heap_errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e["site"] == site));
        for e in errors {
            if e["site"] == site {
                assert_eq!(e["site_function"], "0x4011d0");
                let stack: Vec<&str> = e["site_stack"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["function"].as_str().unwrap())
                    .collect();
                assert_eq!(stack, ["0x4011d0", "0x401234"]);
            } else {
                assert_eq!(e["site_function"], serde_json::Value::Null);
                assert_eq!(e["site_stack"].as_array().unwrap().len(), 0);
            }
        }
    }

    #[test]
    fn live_bytes_add_up_with_the_inspectors_totals() {
        let f = frame();
        let v = serde_json::to_value(document(&f)).unwrap();
        assert_eq!(v["schema"], 1);
        assert_eq!(v["totals"]["live_bytes"], ByteTotals::of(&f.snapshot).live);
        let class_bytes: u64 = v["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["live_bytes"].as_u64().unwrap())
            .sum();
        assert_eq!(
            class_bytes + f.snapshot.totals.large_bytes,
            ByteTotals::of(&f.snapshot).live
        );
    }
}
