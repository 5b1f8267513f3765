//! SuperSlabs: 2 MiB, 2 MiB-aligned mappings of 32 slots of 64 KiB, their registry, the
//! pagemap that answers "is this address in one of ours?", the 3-stage slot acquire and
//! empty-SuperSlab detection with a small cache before the return to the OS.
//!
//! Layout of a SuperSlab: the first 4 KiB hold its [`SuperSlab`] header (the 32 slot
//! records and list links); slot 0's blocks start after it, every other slot's blocks
//! start at its 64 KiB boundary. Pointer -> SuperSlab is a mask, pointer -> slot a shift.
//!
//! Locking: the global lock (this module's [`lock`]) protects slot state changes, the
//! per-class EMPTY lists, the list of SuperSlabs with UNUSED slots, the empty cache and
//! the registry. Lock order: class lock, then the global lock.

use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use slabscope_proto::EventKind;

use crate::pal::{self, RawMutex};
use crate::size_class::{block_size, CLASS_COUNT};
use crate::slot::{Slot, ACTIVE, EMPTY, UNUSED};
use crate::stats::{add, CLASSES, TOTALS};
use crate::{oom, options, publish};

/// Bytes in a SuperSlab (and its alignment).
pub const SUPERSLAB_BYTES: usize = 2 << 20;
/// Slots per SuperSlab.
pub const SLOTS: usize = 32;
/// Bytes per slot.
pub const SLOT_BYTES: usize = SUPERSLAB_BYTES / SLOTS;
/// Bytes of the header at the start of slot 0.
pub const HEADER_BYTES: usize = 4096;
const MAGIC: u64 = u64::from_le_bytes(*b"SSLAB\0v1");
const ALL_SLOTS: u32 = u32::MAX;
/// `SuperSlab::record` when it has no segment record.
pub const NO_RECORD: u32 = u32::MAX;

/// The header of a SuperSlab, at its base address. All fields are atomics: the memory
/// is shared by every thread and found by address arithmetic.
#[repr(C)]
pub struct SuperSlab {
    /// The 32 slots.
    pub slots: [Slot; SLOTS],
    /// [`MAGIC`] while mapped.
    pub magic: AtomicU64,
    /// Slots in state ACTIVE (global lock).
    pub active_slots: AtomicU32,
    /// Bit i set = slot i UNUSED (global lock).
    pub unused_mask: AtomicU32,
    /// Which list the SuperSlab is on: 0 none, 1 has-UNUSED list, 2 empty cache.
    pub on_list: AtomicU32,
    /// Segment record index, [`NO_RECORD`] when unpublished.
    pub record: AtomicU32,
    /// Serialises writers of this SuperSlab's segment record (a spin flag).
    pub publish_lock: AtomicU32,
    /// Segment generation the record belongs to (records do not survive `fork`).
    pub record_gen: AtomicU32,
    /// List links (global lock).
    pub next: AtomicUsize,
    /// List links (global lock).
    pub prev: AtomicUsize,
    /// Index in the registry (global lock).
    pub registry_index: AtomicUsize,
}

const _: () = assert!(core::mem::size_of::<SuperSlab>() <= HEADER_BYTES);

impl SuperSlab {
    /// Base address.
    #[inline(always)]
    pub fn base(&self) -> usize {
        self as *const SuperSlab as usize
    }

    /// Address of the first block of slot `i`.
    #[inline(always)]
    pub fn slot_start(&self, i: usize) -> usize {
        if i == 0 {
            self.base() + HEADER_BYTES
        } else {
            self.base() + i * SLOT_BYTES
        }
    }

    /// Blocks of class `c` that slot `i` holds.
    pub fn slot_capacity(&self, i: usize, c: usize) -> u32 {
        ((self.base() + (i + 1) * SLOT_BYTES - self.slot_start(i)) / block_size(c)) as u32
    }
}

/// Finds the SuperSlab and slot index of a `Slot` record.
#[inline(always)]
pub fn locate(slot: &Slot) -> (&'static SuperSlab, usize) {
    let a = slot as *const Slot as usize;
    let base = a & !(SUPERSLAB_BYTES - 1);
    // SAFETY: every `Slot` lives in the header of a mapped SuperSlab at `base`.
    let ss = unsafe { &*(base as *const SuperSlab) };
    (ss, (a - base) / core::mem::size_of::<Slot>())
}

// ---- pagemap: one byte per 2 MiB of the 47-bit address space (64 MiB, reserved lazily).

const PAGEMAP_ENTRIES: usize = 1 << (47 - 21);
static PAGEMAP: AtomicPtr<AtomicU8> = AtomicPtr::new(core::ptr::null_mut());

/// The SuperSlab containing `addr`, if `addr` lies in one of ours.
#[inline(always)]
pub fn lookup(addr: usize) -> Option<&'static SuperSlab> {
    let map = PAGEMAP.load(Ordering::Acquire);
    let i = addr >> 21;
    if map.is_null() || i >= PAGEMAP_ENTRIES {
        return None;
    }
    // SAFETY: `map` points to PAGEMAP_ENTRIES atomics (mapped once, never unmapped).
    let hit = unsafe { (*map.add(i)).load(Ordering::Acquire) } != 0;
    // SAFETY: a set pagemap entry means a SuperSlab header is mapped at that base.
    hit.then(|| unsafe { &*((i << 21) as *const SuperSlab) })
}

fn pagemap_set(base: usize, on: bool) -> bool {
    let mut map = PAGEMAP.load(Ordering::Acquire);
    if map.is_null() {
        match pal::map(PAGEMAP_ENTRIES, true) {
            Some(p) => {
                map = p.cast();
                PAGEMAP.store(map, Ordering::Release);
            }
            None => return false,
        }
    }
    let i = base >> 21;
    if i >= PAGEMAP_ENTRIES {
        return false;
    }
    // SAFETY: `i` is in range of the pagemap mapping.
    unsafe { (*map.add(i)).store(on as u8, Ordering::Release) };
    true
}

// ---- global state

struct Global {
    lock: RawMutex,
    empty: [AtomicUsize; CLASS_COUNT],
    has_unused: AtomicUsize,
    cache: AtomicUsize,
    cache_len: AtomicUsize,
    reg: AtomicPtr<usize>,
    reg_len: AtomicUsize,
    reg_cap: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const NONE: AtomicUsize = AtomicUsize::new(0);

static G: Global = Global {
    lock: RawMutex::new(),
    empty: [NONE; CLASS_COUNT],
    has_unused: AtomicUsize::new(0),
    cache: AtomicUsize::new(0),
    cache_len: AtomicUsize::new(0),
    reg: AtomicPtr::new(core::ptr::null_mut()),
    reg_len: AtomicUsize::new(0),
    reg_cap: AtomicUsize::new(0),
};

/// The global lock (for `fork` handlers).
pub fn lock() -> &'static RawMutex {
    &G.lock
}

// ---- intrusive lists (global or class lock held by the caller)

/// Pushes slot `s` at the head of the list `head`.
pub fn slot_list_push(head: &AtomicUsize, s: &Slot) {
    let me = s as *const Slot as usize;
    let old = head.load(Ordering::Relaxed);
    s.next.store(old, Ordering::Relaxed);
    s.prev.store(0, Ordering::Relaxed);
    if old != 0 {
        slot_at(old).prev.store(me, Ordering::Relaxed);
    }
    head.store(me, Ordering::Relaxed);
}

/// Unlinks slot `s` from the list `head`.
pub fn slot_list_remove(head: &AtomicUsize, s: &Slot) {
    let next = s.next.load(Ordering::Relaxed);
    let prev = s.prev.load(Ordering::Relaxed);
    if prev != 0 {
        slot_at(prev).next.store(next, Ordering::Relaxed);
    } else {
        head.store(next, Ordering::Relaxed);
    }
    if next != 0 {
        slot_at(next).prev.store(prev, Ordering::Relaxed);
    }
    s.next.store(0, Ordering::Relaxed);
    s.prev.store(0, Ordering::Relaxed);
}

/// The slot record at address `a` (from a list link).
#[inline(always)]
pub fn slot_at(a: usize) -> &'static Slot {
    // SAFETY: list links only ever hold addresses of slot records of mapped SuperSlabs.
    unsafe { &*(a as *const Slot) }
}

fn ss_at(a: usize) -> &'static SuperSlab {
    // SAFETY: SuperSlab lists and the registry only hold bases of mapped SuperSlabs.
    unsafe { &*(a as *const SuperSlab) }
}

fn ss_push(head: &AtomicUsize, ss: &SuperSlab, which: u32) {
    let old = head.load(Ordering::Relaxed);
    ss.next.store(old, Ordering::Relaxed);
    ss.prev.store(0, Ordering::Relaxed);
    if old != 0 {
        ss_at(old).prev.store(ss.base(), Ordering::Relaxed);
    }
    head.store(ss.base(), Ordering::Relaxed);
    ss.on_list.store(which, Ordering::Relaxed);
}

fn ss_remove(head: &AtomicUsize, ss: &SuperSlab) {
    let next = ss.next.load(Ordering::Relaxed);
    let prev = ss.prev.load(Ordering::Relaxed);
    if prev != 0 {
        ss_at(prev).next.store(next, Ordering::Relaxed);
    } else {
        head.store(next, Ordering::Relaxed);
    }
    if next != 0 {
        ss_at(next).prev.store(prev, Ordering::Relaxed);
    }
    ss.on_list.store(0, Ordering::Relaxed);
}

// ---- registry: an array of SuperSlab bases that grows by mapping a bigger array

fn registry_add(ss: &SuperSlab) -> bool {
    let len = G.reg_len.load(Ordering::Relaxed);
    let cap = G.reg_cap.load(Ordering::Relaxed);
    if len == cap {
        let new_cap = (cap * 2).max(pal::page_size() / 8);
        let Some(p) = pal::map(new_cap * 8, false) else {
            return false;
        };
        let old = G.reg.load(Ordering::Relaxed);
        if !old.is_null() {
            // SAFETY: both arrays are ours, `len` entries of the old one are initialised
            // and the new one has room for `new_cap > len` entries.
            unsafe {
                core::ptr::copy_nonoverlapping(old, p.cast::<usize>(), len);
                pal::unmap(old.cast(), cap * 8);
            }
        }
        G.reg.store(p.cast(), Ordering::Relaxed);
        G.reg_cap.store(new_cap, Ordering::Relaxed);
    }
    let reg = G.reg.load(Ordering::Relaxed);
    // SAFETY: `len < cap` entries fit in the registry array.
    unsafe { reg.add(len).write(ss.base()) };
    ss.registry_index.store(len, Ordering::Relaxed);
    G.reg_len.store(len + 1, Ordering::Relaxed);
    true
}

fn registry_remove(ss: &SuperSlab) {
    let reg = G.reg.load(Ordering::Relaxed);
    let last = G.reg_len.load(Ordering::Relaxed) - 1;
    let i = ss.registry_index.load(Ordering::Relaxed);
    // SAFETY: `i` and `last` index initialised entries of the registry array.
    unsafe {
        let moved = reg.add(last).read();
        reg.add(i).write(moved);
        ss_at(moved).registry_index.store(i, Ordering::Relaxed);
    }
    G.reg_len.store(last, Ordering::Relaxed);
}

/// Calls `f` on every mapped SuperSlab. The caller holds the global lock.
pub fn for_each(mut f: impl FnMut(&'static SuperSlab)) {
    let reg = G.reg.load(Ordering::Relaxed);
    for i in 0..G.reg_len.load(Ordering::Relaxed) {
        // SAFETY: the first `reg_len` entries are bases of mapped SuperSlabs.
        f(ss_at(unsafe { reg.add(i).read() }));
    }
}

// ---- acquire

/// Acquires a slot for class `c` (3 stages) and returns it ACTIVE with fresh lists, or
/// `None` when no memory can be had. The caller holds the class lock of `c`.
pub fn acquire_slot(c: usize, request: usize) -> Option<&'static Slot> {
    let _g = G.lock.guard();
    let head = G.empty[c].load(Ordering::Relaxed);
    if head != 0 {
        let s = slot_at(head);
        slot_list_remove(&G.empty[c], s);
        let (ss, i) = locate(s);
        s.reset(ss.slot_capacity(i, c));
        s.set_state(ACTIVE, c);
        add(&CLASSES[c].slots_empty, -1);
        add(&CLASSES[c].slots_active, 1);
        add(&CLASSES[c].stage[0], 1);
        ss.active_slots.fetch_add(1, Ordering::Relaxed);
        acquired(ss, i, c, 1);
        return Some(s);
    }
    let (ss, stage) = match find_unused(c) {
        Some(ss) => (ss, 2),
        None => match map_superslab(request, c) {
            Some(ss) => (ss, 3),
            None => return None,
        },
    };
    let mask = ss.unused_mask.load(Ordering::Relaxed);
    let i = mask.trailing_zeros() as usize;
    let mask = mask & !(1 << i);
    ss.unused_mask.store(mask, Ordering::Relaxed);
    if mask == 0 {
        ss_remove(&G.has_unused, ss);
    }
    let s = &ss.slots[i];
    let cap = ss.slot_capacity(i, c);
    s.reset(cap);
    s.set_state(ACTIVE, c);
    add(&CLASSES[c].capacity, cap as i64);
    add(&CLASSES[c].slots_active, 1);
    add(&CLASSES[c].stage[stage - 1], 1);
    ss.active_slots.fetch_add(1, Ordering::Relaxed);
    acquired(ss, i, c, stage as u8);
    Some(s)
}

fn acquired(ss: &SuperSlab, i: usize, c: usize, stage: u8) {
    publish::slot(ss, i);
    publish::event(&EventKind::SlotAcquire {
        superslab: ss.base() as u64,
        slot: i as u32,
        class: c as u32,
        stage,
    });
}

/// Stage 2: a SuperSlab with an UNUSED slot: one in use, else a cached empty one, else
/// one freed up by releasing an EMPTY slot of another class.
fn find_unused(c: usize) -> Option<&'static SuperSlab> {
    let head = G.has_unused.load(Ordering::Relaxed);
    if head != 0 {
        return Some(ss_at(head));
    }
    let cached = G.cache.load(Ordering::Relaxed);
    if cached != 0 {
        let ss = ss_at(cached);
        ss_remove(&G.cache, ss);
        G.cache_len.fetch_sub(1, Ordering::Relaxed);
        add(&TOTALS.superslabs_cached, -1);
        ss_push(&G.has_unused, ss, 1);
        publish::superslab_state(ss, false);
        return Some(ss);
    }
    for d in (0..CLASS_COUNT).filter(|&d| d != c) {
        let head = G.empty[d].load(Ordering::Relaxed);
        if head != 0 {
            let s = slot_at(head);
            slot_list_remove(&G.empty[d], s);
            let (ss, i) = locate(s);
            release_slot(ss, i, true);
            return Some(ss);
        }
    }
    None
}

/// EMPTY slot -> UNUSED (off its class's EMPTY list already). Global lock held.
fn release_slot(ss: &SuperSlab, i: usize, decommit: bool) {
    let s = &ss.slots[i];
    let c = s.class();
    add(
        &CLASSES[c].capacity,
        -(s.capacity.load(Ordering::Relaxed) as i64),
    );
    add(&CLASSES[c].slots_empty, -1);
    s.reset(0);
    s.set_state(UNUSED, 0);
    if decommit {
        let start = ss.slot_start(i);
        // SAFETY: the slot's blocks are all free and the slot is UNUSED: nobody reads them.
        unsafe { pal::decommit(start as *mut u8, ss.base() + (i + 1) * SLOT_BYTES - start) };
    }
    let mask = ss.unused_mask.load(Ordering::Relaxed) | 1 << i;
    ss.unused_mask.store(mask, Ordering::Relaxed);
    if ss.on_list.load(Ordering::Relaxed) == 0 {
        ss_push(&G.has_unused, ss, 1);
    }
    publish::slot(ss, i);
    publish::event(&EventKind::SlotRelease {
        superslab: ss.base() as u64,
        slot: i as u32,
        class: c as u32,
    });
}

/// Stage 3: maps a new SuperSlab (respecting `SLABSCOPE_LIMIT`).
fn map_superslab(request: usize, c: usize) -> Option<&'static SuperSlab> {
    // Cached large mappings count against the limit: given back before refusing.
    if !crate::large::reserve_or_release(SUPERSLAB_BYTES as u64) {
        oom::report(request, 16, Some(c));
        return None;
    }
    let mapped = pal::map_aligned(SUPERSLAB_BYTES, SUPERSLAB_BYTES);
    let Some(p) = mapped.filter(|&p| (p as usize) >> 47 == 0) else {
        if let Some(p) = mapped {
            // SAFETY: the mapping was just created and handed to nobody.
            unsafe { pal::unmap(p, SUPERSLAB_BYTES) };
        }
        oom::unreserve(SUPERSLAB_BYTES as u64);
        oom::report(request, 16, Some(c));
        return None;
    };
    // SAFETY: fresh zeroed memory is a valid `SuperSlab` (all-zero atomics, slots UNUSED).
    let ss: &'static SuperSlab = unsafe { &*(p as *const SuperSlab) };
    ss.unused_mask.store(ALL_SLOTS, Ordering::Relaxed);
    ss.record.store(NO_RECORD, Ordering::Relaxed);
    ss.magic.store(MAGIC, Ordering::Relaxed);
    if !registry_add(ss) || !pagemap_set(ss.base(), true) {
        // SAFETY: the SuperSlab is not published anywhere yet.
        unsafe { pal::unmap(p, SUPERSLAB_BYTES) };
        oom::unreserve(SUPERSLAB_BYTES as u64);
        oom::report(request, 16, Some(c));
        return None;
    }
    ss_push(&G.has_unused, ss, 1);
    add(&TOTALS.superslabs, 1);
    add(&TOTALS.superslabs_mapped_total, 1);
    publish::superslab_mapped(ss);
    Some(ss)
}

// ---- empty detection

/// Slot `s` of class `c` has every block back: ACTIVE -> EMPTY; when that leaves its
/// SuperSlab without ACTIVE slots the SuperSlab is empty: its slots are released, it
/// goes to the cache, and SuperSlabs beyond `SLABSCOPE_EMPTY_CACHE` are returned to
/// the OS. The caller holds the class lock and took `s` off the partial list.
pub fn slot_emptied(s: &Slot, c: usize) {
    let _g = G.lock.guard();
    let (ss, i) = locate(s);
    s.set_state(EMPTY, c);
    slot_list_push(&G.empty[c], s);
    add(&CLASSES[c].slots_active, -1);
    add(&CLASSES[c].slots_empty, 1);
    publish::slot(ss, i);
    publish::event(&EventKind::SlotEmpty {
        superslab: ss.base() as u64,
        slot: i as u32,
        class: c as u32,
    });
    if ss.active_slots.fetch_sub(1, Ordering::Relaxed) == 1 {
        superslab_emptied(ss);
    }
}

fn superslab_emptied(ss: &'static SuperSlab) {
    publish::event(&EventKind::SuperSlabEmpty {
        superslab: ss.base() as u64,
    });
    for i in 0..SLOTS {
        let s = &ss.slots[i];
        if s.state() == EMPTY {
            slot_list_remove(&G.empty[s.class()], s);
            release_slot(ss, i, false);
        }
    }
    if ss.on_list.load(Ordering::Relaxed) == 1 {
        ss_remove(&G.has_unused, ss);
    }
    // SAFETY: every slot is UNUSED: no block of this SuperSlab is in use or on a list.
    unsafe {
        pal::decommit(
            (ss.base() + HEADER_BYTES) as *mut u8,
            SUPERSLAB_BYTES - HEADER_BYTES,
        )
    };
    ss_push(&G.cache, ss, 2);
    G.cache_len.fetch_add(1, Ordering::Relaxed);
    add(&TOTALS.superslabs_cached, 1);
    publish::superslab_state(ss, true);
    shrink_cache(options::get().empty_cache);
}

/// Returns cached empty SuperSlabs to the OS, oldest first, until at most `keep` remain.
/// The caller holds the global lock.
fn shrink_cache(keep: usize) {
    while G.cache_len.load(Ordering::Relaxed) > keep {
        // The cache list is pushed at the head: the oldest is the tail.
        let mut a = G.cache.load(Ordering::Relaxed);
        while ss_at(a).next.load(Ordering::Relaxed) != 0 {
            a = ss_at(a).next.load(Ordering::Relaxed);
        }
        let ss = ss_at(a);
        ss_remove(&G.cache, ss);
        G.cache_len.fetch_sub(1, Ordering::Relaxed);
        add(&TOTALS.superslabs_cached, -1);
        registry_remove(ss);
        pagemap_set(ss.base(), false);
        publish::superslab_returned(ss);
        ss.magic.store(0, Ordering::Relaxed);
        // SAFETY: the SuperSlab is off every list, out of the registry and the pagemap,
        // and holds no block: nothing can reach it any more.
        unsafe { pal::unmap(ss.base() as *mut u8, SUPERSLAB_BYTES) };
        oom::unreserve(SUPERSLAB_BYTES as u64);
        add(&TOTALS.superslabs, -1);
        add(&TOTALS.superslabs_returned_total, 1);
        publish::event(&EventKind::SuperSlabReturn {
            superslab: ss.base() as u64,
            mapped_bytes: TOTALS.mapped_bytes.load(Ordering::Relaxed),
        });
    }
}

/// In a forked child (every lock re-initialised, only the forking thread left): clears
/// the SuperSlab record flags, which a thread that did not survive may have held.
pub fn after_fork_child() {
    for_each(|ss| ss.publish_lock.store(0, Ordering::Relaxed));
}

/// Releases the sampled slots kept with no block out, gives the memory of every EMPTY
/// slot back to the OS (the slots stay EMPTY for their class), then returns every cached
/// empty SuperSlab and every cached large mapping to the OS. Returns the bytes given
/// back: decommitted plus unmapped (decommitted pages that were never touched count
/// too: the kernel does not say which were resident).
pub fn trim() -> u64 {
    crate::sampled_slots::trim();
    let before = TOTALS.mapped_bytes.load(Ordering::Relaxed);
    let decommitted = {
        let _g = G.lock.guard();
        let d = decommit_empty_slots();
        shrink_cache(0);
        d
    };
    crate::large::release_all();
    let after = TOTALS.mapped_bytes.load(Ordering::Relaxed);
    decommitted + before.saturating_sub(after)
}

/// Decommits the blocks of every EMPTY slot. An EMPTY slot's contents are dead: a stage-1
/// acquire resets its lists and carves it afresh, so nothing reads a block of it before
/// writing it. The global lock, held by the caller, keeps the slots EMPTY meanwhile.
fn decommit_empty_slots() -> u64 {
    let mut bytes = 0;
    for c in 0..CLASS_COUNT {
        let mut a = G.empty[c].load(Ordering::Relaxed);
        while a != 0 {
            let s = slot_at(a);
            a = s.next.load(Ordering::Relaxed);
            let (ss, i) = locate(s);
            let start = ss.slot_start(i);
            let len = ss.base() + (i + 1) * SLOT_BYTES - start;
            // SAFETY: the slot is EMPTY (on its class's EMPTY list, global lock held): no
            // block of it is in use or on a list that survives its next acquire.
            unsafe { pal::decommit(start as *mut u8, len) };
            bytes += len as u64;
        }
    }
    bytes
}
