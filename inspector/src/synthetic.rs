//! Deterministic synthetic allocator states: a plausible process with SuperSlabs,
//! threads, classes, events and optionally a GPU pool, for tests, the refresh benchmark
//! and the documentation captures. Everything is a pure function of the configuration
//! and a tick number, so renders are reproducible.

use slabscope_proto::heap_error::{HEAP_ERROR_LARGE, HEAP_ERROR_NO_CLASS};
use slabscope_proto::layout::{ClassCounters, SLOTS_PER_SUPERSLAB, SLOT_BYTES, SUPERSLAB_BYTES};
use slabscope_proto::{
    ClassSnapshot, DrainReason, Event, EventKind, Flags, FreeRun, FreeRunKind, GpuBackend,
    GpuBucketSnapshot, GpuPoolSnapshot, HeapError, HeapErrorCounts, HeapErrorKind, HeapErrorOp,
    InvalidReason, MagazineSnapshot, OomCause, OomClass, OomReport, OverflowSnapshot, PollStats,
    ProtocolVersion, RingSnapshot, SlotOwner, SlotSnapshot, SlotState, Snapshot, SuperSlabSnapshot,
    SuperSlabState, ThreadSnapshot, ThreadState, TotalsSnapshot,
};

use crate::procfs::ProcessStatus;
use crate::state::{Frame, Liveness};

/// Block sizes of the synthetic size classes.
pub const CLASS_SIZES: [u32; 12] = [16, 32, 48, 64, 96, 128, 256, 512, 1024, 2048, 4096, 8192];
/// Events the synthetic writer appends per tick.
pub const EVENTS_PER_TICK: u64 = 40;
/// Monotonic time of the synthetic process's start.
pub const START_MONO_NS: u64 = 1_000_000_000_000;
/// Time between ticks.
pub const TICK_NS: u64 = 100_000_000;
/// Bytes in live large allocations.
pub const LARGE_BYTES: u64 = 3 << 20;

/// Shape of the synthetic process.
#[derive(Clone, Debug)]
pub struct Synthetic {
    /// Writer pid.
    pub pid: u32,
    /// SuperSlabs with a record.
    pub superslabs: usize,
    /// Threads with a record.
    pub threads: usize,
    /// Whether the process has a GPU pool.
    pub gpu: bool,
    /// Ring capacity in events.
    pub ring_capacity: u64,
    /// Whether the process runs under `SLABSCOPE_CHECK` and found heap errors (see
    /// [`heap_errors`]; every 100th event from seq 49 is one).
    pub heap_errors: bool,
}

impl Default for Synthetic {
    fn default() -> Self {
        Self {
            pid: 4242,
            superslabs: 6,
            threads: 4,
            gpu: false,
            ring_capacity: 4096,
            heap_errors: false,
        }
    }
}

fn slot_of(ss: usize, slot: usize, tick: u64, pid: u32, threads: usize) -> SlotSnapshot {
    let n = ss * SLOTS_PER_SUPERSLAB + slot;
    // Every 13th ACTIVE slot abandoned, the others owned by the threads in turn.
    let owner = if n.is_multiple_of(13) {
        SlotOwner::Abandoned
    } else {
        SlotOwner::Thread(pid + (n % threads.max(1)) as u32)
    };
    let class = (n % CLASS_SIZES.len()) as u32;
    let capacity = (SLOT_BYTES / u64::from(CLASS_SIZES[class as usize])) as u32;
    match n % 7 {
        6 => SlotSnapshot {
            state: SlotState::Unused,
            class: 0,
            used: 0,
            capacity: 0,
            owner: SlotOwner::None,
        },
        5 => SlotSnapshot {
            state: SlotState::Empty,
            class,
            used: 0,
            capacity,
            owner: SlotOwner::None,
        },
        _ => {
            let step = (ss as u64 + slot as u64 + tick) % 10 + 1;
            SlotSnapshot {
                state: SlotState::Active,
                class,
                used: (u64::from(capacity) * step / 11).max(1) as u32,
                capacity,
                owner,
            }
        }
    }
}

fn thread_name(i: usize) -> String {
    if i == 0 {
        "main".to_string()
    } else {
        format!("worker-{i}")
    }
}

impl Synthetic {
    /// The magazines of thread `i` at `tick`.
    fn magazines(&self, i: usize, tick: u64) -> Vec<MagazineSnapshot> {
        CLASS_SIZES
            .iter()
            .enumerate()
            .map(|(c, &bs)| {
                let capacity = (8192 / bs).clamp(4, 128);
                let fill =
                    ((i as u64 * 7 + c as u64 * 3 + tick) % (u64::from(capacity) + 1)) as u32;
                MagazineSnapshot {
                    class: c as u32,
                    fill,
                    capacity,
                }
            })
            .collect()
    }

    /// The process state at `tick`.
    pub fn snapshot(&self, tick: u64) -> Snapshot {
        let superslabs: Vec<SuperSlabSnapshot> = (0..self.superslabs)
            .map(|s| SuperSlabSnapshot {
                base: 0x7f00_0000_0000 + s as u64 * SUPERSLAB_BYTES,
                state: SuperSlabState::Mapped,
                slots: (0..SLOTS_PER_SUPERSLAB)
                    .map(|k| slot_of(s, k, tick, self.pid, self.threads))
                    .collect(),
            })
            .collect();
        let threads: Vec<ThreadSnapshot> = (0..self.threads)
            .map(|i| ThreadSnapshot {
                tid: u64::from(self.pid) + i as u64,
                state: ThreadState::Live,
                name: thread_name(i),
                drains: 10 * (i as u64 + 1) + tick,
                frees: 1000 * (i as u64 + 1) * (tick + 1),
                magazines: self.magazines(i, tick),
            })
            .collect();
        let classes = CLASS_SIZES
            .iter()
            .enumerate()
            .map(|(c, &bs)| {
                let (mut cap, mut used, mut active, mut empty) = (0u64, 0u64, 0u64, 0u64);
                for slot in superslabs.iter().flat_map(|s| &s.slots) {
                    if slot.class as usize == c && slot.state != SlotState::Unused {
                        cap += u64::from(slot.capacity);
                        used += u64::from(slot.used);
                        match slot.state {
                            SlotState::Active => active += 1,
                            _ => empty += 1,
                        }
                    }
                }
                let cached: u64 = threads
                    .iter()
                    .map(|t| u64::from(t.magazines[c].fill))
                    .sum::<u64>()
                    .min(used);
                let live = used - cached;
                let allocs = (c as u64 + 1) * 5000 * (tick + 1) + live;
                ClassSnapshot {
                    class: c as u32,
                    block_size: bs,
                    live,
                    counters: ClassCounters {
                        capacity_blocks: cap,
                        free_blocks: cap - used,
                        cached_blocks: cached,
                        allocs,
                        frees: allocs - live,
                        remote_frees: allocs / 20,
                        slots_active: active,
                        slots_empty: empty,
                        refills: allocs / 64,
                        drains: allocs / 128,
                        acquire_stage1: empty + tick,
                        acquire_stage2: active,
                        acquire_stage3: 1,
                    },
                }
            })
            .collect();
        let mapped = self.superslabs as u64 * SUPERSLAB_BYTES + LARGE_BYTES;
        let now = START_MONO_NS + 60_000_000_000 + tick * TICK_NS;
        Snapshot {
            protocol: ProtocolVersion { major: 1, minor: 0 },
            pid: self.pid,
            command: "demo --seconds 30 --threads 4".to_string(),
            flags: Flags {
                gpu: self.gpu,
                ..Flags::default()
            },
            start_unix_ns: 1_700_000_000_000_000_000,
            start_mono_ns: START_MONO_NS,
            heartbeat_mono_ns: now,
            page_size: 4096,
            drain_interval: 1024,
            totals: TotalsSnapshot {
                mapped_bytes: mapped,
                peak_mapped_bytes: mapped + (4 << 20),
                superslabs: self.superslabs as u64,
                superslabs_cached: 0,
                superslabs_mapped_total: self.superslabs as u64 + 2,
                superslabs_returned_total: 2,
                large_bytes: LARGE_BYTES,
                large_count: 2,
                limit_bytes: 0,
                oom_count: 0,
                foreign_frees: 0,
            },
            ring: RingSnapshot {
                head: self.head(tick),
                dropped: 3,
                capacity: self.ring_capacity,
            },
            classes,
            threads,
            superslabs,
            gpu: if self.gpu {
                vec![gpu_pool(tick)]
            } else {
                vec![]
            },
            overflow: OverflowSnapshot::default(),
            busy_records: 0,
            unknown_sections: 0,
            sample_interval_bytes: 0,
            sites: Vec::new(),
            sites_overflow: 0,
            oom: None,
            heap_errors: if self.heap_errors {
                heap_errors(self.pid)
            } else {
                Vec::new()
            },
            heap_error_counts: if self.heap_errors {
                heap_error_counts(&heap_errors(self.pid))
            } else {
                HeapErrorCounts::default()
            },
        }
    }

    /// The ring's head (events ever written) at `tick`.
    pub fn head(&self, tick: u64) -> u64 {
        1000 + tick * EVENTS_PER_TICK
    }

    /// The event with sequence number `seq`.
    pub fn event(&self, seq: u64) -> Event {
        let ss = 0x7f00_0000_0000 + (seq % self.superslabs.max(1) as u64) * SUPERSLAB_BYTES;
        let class = (seq % CLASS_SIZES.len() as u64) as u32;
        let slot = (seq % SLOTS_PER_SUPERSLAB as u64) as u32;
        let kind = match seq % 10 {
            0..=2 => EventKind::MagazineDrain {
                class,
                blocks: 16 + seq % 48,
                reason: if seq.is_multiple_of(3) {
                    DrainReason::Overflow
                } else {
                    DrainReason::Interval
                },
            },
            3 | 4 => EventKind::SlotAcquire {
                superslab: ss,
                slot,
                class,
                stage: (seq % 3 + 1) as u8,
            },
            5 => EventKind::SlotEmpty {
                superslab: ss,
                slot,
                class,
            },
            6 => EventKind::SuperSlabMap {
                superslab: ss,
                mapped_bytes: 16 << 20,
            },
            7 => EventKind::SuperSlabEmpty { superslab: ss },
            8 if self.gpu => EventKind::GpuMiss {
                pool: 0,
                bucket_bytes: 1 << (12 + seq % 10),
                request: (1 << (12 + seq % 10)) - 100,
            },
            8 => EventKind::SuperSlabReturn {
                superslab: ss,
                mapped_bytes: 14 << 20,
            },
            _ if self.heap_errors && seq % 100 == 49 => {
                heap_errors(self.pid)[(seq / 100) as usize % 6].as_event()
            }
            _ if seq % 100 == 99 => EventKind::Oom {
                request: 1 << 30,
                align: 8,
                class: None,
                mapped_bytes: 15 << 20,
                limit_bytes: 16 << 20,
            },
            _ => EventKind::LargeMap {
                addr: 0x7e00_0000_0000 + seq * 4096,
                bytes: 1 << 20,
                align: 16,
            },
        };
        Event {
            seq,
            time_ns: START_MONO_NS + seq * 1_000_000,
            thread: self.pid + (seq % self.threads.max(1) as u64) as u32,
            kind,
        }
    }

    /// The frame a live source would deliver at `tick` (events since the previous tick;
    /// tick 0 delivers the last 40 events of the backlog).
    pub fn frame(&self, tick: u64) -> Frame {
        let snapshot = self.snapshot(tick);
        let end = self.head(tick);
        let start = end.saturating_sub(EVENTS_PER_TICK);
        Frame {
            events: (start..end).map(|s| self.event(s)).collect(),
            poll: PollStats::default(),
            process: Some(ProcessStatus {
                rss_bytes: snapshot.totals.mapped_bytes + (2 << 20),
                peak_rss_bytes: snapshot.totals.peak_mapped_bytes + (2 << 20),
            }),
            liveness: Liveness::Alive,
            now_mono_ns: snapshot.heartbeat_mono_ns,
            snapshot,
        }
    }
}

/// A small OOM report: a 40-byte request of class 2 refused by a 4 MiB
/// `SLABSCOPE_LIMIT`, with two classes holding bytes.
pub fn oom_report() -> OomReport {
    let class = |class, live_bytes, free_bytes| OomClass {
        class,
        live_bytes,
        cached_bytes: 0,
        free_bytes,
        empty_slots: 0,
        empty_bytes: 0,
    };
    OomReport {
        reports: 1,
        time_mono_ns: 0,
        tid: 7,
        cause: OomCause::Limit,
        request_bytes: 40,
        align: 16,
        class: Some(2),
        mapped_bytes: (2 << 21) + 4096 + 100 + 300 + 10,
        limit_bytes: 2 << 21,
        peak_mapped_bytes: 2 << 21,
        large_bytes: 2 << 21,
        large_count: 1,
        superslabs: 0,
        superslabs_cached: 0,
        header_bytes: 4096,
        unused_slots: 0,
        unused_bytes: 0,
        tail_bytes: 0,
        empty_slots: 0,
        empty_bytes: 0,
        stranded_bytes: 0,
        stranded_threads: 0,
        threads_seen: 1,
        largest_free_run: FreeRun {
            bytes: 0,
            superslab: 0,
            slot: 0,
            kind: FreeRunKind::None,
        },
        ring_seq: None,
        classes: vec![class(0, 100, 0), class(3, 300, 10)],
        stranded: Vec::new(),
    }
}

/// The heap errors of a synthetic process run under `SLABSCOPE_CHECK`, oldest first: one
/// of every kind, an invalid free of a SuperSlab header and a double free of a large
/// allocation, found 10 to 2.5 s before the first frame.
pub fn heap_errors(pid: u32) -> Vec<HeapError> {
    let e = |i: u64, kind, op, reason, class: u32, block_bytes, requested, offset| HeapError {
        kind,
        op,
        reason,
        address: 0x7f00_0001_0000 + i * 0x1040,
        class,
        block_bytes,
        requested,
        offset,
        thread: pid + (i % 3) as u32,
        site: (i == 3).then_some(2),
        time_ns: START_MONO_NS + 50_000_000_000 + i * 1_500_000_000,
    };
    use HeapErrorKind as K;
    use HeapErrorOp as O;
    use InvalidReason as R;
    vec![
        e(0, K::DoubleFree, O::Free, R::None, 3, 64, Some(50), None),
        e(
            1,
            K::InvalidFree,
            O::Free,
            R::Interior,
            5,
            128,
            Some(100),
            None,
        ),
        e(
            2,
            K::WriteAfterFree,
            O::Alloc,
            R::None,
            2,
            48,
            Some(40),
            Some(8),
        ),
        e(3, K::Overflow, O::Free, R::None, 4, 96, Some(90), Some(90)),
        e(
            4,
            K::InvalidFree,
            O::Realloc,
            R::Header,
            HEAP_ERROR_NO_CLASS,
            0,
            None,
            None,
        ),
        e(
            5,
            K::DoubleFree,
            O::Free,
            R::None,
            HEAP_ERROR_LARGE,
            1 << 20,
            Some(1_000_000),
            None,
        ),
    ]
}

/// The counts by kind of `errors`.
pub fn heap_error_counts(errors: &[HeapError]) -> HeapErrorCounts {
    let mut c = HeapErrorCounts::default();
    for e in errors {
        c.0[e.kind as usize - 1] += 1;
    }
    c
}

fn gpu_pool(tick: u64) -> GpuPoolSnapshot {
    GpuPoolSnapshot {
        pool: 0,
        device: Some(0),
        backend: GpuBackend::Cuda,
        name: "NVIDIA H100 80GB HBM3".to_string(),
        oversize: 7,
        oversize_live_bytes: 64 << 20,
        trims: 2,
        device_ooms: 0,
        cache_limit_bytes: 1 << 30,
        device_total_bytes: 80 << 30,
        device_free_bytes: 61 << 30,
        buckets: (0..10u64)
            .map(|b| GpuBucketSnapshot {
                bucket_bytes: 4096 << b,
                live: (b * 5 + tick) % 40,
                cached: (b * 3) % 17,
                hits: 10_000 / (b + 1) + tick * 20,
                misses: 40 + b * 3,
                high_water: 60 - b,
                trimmed: b % 3,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_accounting_is_consistent() {
        let s = Synthetic::default().snapshot(3);
        for c in &s.classes {
            let k = &c.counters;
            assert_eq!(c.live + k.cached_blocks + k.free_blocks, k.capacity_blocks);
        }
        assert_eq!(s.superslabs.len(), 6);
        assert!(s.superslabs.iter().all(|ss| ss.slots.len() == 32));
    }

    #[test]
    fn events_follow_the_head() {
        let syn = Synthetic::default();
        let f = syn.frame(2);
        assert_eq!(f.events.len() as u64, EVENTS_PER_TICK);
        assert_eq!(f.events.last().map(|e| e.seq + 1), Some(syn.head(2)));
    }
}
