//! The bound on kept segments. A process that dies from a signal or runs out of memory
//! keeps its segment for `alloc-inspect --postmortem`; so that a machine that runs every
//! program under the preload does not fill its tmpfs with them, a process creating its
//! segment removes the oldest segments of ended processes beyond `SLABSCOPE_KEEP`.
//!
//! A segment is removed only when it is `slabscope.<pid>` in the segment directory, a
//! regular file (never a symbolic link) owned by this user, and no process `pid` exists
//! (`kill(pid, 0)` says `ESRCH`); a live process's segment, another user's, and one
//! whose pid was given to a newer process are never touched. Age is the file's last
//! modification (the writer's last store). Allocation-free: runs inside `malloc`.
#![forbid(unsafe_code)]

use crate::pal::{self, Dir};

/// Most segments `SLABSCOPE_KEEP` may keep (the sweep's table on the stack).
pub const KEEP_MAX: usize = 64;

/// The pid in a segment's file name `slabscope.<pid>`, if `name` is one.
fn segment_pid(name: &[u8]) -> Option<u32> {
    let digits = name.strip_prefix(b"slabscope.")?;
    if digits.is_empty() || digits.len() > 10 || digits.first() == Some(&b'0') {
        return None;
    }
    let n = crate::grammar::decimal(digits)?;
    u32::try_from(n).ok()
}

/// The newest kept segments seen so far: `(mtime_ns, pid)`, oldest first.
struct Newest {
    kept: [(i64, u32); KEEP_MAX],
    len: usize,
    bound: usize,
}

impl Newest {
    /// Offers a segment; returns the one to remove now (the offered one, or the oldest
    /// kept one it pushes out), if the bound is exceeded.
    fn offer(&mut self, seg: (i64, u32)) -> Option<(i64, u32)> {
        if self.bound == 0 {
            return Some(seg);
        }
        let at = self.kept[..self.len].partition_point(|k| *k < seg);
        if self.len < self.bound {
            self.kept.copy_within(at..self.len, at + 1);
            self.kept[at] = seg;
            self.len += 1;
            return None;
        }
        if at == 0 {
            return Some(seg);
        }
        let out = self.kept[0];
        self.kept.copy_within(1..at, 0);
        self.kept[at - 1] = seg;
        Some(out)
    }
}

/// Removes the oldest segments of ended processes in `dir` (NUL-terminated) beyond
/// `keep` (at most [`KEEP_MAX`]); `own` is this process's pid (its segment is never a
/// candidate). Returns how many were removed.
///
/// A directory on a tmpfs (`/dev/shm`, the default) that holds no more entries than
/// `keep` besides this process's own segment cannot hold too many kept segments: it is
/// not listed (two `stat`s instead of an open, a listing and one `kill` for each
/// segment in it). The own segment exists when this runs, so a count of none is not
/// believed.
pub fn sweep(dir: &[u8], keep: usize, own: u32) -> usize {
    let bound = keep.min(KEEP_MAX);
    if pal::tmpfs_entries(dir).is_some_and(|n| (1..=bound as u64 + 1).contains(&n)) {
        return 0;
    }
    let Some(d) = Dir::open(dir) else { return 0 };
    let uid = pal::geteuid();
    let mut newest = Newest {
        kept: [(0, 0); KEEP_MAX],
        len: 0,
        bound,
    };
    let mut removed = 0;
    let mut name_of = [0u8; 32];
    d.for_each(|name| {
        let Some(pid) = segment_pid(name) else { return };
        if pid == own || !pal::process_gone(pid) {
            return;
        }
        let Some(st) = d.stat(name) else { return };
        if !st.regular || st.uid != uid {
            return;
        }
        if let Some((_, old)) = newest.offer((st.mtime_ns, pid)) {
            if d.unlink(file_name(old, &mut name_of)) {
                removed += 1;
            }
        }
    });
    removed
}

/// `slabscope.<pid>` in `buf`.
fn file_name(pid: u32, buf: &mut [u8; 32]) -> &[u8] {
    let mut digits = [0u8; 20];
    let d = pal::fmt_u64(u64::from(pid), &mut digits);
    let prefix = b"slabscope.";
    buf[..prefix.len()].copy_from_slice(prefix);
    buf[prefix.len()..prefix.len() + d.len()].copy_from_slice(d);
    &buf[..prefix.len() + d.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_segment_names_give_a_pid() {
        assert_eq!(segment_pid(b"slabscope.4242"), Some(4242));
        for bad in [
            &b"slabscope."[..],
            b"slabscope.0",
            b"slabscope.042",
            b"slabscope.12.ctl",
            b"slabscope.99999999999",
            b"other.12",
            b"slabscope.-1",
        ] {
            assert_eq!(segment_pid(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn the_newest_are_kept_whatever_the_order() {
        let mut n = Newest {
            kept: [(0, 0); KEEP_MAX],
            len: 0,
            bound: 3,
        };
        let mut out = Vec::new();
        for (age, pid) in [(5, 1), (1, 2), (9, 3), (7, 4), (3, 5), (8, 6)] {
            out.extend(n.offer((age, pid)).map(|(_, p)| p));
        }
        // Kept: ages 9, 8, 7; removed the others as they were pushed out.
        let mut kept: Vec<u32> = n.kept[..n.len].iter().map(|k| k.1).collect();
        kept.sort();
        assert_eq!(kept, [3, 4, 6]);
        out.sort();
        assert_eq!(out, [1, 2, 5]);
        let mut none = Newest {
            kept: [(0, 0); KEEP_MAX],
            len: 0,
            bound: 0,
        };
        assert_eq!(none.offer((1, 7)), Some((1, 7)));
    }

    #[test]
    fn file_names_round_trip() {
        let mut buf = [0u8; 32];
        assert_eq!(file_name(4_194_304, &mut buf), b"slabscope.4194304");
        assert_eq!(segment_pid(file_name(17, &mut [0u8; 32])), Some(17));
    }
}
