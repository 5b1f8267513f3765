//! The registry of live large allocations: an open-addressing hash table with linear
//! probing, in its own mapping, doubled when half full, keyed by user address and
//! holding the mapping length. Every function requires the large lock (`map::lock`).

use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use crate::pal;

#[derive(Clone, Copy)]
#[repr(C)]
pub struct Entry {
    /// User address (the start of the mapping).
    pub addr: usize,
    /// Mapping length.
    pub len: usize,
}

static TABLE: AtomicPtr<Entry> = AtomicPtr::new(core::ptr::null_mut());
static CAP: AtomicUsize = AtomicUsize::new(0);
static LEN: AtomicUsize = AtomicUsize::new(0);

#[inline]
fn hash(addr: usize, cap: usize) -> usize {
    ((addr >> 12).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20) & (cap - 1)
}

pub fn table() -> &'static mut [Entry] {
    let cap = CAP.load(Ordering::Relaxed);
    let t = TABLE.load(Ordering::Relaxed);
    if t.is_null() {
        return &mut [];
    }
    // SAFETY: the caller holds LOCK; the table has `cap` entries in our own mapping.
    unsafe { core::slice::from_raw_parts_mut(t, cap) }
}

fn insert_raw(t: &mut [Entry], e: Entry) {
    let mut i = hash(e.addr, t.len());
    while t[i].addr != 0 {
        i = (i + 1) & (t.len() - 1);
    }
    t[i] = e;
}

pub fn insert(e: Entry) -> bool {
    let cap = CAP.load(Ordering::Relaxed);
    if (LEN.load(Ordering::Relaxed) + 1) * 2 > cap {
        let new_cap = (cap * 2).max(pal::page_size() / core::mem::size_of::<Entry>());
        let Some(p) = pal::map(new_cap * core::mem::size_of::<Entry>(), false) else {
            return false;
        };
        // SAFETY: fresh zeroed mapping of `new_cap` entries (addr 0 = empty).
        let new = unsafe { core::slice::from_raw_parts_mut(p.cast::<Entry>(), new_cap) };
        let old = table();
        for e in old.iter().filter(|e| e.addr != 0) {
            insert_raw(new, *e);
        }
        if !old.is_empty() {
            // SAFETY: the old table is ours and no longer referenced.
            unsafe { pal::unmap(old.as_mut_ptr().cast(), cap * core::mem::size_of::<Entry>()) };
        }
        TABLE.store(p.cast(), Ordering::Relaxed);
        CAP.store(new_cap, Ordering::Relaxed);
    }
    insert_raw(table(), e);
    LEN.fetch_add(1, Ordering::Relaxed);
    true
}

pub fn find(addr: usize) -> Option<usize> {
    let t = table();
    if t.is_empty() || addr == 0 {
        return None;
    }
    let mut i = hash(addr, t.len());
    while t[i].addr != 0 {
        if t[i].addr == addr {
            return Some(i);
        }
        i = (i + 1) & (t.len() - 1);
    }
    None
}

pub fn remove_at(mut i: usize) {
    let t = table();
    let mask = t.len() - 1;
    t[i] = Entry { addr: 0, len: 0 };
    // Backward-shift deletion keeps every probe chain unbroken.
    let mut j = (i + 1) & mask;
    while t[j].addr != 0 {
        let home = hash(t[j].addr, t.len());
        let dist_j = j.wrapping_sub(home) & mask;
        let dist_i = i.wrapping_sub(home) & mask;
        if dist_i < dist_j {
            t[i] = t[j];
            t[j] = Entry { addr: 0, len: 0 };
            i = j;
        }
        j = (j + 1) & mask;
    }
    LEN.fetch_sub(1, Ordering::Relaxed);
}
