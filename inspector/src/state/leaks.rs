//! Leak hunting: sampled allocation sites ranked by estimated live bytes, with names and
//! growth rates, and size classes whose live count keeps growing.
//!
//! - Sites come from the segment's sample-site section (`SLABSCOPE_SAMPLE`). A site's
//!   growth rate is the slope of its estimated live bytes over the frames of the last
//!   [`WINDOW_NS`]; with less than a second of history (one `--once` read) it is the
//!   estimate divided by the site's age (time since its first sample).
//! - A class is flagged as growing when, over at least [`MIN_CLASS_FRAMES`] frames of
//!   the window, its live block count rose overall and fell in at most a quarter of the
//!   steps: a leak grows steadily while churn goes up and down.

use std::collections::{HashMap, VecDeque};

use slabscope_proto::{ClassSnapshot, SampleSiteSnapshot, Snapshot};

use crate::symbolize::{is_allocator_frame, Background, Frame, Namer};

/// How far back growth is measured.
pub const WINDOW_NS: u64 = 30_000_000_000;
/// Frames a class needs in the window before it can be flagged.
pub const MIN_CLASS_FRAMES: usize = 5;
/// Shortest history used for a windowed slope; shorter falls back to the site's age.
const MIN_SLOPE_NS: u64 = 1_000_000_000;

/// One site, ranked.
#[derive(Clone, Debug, PartialEq)]
pub struct LeakSite {
    /// The site's record index in the segment.
    pub index: u32,
    /// The site by its stack.
    pub name: SiteName,
    /// Estimated bytes of every live allocation of the site.
    pub live_bytes: u64,
    /// Requested bytes of the live sampled allocations.
    pub sampled_live_bytes: u64,
    /// Live sampled allocations.
    pub live_samples: u64,
    /// Growth of `live_bytes`, bytes per second (negative: shrinking).
    pub growth_bytes_per_s: f64,
}

/// A size class whose live count keeps growing.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassGrowth {
    /// Class index.
    pub class: u32,
    /// Block size.
    pub block_size: u32,
    /// Live blocks now.
    pub live: u64,
    /// Growth, bytes per second.
    pub bytes_per_s: f64,
}

/// The frames of the return addresses `addrs`, innermost first: named by `namer`, or
/// `0xADDR` without one (a process that is gone) and while a name is being looked up.
pub fn frames_of(mut namer: Option<&mut (dyn Namer + 'static)>, addrs: &[u64]) -> Vec<Frame> {
    let mut out = Vec::with_capacity(addrs.len());
    for &a in addrs {
        match namer.as_deref_mut().and_then(|n| n.frames(a)) {
            Some(f) => out.extend(f.iter().cloned()),
            None => out.push(Frame::unnamed(format!("{a:#x}"))),
        }
    }
    out
}

/// The frame a site is named by: its first frame of user code (the innermost when
/// every frame is the allocator's).
fn site_frame(frames: &[Frame]) -> Option<&Frame> {
    frames
        .iter()
        .find(|f| !is_allocator_frame(&f.function))
        .or(frames.first())
}

/// A sampled allocation site by its stack, as the Leaks view ranks it and a heap error
/// of one of its blocks names it.
#[derive(Clone, Debug, PartialEq)]
pub struct SiteName {
    /// The function of the first frame outside the allocator and the standard library's
    /// allocation plumbing (the innermost frame when every frame is such).
    pub function: String,
    /// That frame's `file:line`, when its binary has debug info.
    pub location: Option<String>,
    /// Every frame, innermost first, symbolized (inlined functions expanded).
    pub frames: Vec<Frame>,
}

impl SiteName {
    /// Names the return addresses `addrs` of a site (see [`frames_of`]).
    pub fn of(namer: Option<&mut (dyn Namer + 'static)>, addrs: &[u64]) -> Self {
        let frames = frames_of(namer, addrs);
        let named = site_frame(&frames);
        Self {
            function: named.map_or_else(|| "(no frames)".to_string(), |f| f.function.clone()),
            location: named.and_then(Frame::location),
            frames,
        }
    }
}

/// The sites that the heap errors of `snap` came from, by record index: named whether
/// or not they still have live samples (a block freed twice has often left its site
/// with none). A site index with no record in `snap` is left out.
pub fn heap_error_sites(
    snap: &Snapshot,
    mut namer: Option<&mut (dyn Namer + 'static)>,
) -> HashMap<u32, SiteName> {
    let mut out = HashMap::new();
    for i in snap.heap_errors.iter().filter_map(|e| e.site) {
        if out.contains_key(&i) {
            continue;
        }
        if let Some(s) = snap.sites.iter().find(|s| s.index == i) {
            out.insert(i, SiteName::of(namer.as_deref_mut(), &s.frames));
        }
    }
    out
}

/// Growth of a site from its age alone (one read): estimate / time since first sample.
fn growth_from_age(s: &SampleSiteSnapshot, now_mono_ns: u64) -> f64 {
    let age = now_mono_ns.saturating_sub(s.first_mono_ns);
    if age == 0 {
        return 0.0;
    }
    s.live_estimated_bytes as f64 * 1e9 / age as f64
}

/// The sites of `snap`, ranked by estimated live bytes (largest first; ties by growth),
/// with growth from their age. Sites with nothing live are left out.
pub fn rank(
    snap: &Snapshot,
    now_mono_ns: u64,
    mut namer: Option<&mut (dyn Namer + 'static)>,
) -> Vec<LeakSite> {
    let mut out: Vec<LeakSite> = snap
        .sites
        .iter()
        .filter(|s| s.live_samples != 0)
        .map(|s| LeakSite {
            index: s.index,
            name: SiteName::of(namer.as_deref_mut(), &s.frames),
            live_bytes: s.live_estimated_bytes,
            sampled_live_bytes: s.live_bytes,
            live_samples: s.live_samples,
            growth_bytes_per_s: growth_from_age(s, now_mono_ns),
        })
        .collect();
    sort(&mut out);
    out
}

fn sort(sites: &mut [LeakSite]) {
    sites.sort_by(|a, b| {
        b.live_bytes
            .cmp(&a.live_bytes)
            .then(b.growth_bytes_per_s.total_cmp(&a.growth_bytes_per_s))
            .then(a.index.cmp(&b.index))
    });
}

/// `(time, value)` points within the window.
#[derive(Clone, Debug, Default)]
struct Series(VecDeque<(u64, u64)>);

impl Series {
    fn push(&mut self, now: u64, v: u64) {
        self.0.push_back((now, v));
        while let Some(&(t, _)) = self.0.front() {
            if now.saturating_sub(t) <= WINDOW_NS {
                break;
            }
            self.0.pop_front();
        }
    }

    /// Units per second from the first to the last point; `None` under `min_ns`.
    fn slope(&self, min_ns: u64) -> Option<f64> {
        let (&(t0, v0), &(t1, v1)) = (self.0.front()?, self.0.back()?);
        let dt = t1.saturating_sub(t0);
        (dt >= min_ns).then(|| (v1 as f64 - v0 as f64) * 1e9 / dt as f64)
    }

    /// Rose overall and fell in at most a quarter of the steps.
    fn keeps_growing(&self) -> bool {
        let v: Vec<u64> = self.0.iter().map(|&(_, v)| v).collect();
        if v.len() < MIN_CLASS_FRAMES || v.last() <= v.first() {
            return false;
        }
        let falls = v.windows(2).filter(|w| w[1] < w[0]).count();
        falls * 4 < v.len()
    }
}

/// The leak state of the inspector: site and class histories, names, selection.
#[derive(Clone, Debug, Default)]
pub struct LeakTracker {
    /// Names return addresses of the target, on its own thread (set for a live process
    /// and for a replay).
    pub symbolizer: Option<Background>,
    sites: HashMap<u32, Series>,
    classes: HashMap<u32, Series>,
    /// Ranked sites of the latest frame.
    pub ranked: Vec<LeakSite>,
    /// Classes flagged as growing, fastest first.
    pub growing: Vec<ClassGrowth>,
    /// The sampling interval of the target (0: not sampling).
    pub interval_bytes: u64,
    /// Sites the target could not record (its table was full).
    pub sites_overflow: u64,
    /// The sites of the latest frame's heap errors ([`heap_error_sites`]).
    pub error_sites: HashMap<u32, SiteName>,
}

impl LeakTracker {
    /// Folds one snapshot taken at `now`.
    pub fn fold(&mut self, snap: &Snapshot, now: u64) {
        self.interval_bytes = snap.sample_interval_bytes;
        self.sites_overflow = snap.sites_overflow;
        let mut namer = self.symbolizer.as_mut().map(|b| b as &mut dyn Namer);
        self.error_sites = heap_error_sites(snap, namer.as_deref_mut());
        let mut ranked = rank(snap, now, namer);
        for s in &snap.sites {
            self.sites
                .entry(s.index)
                .or_default()
                .push(now, s.live_estimated_bytes);
        }
        for r in &mut ranked {
            if let Some(g) = self.sites.get(&r.index).and_then(|h| h.slope(MIN_SLOPE_NS)) {
                r.growth_bytes_per_s = g;
            }
        }
        sort(&mut ranked);
        self.ranked = ranked;
        self.growing = self.fold_classes(&snap.classes, now);
    }

    fn fold_classes(&mut self, classes: &[ClassSnapshot], now: u64) -> Vec<ClassGrowth> {
        let mut out: Vec<ClassGrowth> = classes
            .iter()
            .filter_map(|c| {
                let h = self.classes.entry(c.class).or_default();
                h.push(now, c.live);
                let rate = h.slope(1)?;
                h.keeps_growing().then_some(ClassGrowth {
                    class: c.class,
                    block_size: c.block_size,
                    live: c.live,
                    bytes_per_s: rate * c.block_size as f64,
                })
            })
            .collect();
        out.sort_by(|a, b| b.bytes_per_s.total_cmp(&a.bytes_per_s));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::Synthetic;

    fn site(index: u32, frames: &[u64], live: u64, first: u64) -> SampleSiteSnapshot {
        SampleSiteSnapshot {
            index,
            hash: index as u64 + 1,
            frames: frames.to_vec(),
            live_bytes: live / 2,
            live_samples: live / 4096,
            live_estimated_bytes: live,
            total_bytes: live,
            total_samples: live / 4096,
            first_mono_ns: first,
            last_mono_ns: first,
        }
    }

    #[test]
    fn heap_errors_name_their_sites_live_or_not() {
        let mut snap = Synthetic {
            heap_errors: true,
            ..Default::default()
        }
        .snapshot(1);
        let i = snap.heap_errors.iter().find_map(|e| e.site).unwrap();
        assert!(heap_error_sites(&snap, None).is_empty(), "no site record");
        snap.heap_errors.push(snap.heap_errors[0]);
        let n = snap.heap_errors.len();
        snap.heap_errors[n - 1].site = Some(i);
        // Nothing live: not ranked, still named for the errors.
        snap.sites = vec![site(i, &[0x10, 0x20], 0, 1), site(i + 1, &[0x30], 8192, 1)];
        let named = heap_error_sites(&snap, None);
        assert_eq!(named.len(), 1, "each site once, only the errors' sites");
        assert_eq!(named[&i].function, "0x10");
        assert_eq!(named[&i].frames.len(), 2);
        assert!(rank(&snap, 2, None).iter().all(|s| s.index != i));
    }

    #[test]
    fn sites_rank_by_live_bytes_and_grow_by_their_slope() {
        let mut snap = Synthetic::default().frame(0).snapshot;
        let sec = 1_000_000_000;
        let mut t = LeakTracker::default();
        for i in 0..5u64 {
            snap.sites = vec![
                site(0, &[0x10, 0x20], 1 << 20, 0),
                site(1, &[0x30], (2 << 20) + i * 8192, 0),
                site(2, &[0x40], 0, 0),
            ];
            t.fold(&snap, 10 * sec + i * sec);
        }
        assert_eq!(t.ranked.len(), 2, "a site with nothing live is left out");
        assert_eq!(t.ranked[0].index, 1);
        assert_eq!(t.ranked[0].name.function, "0x30");
        assert!((t.ranked[0].growth_bytes_per_s - 8192.0).abs() < 1.0);
        assert_eq!(t.ranked[1].growth_bytes_per_s, 0.0);
        // One read: growth from the site's age.
        let once = rank(&snap, 4 * sec, None);
        assert_eq!(once[1].growth_bytes_per_s, (1 << 20) as f64 / 4.0);
    }

    #[test]
    fn a_steadily_growing_class_is_flagged_and_churn_is_not() {
        let mut snap = Synthetic::default().frame(0).snapshot;
        let sec = 1_000_000_000;
        let mut t = LeakTracker::default();
        let churn = [100, 40, 120, 30, 110, 50, 90];
        for (i, &c) in churn.iter().enumerate() {
            snap.classes[0].live = 1000 + i as u64 * 10;
            snap.classes[1].live = c;
            t.fold(&snap, i as u64 * sec);
        }
        assert_eq!(t.growing.len(), 1, "{:?}", t.growing);
        let g = &t.growing[0];
        assert_eq!(g.class, snap.classes[0].class);
        let expect = 10.0 * snap.classes[0].block_size as f64;
        assert!((g.bytes_per_s - expect).abs() < 1e-6);
    }

    #[test]
    fn allocator_frames_are_skipped_when_naming_a_site() {
        let mut frames: Vec<Frame> = [
            "slabscope::front::alloc_sampled",
            "alloc::raw_vec::finish_grow",
            "leaky::leak_session_cache_entry",
        ]
        .map(|f| Frame::unnamed(f.to_string()))
        .to_vec();
        frames[2].file = Some("leaky.rs".into());
        frames[2].line = Some(7);
        let f = site_frame(&frames).unwrap();
        assert_eq!(f.function, "leaky::leak_session_cache_entry");
        assert_eq!(f.location().as_deref(), Some("leaky.rs:7"));
        assert_eq!(
            site_frame(&frames[..1]).unwrap().function,
            "slabscope::front::alloc_sampled"
        );
        assert!(site_frame(&[]).is_none());
    }

    #[test]
    fn unnamed_addresses_are_shown_by_value() {
        assert_eq!(frames_of(None, &[0x30])[0].function, "0x30");
    }
}
