//! The checked paths: every allocation, free, `realloc` and usable-size query in check
//! mode (`SLABSCOPE_CHECK`), between the front end's entries and the mechanism's slow
//! paths (`slow_path`).
//!
//! An allocation asks the mechanism for a block padded by the trailer
//! ([`block::padded`]), then verifies and marks it ([`block::on_alloc`]). A free first
//! places the address (a block start of an ACTIVE or SAMPLED slot, a live large
//! allocation, an invalid address inside a SuperSlab, or a foreign pointer), then marks
//! the block freed with one compare-and-swap ([`block::on_free`]) and only then hands
//! it to the mechanism. A bad free is reported and not performed: nothing of the
//! allocator's state changes, and the memory at the address is never written.
//!
//! The common cases take short paths that skip placing the address through the
//! SuperSlab: an allocation served from the thread's magazine of the padded class
//! (`alloc_from_magazine`), and the free of a live block of an ACTIVE slot (`free_live`,
//! found as the free fast path finds it). Everything else, and every heap error, goes
//! the general way.
//!
//! Lifetime: a small block's trailer is read after the pagemap said its slot is ACTIVE;
//! a double free racing with the slot's retirement could read a returned SuperSlab, but
//! only when the second free stalls between the two reads for the several interval
//! sweeps a retirement takes. A large allocation's trailer is read and changed under the
//! large registry's lock (`large::with_live`), so a racing free never unmaps it first.
#![deny(unsafe_op_in_unsafe_fn)]

use slabscope_proto::heap_error::{HEAP_ERROR_LARGE, HEAP_ERROR_NO_CLASS};
use slabscope_proto::{HeapError, HeapErrorKind, HeapErrorOp, InvalidReason};

use crate::check::block::{self, Freed, State};
use crate::check::report::{report, Action};
use crate::size_class::{
    block_size, class_for, class_offset, is_block_start, CLASS_SHIFT, MIN_ALIGN, SMALL_MAX,
};
use crate::slot::{
    active_block_class, meta_class, meta_state, owned_offset, ACTIVE, HEADER, SAMPLED,
};
use crate::superslab::{self, SuperSlab, SLOT_BYTES};
use crate::thread::{self, OwnerFree, ThreadState};
use crate::{large, pagemap, sample, slow_path};

/// Where an address lies.
enum Place {
    /// A block start of an ACTIVE or SAMPLED slot of `ss`, whose meta word is `w`.
    Block {
        ss: &'static SuperSlab,
        w: u64,
        class: u32,
        bytes: usize,
        sampled: bool,
    },
    /// Inside a SuperSlab, and not a block start.
    Invalid(Invalid),
    /// In no SuperSlab: a large allocation, or not ours.
    Outside,
}

/// An address inside a SuperSlab that is not a block start.
#[derive(Clone, Copy)]
struct Invalid {
    reason: InvalidReason,
    class: u32,
    bytes: usize,
}

#[inline(always)]
fn place(p: *const u8) -> Place {
    let a = p as usize;
    let Some((ss, w)) = superslab::lookup(a) else {
        return Place::Outside;
    };
    let (state, c) = (meta_state(w), meta_class(w));
    let invalid = |reason, class, bytes| {
        Place::Invalid(Invalid {
            reason,
            class,
            bytes,
        })
    };
    match state {
        HEADER => invalid(InvalidReason::Header, HEAP_ERROR_NO_CLASS, 0),
        ACTIVE | SAMPLED if is_block_start(a % SLOT_BYTES, c) => Place::Block {
            ss,
            w,
            class: c as u32,
            bytes: block_size(c),
            sampled: state == SAMPLED,
        },
        ACTIVE | SAMPLED => invalid(InvalidReason::Interior, c as u32, block_size(c)),
        _ => invalid(InvalidReason::NoBlocks, HEAP_ERROR_NO_CLASS, 0),
    }
}

/// A heap error of `kind` found by `op` at `p`, in a block of `class` (`bytes` long).
#[inline(always)]
fn error(
    kind: HeapErrorKind,
    op: HeapErrorOp,
    p: *const u8,
    class: u32,
    bytes: usize,
) -> HeapError {
    HeapError {
        kind,
        op,
        reason: InvalidReason::None,
        address: p as u64,
        class,
        block_bytes: bytes as u64,
        requested: None,
        offset: None,
        thread: 0,
        site: None,
        time_ns: 0,
    }
}

/// The sample site of the block at `p`, when `sampled` (its slot is SAMPLED, or it is a
/// large allocation) and it has one.
fn site(p: *const u8, sampled: bool) -> Option<u32> {
    sampled.then(|| sample::site_of(p)).flatten()
}

/// A checked allocation of `size` bytes at `align` (zeroed when `zeroed`); null when out
/// of memory.
#[inline(always)]
pub fn alloc(size: usize, align: usize, pd: bool, zeroed: bool) -> *mut u8 {
    if !zeroed && align <= MIN_ALIGN {
        if let Some(p) = alloc_from_magazine(size) {
            return p;
        }
    }
    alloc_general(size, align, pd, zeroed)
}

/// The checked allocation's common case: a small request at most `MIN_ALIGN` aligned, by
/// a thread with a state whose sampling countdown is not due, served from its magazine
/// of the padded request's class (as the allocation fast path would serve it), then
/// verified and marked. `None`, with nothing changed, for everything else.
#[inline(always)]
fn alloc_from_magazine(size: usize) -> Option<*mut u8> {
    let padded = block::padded(size).filter(|&n| n <= SMALL_MAX)?;
    let st = thread::current()?;
    // SAFETY: the state belongs to this thread; no slow path of it is running a magazine
    // operation (the checked paths are entered from the front end only).
    let t = unsafe { &mut *st };
    if t.hot.sample_left <= padded as u64 {
        return None;
    }
    let off = class_offset(padded);
    // SAFETY: `off` is a class's offset; as above.
    let p = unsafe { thread::magazine(st, off) }.take()?.as_ptr();
    // Above `padded` (checked before): this charge never runs the countdown out.
    let _ = sample::charge(&mut t.hot.sample_left, padded as u64);
    let c = off >> CLASS_SHIFT;
    let bytes = block_size(c);
    // SAFETY: `p` was just handed out to this thread, `bytes >= padded` long, 8-aligned.
    if let Some(offset) = unsafe { block::on_alloc(p, size, bytes, true) } {
        written_after_free(p, c as u32, bytes, true, offset);
    }
    Some(p)
}

/// [`alloc`]'s every other case: the mechanism's slow path serves the padded request.
#[inline(never)]
fn alloc_general(size: usize, align: usize, pd: bool, zeroed: bool) -> *mut u8 {
    let Some(padded) = block::padded(size) else {
        // Larger than the address space: the mechanism fails it as it would unchecked.
        return slow_path::alloc_miss(size, align, pd);
    };
    let class = class_for(padded, align);
    let small = class.is_some();
    let p = if small {
        slow_path::alloc_counted(padded, size, align, pd)
    } else {
        slow_path::init(pd);
        slow_path::ensure_published();
        let p = slow_path::alloc_large(padded, size, align, zeroed);
        slow_path::after_slow_path(p.is_null());
        p
    };
    if p.is_null() {
        return p;
    }
    let (class, bytes) = match class {
        Some(c) => (c as u32, block_size(c)),
        None => match large::usable_size(p) {
            Some(bytes) => (HEAP_ERROR_LARGE, bytes),
            None => crate::pal::fatal(b"a large allocation just made is not in the registry"),
        },
    };
    // SAFETY: `p` was just handed out to this thread, `bytes >= padded` long, 8-aligned.
    if let Some(offset) = unsafe { block::on_alloc(p, size, bytes, small) } {
        written_after_free(p, class, bytes, small, offset);
    }
    if zeroed && small {
        // SAFETY: `p` is this caller's block of at least `size` bytes; the slack and the
        // trailer lie beyond `size`.
        unsafe { core::ptr::write_bytes(p, 0, size) };
    }
    p
}

/// Reports that the block at `p` (of `class`, `bytes` long), handed out just now, was
/// written `offset` bytes in while it was free.
#[cold]
#[inline(never)]
fn written_after_free(p: *const u8, class: u32, bytes: usize, small: bool, offset: usize) {
    let write = Write {
        op: HeapErrorOp::Alloc,
        class,
        bytes,
        offset,
    };
    let named = !small || matches!(place(p), Place::Block { sampled: true, .. });
    write.report(p, named, Action::HandedOut);
}

/// A write into a freed block, found at `op`.
struct Write {
    op: HeapErrorOp,
    class: u32,
    bytes: usize,
    offset: usize,
}

impl Write {
    /// Reports it, naming the block's sample site when `sampled` (a large allocation,
    /// or a block of a sampled slot).
    fn report(self, p: *const u8, sampled: bool, action: Action) {
        let mut e = error(
            HeapErrorKind::WriteAfterFree,
            self.op,
            p,
            self.class,
            self.bytes,
        );
        e.offset = Some(self.offset as u64);
        e.site = site(p, sampled);
        report(e, action);
    }
}

/// Reports that the small block at `p`, leaving the quarantine, was written `offset`
/// bytes in (within its first [`block::LINKS`]) while it was held there.
/// Its pattern is filled again: one write is reported once.
#[cold]
#[inline(never)]
fn written_while_held(p: *mut u8, offset: usize) {
    let (class, bytes, sampled) = match place(p) {
        Place::Block {
            class,
            bytes,
            sampled,
            ..
        } => (class, bytes, sampled),
        _ => (HEAP_ERROR_NO_CLASS, 0, false),
    };
    if bytes != 0 {
        // SAFETY: `p` just left this thread's quarantine (see `release_held`) and is a
        // block of `bytes` bytes.
        unsafe { block::refill_freed(p, bytes) };
    }
    let write = Write {
        op: HeapErrorOp::Free,
        class,
        bytes,
        offset,
    };
    write.report(p, sampled, Action::GivenBack);
}

/// Where the mechanism takes a freed block back.
#[derive(Clone, Copy)]
enum Home {
    /// A small block of `ss`, its slot's meta word `w`.
    Small(&'static SuperSlab, u64),
    /// A large allocation.
    Large,
}

/// What a free found at an address.
enum Found {
    /// A block of ours, marked freed now (or found freed already, or not live).
    Block {
        freed: Freed,
        home: Home,
        class: u32,
        bytes: usize,
        sampled: bool,
    },
    /// Inside a SuperSlab, and not a block start.
    Invalid(Invalid),
    /// A freed large allocation still in the large cache (alone or in a merged entry).
    FreedLarge,
    /// Not ours.
    Foreign,
}

/// Places `p` and, when it is a live block, marks it freed (the caller then owns it).
#[inline(always)]
fn mark_freed(p: *mut u8) -> Found {
    match place(p) {
        Place::Block {
            ss,
            w,
            class,
            bytes,
            sampled,
        } => Found::Block {
            // SAFETY: `p` is a block start of an ACTIVE or SAMPLED slot, `bytes` long and
            // mapped while the slot holds it; only its trailer is touched unless the
            // compare-and-swap made the block this caller's.
            freed: unsafe { block::on_free(p, bytes, true) },
            home: Home::Small(ss, w),
            class,
            bytes,
            sampled,
        },
        Place::Invalid(i) => Found::Invalid(i),
        Place::Outside => {
            let large = large::with_live(p, |len| {
                // SAFETY: `p` starts a live large allocation of `len` bytes, which the
                // registry's lock (held while this runs) keeps mapped.
                (unsafe { block::on_free(p, len, false) }, len)
            });
            match large {
                Some((freed, bytes)) => Found::Block {
                    freed,
                    home: Home::Large,
                    class: HEAP_ERROR_LARGE,
                    bytes,
                    sampled: true,
                },
                None if large::is_cached(p) => Found::FreedLarge,
                None if large::holds_inside(p) => Found::Invalid(Invalid {
                    reason: InvalidReason::Interior,
                    class: HEAP_ERROR_LARGE,
                    bytes: 0,
                }),
                None => Found::Foreign,
            }
        }
    }
}

/// Reports what [`mark_freed`] found at `p` for `op`, unless it was a live block;
/// returns where that block goes back (the caller then frees it there).
#[inline(always)]
fn settle(p: *mut u8, op: HeapErrorOp, found: Found) -> Option<Home> {
    let e = match found {
        Found::Block {
            freed: Freed::Now {
                requested,
                overflow,
            },
            home,
            class,
            bytes,
            sampled,
        } => {
            if let Some(offset) = overflow {
                let mut e = error(HeapErrorKind::Overflow, op, p, class, bytes);
                e.requested = requested.map(|r| r as u64);
                e.offset = Some(offset as u64);
                e.site = site(p, sampled);
                report(e, Action::Freed);
            }
            return Some(home);
        }
        Found::Block {
            freed: Freed::Already,
            class,
            bytes,
            sampled,
            ..
        } => {
            let mut e = error(HeapErrorKind::DoubleFree, op, p, class, bytes);
            e.site = site(p, sampled);
            e
        }
        Found::Block {
            freed: Freed::NotLive,
            class,
            bytes,
            ..
        } => {
            let mut e = error(HeapErrorKind::InvalidFree, op, p, class, bytes);
            e.reason = InvalidReason::NotLive;
            e
        }
        Found::Invalid(i) => {
            let mut e = error(HeapErrorKind::InvalidFree, op, p, i.class, i.bytes);
            e.reason = i.reason;
            e
        }
        Found::FreedLarge => error(HeapErrorKind::DoubleFree, op, p, HEAP_ERROR_LARGE, 0),
        Found::Foreign => {
            crate::foreign::foreign_free(p);
            return None;
        }
    };
    // The report goes into the segment too: create it if this is the process's first
    // call (a free of a bad pointer before any allocation).
    slow_path::ensure_published();
    report(e, Action::NotPerformed);
    None
}

/// Gives the block at `p`, marked freed, back to the mechanism.
fn release(p: *mut u8, home: Home) {
    match home {
        Home::Small(ss, w) => slow_path::free_block(ss, p, w),
        Home::Large => slow_path::free_large(p),
    }
}

/// A checked free of `p` (null does nothing).
pub fn free(p: *mut u8, pd: bool) {
    if p.is_null() {
        return;
    }
    if free_live(p, pd) {
        return;
    }
    slow_path::init(pd);
    if let Some(home) = settle(p, HeapErrorOp::Free, mark_freed(p)) {
        // A small block is held back and the quarantine's oldest goes back instead; a
        // large one (a whole mapping) goes back at once.
        let held = match home {
            Home::Small(..) => quarantine(p),
            Home::Large => None,
        };
        match held {
            Some((st, Some(oldest))) => release_held(st, oldest, pd),
            Some((_, None)) => {}
            None => release(p, home),
        }
    }
    slow_path::after_slow_path(false);
}

/// The checked free's common case: `p` is a live block start of an ACTIVE slot, found
/// through the calling thread's view of the pagemap as the free fast path finds it (a
/// slot the thread owns is told by its key; another's by the meta word's state and
/// class): it is marked freed, its canary verified, and it goes into the quarantine,
/// whose oldest block goes back as a free would give it back. `false`, with nothing
/// changed, for everything else (a sampled or large block, a double or invalid free, a
/// thread in a slow path or with no state): [`free`]'s general path places it again
/// and settles it.
///
/// Lifetime: a live block keeps its slot ACTIVE and its SuperSlab mapped while its
/// trailer is read (a double free has the general path's caveat, above).
#[inline(always)]
fn free_live(p: *mut u8, pd: bool) -> bool {
    let Some(st) = thread::current() else {
        return false;
    };
    // SAFETY: the state belongs to this thread; no reference to it is held.
    let t = unsafe { &mut *st };
    if t.busy != 0 {
        return false;
    }
    let a = p as usize;
    // SAFETY: a state's hot record holds its view of the pagemap.
    let Some(w) = (unsafe { pagemap::meta_in(t.hot.map_words, t.hot.map_len, a) }) else {
        return false;
    };
    let c = match owned_offset(w, t.hot.key) {
        // SAFETY: `off` is the class offset of an ACTIVE slot this thread owns; no
        // other reference to the magazine is live.
        Some(off) if unsafe { thread::magazine(st, off) }.is_block_start(a % SLOT_BYTES) => {
            off >> CLASS_SHIFT
        }
        Some(_) => return false,
        None => match active_block_class(w, a % SLOT_BYTES) {
            Some(c) => c,
            None => return false,
        },
    };
    let bytes = block_size(c);
    // SAFETY: `p` is a block start of an ACTIVE slot, `bytes` long; only its trailer is
    // touched unless the compare-and-swap made the block ours.
    match unsafe { block::on_free(p, bytes, true) } {
        Freed::Now { overflow: None, .. } => {}
        Freed::Now {
            requested,
            overflow: Some(offset),
        } => overflowed(
            p,
            HeapErrorOp::Free,
            c as u32,
            bytes,
            requested,
            offset,
            None,
        ),
        Freed::Already | Freed::NotLive => return false,
    }
    if let Some(oldest) = t.quarantine.put(a) {
        release_held(st, oldest as *mut u8, pd);
    }
    true
}

/// Gives back `p`, the oldest block of the quarantine of `st` (the calling thread's
/// state): into the thread's magazine as the free fast path would when the thread owns
/// its slot, else through the mechanism's free slow path.
#[inline(always)]
fn release_held(st: *mut ThreadState, p: *mut u8, pd: bool) {
    // SAFETY: `p` left this thread's quarantine just now; no list has written it since
    // its free filled it.
    if let Some(offset) = unsafe { block::links_changed(p) } {
        written_while_held(p, offset);
    }
    // SAFETY: `st` is this thread's state, and no slow path of it is running (the
    // quarantine handed out `p` only with `busy` 0).
    match unsafe { thread::free_owned(&raw const (*st).hot, p) } {
        OwnerFree::Pushed => {}
        OwnerFree::DrainDue(st) => slow_path::interval_drain(st),
        OwnerFree::Full(st, c) => slow_path::free_overflow(p, st, c),
        OwnerFree::Other(st, w) => slow_path::free_other(p, st, w, pd),
        OwnerFree::NotOwned => slow_path::free_slow_inner(p, pd),
    }
}

/// Puts the small block `p` (marked freed) into the calling thread's quarantine:
/// `None` when the thread has no usable state (the block goes back at once), else the
/// state and the oldest block when the quarantine was full.
#[inline(always)]
fn quarantine(p: *mut u8) -> Option<(*mut ThreadState, Option<*mut u8>)> {
    let st = thread::current()?;
    // SAFETY: the state belongs to this thread; only its quarantine is touched, which
    // no slow path of this thread is using (`busy` is checked first).
    let t = unsafe { &mut *st };
    if t.busy != 0 {
        return None;
    }
    Some((st, t.quarantine.put(p as usize).map(|a| a as *mut u8)))
}

/// The bytes requested for the live allocation at `p`; `None` when `p` is not one.
pub fn usable_size(p: *const u8) -> Option<usize> {
    let state = match place(p) {
        // SAFETY: `p` is a block start of `bytes` bytes of an ACTIVE or SAMPLED slot; only
        // its trailer is read.
        Place::Block { bytes, .. } => (unsafe { block::state(p.cast_mut(), bytes) }, bytes),
        Place::Invalid(_) => return None,
        Place::Outside => large::with_live(p, |len| {
            // SAFETY: as in `mark_freed`; only the trailer is read.
            (unsafe { block::state(p.cast_mut(), len) }, len)
        })?,
    };
    match state {
        (State::Live(l), bytes) => Some(l.requested.unwrap_or(bytes - block::TRAILER)),
        _ => None,
    }
}

/// Whether `p` lies in the allocator's memory: a SuperSlab, a large allocation, or a
/// freed large mapping still cached.
pub fn owns(p: *const u8) -> bool {
    match place(p) {
        Place::Outside => large::with_live(p, |_| ()).is_some() || large::is_cached(p),
        _ => true,
    }
}

/// A checked `realloc` that keeps the block where the mechanism can: a small block
/// whose block holds the padded new size (and more than half of it is used), or a large
/// allocation resized by the large path (grown into the free space after it, shrunk,
/// or remapped), as the unchecked `realloc` does. The old request's canary is verified
/// (an overflow is reported for `realloc` and the block still resized), then the
/// trailer and the canary move to the new size. `None`, with nothing changed, where the
/// block must move or is not a live block (the general path then decides and reports).
fn resize_in_place(p: *mut u8, new_size: usize, align: usize) -> Option<*mut u8> {
    let padded = block::padded(new_size)?;
    if !(p as usize).is_multiple_of(align) {
        return None;
    }
    match place(p) {
        Place::Block {
            class,
            bytes,
            sampled: false,
            ..
        } if padded <= bytes && padded > bytes / 2 => {
            // SAFETY: `p` is a block start of an ACTIVE slot, `bytes` long; only its
            // trailer is read unless it is live (then it is the caller's).
            let r = unsafe { block::on_resize(p, bytes, new_size) }?;
            if let Some(offset) = r.overflow {
                let (op, r) = (HeapErrorOp::Realloc, r.requested);
                overflowed(p, op, class, bytes, r, offset, None);
            }
            Some(p)
        }
        Place::Outside if padded > SMALL_MAX && align <= crate::pal::page_size() => {
            resize_large(p, new_size, padded)
        }
        _ => None,
    }
}

/// [`resize_in_place`] of a large allocation: marked freed as its free would mark it
/// (under the registry's lock), resized by the large path, then marked live at its new
/// size; marked live again, unchanged, when the large path cannot resize it (`None`:
/// the general path moves it).
fn resize_large(p: *mut u8, new_size: usize, padded: usize) -> Option<*mut u8> {
    let (freed, len) = large::with_live(p, |len| {
        // SAFETY: `p` starts a live large allocation of `len` bytes, which the
        // registry's lock (held while this runs) keeps mapped.
        (unsafe { block::on_free(p, len, false) }, len)
    })?;
    let Freed::Now {
        requested,
        overflow,
    } = freed
    else {
        return None;
    };
    if let Some(offset) = overflow {
        let (op, site) = (HeapErrorOp::Realloc, site(p, true));
        overflowed(p, op, HEAP_ERROR_LARGE, len, requested, offset, site);
    }
    sample::on_free_large(p);
    let Some(q) = large::remap(p, padded) else {
        // The large path cannot resize it: live again with its old request (its canary
        // filled again, so an overflow is not reported twice) for the general path to
        // move.
        let old = requested.unwrap_or(len - block::TRAILER);
        // SAFETY: `p` is still the caller's mapping of `len` bytes, marked freed just
        // now by this call.
        unsafe { block::on_alloc(p, old, len, false) };
        return None;
    };
    let Some(len) = large::usable_size(q) else {
        crate::pal::fatal(b"a large allocation just resized is not in the registry");
    };
    // SAFETY: `q` is the caller's mapping of `len >= padded` bytes, resized just now.
    unsafe { block::on_alloc(q, new_size, len, false) };
    Some(q)
}

/// Reports that the block at `p` (of `class`, `bytes` long, `requested` bytes asked
/// for, allocated at `site` when sampled), freed or resized in place by `op` just now,
/// was written `offset` bytes in, past its request; the operation went on.
#[cold]
#[inline(never)]
fn overflowed(
    p: *mut u8,
    op: HeapErrorOp,
    class: u32,
    bytes: usize,
    requested: Option<usize>,
    offset: usize,
    site: Option<u32>,
) {
    let mut e = error(HeapErrorKind::Overflow, op, p, class, bytes);
    e.requested = requested.map(|r| r as u64);
    e.offset = Some(offset as u64);
    e.site = site;
    let action = match op {
        HeapErrorOp::Realloc => Action::Resized,
        _ => Action::Freed,
    };
    report(e, action);
    slow_path::after_slow_path(false);
}

/// A checked `realloc` of `p` (not null) to `new_size` bytes at `align`: a bad `p` is
/// reported and left alone (null is returned); a live one is resized in place where the
/// unchecked `realloc` would keep it ([`resize_in_place`]), else moves to a new checked
/// block.
///
/// # Safety
/// If `p` is a live allocation of ours, the caller gives it up on a non-null return.
pub unsafe fn realloc(p: *mut u8, new_size: usize, align: usize, pd: bool) -> *mut u8 {
    if let Some(q) = resize_in_place(p, new_size, align) {
        return q;
    }
    let Some(old) = usable_size(p) else {
        // Not a live block: the free's checks tell what it is and report it.
        slow_path::init(pd);
        if let Some(home) = settle(p, HeapErrorOp::Realloc, mark_freed(p)) {
            // The block went live again (another thread's allocation) between the two
            // looks, and this call freed it: give it back rather than leak it.
            release(p, home);
        }
        slow_path::after_slow_path(false);
        return core::ptr::null_mut();
    };
    let q = alloc(new_size, align, pd, false);
    if q.is_null() {
        return q;
    }
    // SAFETY: `p` is live with `old` requested bytes, `q` a distinct new block of at
    // least `new_size`.
    unsafe { core::ptr::copy_nonoverlapping(p, q, old.min(new_size)) };
    if let Some(home) = settle(p, HeapErrorOp::Realloc, mark_freed(p)) {
        release(p, home);
    }
    slow_path::after_slow_path(false);
    q
}
