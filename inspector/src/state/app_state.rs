//! The inspector's whole state: what was read, its history, and what the user selected.

use slabscope_proto::Snapshot;

use super::action::{Action, ViewId};
use super::classes::ClassTable;
use super::events::EventLog;
use super::frame::Frame;
use super::history::{History, Rate};
use super::leaks::LeakTracker;
use super::target::TargetStatus;
use super::totals::ByteTotals;
use crate::procfs::ProcessStatus;

/// Rows moved by PgUp / PgDn.
pub const PAGE_ROWS: usize = 10;

/// Where the data comes from, for titles and banners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetInfo {
    /// Writer pid.
    pub pid: u32,
    /// Path of the segment file.
    pub path: String,
    /// Refresh interval in milliseconds (0 for a post-mortem file).
    pub interval_ms: u64,
}

/// History of the process-wide byte totals, one sample per refresh.
#[derive(Clone, Debug, Default)]
pub struct TotalsHistory {
    /// Mapped bytes.
    pub mapped: History,
    /// Live bytes.
    pub live: History,
    /// Cached bytes.
    pub cached: History,
    /// Free bytes.
    pub free: History,
    /// Events per second.
    pub events_per_sec: History,
}

/// Selected slot in the SuperSlab grid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotCursor {
    /// SuperSlab row.
    pub row: usize,
    /// Slot index.
    pub slot: usize,
}

/// Everything the views draw.
#[derive(Clone, Debug)]
pub struct State {
    /// The target.
    pub target: TargetInfo,
    /// The view shown.
    pub view: ViewId,
    /// Help overlay shown.
    pub help: bool,
    /// The latest snapshot (`None` before the first frame).
    pub snapshot: Option<Snapshot>,
    /// `/proc` figures of the latest frame.
    pub process: Option<ProcessStatus>,
    /// Byte totals of the latest snapshot.
    pub bytes: ByteTotals,
    /// Byte totals over time.
    pub history: TotalsHistory,
    /// The class table.
    pub classes: ClassTable,
    /// The event log.
    pub events: EventLog,
    /// Events written per second (from the ring head).
    pub event_rate: f64,
    event_counter: Rate,
    /// Target status of the latest frame.
    pub status: TargetStatus,
    /// Monotonic time of the latest frame.
    pub now_mono_ns: u64,
    /// Frames folded.
    pub frames: u64,
    /// Selected row of the class table (display position).
    pub class_sel: usize,
    /// Selected slot of the SuperSlab grid.
    pub slot_sel: SlotCursor,
    /// Selected thread row of the magazine heat map.
    pub thread_sel: usize,
    /// Selected bucket row of the GPU view.
    pub bucket_sel: usize,
    /// Sampled allocation sites and growing classes.
    pub leaks: LeakTracker,
    /// Selected site row of the Leaks view.
    pub leak_sel: usize,
    /// Selected row of the Heap errors view (0: the newest error).
    pub heap_error_sel: usize,
    /// Set by [`Action::Quit`].
    pub quit: bool,
}

impl State {
    /// An empty state for `target`.
    pub fn new(target: TargetInfo) -> Self {
        Self {
            target,
            view: ViewId::Overview,
            help: false,
            snapshot: None,
            process: None,
            bytes: ByteTotals::default(),
            history: TotalsHistory::default(),
            classes: ClassTable::default(),
            events: EventLog::default(),
            event_rate: 0.0,
            event_counter: Rate::default(),
            status: TargetStatus::Live,
            now_mono_ns: 0,
            frames: 0,
            class_sel: 0,
            slot_sel: SlotCursor::default(),
            thread_sel: 0,
            bucket_sel: 0,
            leaks: LeakTracker::default(),
            leak_sel: 0,
            heap_error_sel: 0,
            quit: false,
        }
    }

    /// True once the target is gone (or the data is a post-mortem file): frames are
    /// no longer folded and the last one stays on screen.
    pub fn frozen(&self) -> bool {
        self.frames > 0 && self.status.is_final()
    }

    /// Folds one frame. Ignored once [`State::frozen`]; a frame that says the process
    /// is gone only updates the status, so the last live frame stays on screen.
    pub fn fold(&mut self, frame: Frame) {
        if self.frozen() {
            return;
        }
        let status = TargetStatus::judge(&frame.snapshot, frame.liveness, frame.now_mono_ns);
        if matches!(status, TargetStatus::Gone) && self.frames > 0 {
            self.status = status;
            self.events
                .fold(&frame.events, &frame.poll, frame.snapshot.ring.dropped);
            return;
        }
        self.status = status;
        let snap = frame.snapshot;
        let now = frame.now_mono_ns;
        self.now_mono_ns = now;
        self.bytes = ByteTotals::of(&snap);
        self.history.mapped.push(self.bytes.mapped);
        self.history.live.push(self.bytes.live);
        self.history.cached.push(self.bytes.cached);
        self.history.free.push(self.bytes.free);
        self.classes.fold(&snap.classes, now);
        self.leaks.fold(&snap, now);
        self.events
            .fold(&frame.events, &frame.poll, snap.ring.dropped);
        self.event_rate = self.event_counter.update(snap.ring.head, now);
        self.history
            .events_per_sec
            .push(self.event_rate.round() as u64);
        if frame.process.is_some() {
            self.process = frame.process;
        }
        // Errors found since the last frame come in above the selected one: it stays
        // selected (the newest, row 0, stays followed).
        let found = snap
            .heap_error_counts
            .total()
            .saturating_sub(self.heap_error_counts().total());
        if self.heap_error_sel > 0 {
            self.heap_error_sel = self.heap_error_sel.saturating_add(found as usize);
        }
        self.snapshot = Some(snap);
        self.frames += 1;
        // A post-mortem file of a process that ran out of memory opens on the report; one
        // of a process that found heap errors (`SLABSCOPE_CHECK=abort` ends it) on those.
        if self.frames == 1 && self.status == TargetStatus::PostMortem {
            if self.has_oom() {
                self.view = ViewId::Oom;
            } else if self.has_heap_errors() {
                self.view = ViewId::HeapErrors;
            }
        }
        self.clamp_selection();
    }

    /// Whether the process has a GPU pool (the GPU view is shown only then).
    pub fn has_gpu(&self) -> bool {
        self.snapshot.as_ref().is_some_and(|s| !s.gpu.is_empty())
    }

    /// Whether the process samples allocation sites (the Leaks view is shown only then).
    pub fn has_leaks(&self) -> bool {
        self.leaks.interval_bytes != 0 || !self.leaks.ranked.is_empty()
    }

    /// The views offered, in tab order.
    pub fn views(&self) -> Vec<ViewId> {
        ViewId::ALL
            .into_iter()
            .filter(|v| *v != ViewId::Gpu || self.has_gpu())
            .filter(|v| *v != ViewId::Oom || self.has_oom())
            .filter(|v| *v != ViewId::Leaks || self.has_leaks())
            .filter(|v| *v != ViewId::HeapErrors || self.has_heap_errors())
            .collect()
    }

    /// Process uptime at the latest frame, in ns.
    pub fn uptime_ns(&self) -> u64 {
        self.snapshot
            .as_ref()
            .map_or(0, |s| self.now_mono_ns.saturating_sub(s.start_mono_ns))
    }

    /// Applies a user intent.
    pub fn apply(&mut self, action: Action) {
        if self.help && !matches!(action, Action::Quit | Action::ToggleHelp) {
            // Any key closes the help overlay.
            self.help = false;
            return;
        }
        match action {
            Action::Quit => self.quit = true,
            Action::ToggleHelp => self.help = !self.help,
            Action::NextView | Action::PrevView => {
                let views = self.views();
                let i = views.iter().position(|v| *v == self.view).unwrap_or(0);
                let n = views.len();
                let j = if action == Action::NextView {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.view = views[j];
            }
            Action::Show(v) => {
                if self.views().contains(&v) {
                    self.view = v;
                }
            }
            Action::CycleSort => self.classes.cycle_sort(),
            Action::ReverseSort => self.classes.reverse(),
            Action::CycleFilter => self.events.cycle_filter(),
            Action::TogglePause => self.events.toggle_pause(),
            Action::Up => self.move_by(-1, 0),
            Action::Down => self.move_by(1, 0),
            Action::Left => self.move_by(0, -1),
            Action::Right => self.move_by(0, 1),
            Action::PageUp => self.move_by(-(PAGE_ROWS as isize), 0),
            Action::PageDown => self.move_by(PAGE_ROWS as isize, 0),
            Action::Home => self.move_by(isize::MIN / 2, 0),
            Action::End => self.move_by(isize::MAX / 2, 0),
            // Carried out by the main loop, which can write files; nothing to fold here.
            Action::Control(_) => {}
        }
        self.clamp_selection();
    }

    fn move_by(&mut self, rows: isize, cols: isize) {
        let step = |v: usize, d: isize| v.saturating_add_signed(d);
        match self.view {
            ViewId::Overview | ViewId::Oom => {}
            ViewId::HeapErrors => self.heap_error_sel = step(self.heap_error_sel, rows),
            ViewId::Classes => self.class_sel = step(self.class_sel, rows),
            ViewId::SuperSlabs => {
                self.slot_sel.row = step(self.slot_sel.row, rows);
                self.slot_sel.slot = step(self.slot_sel.slot, cols);
            }
            ViewId::Magazines => self.thread_sel = step(self.thread_sel, rows),
            ViewId::Gpu => self.bucket_sel = step(self.bucket_sel, rows),
            ViewId::Leaks => self.leak_sel = step(self.leak_sel, rows),
            ViewId::Events => {
                if rows == isize::MAX / 2 {
                    self.events.follow();
                } else if rows == isize::MIN / 2 {
                    self.events.oldest();
                } else if rows < 0 {
                    self.events.scroll_up(rows.unsigned_abs());
                } else {
                    self.events.scroll_down(rows as usize);
                }
            }
        }
    }

    fn clamp_selection(&mut self) {
        let Some(s) = &self.snapshot else { return };
        let last = |n: usize| n.saturating_sub(1);
        self.class_sel = self.class_sel.min(last(self.classes.len()));
        self.slot_sel.row = self.slot_sel.row.min(last(s.superslabs.len()));
        let slots = s
            .superslabs
            .get(self.slot_sel.row)
            .map_or(0, |r| r.slots.len());
        self.slot_sel.slot = self.slot_sel.slot.min(last(slots));
        self.thread_sel = self.thread_sel.min(last(s.threads.len()));
        let buckets = s.gpu.iter().map(|p| p.buckets.len()).sum::<usize>();
        self.bucket_sel = self.bucket_sel.min(last(buckets));
        self.leak_sel = self.leak_sel.min(last(self.leaks.ranked.len()));
        self.heap_error_sel = self.heap_error_sel.min(last(s.heap_errors.len()));
        if !self.views().contains(&self.view) {
            self.view = ViewId::Overview;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Liveness;
    use crate::synthetic::Synthetic;

    fn target() -> TargetInfo {
        TargetInfo {
            pid: 4242,
            path: "/dev/shm/slabscope.4242".into(),
            interval_ms: 100,
        }
    }

    #[test]
    fn tab_cycles_through_views_and_skips_gpu_without_a_pool() {
        let mut st = State::new(target());
        st.fold(Synthetic::default().frame(0));
        let mut seen = vec![st.view];
        for _ in 0..5 {
            st.apply(Action::NextView);
            seen.push(st.view);
        }
        assert_eq!(&seen[..5], &ViewId::ALL[..5]);
        assert_eq!(seen[5], ViewId::Overview, "no GPU tab");
        st.apply(Action::Show(ViewId::Gpu));
        assert_eq!(st.view, ViewId::Overview);
        st.apply(Action::PrevView);
        assert_eq!(st.view, ViewId::Events);

        let mut st = State::new(target());
        st.fold(
            Synthetic {
                gpu: true,
                ..Default::default()
            }
            .frame(0),
        );
        st.apply(Action::PrevView);
        assert_eq!(st.view, ViewId::Gpu);
    }

    #[test]
    fn selection_is_clamped_to_the_data() {
        let mut st = State::new(target());
        st.fold(Synthetic::default().frame(0));
        st.apply(Action::Show(ViewId::SuperSlabs));
        st.apply(Action::End);
        st.apply(Action::Right);
        for _ in 0..40 {
            st.apply(Action::Right);
        }
        assert_eq!(st.slot_sel, SlotCursor { row: 5, slot: 31 });
        st.apply(Action::Home);
        assert_eq!(st.slot_sel.row, 0);
        st.apply(Action::Show(ViewId::Classes));
        st.apply(Action::PageDown);
        st.apply(Action::PageDown);
        assert_eq!(st.class_sel, 11);
    }

    #[test]
    fn help_overlay_swallows_the_next_key() {
        let mut st = State::new(target());
        st.apply(Action::ToggleHelp);
        assert!(st.help);
        st.apply(Action::NextView);
        assert!(!st.help);
        assert_eq!(st.view, ViewId::Overview);
        st.apply(Action::Quit);
        assert!(st.quit);
    }

    #[test]
    fn a_gone_target_freezes_the_last_frame() {
        let syn = Synthetic::default();
        let mut st = State::new(target());
        st.fold(syn.frame(0));
        st.fold(syn.frame(1));
        let live = st.bytes.live;
        let mut f = syn.frame(2);
        f.liveness = Liveness::Gone;
        f.snapshot.totals.large_bytes = 0;
        st.fold(f);
        assert_eq!(st.status, TargetStatus::Gone);
        assert!(st.frozen());
        assert_eq!(st.bytes.live, live, "the last live frame stays");
        st.fold(syn.frame(3));
        assert_eq!(st.frames, 2);
    }
}
