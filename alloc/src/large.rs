//! Large allocations: requests above the largest class, or with an alignment the slab
//! path cannot serve, are mapped directly and unmapped on free.
//!
//! A registry (an open-addressing hash table with linear probing, in its own mapping,
//! doubled when half full) maps each user address to its mapping length. It answers
//! "is this one of ours?" for `free` and `usable_size`, so a foreign pointer is never
//! dereferenced. One lock guards the table; every operation also makes a system call.
//!
//! Every large allocation is a fresh mapping, hence zeroed: `heap::alloc_zeroed` relies
//! on it and does not clear them. A cache of freed mappings would have to clear (or
//! `madvise`) what it hands out again.

use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use slabscope_proto::EventKind;

use crate::pal::{self, RawMutex};
use crate::stats::{add, TOTALS};
use crate::{oom, publish};

#[derive(Clone, Copy)]
#[repr(C)]
struct Entry {
    addr: usize,
    len: usize,
}

static LOCK: RawMutex = RawMutex::new();
static TABLE: AtomicPtr<Entry> = AtomicPtr::new(core::ptr::null_mut());
static CAP: AtomicUsize = AtomicUsize::new(0);
static LEN: AtomicUsize = AtomicUsize::new(0);

/// The registry lock (for `fork` handlers).
pub fn lock() -> &'static RawMutex {
    &LOCK
}

fn round_pages(n: usize) -> Option<usize> {
    let p = pal::page_size();
    Some(n.checked_add(p - 1)? & !(p - 1))
}

#[inline]
fn hash(addr: usize, cap: usize) -> usize {
    ((addr >> 12).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20) & (cap - 1)
}

fn table() -> &'static mut [Entry] {
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

fn insert(e: Entry) -> bool {
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

fn find(addr: usize) -> Option<usize> {
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

fn remove_at(mut i: usize) {
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

/// Maps a large allocation of `size` bytes aligned to `align`; null when out of memory.
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    let Some(len) = round_pages(size.max(1)) else {
        oom::report(size, align, None);
        return core::ptr::null_mut();
    };
    if !oom::reserve(len as u64) {
        oom::report(size, align, None);
        return core::ptr::null_mut();
    }
    let p = if align <= pal::page_size() {
        pal::map(len, false)
    } else {
        pal::map_aligned(len, align)
    };
    let Some(p) = p else {
        oom::unreserve(len as u64);
        oom::report(size, align, None);
        return core::ptr::null_mut();
    };
    let ok = {
        let _g = LOCK.guard();
        insert(Entry {
            addr: p as usize,
            len,
        })
    };
    if !ok {
        // SAFETY: the mapping was just created and handed to nobody.
        unsafe { pal::unmap(p, len) };
        oom::unreserve(len as u64);
        oom::report(size, align, None);
        return core::ptr::null_mut();
    }
    add(&TOTALS.large_bytes, len as i64);
    add(&TOTALS.large_count, 1);
    publish::large();
    publish::event(&EventKind::LargeMap {
        addr: p as u64,
        bytes: len as u64,
        align: align as u64,
    });
    p
}

/// Unmaps the large allocation at `p`. `false` when `p` is not one of ours.
pub fn free(p: *mut u8) -> bool {
    let len = {
        let _g = LOCK.guard();
        let Some(i) = find(p as usize) else {
            return false;
        };
        let len = table()[i].len;
        remove_at(i);
        len
    };
    // SAFETY: `p` was our large mapping of `len` bytes and its owner freed it.
    unsafe { pal::unmap(p, len) };
    oom::unreserve(len as u64);
    add(&TOTALS.large_bytes, -(len as i64));
    add(&TOTALS.large_count, -1);
    publish::large();
    publish::event(&EventKind::LargeUnmap {
        addr: p as u64,
        bytes: len as u64,
    });
    true
}

/// Usable bytes of the large allocation at `p`, if it is one of ours.
pub fn usable_size(p: *const u8) -> Option<usize> {
    let _g = LOCK.guard();
    find(p as usize).map(|i| table()[i].len)
}

/// Resizes the large allocation at `p` (page-aligned alignment only) with `mremap`.
/// `None` when `p` is not ours or the kernel refused (the old allocation is intact).
pub fn remap(p: *mut u8, new_size: usize) -> Option<*mut u8> {
    let new_len = round_pages(new_size.max(1))?;
    let _g = LOCK.guard();
    let i = find(p as usize)?;
    let old_len = table()[i].len;
    if new_len > old_len && !oom::reserve((new_len - old_len) as u64) {
        return None;
    }
    // SAFETY: `[p, p + old_len)` is our whole large mapping; its owner resizes it.
    let Some(q) = (unsafe { pal::remap(p, old_len, new_len) }) else {
        if new_len > old_len {
            oom::unreserve((new_len - old_len) as u64);
        }
        return None;
    };
    remove_at(i);
    // Cannot fail: the entry just removed left room.
    insert(Entry {
        addr: q as usize,
        len: new_len,
    });
    if new_len < old_len {
        oom::unreserve((old_len - new_len) as u64);
    }
    add(&TOTALS.large_bytes, new_len as i64 - old_len as i64);
    publish::large();
    Some(q)
}
