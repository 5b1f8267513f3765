//! Creating the segment, finding it, and detaching from the parent's after `fork`.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};

use slabscope_proto::layout::{FLAG_PRELOAD, MAX_CLASSES};
use slabscope_proto::{
    coarse_monotonic_ns, command_from_proc, CreateError, SampleConfig, SegmentConfig, SegmentWriter,
};

use crate::options;
use crate::pal;
use crate::size_class::{CLASS_COUNT, CLASS_SIZES};

const UNDECIDED: u8 = 0;
const OFF: u8 = 1;
const PENDING: u8 = 2;
const CREATING: u8 = 3;
const READY: u8 = 4;
const FAILED: u8 = 5;

/// Sample-site records in every segment (208 bytes each).
pub const SAMPLE_SITES: u32 = 1024;

static STATE: AtomicU8 = AtomicU8::new(UNDECIDED);
static DEFAULT: AtomicU8 = AtomicU8::new(0);
static WRITER: AtomicPtr<SegmentWriter> = AtomicPtr::new(core::ptr::null_mut());

/// Where the process's first writer lives (spares a short process a mapping of its
/// own). Written once, by the [`create_slow`] that wins `PENDING -> CREATING` while
/// `FIRST_TAKEN` was clear, and never again in this address space: a forked child
/// inherits `FIRST_TAKEN` set (and a stale copy of the parent's writer here, which its
/// old references may still read), so its own writer goes to a fresh page.
struct FirstWriter(UnsafeCell<MaybeUninit<SegmentWriter>>);

// SAFETY: the cell is written once, before WRITER publishes it (Release), and only read
// after (through WRITER, Acquire); see `FirstWriter`.
unsafe impl Sync for FirstWriter {}

static FIRST: FirstWriter = FirstWriter(UnsafeCell::new(MaybeUninit::uninit()));
static FIRST_TAKEN: AtomicBool = AtomicBool::new(false);
static GEN: AtomicU32 = AtomicU32::new(1);
static EXTRA_FLAGS: AtomicU32 = AtomicU32::new(0);

/// Records the binary's publishing default; the first call wins.
pub(crate) fn set_default(on: bool) {
    let _ = DEFAULT.compare_exchange(0, 1 + on as u8, Ordering::AcqRel, Ordering::Acquire);
}

/// Marks this process as running under the LD_PRELOAD shim (`FLAG_PRELOAD`), now or
/// when the segment is created.
pub fn mark_preload() {
    EXTRA_FLAGS.fetch_or(FLAG_PRELOAD, Ordering::Relaxed);
    if let Some(w) = current() {
        w.set_flag(FLAG_PRELOAD);
    }
}

/// The segment generation: bumped in a forked child, whose segment is a new one.
#[inline]
pub(crate) fn generation() -> u32 {
    GEN.load(Ordering::Relaxed)
}

/// The segment if it exists (never creates it).
#[inline(always)]
pub(crate) fn current() -> Option<&'static SegmentWriter> {
    let p = WRITER.load(Ordering::Acquire);
    // SAFETY: WRITER only ever holds a writer moved into storage that lives as long as
    // the process and is never written again (`FirstWriter`, or a never-unmapped page).
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Set when a segment is created, taken by the first [`ensure`] that sees it: the
/// SuperSlabs mapped before the segment existed still have to be published.
static BACKFILL: AtomicU8 = AtomicU8::new(0);

/// With `SLABSCOPE_PUBLISH_AFTER_MS`: the coarse monotonic time before which [`ensure`]
/// does not create the segment (0: no such time). Set when publishing is decided, and
/// again in a forked child.
static NOT_BEFORE: AtomicU64 = AtomicU64::new(0);

/// The process's segment, created now if publishing is on and it does not exist yet
/// (whatever `SLABSCOPE_PUBLISH_AFTER_MS` says: the OOM report and GPU pools need it at
/// once), and whether this call created it. `None` when publishing is off or the
/// segment could not be created.
pub(super) fn segment() -> (Option<&'static SegmentWriter>, bool) {
    let s = STATE.load(Ordering::Acquire);
    let created = s < CREATING && s != OFF && create_slow(s, true);
    (current(), created)
}

/// Creates the segment if publishing is on and it does not exist. Returns whether
/// SuperSlabs must be published (again): `true` once per segment, to the first caller
/// that sees it (the SuperSlabs mapped before it existed), and when a SuperSlab record
/// claim was put off since the last call; and whether this call created the segment.
/// It also allocates the next pages of the segment's tables and ring when they filled
/// past half of what is allocated (`SegmentWriter::grow`).
#[inline]
pub(super) fn ensure() -> (bool, bool) {
    let s = STATE.load(Ordering::Acquire);
    let created = s < CREATING && s != OFF && create_slow(s, false);
    let put_off = current().is_some_and(|w| w.grow());
    let backfill = BACKFILL.load(Ordering::Relaxed) != 0 && BACKFILL.swap(0, Ordering::AcqRel) != 0;
    (backfill || put_off, created)
}

/// Decides publishing and creates the segment; `true` when this call created it. Unless
/// `forced`, not before the time `SLABSCOPE_PUBLISH_AFTER_MS` sets.
#[cold]
#[inline(never)]
fn create_slow(mut s: u8, forced: bool) -> bool {
    let opts = options::get();
    if s == UNDECIDED {
        let default_on = DEFAULT.load(Ordering::Acquire) != 1;
        let on = opts.publish.unwrap_or(default_on) && opts.publish_only.is_none_or(is_named);
        let next = if on { PENDING } else { OFF };
        if on {
            put_off(opts.publish_after_ms);
        }
        s = match STATE.compare_exchange(UNDECIDED, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => next,
            Err(now) => now,
        };
    }
    if s == PENDING && !forced && coarse_monotonic_ns() < NOT_BEFORE.load(Ordering::Relaxed) {
        return false;
    }
    if s != PENDING
        || STATE
            .compare_exchange(PENDING, CREATING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    {
        return false;
    }
    let mut class_sizes = [0u32; MAX_CLASSES];
    class_sizes[..CLASS_COUNT].copy_from_slice(&CLASS_SIZES);
    let cfg = SegmentConfig {
        class_sizes,
        class_count: CLASS_COUNT as u32,
        max_threads: opts.max_threads,
        max_superslabs: opts.max_superslabs,
        max_gpu_pools: opts.max_gpu_pools,
        ring_capacity: opts.ring_capacity,
        drain_interval: opts.drain_interval,
        limit_bytes: opts.limit,
        flags: EXTRA_FLAGS.load(Ordering::Relaxed),
    };
    let pid = pal::getpid();
    // Every segment has the sample-site section, so `sample=` through the control
    // channel can switch sampling on at run time (its first records get their pages
    // then: `prepare_sample_sites`); the header carries the interval in force (0 when
    // not sampling).
    let sample = SampleConfig {
        max_sites: SAMPLE_SITES,
        interval_bytes: crate::settings::sample_interval(),
    };
    // A growing segment: its pages are allocated as its tables and ring fill, so a
    // process that allocates little costs little tmpfs and RSS (`ensure` grows it).
    let create = || SegmentWriter::create_growing(opts.shm_dir, pid, &cfg, Some(&sample));
    let mut created = create();
    if matches!(created, Err(CreateError::Exists)) && remove_stale(opts.shm_dir, pid) {
        created = create();
    }
    let w = match created {
        Ok(w) => w,
        Err(e) => {
            say_cannot(opts.shm_dir, &e);
            STATE.store(FAILED, Ordering::Release);
            return false;
        }
    };
    // The segments of ended processes beyond SLABSCOPE_KEEP go (see sweep.rs).
    let mut dir = [0u8; 256];
    let n = opts.shm_dir.len();
    if n < dir.len() {
        dir[..n].copy_from_slice(opts.shm_dir);
        super::sweep::sweep(&dir[..=n], opts.keep, pid);
    }
    let p = if !FIRST_TAKEN.swap(true, Ordering::AcqRel) {
        FIRST.0.get().cast::<SegmentWriter>()
    } else {
        let bytes = core::mem::size_of::<SegmentWriter>().max(1);
        let Some(page) = pal::map(bytes, false) else {
            let _ = w.unlink();
            say_cannot(
                opts.shm_dir,
                &CreateError::Io {
                    op: "mmap",
                    errno: libc::ENOMEM,
                },
            );
            STATE.store(FAILED, Ordering::Release);
            return false;
        };
        page.cast::<SegmentWriter>()
    };
    // SAFETY: `p` is the static cell, taken once in this address space (`FirstWriter`),
    // or a fresh private mapping large and aligned enough (page aligned) for one writer
    // that is never unmapped; either way nothing else refers to it yet and it lives for
    // the rest of the process, so references to it are 'static.
    unsafe { p.write(w) };
    WRITER.store(p, Ordering::Release);
    STATE.store(READY, Ordering::Release);
    BACKFILL.store(1, Ordering::Release);
    true
}

/// Puts the segment's creation by [`ensure`] off by `ms` milliseconds from now (none
/// when 0). A segment put off reads the command line as it is then.
fn put_off(ms: u64) {
    let at = match ms {
        0 => 0,
        ms => {
            command_from_proc();
            coarse_monotonic_ns().saturating_add(ms.saturating_mul(1_000_000))
        }
    };
    NOT_BEFORE.store(at, Ordering::Relaxed);
}

/// Whether this process's name (`/proc/self/comm`, as `SLABSCOPE_PUBLISH=<name>`
/// compares it) is `name`.
fn is_named(name: &[u8]) -> bool {
    let mut buf = [0u8; 32];
    match pal::read_small(b"/proc/self/comm\0", &mut buf, |st| st.regular) {
        Ok((_, n)) => buf[..n].strip_suffix(b"\n").unwrap_or(&buf[..n]) == name,
        Err(_) => false,
    }
}

/// Removes `dir/slabscope.<pid>` when it is a regular file owned by this user: a file
/// with this process's own pid can only be stale, left by the program this process ran
/// before an `execve` (atexit handlers do not run across exec) or by a dead process
/// whose pid was reused. Returns whether it was removed.
fn remove_stale(dir: &[u8], pid: u32) -> bool {
    let mut path = [0u8; 256];
    let mut digits = [0u8; 20];
    let sep: &[u8] = if dir.ends_with(b"/") { b"" } else { b"/" };
    let parts: [&[u8]; 4] = [
        dir,
        sep,
        b"slabscope.",
        pal::fmt_u64(pid as u64, &mut digits),
    ];
    for (n, b) in parts.iter().flat_map(|p| p.iter()).enumerate() {
        if n == path.len() - 1 {
            return false;
        }
        path[n] = *b;
    }
    // SAFETY: an all-zero `stat` is a valid value for lstat to overwrite.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated (zero-filled past the name); `st` is a valid out-pointer.
    if unsafe { libc::lstat(path.as_ptr().cast(), &mut st) } != 0 {
        return false;
    }
    // SAFETY: geteuid has no preconditions.
    let mine = st.st_uid == unsafe { libc::geteuid() };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG || !mine {
        return false;
    }
    // SAFETY: `path` is NUL-terminated.
    unsafe { libc::unlink(path.as_ptr().cast()) == 0 }
}

fn say_cannot(dir: &[u8], e: &CreateError) {
    let mut num = [0u8; 20];
    let reason: &[&[u8]] = match e {
        CreateError::PathTooLong => &[b"path too long"],
        CreateError::Exists => &[b"a file with its name already exists"],
        CreateError::Io { op, errno } => &[
            op.as_bytes(),
            b" failed, errno ",
            pal::fmt_u64(*errno as u64, &mut num),
        ],
        CreateError::BadConfig(why) => &[why.as_bytes()],
    };
    let mut parts: [&[u8]; 8] = [b""; 8];
    parts[0] = b"slabscope: cannot create the segment in ";
    parts[1] = dir;
    parts[2] = b" (";
    let mut n = 3;
    for r in reason {
        parts[n] = r;
        n += 1;
    }
    parts[n] = b"); continuing without publishing";
    pal::write_stderr(&parts[..=n]);
}

/// The segment if this process is its writer: `None` also in a `vfork` child, which
/// shares the parent's memory, and with it the parent's writer.
pub(super) fn own() -> Option<&'static SegmentWriter> {
    current().filter(|w| w.header().pid.load(Ordering::Relaxed) == pal::getpid())
}

/// Marks the segment `w` (this process's own) closed and removes it, unless an
/// allocation failed for lack of memory (the segment keeps the OOM report for
/// `alloc-inspect --postmortem`; `alloc-inspect gc` removes it later).
pub(super) fn close(w: &SegmentWriter) {
    w.close();
    if w.header().flags.load(Ordering::Relaxed) & slabscope_proto::layout::FLAG_OOM == 0 {
        let _ = w.unlink();
    }
}

/// In a forked child: stop writing to the parent's segment (its mapping is replaced by
/// private zero pages, so stale references stay valid but reach nothing shared; the
/// parent's file is untouched) and let the next slow path create the child's own.
pub(super) fn after_fork_child() {
    // The child's command line is read when its segment is made: a worker may have
    // renamed itself by then.
    command_from_proc();
    let p = WRITER.swap(core::ptr::null_mut(), Ordering::AcqRel);
    GEN.fetch_add(1, Ordering::Relaxed);
    if !p.is_null() {
        // SAFETY: the writer's storage is never unmapped nor written again.
        let w = unsafe { &*p };
        let h = w.header();
        let len = h.total_size.load(Ordering::Relaxed) as usize;
        // SAFETY: the segment mapping starts at the header and spans `total_size`
        // bytes; in the child nobody else uses it and its contents are not needed.
        let ok = unsafe { pal::replace_with_anonymous(h as *const _ as *mut u8, len) };
        if !ok {
            pal::fatal(b"cannot detach from the parent's segment after fork");
        }
    }
    let s = STATE.load(Ordering::Acquire);
    if s == READY || s == CREATING || s == FAILED && !p.is_null() {
        STATE.store(PENDING, Ordering::Release);
    }
    // The child's own segment waits as long from the fork as the parent's from its start.
    if s != UNDECIDED && s != OFF {
        put_off(options::get().publish_after_ms);
    }
}
