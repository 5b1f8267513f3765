//! Checks that the allocator a figure is credited to really served the allocations.
//!
//! A wrapper that silently falls back to glibc makes every figure a lie, so the driver
//! looks at the running process (held by the handshake after its workload) before it
//! accepts a sample: slabscope's segment must count at least
//! [`SERVED_FRACTION`] of the workload's small allocations; with publishing off the
//! segment must be absent and the allocator's own counters must count them; a
//! preloaded library must be mapped in the process.

use std::path::Path;

use slabscope_proto::{ReadError, SegmentReader, Snapshot};

use super::variants::Check;
use crate::procfs;
use crate::report::RunReport;

/// Share of the workload's small allocations the allocator's counters must show:
/// per-thread counts are folded into the segment on slow paths, so the last few
/// hundred allocations of a thread may not be there yet.
pub const SERVED_FRACTION: f64 = 0.9;

/// Runs `check` against the live process `pid` that printed `report`, started at
/// `since` (`CLOCK_MONOTONIC` ns, read before the spawn); returns a one-line account of
/// the evidence.
///
/// A segment of `pid` created before the process started is an earlier process's: one
/// killed by a signal keeps its segment, and pids come round again.
pub fn verify(check: &Check, pid: u32, since: u64, report: &RunReport) -> Result<String, String> {
    match check {
        Check::None => Ok(String::from("compiled in")),
        Check::Segment => segment(pid, since, report, None),
        Check::SampledSegment(interval) => segment(pid, since, report, Some(*interval)),
        Check::CountersNoSegment => {
            match SegmentReader::open_pid(pid) {
                Err(ReadError::NotFound { .. }) => {}
                Ok(r) if r.start_mono_ns() < since => {}
                Ok(_) => {
                    return Err(format!(
                        "pid {pid} published a segment although SLABSCOPE_PUBLISH=0"
                    ))
                }
                Err(e) => return Err(format!("pid {pid}: unexpected segment state: {e}")),
            }
            counters(report)
        }
        Check::Mapped(lib) => mapped(pid, lib),
        Check::MappedAndSegment(lib) => Ok(format!(
            "{}; {}",
            mapped(pid, lib)?,
            segment(pid, since, report, None)?
        )),
    }
}

fn enough(served: u64, report: &RunReport) -> bool {
    served > 0 && served as f64 >= report.small_allocs as f64 * SERVED_FRACTION
}

/// The segment check; with `sample`, the segment must also publish that sampling
/// interval (the variant really sampled).
fn segment(
    pid: u32,
    since: u64,
    report: &RunReport,
    sample: Option<u64>,
) -> Result<String, String> {
    let reader = SegmentReader::open_pid(pid).map_err(|e| {
        format!(
            "pid {pid}: no readable slabscope segment, so slabscope did not serve this run: {e}"
        )
    })?;
    if reader.start_mono_ns() < since {
        return Err(format!(
            "pid {pid}: the segment of that pid was created before the process started \
             (an earlier process's), so slabscope did not publish this run"
        ));
    }
    let snap = reader
        .snapshot()
        .map_err(|e| format!("pid {pid}: segment unreadable: {e}"))?;
    let served = served_by(&snap);
    if snap.pid != pid {
        return Err(format!("segment of pid {pid} says pid {}", snap.pid));
    }
    if !enough(served, report) {
        return Err(format!(
            "pid {pid}: the segment counts {served} allocations served by slabscope's \
             classes, but the workload made {} small allocations: slabscope did not serve \
             them (fallback to another allocator?)",
            report.small_allocs
        ));
    }
    let mut said = format!(
        "segment counts {served} class allocations for {} small requests",
        report.small_allocs
    );
    if let Some(interval) = sample {
        if snap.sample_interval_bytes != interval {
            return Err(format!(
                "pid {pid}: the segment publishes a sampling interval of {} bytes, not the                  {interval} SLABSCOPE_SAMPLE asked for",
                snap.sample_interval_bytes
            ));
        }
        let samples: u64 = snap.sites.iter().map(|s| s.total_samples).sum();
        said.push_str(&format!(
            "; samples every {interval} bytes ({samples} samples at {} sites)",
            snap.sites.len()
        ));
    }
    Ok(said)
}

/// Allocations served by the size classes, as the segment counts them.
pub fn served_by(snap: &Snapshot) -> u64 {
    snap.classes.iter().map(|c| c.counters.allocs).sum()
}

fn counters(report: &RunReport) -> Result<String, String> {
    let served = report
        .counters
        .as_ref()
        .and_then(|c| c.get("allocs"))
        .and_then(|v| v.as_u64())
        .ok_or_else(|| {
            format!(
                "{} printed no allocator counters (\"counters\": {{\"allocs\": N}}), so \
                 nothing shows slabscope served this run",
                report.allocator
            )
        })?;
    if !enough(served, report) {
        return Err(format!(
            "slabscope's own counters show {served} allocations, but the workload made {} \
             small allocations: slabscope did not serve them",
            report.small_allocs
        ));
    }
    Ok(format!(
        "own counters show {served} allocations for {} small requests; no segment",
        report.small_allocs
    ))
}

fn mapped(pid: u32, lib: &Path) -> Result<String, String> {
    let name = lib
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{}: no file name", lib.display()))?;
    match procfs::maps_contain(pid, name) {
        Ok(true) => Ok(format!("{name} mapped")),
        Ok(false) => Err(format!(
            "pid {pid}: {name} is not mapped: LD_PRELOAD did not take effect"
        )),
        Err(e) => Err(format!("pid {pid}: cannot read /proc/{pid}/maps: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(small: u64, counters: Option<serde_json::Value>) -> RunReport {
        RunReport {
            allocator: "slabscope".into(),
            workload: "larson".into(),
            threads: 1,
            mode: "smoke".into(),
            pid: 1,
            ops: 10,
            seconds: 1.0,
            ops_per_sec: 10.0,
            peak_rss_bytes: 1,
            small_allocs: small,
            extra: Default::default(),
            counters,
        }
    }

    #[test]
    fn counters_must_cover_the_small_allocations() {
        let ok = report(1000, Some(serde_json::json!({"allocs": 950})));
        assert!(counters(&ok).is_ok());
        let short = report(1000, Some(serde_json::json!({"allocs": 10})));
        assert!(counters(&short).unwrap_err().contains("did not serve"));
        let none = report(1000, None);
        assert!(counters(&none)
            .unwrap_err()
            .contains("no allocator counters"));
        let zero = report(0, Some(serde_json::json!({"allocs": 0})));
        assert!(counters(&zero).is_err());
    }

    #[test]
    fn a_process_without_a_segment_fails_the_segment_check() {
        // This test process runs on the system allocator: no segment of its pid.
        let pid = std::process::id();
        let err = verify(&Check::Segment, pid, 0, &report(10, None)).unwrap_err();
        assert!(err.contains("did not serve"), "{err}");
        let err = verify(&Check::SampledSegment(4096), pid, 0, &report(10, None)).unwrap_err();
        assert!(err.contains("did not serve"), "{err}");
    }

    #[test]
    fn a_segment_older_than_the_process_is_an_earlier_processs() {
        // A pid no process has (above the kernel's limit), with a segment in the
        // directory the driver reads: left there by a process killed before this one.
        let pid = 4_000_000_000;
        let mut class_sizes = [0; slabscope_proto::layout::MAX_CLASSES];
        class_sizes[0] = 16;
        let cfg = slabscope_proto::SegmentConfig {
            class_sizes,
            class_count: 1,
            max_threads: 1,
            max_superslabs: 1,
            max_gpu_pools: 1,
            ring_capacity: 8,
            drain_interval: 1000,
            limit_bytes: 0,
            flags: 0,
        };
        let dir = slabscope_proto::segment_dir();
        // One an interrupted run of this test left.
        let _ = std::fs::remove_file(slabscope_proto::segment_path(pid));
        let w =
            slabscope_proto::SegmentWriter::create(dir.as_os_str().as_encoded_bytes(), pid, &cfg)
                .expect("a segment for the test");
        let created = SegmentReader::open_pid(pid).unwrap().start_mono_ns();
        let served = report(10, Some(serde_json::json!({"allocs": 10})));
        let before = verify(&Check::CountersNoSegment, pid, created, &served);
        let after = verify(&Check::CountersNoSegment, pid, created + 1, &served);
        let segment_check = verify(&Check::Segment, pid, created + 1, &served);
        w.unlink().unwrap();
        assert!(before.unwrap_err().contains("published a segment"));
        assert!(after.is_ok(), "{after:?}");
        assert!(segment_check.unwrap_err().contains("earlier process"));
    }

    #[test]
    fn mapped_checks_the_memory_map() {
        let pid = std::process::id();
        let exe = std::env::current_exe().unwrap();
        assert!(verify(&Check::Mapped(exe), pid, 0, &report(1, None)).is_ok());
        let err = mapped(pid, Path::new("/nonexistent/libnothere.so")).unwrap_err();
        assert!(err.contains("not mapped"));
    }
}
