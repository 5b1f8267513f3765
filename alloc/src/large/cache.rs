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
//! - mappings above [`MAX_ENTRY`] are never cached;
//! - at most [`ENTRIES`] entries and [`Cache::bound`] bytes (1/8 of the mapped bytes,
//!   at least [`MIN_BYTES`], at most [`MAX_BYTES`]); the oldest go first;
//! - at most [`MAX_DIRTY`] bytes of entries keep their pages ("dirty"); beyond it the
//!   oldest dirty entries are decommitted (`MADV_DONTNEED`), so an idle cache does not
//!   hold resident memory;
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

    /// Adds a freed mapping; `false` (nothing changed) when it is too big to cache or the
    /// cache is full (the caller makes room with [`Cache::evict`] first). After a put the
    /// caller calls [`Cache::evict`] and [`Cache::dirty_victim`] until they say nothing
    /// is left to do.
    pub fn put(&mut self, e: Cached) -> bool {
        if e.len > MAX_ENTRY || e.len == 0 || self.n == ENTRIES {
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

    /// Removes and returns the oldest dirty entry while dirty entries exceed
    /// [`MAX_DIRTY`] bytes: the caller decommits it and puts it back clean.
    pub fn dirty_victim(&mut self) -> Option<Cached> {
        if self.dirty_bytes <= MAX_DIRTY {
            return None;
        }
        let i = self.oldest(|e| e.dirty)?;
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
        let v = c.dirty_victim().unwrap();
        assert_eq!(v.freed_ns, 0);
        assert!(c.put(Cached { dirty: false, ..v }));
        let v = c.dirty_victim().unwrap();
        assert_eq!(v.freed_ns, 1);
        assert!(c.put(Cached { dirty: false, ..v }));
        assert!(c.dirty_victim().is_none());
        assert_eq!((c.bytes(), c.dirty_bytes()), (16 << 20, MAX_DIRTY));
        // A clean entry is not preferred over a dirty one of the same length.
        let t = c.take(4 << 20, 4096).unwrap();
        assert!(t.dirty);
    }

    #[test]
    fn bound_is_an_eighth_clamped() {
        assert_eq!(Cache::bound(0), MIN_BYTES);
        assert_eq!(Cache::bound(256 << 20), 32 << 20);
        assert_eq!(Cache::bound(8 << 30), MAX_BYTES);
    }
}
