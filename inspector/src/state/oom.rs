//! What the OOM view shows, folded from the snapshot's OOM report: the classes ranked
//! by the bytes they hold, and the events that led up to the failure. No ratatui here.

use slabscope_proto::{Event, OomClass, OomReport};

use super::State;

/// Rows of the OOM view's class table: classes holding bytes, most live bytes first.
pub fn ranked_classes(report: &OomReport) -> Vec<OomClass> {
    let mut rows = report.classes.clone();
    rows.sort_by(|a, b| {
        (b.live_bytes, b.free_bytes, a.class).cmp(&(a.live_bytes, a.free_bytes, b.class))
    });
    rows
}

/// Bytes the report does not attribute (should be 0): mapped minus large, SuperSlab
/// headers, UNUSED slots, slot tails and every class's live + cached + free bytes.
/// Non-zero only when another thread mapped or unmapped during the report.
pub fn unattributed_bytes(r: &OomReport) -> i128 {
    r.mapped_bytes as i128
        - r.large_bytes as i128
        - r.header_bytes as i128
        - r.unused_bytes as i128
        - r.tail_bytes as i128
        - r.class_bytes() as i128
}

impl State {
    /// The OOM report of the latest snapshot, if the process had one.
    pub fn oom(&self) -> Option<&OomReport> {
        self.snapshot.as_ref().and_then(|s| s.oom.as_ref())
    }

    /// Whether the OOM view is offered.
    pub fn has_oom(&self) -> bool {
        self.oom().is_some()
    }

    /// The last `n` events the log holds up to and including the OOM's own event.
    pub fn events_before_oom(&self, n: usize) -> Vec<&Event> {
        let Some(seq) = self.oom().and_then(|r| r.ring_seq) else {
            return Vec::new();
        };
        let before: Vec<&Event> = self.events.all().filter(|e| e.seq <= seq).collect();
        before[before.len().saturating_sub(n)..].to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::oom_report as report;

    #[test]
    fn classes_rank_by_live_bytes_and_bytes_add_up() {
        let r = report();
        let rows = ranked_classes(&r);
        assert_eq!(rows.iter().map(|c| c.class).collect::<Vec<_>>(), vec![3, 0]);
        assert_eq!(unattributed_bytes(&r), 0);
    }
}
