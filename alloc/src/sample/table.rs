//! The live-sample table (sampled block address -> size, weight, site) and the site map
//! (frame hash -> site record index): open-addressing hash tables with linear probing,
//! in their own anonymous mappings, doubled when half full. The caller holds the sample
//! lock for every call.

use crate::pal::{self, RawMutex};

/// The sample lock: guards both tables and every write to a site record.
static LOCK: RawMutex = RawMutex::new();

/// Both tables.
pub struct Tables {
    /// Live sampled blocks, by address.
    pub live: Table<Live>,
    /// Known sites, by frame hash.
    pub sites: Table<Site>,
}

struct Shared(core::cell::UnsafeCell<Tables>);

// SAFETY: the tables are only touched with LOCK held (see `with_tables`).
unsafe impl Sync for Shared {}

static TABLES: Shared = Shared(core::cell::UnsafeCell::new(Tables {
    live: Table::new(),
    sites: Table::new(),
}));

/// The sample lock.
pub fn lock() -> &'static RawMutex {
    &LOCK
}

/// Runs `f` on the tables with the sample lock held. `f` must not allocate through
/// the allocator's slow paths that sample (the lock is not recursive).
pub fn with_tables<R>(f: impl FnOnce(&mut Tables) -> R) -> R {
    let _g = LOCK.guard();
    // SAFETY: LOCK is held for the whole of `f`, so this is the only reference.
    f(unsafe { &mut *TABLES.0.get() })
}

/// No site record (the segment's site table was full, or there is no segment).
pub const NO_SITE: u32 = u32::MAX;

/// One live sampled block.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct Live {
    /// Block address; 0 = empty entry.
    pub addr: usize,
    /// Requested bytes.
    pub size: u64,
    /// Bytes this sample stands for (`max(size, interval)` at sampling time).
    pub weight: u64,
    /// Site record index, or [`NO_SITE`].
    pub site: u32,
    /// Segment generation the site index belongs to (a forked child has a new segment).
    pub generation: u32,
}

/// One known site.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct Site {
    /// Frame hash; 0 = empty entry.
    pub hash: u64,
    /// Record index.
    pub index: u32,
    /// Segment generation of `index`.
    pub generation: u32,
}

/// Entries with a zero key are empty.
pub trait Keyed: Copy + Default {
    fn key(&self) -> u64;
}

impl Keyed for Live {
    fn key(&self) -> u64 {
        self.addr as u64
    }
}

impl Keyed for Site {
    fn key(&self) -> u64 {
        self.hash
    }
}

#[inline]
fn slot_of(key: u64, cap: usize) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & (cap - 1)
}

/// An open-addressing table over an anonymous mapping.
pub struct Table<T: 'static> {
    entries: &'static mut [T],
    len: usize,
}

impl<T: Keyed> Table<T> {
    /// An empty table (nothing mapped yet).
    pub const fn new() -> Self {
        Self {
            entries: &mut [],
            len: 0,
        }
    }

    fn find(&self, key: u64) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        let cap = self.entries.len();
        let mut i = slot_of(key, cap);
        loop {
            let k = self.entries[i].key();
            if k == key {
                return Some(i);
            }
            if k == 0 {
                return None;
            }
            i = (i + 1) & (cap - 1);
        }
    }

    /// The entry with `key`.
    pub fn get(&self, key: u64) -> Option<T> {
        self.find(key).map(|i| self.entries[i])
    }

    fn place(entries: &mut [T], e: T) {
        let cap = entries.len();
        let mut i = slot_of(e.key(), cap);
        while entries[i].key() != 0 {
            i = (i + 1) & (cap - 1);
        }
        entries[i] = e;
    }

    /// Inserts `e` (its key must not be present); `false` when the table cannot grow.
    pub fn insert(&mut self, e: T) -> bool {
        let cap = self.entries.len();
        if (self.len + 1) * 2 > cap {
            let new_cap = (cap * 2).max(pal::page_size() / core::mem::size_of::<T>());
            let bytes = new_cap * core::mem::size_of::<T>();
            let Some(p) = pal::map(bytes, false) else {
                return false;
            };
            // SAFETY: a fresh zeroed private mapping of `new_cap` entries, page aligned,
            // owned by this table until it is replaced; all-zero is an empty entry.
            let new: &'static mut [T] =
                unsafe { core::slice::from_raw_parts_mut(p.cast::<T>(), new_cap) };
            for old in self.entries.iter().filter(|o| o.key() != 0) {
                Self::place(new, *old);
            }
            let old = core::mem::replace(&mut self.entries, new);
            if !old.is_empty() {
                let len = core::mem::size_of_val(old);
                // SAFETY: the old entries are this table's own mapping, no longer used.
                unsafe { pal::unmap(old.as_mut_ptr().cast(), len) };
            }
        }
        Self::place(self.entries, e);
        self.len += 1;
        true
    }

    /// Removes and returns the entry with `key` (backward-shift deletion: no tombstones).
    pub fn remove(&mut self, key: u64) -> Option<T> {
        let mut hole = self.find(key)?;
        let out = self.entries[hole];
        let cap = self.entries.len();
        let mut i = hole;
        loop {
            i = (i + 1) & (cap - 1);
            let e = self.entries[i];
            if e.key() == 0 {
                break;
            }
            let home = slot_of(e.key(), cap);
            // Move `e` into the hole unless its home lies cyclically in (hole, i].
            let stays = if hole <= i {
                hole < home && home <= i
            } else {
                hole < home || home <= i
            };
            if !stays {
                self.entries[hole] = e;
                hole = i;
            }
        }
        self.entries[hole] = T::default();
        self.len -= 1;
        Some(out)
    }
}
