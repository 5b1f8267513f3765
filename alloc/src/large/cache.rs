//! The cache of freed large mappings: a small table of `(address, length)` that
//! `large::free` fills instead of unmapping and `large::alloc` takes from instead of
//! mapping. Only the bookkeeping lives here (no system calls): `map` holds the cache
//! under the large lock and performs the unmaps and `madvise` calls the cache asks for.
//!
//! Rules:
//! - a request of `len` bytes (page-rounded) at `align` takes the smallest entry with
//!   `len <= entry.len <= len + len / 4` whose address honours `align` (a 64 KiB
//!   aligned request never gets a page-aligned entry), else the first `len` bytes of the
//!   smallest longer entry, whose tail stays cached (a mapping can be unmapped or
//!   remapped piece by piece);
//! - a freed mapping is merged with the cached entries that end where it starts and
//!   start where it ends (up to [`MAX_ENTRY`]), so that the free space after an
//!   allocation stays one entry;
//! - a large allocation grows in place by taking the head of the entry that starts at
//!   its end ([`Cache::take_at`]): no copy, no system call, and pages that are already
//!   resident when the entry was dirty;
//! - mappings above [`MAX_ENTRY`] are never cached;
//! - at most [`ENTRIES`] entries and [`Cache::bound`] bytes (1/8 of the mapped bytes,
//!   at least [`MIN_BYTES`], at most [`MAX_BYTES`]); the oldest go first;
//! - at most [`MAX_DIRTY`] bytes of entries keep their pages ("dirty"), besides those
//!   of at least [`GRACE_MIN`] bytes freed in the last [`DIRTY_GRACE_NS`]; beyond it
//!   the oldest dirty entries are decommitted (`MADV_DONTNEED`) by the next large slow
//!   path. A program that frees and allocates big buffers in turn gets them back
//!   resident; one that stops making large allocations keeps what was in its grace
//!   resident (at most the byte bound) until its next large slow path or a trim;
//! - an entry older than [`MAX_AGE_NS`] is unmapped by the next large slow path.
#![forbid(unsafe_code)]

/// Entries the cache holds at most.
pub const ENTRIES: usize = 64;
/// Largest mapping the cache keeps.
pub const MAX_ENTRY: usize = 32 << 20;
/// Smallest byte bound of the cache.
pub const MIN_BYTES: usize = 16 << 20;
/// Largest byte bound of the cache.
pub const MAX_BYTES: usize = 64 << 20;
/// Bytes of cached entries allowed to stay resident.
pub const MAX_DIRTY: usize = 8 << 20;
/// How long a freed entry of at least [`GRACE_MIN`] bytes keeps its pages beyond
/// [`MAX_DIRTY`]: a program that frees a big buffer and allocates another within this
/// time gets resident pages instead of a page fault per page (mimalloc-bench's
/// malloc-large, 5 - 25 MiB buffers every 5 ms, ran 12.9 - 13.4 s against 5.2 - 5.8 s
/// with it).
pub const DIRTY_GRACE_NS: u64 = 100_000_000;
/// Smallest entry the grace applies to. Smaller ones are cheap to fault in again, and
/// keeping them dirty splits the cache where clean neighbours would merge (the growth
/// benchmark, whose buffers stay under 1 MiB, lost 4 % with a grace for every entry).
pub const GRACE_MIN: usize = 2 << 20;
/// Age after which a cached entry is unmapped.
pub const MAX_AGE_NS: u64 = 1_000_000_000;

/// One cached mapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cached {
    /// Start of the mapping.
    pub addr: usize,
    /// Length of the mapping (page multiple).
    pub len: usize,
    /// Whether its pages may still be resident (freed and not decommitted since).
    pub dirty: bool,
    /// When it was freed (monotonic nanoseconds).
    pub freed_ns: u64,
}

impl Cached {
    /// Whether the entry keeps its pages beyond [`MAX_DIRTY`] at `now`: at least
    /// [`GRACE_MIN`] bytes, freed less than [`DIRTY_GRACE_NS`] before.
    fn in_grace(&self, now: u64) -> bool {
        self.len >= GRACE_MIN && now.saturating_sub(self.freed_ns) < DIRTY_GRACE_NS
    }
}

/// The cache table.
#[derive(Debug)]
pub struct Cache {
    entries: [Cached; ENTRIES],
    n: usize,
    bytes: usize,
    dirty_bytes: usize,
}

impl Default for Cache {
    fn default() -> Self {
        Self::new()
    }
}

impl Cache {
    /// An empty cache.
    pub const fn new() -> Self {
        Cache {
            entries: [Cached {
                addr: 0,
                len: 0,
                dirty: false,
                freed_ns: 0,
            }; ENTRIES],
            n: 0,
            bytes: 0,
            dirty_bytes: 0,
        }
    }

    /// Bytes cached.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes of dirty entries.
    #[cfg(test)]
    pub fn dirty_bytes(&self) -> usize {
        self.dirty_bytes
    }

    /// Whether `addr` lies in a cached mapping: freed memory of a large allocation,
    /// also once the entry it went into has been merged with a neighbour's.
    pub fn holds(&self, addr: usize) -> bool {
        self.entries[..self.n]
            .iter()
            .any(|e| addr >= e.addr && addr - e.addr < e.len)
    }

    /// Entries cached.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The byte bound given the process's mapped bytes.
    pub fn bound(mapped_bytes: u64) -> usize {
        ((mapped_bytes / 8) as usize).clamp(MIN_BYTES, MAX_BYTES)
    }

    /// Takes the best entry for a request of `len` bytes (page multiple) at `align`: the
    /// smallest one of `len ..= len + len / 4` bytes, else the first `len` bytes of the
    /// smallest longer one (its tail stays cached as an entry of its own).
    pub fn take(&mut self, len: usize, align: usize) -> Option<Cached> {
        let most = len.saturating_add(len / 4);
        let mut best: Option<usize> = None;
        for (i, e) in self.entries[..self.n].iter().enumerate() {
            if e.len < len || e.addr % align != 0 {
                continue;
            }
            let better = match best {
                None => true,
                Some(b) => {
                    let b = &self.entries[b];
                    // Smaller first; among equals a dirty (warm) one.
                    e.len < b.len || (e.len == b.len && e.dirty && !b.dirty)
                }
            };
            if better {
                best = Some(i);
                if e.len == len && e.dirty {
                    break;
                }
            }
        }
        let i = best?;
        let e = self.entries[i];
        if e.len <= most {
            return Some(self.remove(i));
        }
        // Split: the head goes, the tail stays with the entry's age and dirtiness.
        self.entries[i] = Cached {
            addr: e.addr + len,
            len: e.len - len,
            ..e
        };
        self.bytes -= len;
        if e.dirty {
            self.dirty_bytes -= len;
        }
        Some(Cached { len, ..e })
    }

    /// Takes the first `len` bytes of the entry that starts at `addr` (its tail stays
    /// cached, with its age and dirtiness): the free space right after a large
    /// allocation, for growing it in place. `None` when no entry starts there or it is
    /// shorter than `len`.
    pub fn take_at(&mut self, addr: usize, len: usize) -> Option<Cached> {
        let i = self.entries[..self.n].iter().position(|e| e.addr == addr)?;
        let e = self.entries[i];
        if e.len < len || len == 0 {
            return None;
        }
        if e.len == len {
            return Some(self.remove(i));
        }
        self.entries[i] = Cached {
            addr: e.addr + len,
            len: e.len - len,
            ..e
        };
        self.bytes -= len;
        if e.dirty {
            self.dirty_bytes -= len;
        }
        Some(Cached { len, ..e })
    }

    /// Adds a freed mapping, merged with the entries it touches (the one ending at its
    /// start, the one starting at its end) when they are as dirty as it is and the
    /// result stays within [`MAX_ENTRY`]; the merged entry is as young as the youngest
    /// part. `false` (nothing changed) when it is too big to cache or the cache is
    /// full and nothing merges (the caller makes room with [`Cache::evict`] first).
    /// After a put the caller calls [`Cache::evict`] and [`Cache::dirty_victim`] until
    /// they say nothing is left to do.
    pub fn put(&mut self, e: Cached) -> bool {
        if e.len > MAX_ENTRY || e.len == 0 {
            return false;
        }
        let mut e = e;
        let before = self.entries[..self.n]
            .iter()
            .position(|b| b.addr + b.len == e.addr && mergeable(b, &e));
        if let Some(i) = before {
            let b = self.remove(i);
            e = merged(b, e);
        }
        let after = self.entries[..self.n]
            .iter()
            .position(|a| a.addr == e.addr + e.len && mergeable(a, &e));
        if let Some(i) = after {
            let a = self.remove(i);
            e = merged(e, a);
        }
        if self.n == ENTRIES {
            return false;
        }
        self.entries[self.n] = e;
        self.n += 1;
        self.bytes += e.len;
        if e.dirty {
            self.dirty_bytes += e.len;
        }
        true
    }

    /// Removes and returns an entry to unmap: the oldest while the cache is over
    /// `bound` bytes or full, else any entry freed before `now - MAX_AGE_NS`.
    pub fn evict(&mut self, bound: usize, now: u64) -> Option<Cached> {
        if self.n == 0 {
            return None;
        }
        let oldest = self.oldest(|_| true)?;
        let e = self.entries[oldest];
        if self.bytes > bound || self.n == ENTRIES || now.saturating_sub(e.freed_ns) > MAX_AGE_NS {
            return Some(self.remove(oldest));
        }
        None
    }

    /// Removes and returns the oldest dirty entry not in its grace period
    /// ([`Cached::in_grace`]) while such entries exceed [`MAX_DIRTY`] bytes (those in
    /// their grace come besides the budget): the caller decommits it and puts it back
    /// clean.
    pub fn dirty_victim(&mut self, now: u64) -> Option<Cached> {
        if self.dirty_bytes <= MAX_DIRTY {
            return None;
        }
        let in_grace: usize = self.entries[..self.n]
            .iter()
            .filter(|e| e.dirty && e.in_grace(now))
            .map(|e| e.len)
            .sum();
        if self.dirty_bytes - in_grace <= MAX_DIRTY {
            return None;
        }
        let i = self.oldest(|e| e.dirty && !e.in_grace(now))?;
        Some(self.remove(i))
    }

    /// Removes and returns any entry (to empty the cache).
    pub fn pop(&mut self) -> Option<Cached> {
        (self.n != 0).then(|| self.remove(self.n - 1))
    }

    fn oldest(&self, keep: impl Fn(&Cached) -> bool) -> Option<usize> {
        self.entries[..self.n]
            .iter()
            .enumerate()
            .filter(|(_, e)| keep(e))
            .min_by_key(|(_, e)| e.freed_ns)
            .map(|(i, _)| i)
    }

    fn remove(&mut self, i: usize) -> Cached {
        let e = self.entries[i];
        self.n -= 1;
        self.entries[i] = self.entries[self.n];
        self.bytes -= e.len;
        if e.dirty {
            self.dirty_bytes -= e.len;
        }
        e
    }
}

/// Whether two touching entries may become one.
fn mergeable(a: &Cached, b: &Cached) -> bool {
    a.dirty == b.dirty && a.len + b.len <= MAX_ENTRY
}

/// `lo` and `hi` (which starts where `lo` ends, as dirty as it) as one entry.
fn merged(lo: Cached, hi: Cached) -> Cached {
    Cached {
        addr: lo.addr,
        len: lo.len + hi.len,
        dirty: lo.dirty,
        freed_ns: lo.freed_ns.max(hi.freed_ns),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(addr: usize, len: usize, t: u64) -> Cached {
        Cached {
            addr,
            len,
            dirty: true,
            freed_ns: t,
        }
    }

    #[test]
    fn holds_the_starts_of_merged_mappings() {
        let mut c = Cache::new();
        assert!(c.put(e(0x100000, 256 << 10, 1)));
        assert!(c.put(e(0x140000, 256 << 10, 2)));
        assert_eq!(c.len(), 1, "the two mappings are one entry");
        assert!(c.holds(0x100000));
        assert!(c.holds(0x140000), "the second free's start");
        assert!(c.holds(0x17f000));
        assert!(!c.holds(0x180000), "the end is outside");
        assert!(!c.holds(0xff000));
    }

    #[test]
    fn takes_the_smallest_fitting_entry() {
        let mut c = Cache::new();
        assert!(c.put(e(0x100000, 80 << 10, 1)));
        assert!(c.put(e(0x200000, 64 << 10, 2)));
        assert!(c.put(e(0x300000, 200 << 10, 3)));
        assert_eq!(c.take(64 << 10, 4096).unwrap().addr, 0x200000);
        // 80 KiB is within 64 KiB + 25 %.
        assert_eq!(c.take(64 << 10, 4096).unwrap().addr, 0x100000);
        // 200 KiB is too small for 256 KiB.
        assert!(c.take(256 << 10, 4096).is_none());
        assert_eq!(c.take(176 << 10, 4096).unwrap().len, 200 << 10);
        assert!(c.is_empty());
        assert_eq!((c.bytes(), c.dirty_bytes()), (0, 0));
        // A much longer entry is split: the head is taken, the tail stays.
        assert!(c.put(e(0x400000, 1 << 20, 5)));
        let head = c.take(64 << 10, 4096).unwrap();
        assert_eq!((head.addr, head.len), (0x400000, 64 << 10));
        assert_eq!(
            (c.len(), c.bytes(), c.dirty_bytes()),
            (1, 960 << 10, 960 << 10)
        );
        let tail = c.take(960 << 10, 4096).unwrap();
        assert_eq!((tail.addr, tail.freed_ns), (0x400000 + (64 << 10), 5));
    }

    #[test]
    fn touching_entries_merge_and_grow_in_place() {
        let mut c = Cache::new();
        // A split leaves a tail; the head freed again joins it.
        assert!(c.put(e(0x400000, 1 << 20, 5)));
        let head = c.take(64 << 10, 4096).unwrap();
        assert!(c.put(Cached {
            freed_ns: 9,
            ..head
        }));
        assert_eq!((c.len(), c.bytes()), (1, 1 << 20));
        // A block taken again grows into the space after it.
        let head = c.take(64 << 10, 4096).unwrap();
        let grown = c.take_at(head.addr + head.len, 192 << 10).unwrap();
        assert_eq!((grown.addr, grown.len), (0x400000 + (64 << 10), 192 << 10));
        assert_eq!(
            (c.len(), c.bytes(), c.dirty_bytes()),
            (1, 768 << 10, 768 << 10)
        );
        assert!(
            c.take_at(0x400000 + (256 << 10), 1 << 20).is_none(),
            "too short"
        );
        assert!(
            c.take_at(0x400000 + (128 << 10), 4096).is_none(),
            "no entry starts there"
        );
        // Freed from both sides of a hole, the pieces become one again.
        assert!(c.put(e(0x400000 + (64 << 10), 192 << 10, 11)));
        assert!(c.put(e(0x400000, 64 << 10, 12)));
        assert_eq!(c.len(), 1);
        let all = c.take(1 << 20, 4096).unwrap();
        assert_eq!((all.addr, all.len, all.freed_ns), (0x400000, 1 << 20, 12));
        // Clean and dirty stay apart; so do entries that would pass MAX_ENTRY.
        assert!(c.put(e(0x400000, 64 << 10, 1)));
        assert!(c.put(Cached {
            dirty: false,
            ..e(0x410000, 64 << 10, 1)
        }));
        assert!(c.put(e(0x2000000, MAX_ENTRY, 1)));
        assert!(c.put(e(0x2000000 + MAX_ENTRY, 4096, 1)));
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn alignment_is_honoured() {
        let mut c = Cache::new();
        assert!(c.put(e(0x101000, 64 << 10, 1)));
        assert!(c.take(64 << 10, 64 << 10).is_none());
        assert!(c.put(e(0x110000, 64 << 10, 2)));
        assert_eq!(c.take(64 << 10, 64 << 10).unwrap().addr, 0x110000);
        assert_eq!(c.take(64 << 10, 4096).unwrap().addr, 0x101000);
    }

    #[test]
    fn too_big_and_full_are_refused() {
        let mut c = Cache::new();
        assert!(!c.put(e(0x1000, MAX_ENTRY + 4096, 1)));
        for i in 0..ENTRIES {
            assert!(c.put(e((i + 1) << 20, 4096, i as u64)));
        }
        assert!(!c.put(e(0xdead000, 4096, 99)));
        assert_eq!(c.len(), ENTRIES);
        // Full: the oldest is evicted first.
        assert_eq!(c.evict(usize::MAX, 0).unwrap().freed_ns, 0);
        assert!(c.evict(usize::MAX, 0).is_none());
    }

    #[test]
    fn byte_bound_evicts_oldest_first() {
        let mut c = Cache::new();
        for i in 0..8u64 {
            assert!(c.put(e((i as usize + 1) << 24, 4 << 20, 10 + i)));
        }
        let bound = 16 << 20;
        let mut gone = Vec::new();
        while let Some(x) = c.evict(bound, 10) {
            gone.push(x.freed_ns);
        }
        assert_eq!(gone, vec![10, 11, 12, 13]);
        assert_eq!(c.bytes(), 16 << 20);
    }

    #[test]
    fn old_entries_age_out() {
        let mut c = Cache::new();
        assert!(c.put(e(0x100000, 4096, 5)));
        assert!(c.put(e(0x200000, 4096, MAX_AGE_NS + 100)));
        let now = MAX_AGE_NS + 50;
        assert_eq!(c.evict(usize::MAX, now).unwrap().addr, 0x100000);
        assert!(c.evict(usize::MAX, now).is_none());
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn dirty_bytes_beyond_the_budget_are_handed_out_oldest_first() {
        let mut c = Cache::new();
        for i in 0..4u64 {
            assert!(c.put(e((i as usize + 1) << 24, 4 << 20, i)));
        }
        assert_eq!(c.dirty_bytes(), 16 << 20);
        // Within the grace period every entry keeps its pages.
        assert!(c.dirty_victim(DIRTY_GRACE_NS - 1).is_none());
        let now = DIRTY_GRACE_NS + 3;
        let v = c.dirty_victim(now).unwrap();
        assert_eq!(v.freed_ns, 0);
        assert!(c.put(Cached { dirty: false, ..v }));
        let v = c.dirty_victim(now).unwrap();
        assert_eq!(v.freed_ns, 1);
        assert!(c.put(Cached { dirty: false, ..v }));
        assert!(c.dirty_victim(now).is_none());
        assert_eq!((c.bytes(), c.dirty_bytes()), (16 << 20, MAX_DIRTY));
        // A clean entry is not preferred over a dirty one of the same length.
        let t = c.take(4 << 20, 4096).unwrap();
        assert!(t.dirty);
    }

    #[test]
    fn only_entries_past_the_grace_period_are_decommitted() {
        let mut c = Cache::new();
        // 12 MiB freed long ago, 12 MiB just now: the old ones go down to the budget,
        // the recent ones keep their pages besides it until they age.
        for i in 0..3u64 {
            assert!(c.put(e((i as usize + 1) << 24, 4 << 20, i)));
        }
        for i in 3..6u64 {
            assert!(c.put(e((i as usize + 1) << 24, 4 << 20, DIRTY_GRACE_NS * 2 + i)));
        }
        let now = DIRTY_GRACE_NS * 2 + 10;
        let v = c.dirty_victim(now).unwrap();
        assert_eq!(v.freed_ns, 0);
        assert!(c.put(Cached { dirty: false, ..v }));
        assert!(c.dirty_victim(now).is_none());
        assert_eq!(c.dirty_bytes(), 20 << 20);
        // Once the recent ones age, all go down to the budget, oldest first.
        let later = DIRTY_GRACE_NS * 3 + 10;
        for want in [1, 2, DIRTY_GRACE_NS * 2 + 3] {
            let v = c.dirty_victim(later).unwrap();
            assert_eq!(v.freed_ns, want);
            assert!(c.put(Cached { dirty: false, ..v }));
        }
        assert!(c.dirty_victim(later).is_none());
        assert_eq!(c.dirty_bytes(), MAX_DIRTY);
        // An entry below GRACE_MIN gets no grace: beyond the budget it goes at once.
        let mut c = Cache::new();
        for i in 0..9u64 {
            assert!(c.put(e((i as usize + 1) << 24, 1 << 20, 100 + i)));
        }
        assert!(c.put(e(16 << 24, 9 << 20, 200)));
        assert_eq!(c.dirty_victim(300).unwrap().freed_ns, 100);
        // Entries in their grace come besides the budget: 8 MiB of others stay.
        assert!(c.dirty_victim(300).is_none());
        assert_eq!(c.dirty_bytes(), 17 << 20);
    }

    #[test]
    fn bound_is_an_eighth_clamped() {
        assert_eq!(Cache::bound(0), MIN_BYTES);
        assert_eq!(Cache::bound(256 << 20), 32 << 20);
        assert_eq!(Cache::bound(8 << 30), MAX_BYTES);
    }
}
