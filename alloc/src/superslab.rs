//! SuperSlabs: 2 MiB, 2 MiB-aligned mappings of 32 slots of 64 KiB, their registry, the
//! 3-stage slot acquire, slot retire (ACTIVE -> EMPTY) and empty-SuperSlab detection
//! with a small cache before the return to the OS.
//!
//! Layout of a SuperSlab: slot 0 holds its [`SuperSlab`] header (the 32 slot records,
//! list links, its record in the segment; the first 8 KiB, the rest of the slot is
//! never touched) and serves no blocks; slots 1 to 31 are carved into blocks from their
//! 64 KiB boundary. Pointer -> SuperSlab is a mask. The meta word of each slot lives in
//! the pagemap (`crate::pagemap`), not in the header: the free fast path reads one word
//! there and never touches the SuperSlab, and an address in the header slot reads
//! `HEADER` (never a block).
//!
//! Locking: the global lock ([`lock`]) protects slot state changes to and from EMPTY
//! and UNUSED, the per-class EMPTY lists, the list of SuperSlabs with UNUSED slots, the
//! empty cache and the registry. Lock order: class lock (`unowned`), then the global
//! lock. No system call runs under the global lock: SuperSlabs are mapped before it is
//! taken, and decommitted and unmapped after it is released, while they are on no list
//! (and, for an unmap, out of the registry and the pagemap).
//!
//! Lifetime: a SuperSlab is returned to the OS only when every slot is UNUSED, which
//! needs every slot to have been retired by its holder, which needs every block back
//! ([`crate::slot`]): no thread holds a block, a slot or a list link of it then.

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::*};

use slabscope_proto::layout::{pack_slot, SLOT_OWNER_ABANDONED, SLOT_OWNER_NONE};
use slabscope_proto::EventKind;

use crate::pal::{self, RawMutex};
use crate::publish::{self, SlabRecord};
use crate::size_class::{block_size, CLASS_COUNT};
use crate::slot::{
    list, meta, meta_class, meta_owner, meta_state, Slot, ACTIVE, EMPTY, HEADER, NO_OWNER, UNUSED,
};
use crate::stats::{add, CLASSES, TOTALS, USED_CLASSES};
use crate::{oom, options, pagemap, placement};

/// Bytes in a SuperSlab (and its alignment).
pub const SUPERSLAB_BYTES: usize = 1 << placement::SPAN_SHIFT;
/// Slots per SuperSlab.
pub const SLOTS: usize = 32;
/// Bytes per slot.
pub const SLOT_BYTES: usize = SUPERSLAB_BYTES / SLOTS;
/// Bytes of the header at the start of slot 0 (the header slot: the rest of it is
/// address space only).
pub const HEADER_BYTES: usize = 8192;
const MAGIC: u64 = u64::from_le_bytes(*b"SSLAB\0v3");
/// The slots that serve blocks: every one but the header slot, 0.
const BLOCK_SLOTS: u32 = !1;

/// `SuperSlab::on_list`: on no list (in use with no UNUSED slot, or being drained).
const ON_NONE: u32 = 0;
/// `SuperSlab::on_list`: on the list of SuperSlabs with UNUSED slots.
const ON_UNUSED: u32 = 1;
/// `SuperSlab::on_list`: in the empty cache.
const ON_CACHE: u32 = 2;
/// `SuperSlab::on_list`: empty, being decommitted outside the global lock.
const ON_DRAIN: u32 = 3;

/// The header of a SuperSlab, at its base address. Shared by every thread and found by
/// address arithmetic, so every field is an atomic.
#[repr(C)]
pub struct SuperSlab {
    /// The 32 slot records (slot 0's is never used: it is the header slot).
    pub slots: [Slot; SLOTS],
    /// [`MAGIC`] while mapped.
    pub magic: AtomicU64,
    /// Slots not UNUSED or EMPTY (global lock).
    pub active_slots: AtomicU32,
    /// Bit i set = slot i UNUSED (global lock); bit 0 (the header slot) never set.
    pub unused_mask: AtomicU32,
    /// Which list the SuperSlab is on (`ON_*`, global lock).
    pub on_list: AtomicU32,
    /// List links (global lock).
    pub next: AtomicUsize,
    /// List links (global lock).
    pub prev: AtomicUsize,
    /// Index in the registry (global lock).
    pub registry_index: AtomicUsize,
    /// The SuperSlab's record in the segment (the publishing sink's state).
    pub record: SlabRecord,
}

const _: () = assert!(core::mem::size_of::<SuperSlab>() <= HEADER_BYTES);

impl SuperSlab {
    /// Base address.
    #[inline(always)]
    pub fn base(&self) -> usize {
        self as *const SuperSlab as usize
    }

    /// The record of the slot holding `addr`, an address inside this SuperSlab.
    #[inline(always)]
    pub fn slot_of(&self, addr: usize) -> &Slot {
        &self.slots[(addr - self.base()) / SLOT_BYTES]
    }

    /// The meta word of slot `i` (from the pagemap).
    #[inline]
    pub fn slot_meta(&self, i: usize) -> u64 {
        pagemap::meta_acquire(self.base() + i * SLOT_BYTES)
    }

    /// Sets the meta word of slot `i` in the pagemap. The slot's holder calls this.
    pub fn set_slot_meta(&self, i: usize, w: u64) {
        debug_assert!(i != 0, "the header slot's word never changes");
        pagemap::set(self.base() + i * SLOT_BYTES, w);
    }

    /// Address of the first block of class `c` in slot `i` (not the header slot), and
    /// how many blocks fit: the multiples of the block size inside the slot's window.
    pub fn slot_layout(&self, i: usize, c: usize) -> (usize, u32) {
        debug_assert!(i != 0, "the header slot serves no blocks");
        (
            (self.base() + i * SLOT_BYTES),
            (SLOT_BYTES / block_size(c)) as u32,
        )
    }

    /// The segment's word for slot `i` (state, class, capacity, blocks out).
    pub fn slot_word(&self, i: usize) -> u64 {
        let w = self.slot_meta(i);
        let state = meta_state(w);
        if state == UNUSED || state == HEADER {
            return 0;
        }
        let s = &self.slots[i];
        // A sampled slot is ACTIVE for the segment.
        let shown = if state == EMPTY { EMPTY } else { ACTIVE };
        pack_slot(
            shown as u8,
            meta_class(w) as u8,
            s.capacity.load(Relaxed).min(u16::MAX as u32) as u16,
            s.used.load(Relaxed),
        )
    }

    /// The segment's owner word for slot `i`: the owner thread's tid, abandoned, or
    /// none.
    pub fn slot_owner(&self, i: usize) -> u32 {
        let w = self.slot_meta(i);
        match (meta_state(w), meta_owner(w)) {
            (ACTIVE, NO_OWNER) => SLOT_OWNER_ABANDONED,
            (ACTIVE, index) => owner_tid(index),
            _ => SLOT_OWNER_NONE,
        }
    }

    /// Publishes slot `i`'s word and owner into the segment.
    pub fn publish_slot(&self, i: usize) {
        publish::slot(
            &self.record,
            self.base() as u64,
            i,
            self.slot_word(i),
            self.slot_owner(i),
        );
    }
}

/// Owner ids (thread state indexes) whose kernel tid the segment can name.
const OWNER_TIDS: usize = 4096;

/// The kernel tid of each owner id, for the segment's slot owners (written by the
/// thread state's creator, read when a slot word is published).
static TIDS: [AtomicU32; OWNER_TIDS] = [const { AtomicU32::new(0) }; OWNER_TIDS];

/// Records that owner id `index` is the thread with kernel tid `tid`.
pub fn note_owner_tid(index: u32, tid: u32) {
    if let Some(t) = TIDS.get(index as usize) {
        t.store(tid, Relaxed);
    }
}

/// The kernel tid of owner id `index` (`SLOT_OWNER_NONE` when not known).
fn owner_tid(index: u32) -> u32 {
    TIDS.get(index as usize)
        .map_or(SLOT_OWNER_NONE, |t| t.load(Relaxed))
}

/// The SuperSlab containing `addr` and the meta word of its slot there, if `addr`
/// lies in one of ours.
#[inline(always)]
pub fn lookup(addr: usize) -> Option<(&'static SuperSlab, u64)> {
    let w = pagemap::meta_acquire(addr);
    if w == 0 {
        return None;
    }
    // SAFETY: a non-zero pagemap word, loaded with `Acquire`, was seen for `addr`.
    Some((unsafe { containing(addr) }, w))
}

/// The SuperSlab whose span holds `addr`.
///
/// # Safety
/// The pagemap word of `addr` was seen non-zero, with `Acquire` or an `Acquire` fence
/// after the load (so the SuperSlab is mapped there and its header initialised, which
/// happened before the word was published with `Release`), and the caller holds what
/// keeps it mapped (a live block of it) while it uses the reference.
#[inline(always)]
pub unsafe fn containing(addr: usize) -> &'static SuperSlab {
    // SAFETY: the caller's contract: a mapped, initialised SuperSlab at that base.
    unsafe { &*((addr & !(SUPERSLAB_BYTES - 1)) as *const SuperSlab) }
}

/// The SuperSlab and slot index of a slot record.
#[inline(always)]
pub fn locate(slot: &Slot) -> (&'static SuperSlab, usize) {
    let a = slot as *const Slot as usize;
    let base = a & !(SUPERSLAB_BYTES - 1);
    // SAFETY: every `Slot` lives in the header of a mapped SuperSlab at `base`.
    let ss = unsafe { &*(base as *const SuperSlab) };
    let first = core::mem::offset_of!(SuperSlab, slots);
    (ss, (a - base - first) / core::mem::size_of::<Slot>())
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

// ---- intrusive slot lists (the caller holds whatever protects the list)

/// Pushes slot `s` at the head of the list `head` and tags it `tag`.
pub fn slot_list_push(head: &AtomicUsize, s: &Slot, tag: u16) {
    let me = s as *const Slot as usize;
    let old = head.load(Relaxed);
    s.next.store(old, Relaxed);
    s.prev.store(0, Relaxed);
    if old != 0 {
        slot_at(old).prev.store(me, Relaxed);
    }
    head.store(me, Relaxed);
    s.list.store(tag, Relaxed);
}

/// Unlinks slot `s` from the list `head`.
pub fn slot_list_remove(head: &AtomicUsize, s: &Slot) {
    let next = s.next.load(Relaxed);
    let prev = s.prev.load(Relaxed);
    if prev != 0 {
        slot_at(prev).next.store(next, Relaxed);
    } else {
        head.store(next, Relaxed);
    }
    if next != 0 {
        slot_at(next).prev.store(prev, Relaxed);
    }
    s.next.store(0, Relaxed);
    s.prev.store(0, Relaxed);
    s.list.store(list::NONE, Relaxed);
}

// ---- global state

struct Global {
    lock: RawMutex,
    empty: [AtomicUsize; CLASS_COUNT],
    has_unused: AtomicUsize,
    cache: AtomicUsize,
    cache_len: AtomicUsize,
    reg: AtomicUsize,
    reg_len: AtomicUsize,
}

static G: Global = Global {
    lock: RawMutex::new(),
    empty: [const { AtomicUsize::new(0) }; CLASS_COUNT],
    has_unused: AtomicUsize::new(0),
    cache: AtomicUsize::new(0),
    cache_len: AtomicUsize::new(0),
    reg: AtomicUsize::new(0),
    reg_len: AtomicUsize::new(0),
};

/// The global lock (for `fork` handlers).
pub fn lock() -> &'static RawMutex {
    &G.lock
}

fn ss_push(head: &AtomicUsize, ss: &SuperSlab, which: u32) {
    let old = head.load(Relaxed);
    ss.next.store(old, Relaxed);
    ss.prev.store(0, Relaxed);
    if old != 0 {
        ss_at(old).prev.store(ss.base(), Relaxed);
    }
    head.store(ss.base(), Relaxed);
    ss.on_list.store(which, Relaxed);
}

fn ss_remove(head: &AtomicUsize, ss: &SuperSlab) {
    let next = ss.next.load(Relaxed);
    let prev = ss.prev.load(Relaxed);
    if prev != 0 {
        ss_at(prev).next.store(next, Relaxed);
    } else {
        head.store(next, Relaxed);
    }
    if next != 0 {
        ss_at(next).prev.store(prev, Relaxed);
    }
    ss.on_list.store(ON_NONE, Relaxed);
}

// ---- registry: the bases of the mapped SuperSlabs, by index (global lock). The first
// HEAD entries are a static, so that a process with up to 1 GiB of SuperSlabs maps
// nothing for it; the rest are an array reserved (sparse) once, and never moved.

/// Most SuperSlabs mapped at once (1 TiB of them; the placement region holds fewer).
const REGISTRY_MAX: usize = 1 << 19;
/// Entries in the static head of the registry (1 GiB of SuperSlabs).
const HEAD: usize = 512;
/// Entries of the reserved tail.
const TAIL: usize = REGISTRY_MAX - HEAD;

static HEAD_ENTRIES: [AtomicUsize; HEAD] = [const { AtomicUsize::new(0) }; HEAD];

/// Reserves the registry's tail (once; outside the global lock), when the head is full.
/// `false` when the kernel refuses.
fn registry_reserve_tail() -> bool {
    if G.reg.load(Acquire) != 0 {
        return true;
    }
    let Some(p) = pal::map(TAIL * 8, true) else {
        return false;
    };
    if G.reg
        .compare_exchange(0, p as usize, AcqRel, Acquire)
        .is_err()
    {
        // SAFETY: another thread's array won; this fresh mapping was handed to nobody.
        unsafe { pal::unmap(p, TAIL * 8) };
    }
    true
}

/// Entry `i` of the registry.
///
/// # Safety
/// `i < HEAD`, or `i < REGISTRY_MAX` and the tail is reserved (an index past the head
/// exists only once [`registry_add`] found the tail there).
unsafe fn entry(i: usize) -> &'static AtomicUsize {
    if let Some(e) = HEAD_ENTRIES.get(i) {
        return e;
    }
    let tail = G.reg.load(Acquire) as *const AtomicUsize;
    debug_assert!(i < REGISTRY_MAX && !tail.is_null());
    // SAFETY: the tail is reserved (the caller's contract) and never unmapped; it holds
    // TAIL entries, zeroed memory being a valid `AtomicUsize`, and `i - HEAD < TAIL`.
    unsafe { &*tail.add(i - HEAD) }
}

/// What [`registry_add`] did.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Added {
    Yes,
    /// The head is full and the tail not reserved yet.
    NoTail,
    /// The registry is full.
    Full,
}

/// Adds `ss` to the registry. Global lock held.
fn registry_add(ss: &SuperSlab) -> Added {
    let len = G.reg_len.load(Relaxed);
    if len == REGISTRY_MAX {
        return Added::Full;
    }
    if len >= HEAD && G.reg.load(Acquire) == 0 {
        return Added::NoTail;
    }
    // SAFETY: `len < REGISTRY_MAX`, and past the head the tail is reserved (tested above).
    unsafe { entry(len) }.store(ss.base(), Relaxed);
    ss.registry_index.store(len, Relaxed);
    G.reg_len.store(len + 1, Relaxed);
    Added::Yes
}

/// Removes `ss` from the registry: the last entry takes its place. Global lock held.
fn registry_remove(ss: &SuperSlab) {
    let last = G.reg_len.load(Relaxed) - 1;
    let i = ss.registry_index.load(Relaxed);
    // SAFETY: `i` and `last` index entries added by `registry_add`, below `reg_len`.
    let (at_i, at_last) = unsafe { (entry(i), entry(last)) };
    let moved = at_last.load(Relaxed);
    at_i.store(moved, Relaxed);
    ss_at(moved).registry_index.store(i, Relaxed);
    G.reg_len.store(last, Relaxed);
}

/// Calls `f` on every mapped SuperSlab. The caller holds the global lock.
pub fn for_each(mut f: impl FnMut(&'static SuperSlab)) {
    for i in 0..G.reg_len.load(Relaxed) {
        // SAFETY: `i < reg_len`: an entry `registry_add` added, the base of a mapped
        // SuperSlab.
        f(ss_at(unsafe { entry(i) }.load(Relaxed)));
    }
}

/// Publishes every SuperSlab and slot into a segment created after they were mapped.
pub fn publish_all() {
    let _g = G.lock.guard();
    for_each(|ss| {
        publish::superslab_claim(&ss.record, ss.base() as u64);
        for i in 0..SLOTS {
            ss.publish_slot(i);
        }
        if ss.on_list.load(Relaxed) == ON_CACHE {
            publish::superslab_state(&ss.record, ss.base() as u64, true);
        }
    });
}

// ---- acquire

/// Acquires a slot for class `c` (3 stages: an EMPTY slot of the class, an UNUSED slot
/// of a mapped SuperSlab, a new SuperSlab) and returns it ACTIVE, carved afresh, with
/// `owner` in its meta word (`NO_OWNER` for an unowned one); the caller becomes its
/// holder. `None` when no memory can be had (`request` is the size the OOM report
/// names). The caller holds no allocator lock: the third stage maps a SuperSlab.
pub fn acquire_slot(c: usize, request: usize, owner: u32) -> Option<(&'static SuperSlab, usize)> {
    {
        let _g = G.lock.guard();
        if let Some(got) = acquire_locked(c, owner, None) {
            return Some(got);
        }
    }
    let fresh = map_superslab(request, c)?;
    let mut g = G.lock.guard();
    let mut added = registry_add(fresh);
    if added == Added::NoTail {
        // The first SuperSlab past the head: reserve the tail, outside the lock.
        drop(g);
        let reserved = registry_reserve_tail();
        g = G.lock.guard();
        // SuperSlabs returned meanwhile may have made room in the head again.
        added = match registry_add(fresh) {
            Added::NoTail => {
                debug_assert!(!reserved);
                Added::Full
            }
            other => other,
        };
    }
    if added != Added::Yes {
        pagemap::clear(fresh.base(), SUPERSLAB_BYTES);
        drop(g);
        // SAFETY: the SuperSlab was never published (not in the registry; its pagemap
        // words are cleared again, and no block of it was handed out).
        unsafe { unmap_placed(fresh.base()) };
        oom::unreserve(SUPERSLAB_BYTES as u64);
        oom::report(request, 16, Some(c));
        return None;
    }
    ss_push(&G.has_unused, fresh, ON_UNUSED);
    add(&TOTALS.superslabs, 1);
    add(&TOTALS.superslabs_mapped_total, 1);
    publish::superslab_mapped(
        &fresh.record,
        fresh.base() as u64,
        TOTALS.mapped_bytes.load(Relaxed),
    );
    // Another thread may have freed an EMPTY slot meanwhile: the fresh SuperSlab joins
    // the has-UNUSED list either way and is found by the next stage 2.
    acquire_locked(c, owner, Some(fresh))
}

/// Stages 1 and 2 (or, with `fresh`, stage 3 from that SuperSlab). Global lock held.
fn acquire_locked(
    c: usize,
    owner: u32,
    fresh: Option<&'static SuperSlab>,
) -> Option<(&'static SuperSlab, usize)> {
    // Marked before any of the class's counters moves: a segment created meanwhile
    // copies the class's record, as it copied every record before the mark existed.
    // Once per class: later acquisitions only load the word.
    if USED_CLASSES.load(Relaxed) & 1 << c == 0 {
        USED_CLASSES.fetch_or(1 << c, Relaxed);
    }
    if fresh.is_none() {
        let head = G.empty[c].load(Relaxed);
        if head != 0 {
            let s = slot_at(head);
            slot_list_remove(&G.empty[c], s);
            let (ss, i) = locate(s);
            let (start, cap) = ss.slot_layout(i, c);
            s.reset(start, cap);
            ss.set_slot_meta(i, meta(ACTIVE, c, owner));
            add(&CLASSES[c].slots_empty, -1);
            add(&CLASSES[c].slots_active, 1);
            add(&CLASSES[c].stage[0], 1);
            ss.active_slots.fetch_add(1, Relaxed);
            acquired(ss, i, c, 1);
            return Some((ss, i));
        }
    }
    let (ss, stage) = match fresh {
        Some(ss) => (ss, 3),
        None => (find_unused(c)?, 2),
    };
    let mask = ss.unused_mask.load(Relaxed);
    let i = mask.trailing_zeros() as usize;
    let mask = mask & !(1 << i);
    ss.unused_mask.store(mask, Relaxed);
    if mask == 0 && ss.on_list.load(Relaxed) == ON_UNUSED {
        ss_remove(&G.has_unused, ss);
    }
    let s = &ss.slots[i];
    let (start, cap) = ss.slot_layout(i, c);
    s.reset(start, cap);
    ss.set_slot_meta(i, meta(ACTIVE, c, owner));
    add(&CLASSES[c].capacity, cap as i64);
    add(&CLASSES[c].slots_active, 1);
    add(&CLASSES[c].stage[stage - 1], 1);
    ss.active_slots.fetch_add(1, Relaxed);
    acquired(ss, i, c, stage as u8);
    Some((ss, i))
}

fn acquired(ss: &SuperSlab, i: usize, c: usize, stage: u8) {
    ss.publish_slot(i);
    publish::event(&EventKind::SlotAcquire {
        superslab: ss.base() as u64,
        slot: i as u32,
        class: c as u32,
        stage,
    });
}

/// Stage 2: a SuperSlab with an UNUSED slot: one in use, else one freed up by releasing
/// an EMPTY slot of another class (its pages are committed already; not decommitted:
/// the caller carves it at once), else a cached empty one (decommitted: its pages cost
/// memory again when touched).
fn find_unused(c: usize) -> Option<&'static SuperSlab> {
    let head = G.has_unused.load(Relaxed);
    if head != 0 {
        return Some(ss_at(head));
    }
    for d in (0..CLASS_COUNT).filter(|&d| d != c) {
        let head = G.empty[d].load(Relaxed);
        if head != 0 {
            let s = slot_at(head);
            slot_list_remove(&G.empty[d], s);
            let (ss, i) = locate(s);
            release_slot(ss, i);
            if crate::check::on() {
                // Check mode: the caller carves this slot for class `c` at once, without
                // a decommit, and a trailer class `d` left could read as a freed block of
                // `c` with `d`'s writes where its pattern should be (a false write after
                // free). Zeroed, it carries none. 64 KiB under the global lock, in check
                // mode only; no system call.
                // SAFETY: the slot was EMPTY (every block back, off every list) and is
                // UNUSED now: nobody holds a block of it, and its 64 KiB are mapped.
                unsafe {
                    core::ptr::write_bytes((ss.base() + i * SLOT_BYTES) as *mut u8, 0, SLOT_BYTES)
                };
            }
            return Some(ss);
        }
    }
    let cached = G.cache.load(Relaxed);
    if cached != 0 {
        let ss = ss_at(cached);
        ss_remove(&G.cache, ss);
        G.cache_len.fetch_sub(1, Relaxed);
        add(&TOTALS.superslabs_cached, -1);
        ss_push(&G.has_unused, ss, ON_UNUSED);
        publish::superslab_state(&ss.record, ss.base() as u64, false);
        return Some(ss);
    }
    None
}

/// EMPTY slot -> UNUSED (off its class's EMPTY list already). Global lock held.
fn release_slot(ss: &SuperSlab, i: usize) {
    let s = &ss.slots[i];
    let c = meta_class(ss.slot_meta(i));
    add(&CLASSES[c].capacity, -(s.capacity.load(Relaxed) as i64));
    add(&CLASSES[c].slots_empty, -1);
    s.reset(0, 0);
    ss.set_slot_meta(i, meta(UNUSED, 0, NO_OWNER));
    let mask = ss.unused_mask.load(Relaxed) | 1 << i;
    ss.unused_mask.store(mask, Relaxed);
    if ss.on_list.load(Relaxed) == ON_NONE {
        ss_push(&G.has_unused, ss, ON_UNUSED);
    }
    ss.publish_slot(i);
    publish::event(&EventKind::SlotRelease {
        superslab: ss.base() as u64,
        slot: i as u32,
        class: c as u32,
    });
}

/// Stage 3: maps a new SuperSlab (respecting `SLABSCOPE_LIMIT`), outside every lock.
fn map_superslab(request: usize, c: usize) -> Option<&'static SuperSlab> {
    // Cached large mappings count against the limit: given back before refusing.
    if !crate::large::reserve_or_release(SUPERSLAB_BYTES as u64) {
        oom::report(request, 16, Some(c));
        return None;
    }
    let Some(p) = map_placed() else {
        oom::unreserve(SUPERSLAB_BYTES as u64);
        oom::report(request, 16, Some(c));
        return None;
    };
    // SAFETY: fresh zeroed memory is a valid `SuperSlab` (all-zero atomics), and nobody
    // else can reach it yet (its pagemap words are still 0).
    let ss: &'static SuperSlab = unsafe { &*(p as *const SuperSlab) };
    ss.unused_mask.store(BLOCK_SLOTS, Relaxed);
    ss.registry_index.store(usize::MAX, Relaxed);
    publish::superslab_init(&ss.record);
    ss.magic.store(MAGIC, Relaxed);
    // The words go in last (`Release`): a slow path that sees one reads an
    // initialised header.
    pagemap::set(ss.base(), meta(HEADER, 0, NO_OWNER));
    for i in 1..SLOTS {
        ss.set_slot_meta(i, meta(UNUSED, 0, NO_OWNER));
    }
    Some(ss)
}

/// Maps a SuperSlab in the placement region, with its pagemap words writable.
/// Outside every lock. `None` when the kernel refuses or the region is full.
fn map_placed() -> Option<*mut u8> {
    if !pagemap::reserve() {
        return None;
    }
    let p = placement::place()?;
    if !pagemap::prepare(p as usize, SUPERSLAB_BYTES) {
        // SAFETY: the mapping was just created and handed to nobody.
        unsafe { unmap_placed(p as usize) };
        return None;
    }
    Some(p)
}

/// Unmaps the SuperSlab at `base` and frees its position in the placement region.
///
/// # Safety
/// `base` is a SuperSlab [`map_placed`] mapped that nothing can reach any more (never
/// published, or off every list, out of the registry and the pagemap, holding no block).
unsafe fn unmap_placed(base: usize) {
    // SAFETY: the caller's contract.
    unsafe { pal::unmap(base as *mut u8, SUPERSLAB_BYTES) };
    placement::release(base);
}

// ---- retire and empty detection

/// Slot `i` of `ss`, ACTIVE with every block back and off every list, is given up by
/// its holder: ACTIVE -> EMPTY. When that leaves its SuperSlab without a slot in use,
/// the SuperSlab is empty: its slots are released, its blocks decommitted, it goes to
/// the cache, and SuperSlabs beyond `SLABSCOPE_EMPTY_CACHE` are returned to the OS.
/// The caller must not touch the slot afterwards. Takes the global lock; the caller
/// holds no allocator lock (an emptied SuperSlab is decommitted, and cached ones may be
/// returned to the OS).
pub fn retire_slot(ss: &'static SuperSlab, i: usize) {
    let emptied = {
        let _g = G.lock.guard();
        let s = &ss.slots[i];
        let c = meta_class(ss.slot_meta(i));
        ss.set_slot_meta(i, meta(EMPTY, c, NO_OWNER));
        slot_list_push(&G.empty[c], s, list::EMPTY);
        add(&CLASSES[c].slots_active, -1);
        add(&CLASSES[c].slots_empty, 1);
        ss.publish_slot(i);
        publish::event(&EventKind::SlotEmpty {
            superslab: ss.base() as u64,
            slot: i as u32,
            class: c as u32,
        });
        ss.active_slots.fetch_sub(1, Relaxed) == 1 && superslab_emptied(ss)
    };
    if emptied {
        finish_empty(ss);
    }
}

/// The second half of an empty SuperSlab's detection, outside the global lock: its
/// blocks are decommitted, then it goes to the cache, and the cache is shrunk.
fn finish_empty(ss: &'static SuperSlab) {
    // SAFETY: every slot is UNUSED and the SuperSlab is on no list (ON_DRAIN): no block
    // of it is in use, and no acquire can reach it until it is cached below.
    unsafe {
        pal::decommit(
            (ss.base() + SLOT_BYTES) as *mut u8,
            SUPERSLAB_BYTES - SLOT_BYTES,
        )
    };
    let victims = {
        let _g = G.lock.guard();
        ss_push(&G.cache, ss, ON_CACHE);
        G.cache_len.fetch_add(1, Relaxed);
        add(&TOTALS.superslabs_cached, 1);
        publish::superslab_state(&ss.record, ss.base() as u64, true);
        shrink_cache(options::get().empty_cache)
    };
    return_to_os(victims);
}

/// Every slot of `ss` is EMPTY or UNUSED: releases the EMPTY ones and takes `ss` off
/// the has-UNUSED list for its decommit. Returns `false` (nothing to do) when the
/// SuperSlab is already draining. Global lock held.
fn superslab_emptied(ss: &'static SuperSlab) -> bool {
    publish::event(&EventKind::SuperSlabEmpty {
        superslab: ss.base() as u64,
    });
    for i in 0..SLOTS {
        let w = ss.slot_meta(i);
        if meta_state(w) == EMPTY {
            slot_list_remove(&G.empty[meta_class(w)], &ss.slots[i]);
            release_slot(ss, i);
        }
    }
    if ss.on_list.load(Relaxed) == ON_UNUSED {
        ss_remove(&G.has_unused, ss);
    }
    ss.on_list.store(ON_DRAIN, Relaxed);
    true
}

/// Takes cached empty SuperSlabs out of the cache, oldest first, until at most `keep`
/// remain, and out of the registry and the pagemap. Returns them linked through `next`
/// for [`return_to_os`]. Global lock held.
fn shrink_cache(keep: usize) -> usize {
    if crate::check::on() {
        // Check mode keeps every empty SuperSlab mapped (its pages decommitted): a
        // double free racing with the SuperSlab's return reads the trailer of a block
        // the pagemap showed a moment before, which must still be mapped (it reads as
        // zero, no live block, once decommitted).
        return 0;
    }
    let mut victims = 0;
    while G.cache_len.load(Relaxed) > keep {
        // The cache list is pushed at the head: the oldest is the tail.
        let mut a = G.cache.load(Relaxed);
        while ss_at(a).next.load(Relaxed) != 0 {
            a = ss_at(a).next.load(Relaxed);
        }
        let ss = ss_at(a);
        ss_remove(&G.cache, ss);
        G.cache_len.fetch_sub(1, Relaxed);
        add(&TOTALS.superslabs_cached, -1);
        registry_remove(ss);
        pagemap::clear(ss.base(), SUPERSLAB_BYTES);
        publish::superslab_returned(&ss.record);
        ss.next.store(victims, Relaxed);
        victims = ss.base();
    }
    victims
}

/// Unmaps the SuperSlabs [`shrink_cache`] took out, outside the global lock.
fn return_to_os(mut victims: usize) {
    while victims != 0 {
        let ss = ss_at(victims);
        victims = ss.next.load(Relaxed);
        let base = ss.base();
        ss.magic.store(0, Relaxed);
        // SAFETY: the SuperSlab is off every list, out of the registry and the pagemap,
        // and holds no block: nothing can reach it any more.
        unsafe { unmap_placed(base) };
        oom::unreserve(SUPERSLAB_BYTES as u64);
        add(&TOTALS.superslabs, -1);
        add(&TOTALS.superslabs_returned_total, 1);
        publish::event(&EventKind::SuperSlabReturn {
            superslab: base as u64,
            mapped_bytes: TOTALS.mapped_bytes.load(Relaxed),
        });
    }
}

/// In a forked child (every lock re-initialised, only the forking thread left): clears
/// the SuperSlab record flags, which a thread that did not survive may have held.
pub fn after_fork_child() {
    for_each(|ss| publish::superslab_after_fork(&ss.record));
}

/// Gives the memory of every EMPTY slot back to the OS (the slots stay EMPTY for their
/// class), then returns every cached empty SuperSlab. Returns the bytes decommitted
/// (pages that were never touched count too: the kernel does not say which were
/// resident). The EMPTY slots are taken off their lists while the global lock is
/// released for the `madvise` calls, and each pins its SuperSlab meanwhile (counted in
/// `active_slots`, so that it cannot be found empty and returned under the `madvise`).
pub fn trim() -> u64 {
    let mut taken = [0usize; CLASS_COUNT];
    {
        let _g = G.lock.guard();
        for (c, t) in taken.iter_mut().enumerate() {
            *t = G.empty[c].swap(0, Relaxed);
            let mut a = *t;
            while a != 0 {
                let s = slot_at(a);
                a = s.next.load(Relaxed);
                s.list.store(list::NONE, Relaxed);
                locate(s).0.active_slots.fetch_add(1, Relaxed);
            }
        }
    }
    let mut bytes = 0;
    for &head in &taken {
        let mut a = head;
        while a != 0 {
            let s = slot_at(a);
            a = s.next.load(Relaxed);
            let (ss, i) = locate(s);
            let start = s.start.load(Relaxed);
            let end = ss.base() + (i + 1) * SLOT_BYTES;
            // SAFETY: the slot is EMPTY and off every list: nobody can acquire it or
            // reach its blocks until it is put back below; its contents are dead (a
            // stage-1 acquire carves it afresh).
            unsafe { pal::decommit(start as *mut u8, end - start) };
            bytes += (end - start) as u64;
        }
    }
    let (emptied, victims) = {
        let _g = G.lock.guard();
        let mut emptied = 0usize;
        for (c, &head) in taken.iter().enumerate() {
            let mut a = head;
            while a != 0 {
                let s = slot_at(a);
                a = s.next.load(Relaxed);
                slot_list_push(&G.empty[c], s, list::EMPTY);
                let ss = locate(s).0;
                if ss.active_slots.fetch_sub(1, Relaxed) == 1 && superslab_emptied(ss) {
                    ss.next.store(emptied, Relaxed);
                    emptied = ss.base();
                }
            }
        }
        (emptied, shrink_cache(0))
    };
    return_to_os(victims);
    let mut e = emptied;
    while e != 0 {
        let ss = ss_at(e);
        e = ss.next.load(Relaxed);
        finish_empty(ss);
    }
    let victims = {
        let _g = G.lock.guard();
        shrink_cache(0)
    };
    return_to_os(victims);
    bytes
}
