//! Whether the target is still there: live, silent, exited, or a post-mortem file.

use slabscope_proto::Snapshot;

use super::frame::Liveness;

/// A heartbeat older than this (while the process still runs) marks the target silent.
pub const STALE_NS: u64 = 5_000_000_000;

/// How the inspector sees its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetStatus {
    /// The process runs and its allocator updates the segment.
    Live,
    /// The process runs, but its allocator has not updated the segment for `for_ns`
    /// (idle, or stopped in a debugger). The view keeps refreshing.
    Silent {
        /// Nanoseconds since the last heartbeat.
        for_ns: u64,
    },
    /// The process exited normally and closed its segment: the last frame is frozen.
    Closed,
    /// The process is gone without closing its segment (killed or crashed): the last
    /// frame is frozen.
    Gone,
    /// A segment file read after the fact (`--postmortem`).
    PostMortem,
}

impl TargetStatus {
    /// Judges a frame: the reader's liveness check, the closed flag, the heartbeat age.
    pub fn judge(snap: &Snapshot, liveness: Liveness, now_mono_ns: u64) -> Self {
        match liveness {
            Liveness::Unknown => TargetStatus::PostMortem,
            Liveness::Gone if snap.flags.closed => TargetStatus::Closed,
            Liveness::Gone => TargetStatus::Gone,
            Liveness::Alive if snap.flags.closed => TargetStatus::Closed,
            Liveness::Alive => {
                let age = now_mono_ns.saturating_sub(snap.heartbeat_mono_ns);
                if age > STALE_NS {
                    TargetStatus::Silent { for_ns: age }
                } else {
                    TargetStatus::Live
                }
            }
        }
    }

    /// True when no further frame will change what is shown.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TargetStatus::Closed | TargetStatus::Gone | TargetStatus::PostMortem
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::Synthetic;

    #[test]
    fn judges_liveness_closed_flag_and_heartbeat() {
        let mut s = Synthetic::default().snapshot(0);
        let hb = s.heartbeat_mono_ns;
        assert_eq!(
            TargetStatus::judge(&s, Liveness::Alive, hb + 1),
            TargetStatus::Live
        );
        assert_eq!(
            TargetStatus::judge(&s, Liveness::Alive, hb + STALE_NS + 1),
            TargetStatus::Silent {
                for_ns: STALE_NS + 1
            }
        );
        assert_eq!(
            TargetStatus::judge(&s, Liveness::Gone, hb),
            TargetStatus::Gone
        );
        assert_eq!(
            TargetStatus::judge(&s, Liveness::Unknown, hb),
            TargetStatus::PostMortem
        );
        s.flags.closed = true;
        assert_eq!(
            TargetStatus::judge(&s, Liveness::Gone, hb),
            TargetStatus::Closed
        );
        assert!(TargetStatus::Closed.is_final() && !TargetStatus::Live.is_final());
    }
}
