//! Serving, freeing and resizing large allocations: the registry, the cache and the
//! system calls (see the module docs).

use core::cell::UnsafeCell;
use core::sync::atomic::Ordering;

use slabscope_proto::EventKind;

use super::cache::{Cache, Cached, ENTRIES, MAX_ENTRY};
use super::table::{find, insert, remove_at, table, Entry};
use crate::pal::{self, RawMutex};
use crate::stats::{add, LARGE_CACHED_BYTES, TOTALS};
use crate::{oom, publish};

static LOCK: RawMutex = RawMutex::new();

struct CacheCell(UnsafeCell<Cache>);
// SAFETY: the cache is only reached through `cache()`, whose callers hold LOCK.
unsafe impl Sync for CacheCell {}
static CACHE: CacheCell = CacheCell(UnsafeCell::new(Cache::new()));

/// The cache of freed mappings. Caller holds LOCK.
#[allow(clippy::mut_from_ref)]
fn cache() -> &'static mut Cache {
    // SAFETY: LOCK serialises every access (callers hold it), so this is the only
    // reference alive.
    unsafe { &mut *CACHE.0.get() }
}

/// Entries at most this long are cleared with a write for `alloc_zeroed`; longer ones
/// are decommitted (the kernel hands back zero pages on the next touch).
const ZERO_BY_WRITE: usize = 256 << 10;

/// The registry lock (for `fork` handlers).
pub fn lock() -> &'static RawMutex {
    &LOCK
}

/// The mapping length for a request of `n` bytes: page-rounded, then rounded up to a
/// quarter of its power of two (at most 25 % more address space; resident memory is
/// only what is touched). Freed mappings then come in few lengths, so the cache finds
/// a match for a new request, and a block grown by `realloc` often still fits.
fn round_len(n: usize) -> Option<usize> {
    let page = pal::page_size();
    let n = n.checked_add(page - 1)? & !(page - 1);
    let pow = 1usize << (usize::BITS - 1 - n.leading_zeros());
    let step = (pow / 4).max(page);
    Some(n.checked_add(step - 1)? & !(step - 1))
}

/// Serves a large allocation of `size` bytes aligned to `align`, from the cache or a
/// new mapping; zeroed when `zeroed`. Null when out of memory.
pub fn alloc(size: usize, align: usize, zeroed: bool) -> *mut u8 {
    let Some(mut len) = round_len(size.max(1)) else {
        oom::report(size, align, None);
        return core::ptr::null_mut();
    };
    if let Some(p) = reuse(size, len, align, zeroed) {
        return p;
    }
    if cached_bytes() != 0 {
        tidy(slabscope_proto::monotonic_ns());
    }
    if !reserve_or_release(len as u64) {
        oom::report(size, align, None);
        return core::ptr::null_mut();
    }
    let mut p = map_large(len, align);
    if p.is_none() {
        // The kernel refused (an address-space or commit limit): give back what the
        // cache holds and ask for no more than the request's pages.
        release_all();
        let exact = (size.max(1) + pal::page_size() - 1) & !(pal::page_size() - 1);
        oom::unreserve((len - exact) as u64);
        len = exact;
        p = map_large(len, align);
    }
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

/// A fresh mapping of `len` bytes (a multiple of the page size) at `align`.
fn map_large(len: usize, align: usize) -> Option<*mut u8> {
    if align <= pal::page_size() {
        pal::map(len, false)
    } else {
        pal::map_aligned(len, align)
    }
}

/// Takes a cached mapping for a request of `len` bytes (page-rounded `size`) at `align`.
fn reuse(size: usize, len: usize, align: usize, zeroed: bool) -> Option<*mut u8> {
    let e = {
        let _g = LOCK.guard();
        let c = cache();
        if c.is_empty() {
            return None;
        }
        let e = c.take(len, align.max(pal::page_size()))?;
        if !insert(Entry {
            addr: e.addr,
            len: e.len,
        }) {
            c.put(e);
            return None;
        }
        LARGE_CACHED_BYTES.store(c.bytes() as u64, Ordering::Relaxed);
        e
    };
    let p = e.addr as *mut u8;
    if zeroed && e.dirty {
        if e.len <= ZERO_BY_WRITE {
            // SAFETY: `p` is the start of our mapping of `e.len >= size` bytes, now the
            // caller's allocation.
            unsafe { p.write_bytes(0, size) };
        } else {
            // SAFETY: as above; its contents are not needed.
            unsafe { pal::decommit(p, e.len) };
        }
    }
    add(&TOTALS.large_bytes, e.len as i64);
    add(&TOTALS.large_count, 1);
    publish::large();
    Some(p)
}

/// Frees the large allocation at `p` into the cache (or unmaps it). `false` when `p`
/// is not one of ours.
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
    add(&TOTALS.large_bytes, -(len as i64));
    add(&TOTALS.large_count, -1);
    cache_freed(p, len);
    true
}

/// Puts the mapping `[p, p + len)`, out of the registry and no longer used, into the
/// cache, or unmaps it when it cannot be cached; keeps the cache in its bounds.
fn cache_freed(p: *mut u8, len: usize) {
    let now = slabscope_proto::monotonic_ns();
    let mut victim = None;
    let cached = {
        let _g = LOCK.guard();
        let c = cache();
        if len <= MAX_ENTRY && c.len() == ENTRIES {
            // The oldest makes room; it is unmapped after the lock.
            victim = c.evict(0, now);
        }
        let cached = c.put(Cached {
            addr: p as usize,
            len,
            dirty: true,
            freed_ns: now,
        });
        LARGE_CACHED_BYTES.store(c.bytes() as u64, Ordering::Relaxed);
        cached
    };
    if let Some(v) = victim {
        unmap_cached(v);
    }
    if cached {
        tidy(now);
        publish::large();
    } else {
        // SAFETY: `p` is a mapping of ours of `len` bytes that nobody uses any more.
        unsafe { pal::unmap(p, len) };
        unmapped(p as usize, len);
    }
}

/// Accounts and publishes a mapping given back to the OS.
fn unmapped(addr: usize, len: usize) {
    oom::unreserve(len as u64);
    publish::large();
    publish::event(&EventKind::LargeUnmap {
        addr: addr as u64,
        bytes: len as u64,
    });
}

/// Unmaps an entry taken out of the cache.
fn unmap_cached(e: Cached) {
    // SAFETY: cache entries are whole mappings of ours that nobody uses; `e` was
    // removed from the cache, so nobody else can take it.
    unsafe { pal::unmap(e.addr as *mut u8, e.len) };
    unmapped(e.addr, e.len);
}

/// Keeps the cache within its bounds: unmaps entries beyond the byte bound or too old,
/// decommits the oldest dirty entries beyond the resident budget and its grace period.
fn tidy(now: u64) {
    let bound = Cache::bound(TOTALS.mapped_bytes.load(Ordering::Relaxed));
    loop {
        let victim = {
            let _g = LOCK.guard();
            let c = cache();
            let v = c.evict(bound, now);
            LARGE_CACHED_BYTES.store(c.bytes() as u64, Ordering::Relaxed);
            v
        };
        let Some(v) = victim else { break };
        unmap_cached(v);
    }
    loop {
        let victim = {
            let _g = LOCK.guard();
            cache().dirty_victim(now)
        };
        let Some(v) = victim else { break };
        // SAFETY: `v` is a cached mapping of ours, out of the cache: nobody uses it.
        unsafe { pal::decommit(v.addr as *mut u8, v.len) };
        let _g = LOCK.guard();
        let c = cache();
        let clean = Cached { dirty: false, ..v };
        if !c.put(clean) {
            drop(_g);
            unmap_cached(clean);
            continue;
        }
        LARGE_CACHED_BYTES.store(c.bytes() as u64, Ordering::Relaxed);
    }
}

/// Reserves `bytes` against `SLABSCOPE_LIMIT`, emptying the cache once if that makes
/// room (cached mappings count against the limit).
pub fn reserve_or_release(bytes: u64) -> bool {
    oom::reserve(bytes) || (release_all() && oom::reserve(bytes))
}

/// Unmaps every cached mapping. `true` when any was (memory was given back).
pub fn release_all() -> bool {
    let mut any = false;
    loop {
        let e = {
            let _g = LOCK.guard();
            let c = cache();
            let e = c.pop();
            LARGE_CACHED_BYTES.store(c.bytes() as u64, Ordering::Relaxed);
            e
        };
        let Some(e) = e else { return any };
        unmap_cached(e);
        any = true;
    }
}

/// Bytes of freed large mappings kept in the cache (part of `mapped_bytes`).
fn cached_bytes() -> u64 {
    LARGE_CACHED_BYTES.load(Ordering::Relaxed)
}

/// Runs `f` with the length of the large allocation at `p`, if it is one of ours, while
/// the registry lock is held: no `free` of `p` can unmap it before `f` returns. `f`
/// touches only the allocation's bytes (no allocation, no lock, no system call).
pub fn with_live<R>(p: *const u8, f: impl FnOnce(usize) -> R) -> Option<R> {
    let _g = LOCK.guard();
    find(p as usize).map(|i| f(table()[i].len))
}

/// Whether `p` is the start of a page of a freed large mapping still held in the cache
/// (large allocations start on a page; an entry may hold several merged mappings).
pub fn is_cached(p: *const u8) -> bool {
    if !(p as usize).is_multiple_of(pal::page_size()) {
        return false;
    }
    let _g = LOCK.guard();
    cache().holds(p as usize)
}

/// Whether `p` lies inside a live large allocation without being its start (a walk of
/// the whole registry: for reports only).
pub fn holds_inside(p: *const u8) -> bool {
    let a = p as usize;
    let _g = LOCK.guard();
    table()
        .iter()
        .any(|e| e.addr != 0 && a > e.addr && a - e.addr < e.len)
}

/// Usable bytes of the large allocation at `p`, if it is one of ours.
pub fn usable_size(p: *const u8) -> Option<usize> {
    let _g = LOCK.guard();
    find(p as usize).map(|i| table()[i].len)
}

/// Resizes the large allocation at `p` (page-aligned alignment only). Grows in place
/// into the cached free space right after it when there is enough (no copy, no system
/// call: see [`Cache::take_at`]); shrinks by handing its tail to the cache; otherwise
/// grows into a cached mapping when one fits (copying, but onto pages that are already
/// there), else with `mremap` (in place when the kernel can). `None` when `p` is not
/// ours or the kernel refused (the old allocation is intact).
pub fn remap(p: *mut u8, new_size: usize) -> Option<*mut u8> {
    let new_len = round_len(new_size.max(1))?;
    let g = LOCK.guard();
    let i = find(p as usize)?;
    let old_len = table()[i].len;
    if new_len == old_len {
        return Some(p);
    }
    if resize_in_place(p, i, old_len, new_len) {
        drop(g);
        if new_len < old_len {
            tidy(slabscope_proto::monotonic_ns());
        }
        publish::large();
        return Some(p);
    }
    if new_len > old_len {
        if let Some(e) = cache().take(new_len, pal::page_size()) {
            remove_at(i);
            // Cannot fail: the entry just removed left room.
            insert(Entry {
                addr: e.addr,
                len: e.len,
            });
            LARGE_CACHED_BYTES.store(cache().bytes() as u64, Ordering::Relaxed);
            drop(g);
            let q = e.addr as *mut u8;
            // SAFETY: `p` (old_len bytes) is the caller's allocation, now out of the
            // registry; `q` (e.len >= new_len > old_len bytes) was a cached mapping, now
            // registered for the caller; distinct mappings.
            unsafe { core::ptr::copy_nonoverlapping(p, q, old_len) };
            add(&TOTALS.large_bytes, e.len as i64 - old_len as i64);
            cache_freed(p, old_len);
            return Some(q);
        }
    }
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

/// Resizes registry entry `i` (the allocation at `p`, `old_len` bytes) to `new_len`
/// without moving it or calling the kernel: growing takes the head of the cached entry
/// that starts at its end, shrinking puts its tail into the cache. `false` when the
/// cache cannot do it. Caller holds LOCK.
fn resize_in_place(p: *mut u8, i: usize, old_len: usize, new_len: usize) -> bool {
    let end = p as usize + old_len;
    let c = cache();
    if new_len > old_len {
        if c.take_at(end, new_len - old_len).is_none() {
            return false;
        }
    } else {
        let tail = Cached {
            addr: p as usize + new_len,
            len: old_len - new_len,
            dirty: true,
            freed_ns: slabscope_proto::monotonic_ns(),
        };
        if !c.put(tail) {
            return false;
        }
    }
    table()[i].len = new_len;
    LARGE_CACHED_BYTES.store(c.bytes() as u64, Ordering::Relaxed);
    // The bytes only moved between the cache and the allocation: `mapped_bytes` and the
    // reservation against `SLABSCOPE_LIMIT` stay as they are.
    add(&TOTALS.large_bytes, new_len as i64 - old_len as i64);
    true
}
