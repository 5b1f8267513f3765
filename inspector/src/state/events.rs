//! The event log: events read from the ring, kept in a bounded buffer, with a kind
//! filter, pause and scrolling, and the counts of events that were lost.

use std::collections::VecDeque;

use slabscope_proto::{Event, EventKind, PollStats};

/// Events kept in the log.
pub const LOG_CAPACITY: usize = 10_000;

/// Which events the log shows, in the order `f` cycles through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventFilter {
    /// Every event.
    All,
    /// Magazine drains and thread exits.
    Drains,
    /// Slot acquires (stage 1/2/3), empty detections and releases.
    Slots,
    /// SuperSlab map, empty detection and return to the OS.
    SuperSlabs,
    /// Large allocations mapped and unmapped.
    Large,
    /// Out-of-memory events (host and GPU).
    Oom,
    /// GPU pool events.
    Gpu,
    /// Heap errors `SLABSCOPE_CHECK` caught.
    HeapErrors,
}

impl EventFilter {
    /// Every filter in cycle order.
    pub const ALL: [EventFilter; 8] = [
        EventFilter::All,
        EventFilter::Drains,
        EventFilter::Slots,
        EventFilter::SuperSlabs,
        EventFilter::Large,
        EventFilter::Oom,
        EventFilter::Gpu,
        EventFilter::HeapErrors,
    ];

    /// Name shown in the view.
    pub const fn name(self) -> &'static str {
        match self {
            EventFilter::All => "all",
            EventFilter::Drains => "drains",
            EventFilter::Slots => "slots",
            EventFilter::SuperSlabs => "superslabs",
            EventFilter::Large => "large",
            EventFilter::Oom => "oom",
            EventFilter::Gpu => "gpu",
            EventFilter::HeapErrors => "heap_errors",
        }
    }

    /// The filter after this one.
    pub fn next(self) -> Self {
        let i = Self::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    /// Whether `kind` passes the filter.
    pub fn matches(self, kind: &EventKind) -> bool {
        use EventKind as K;
        match self {
            EventFilter::All => true,
            EventFilter::Drains => matches!(kind, K::MagazineDrain { .. } | K::ThreadExit { .. }),
            EventFilter::Slots => matches!(
                kind,
                K::SlotAcquire { .. } | K::SlotEmpty { .. } | K::SlotRelease { .. }
            ),
            EventFilter::SuperSlabs => matches!(
                kind,
                K::SuperSlabMap { .. } | K::SuperSlabEmpty { .. } | K::SuperSlabReturn { .. }
            ),
            EventFilter::Large => matches!(kind, K::LargeMap { .. } | K::LargeUnmap { .. }),
            EventFilter::Oom => matches!(kind, K::Oom { .. } | K::GpuOom { .. }),
            EventFilter::Gpu => matches!(
                kind,
                K::GpuMiss { .. } | K::GpuOversize { .. } | K::GpuTrim { .. } | K::GpuOom { .. }
            ),
            EventFilter::HeapErrors => matches!(kind, K::HeapError { .. }),
        }
    }
}

/// The event log.
#[derive(Clone, Debug)]
pub struct EventLog {
    entries: VecDeque<Event>,
    /// Current filter.
    pub filter: EventFilter,
    /// When paused, the newest sequence number shown; events keep being collected.
    paused_at: Option<u64>,
    /// Rows scrolled up from the newest shown event.
    pub scroll: usize,
    /// Events the writer dropped (ring `dropped` word).
    pub dropped: u64,
    /// Events this inspector failed to read: overwritten before it got to them, corrupt,
    /// or abandoned.
    pub missed: u64,
    /// Events of kinds this inspector does not know.
    pub unknown: u64,
    /// Events collected in total.
    pub seen: u64,
}

impl Default for EventLog {
    fn default() -> Self {
        Self {
            entries: VecDeque::with_capacity(256),
            filter: EventFilter::All,
            paused_at: None,
            scroll: 0,
            dropped: 0,
            missed: 0,
            unknown: 0,
            seen: 0,
        }
    }
}

impl EventLog {
    /// Appends the events of one refresh.
    pub fn fold(&mut self, events: &[Event], poll: &PollStats, writer_dropped: u64) {
        for e in events {
            if self.entries.len() == LOG_CAPACITY {
                self.entries.pop_front();
            }
            self.entries.push_back(*e);
        }
        self.seen += events.len() as u64;
        self.missed += poll.missed + poll.corrupt + poll.abandoned;
        self.unknown += poll.unknown;
        self.dropped = writer_dropped;
    }

    /// Events lost one way or another (shown in red when non-zero).
    pub fn lost(&self) -> u64 {
        self.dropped + self.missed
    }

    /// True while the log does not follow new events.
    pub fn paused(&self) -> bool {
        self.paused_at.is_some()
    }

    /// Events collected since the pause that the log does not show yet.
    pub fn pending(&self) -> usize {
        match self.paused_at {
            Some(at) => self.entries.iter().rev().take_while(|e| e.seq > at).count(),
            None => 0,
        }
    }

    /// Pauses (freezing what is shown) or resumes following.
    pub fn toggle_pause(&mut self) {
        if self.paused_at.is_some() {
            self.paused_at = None;
            self.scroll = 0;
        } else {
            self.pause();
        }
    }

    fn pause(&mut self) {
        if self.paused_at.is_none() {
            self.paused_at = Some(self.entries.back().map_or(0, |e| e.seq));
        }
    }

    /// Shows the next filter and goes back to the newest event.
    pub fn cycle_filter(&mut self) {
        self.filter = self.filter.next();
        self.scroll = 0;
    }

    /// Scrolls `rows` towards older events (pausing, so the page holds still).
    pub fn scroll_up(&mut self, rows: usize) {
        self.pause();
        let max = self.visible_len().saturating_sub(1);
        self.scroll = (self.scroll + rows).min(max);
    }

    /// Scrolls `rows` towards newer events.
    pub fn scroll_down(&mut self, rows: usize) {
        self.scroll = self.scroll.saturating_sub(rows);
    }

    /// Jumps to the newest event and follows again.
    pub fn follow(&mut self) {
        self.scroll = 0;
        self.paused_at = None;
    }

    /// Jumps to the oldest event held.
    pub fn oldest(&mut self) {
        self.pause();
        self.scroll = self.visible_len().saturating_sub(1);
    }

    fn shown(&self) -> impl DoubleEndedIterator<Item = &Event> + '_ {
        let at = self.paused_at.unwrap_or(u64::MAX);
        self.entries
            .iter()
            .filter(move |e| e.seq <= at && self.filter.matches(&e.kind))
    }

    /// Events that pass the filter and are shown (up to the pause point).
    pub fn visible_len(&self) -> usize {
        self.shown().count()
    }

    /// The page of at most `rows` events to draw, oldest first, ending `scroll` rows
    /// above the newest shown event.
    pub fn page(&self, rows: usize) -> Vec<&Event> {
        let mut page: Vec<&Event> = self.shown().rev().skip(self.scroll).take(rows).collect();
        page.reverse();
        page
    }

    /// Every event held, oldest first (unfiltered).
    pub fn all(&self) -> impl Iterator<Item = &Event> + '_ {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::Synthetic;

    fn log_with(n: u64) -> EventLog {
        let syn = Synthetic::default();
        let evs: Vec<Event> = (0..n).map(|s| syn.event(s)).collect();
        let mut log = EventLog::default();
        log.fold(&evs, &PollStats::default(), 0);
        log
    }

    #[test]
    fn filter_keeps_only_matching_kinds() {
        let mut log = log_with(100);
        log.cycle_filter();
        assert_eq!(log.filter, EventFilter::Drains);
        let page = log.page(1000);
        assert!(!page.is_empty());
        assert!(page
            .iter()
            .all(|e| matches!(e.kind, EventKind::MagazineDrain { .. })));
        while log.filter != EventFilter::Oom {
            log.cycle_filter();
        }
        assert_eq!(log.page(1000).len(), 1, "one OOM in the first 100 events");
    }

    #[test]
    fn pause_freezes_the_page_while_events_keep_arriving() {
        let syn = Synthetic::default();
        let mut log = log_with(50);
        log.toggle_pause();
        let before: Vec<u64> = log.page(5).iter().map(|e| e.seq).collect();
        let more: Vec<Event> = (50..60).map(|s| syn.event(s)).collect();
        log.fold(&more, &PollStats::default(), 0);
        assert_eq!(
            log.page(5).iter().map(|e| e.seq).collect::<Vec<_>>(),
            before
        );
        assert_eq!(log.pending(), 10);
        log.toggle_pause();
        assert_eq!(log.page(1)[0].seq, 59);
    }

    #[test]
    fn scrolling_moves_through_older_events_and_end_follows() {
        let mut log = log_with(30);
        log.scroll_up(5);
        assert!(log.paused());
        assert_eq!(
            log.page(3).iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![22, 23, 24]
        );
        log.oldest();
        assert_eq!(log.page(3)[0].seq, 0);
        log.follow();
        assert_eq!(log.page(1)[0].seq, 29);
    }

    #[test]
    fn lost_events_are_counted() {
        let mut log = EventLog::default();
        let poll = PollStats {
            missed: 7,
            corrupt: 1,
            ..Default::default()
        };
        log.fold(&[], &poll, 2);
        assert_eq!((log.missed, log.dropped, log.lost()), (8, 2, 10));
        let mut c = LOG_CAPACITY;
        let syn = Synthetic::default();
        let evs: Vec<Event> = (0..LOG_CAPACITY as u64 + 5).map(|s| syn.event(s)).collect();
        log.fold(&evs, &PollStats::default(), 2);
        c -= log.all().count();
        assert_eq!(c, 0, "the log is bounded");
        assert_eq!(log.all().next().map(|e| e.seq), Some(5));
    }
}
