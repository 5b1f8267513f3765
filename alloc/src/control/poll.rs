//! Polling the control file `slabscope.<pid>.ctl` from the interval-drain slow path
//! (unless `SLABSCOPE_CONTROL=0`).
//!
//! At most one thread polls at a time, and the file is looked at at most every
//! [`POLL_INTERVAL_NS`] process-wide: other calls cost a clock read and two relaxed
//! loads. A look is one `lstat`; only a file not seen before (new device, inode,
//! change time, modification time or size) is opened (`O_NOFOLLOW`), checked again with
//! `fstat`, read into a stack buffer, parsed whole, and then either acted on whole or
//! refused whole. Either way one [`EventKind::ControlAck`] goes into the ring.
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use slabscope_proto::event::ControlReason;
use slabscope_proto::{monotonic_ns, EventKind};

use super::parse::{self, Commands, Refusal, MAX_FILE};
use crate::settings;
use crate::stats::TOTALS;
use crate::{options, pal, publish};

/// Least time between two looks at the control file, ns (100 ms).
pub const POLL_INTERVAL_NS: u64 = 100_000_000;

/// How long after a look was due a set `POLLING` flag is taken as abandoned.
const STUCK_NS: u64 = 1_000_000_000;

static POLLING: AtomicBool = AtomicBool::new(false);
static NEXT_LOOK_NS: AtomicU64 = AtomicU64::new(0);
/// Identity of the last file version handled: dev, ino, ctime, mtime, size.
static LAST_ID: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];
/// `seq` of the last accepted file.
static LAST_SEQ: AtomicU64 = AtomicU64::new(0);

/// Called by a thread's interval drain (a slow path; never the fast path). Looks at the
/// control file when it is due and acts on it; returns whether the calling thread must
/// now drain all its magazines (a `drain` was accepted since it last looked).
pub fn poll() -> bool {
    if !options::get().control {
        return false;
    }
    let now = monotonic_ns();
    let next = NEXT_LOOK_NS.load(Ordering::Relaxed);
    if now >= next {
        // A look takes microseconds; a flag still set a second after the look was due
        // belongs to a poller that cannot finish (this is a child forked while another
        // thread was polling), and is taken over.
        let busy = POLLING.swap(true, Ordering::Acquire);
        if !busy || now >= next.saturating_add(STUCK_NS) {
            NEXT_LOOK_NS.store(now.saturating_add(POLL_INTERVAL_NS), Ordering::Relaxed);
            look(now);
            POLLING.store(false, Ordering::Release);
        }
    }
    settings::take_drain_request()
}

/// `<SLABSCOPE_SHM_DIR>/slabscope.<pid>.ctl` plus a NUL into `buf`; `None` if too long.
fn ctl_path(buf: &mut [u8; 256]) -> Option<&[u8]> {
    let dir = options::get().shm_dir;
    let mut digits = [0u8; 20];
    let sep: &[u8] = if dir.ends_with(b"/") { b"" } else { b"/" };
    let parts: [&[u8]; 6] = [
        dir,
        sep,
        b"slabscope.",
        pal::fmt_u64(pal::getpid() as u64, &mut digits),
        b".ctl",
        b"\0",
    ];
    let mut n = 0;
    for b in parts.iter().flat_map(|p| p.iter()) {
        *buf.get_mut(n)? = *b;
        n += 1;
    }
    Some(&buf[..n])
}

fn identity(st: &pal::FileStat) -> [u64; 5] {
    [
        st.dev,
        st.ino,
        st.ctime_ns as u64,
        st.mtime_ns as u64,
        st.size,
    ]
}

/// Records `id` as handled; returns false when it already was.
fn first_sight(id: [u64; 5]) -> bool {
    if LAST_ID
        .iter()
        .zip(id)
        .all(|(a, v)| a.load(Ordering::Relaxed) == v)
    {
        return false;
    }
    for (a, v) in LAST_ID.iter().zip(id) {
        a.store(v, Ordering::Relaxed);
    }
    true
}

fn look(now: u64) {
    // Without a segment there is no ring to acknowledge in and no file beside it (and
    // looking does not create one: `SLABSCOPE_PUBLISH_AFTER_MS` may be putting it off).
    let Some(w) = publish::current() else { return };
    // A control file is written for a process whose segment was found, so the first look
    // is due an interval after the segment's start, as every later one is an interval
    // after the one before: a command waits no longer than it can anyway, and a
    // process that ends sooner makes no look (one `lstat` fewer in every short process).
    let due = w
        .header()
        .start_mono_ns
        .load(Ordering::Relaxed)
        .saturating_add(POLL_INTERVAL_NS);
    if now < due {
        NEXT_LOOK_NS.store(due, Ordering::Relaxed);
        return;
    }
    let mut path_buf = [0u8; 256];
    let Some(path) = ctl_path(&mut path_buf) else {
        return;
    };
    let Ok(st) = pal::lstat(path) else { return };
    if !first_sight(identity(&st)) {
        return;
    }
    let euid = pal::geteuid();
    let refused = |reason| Refusal {
        reason,
        line: 0,
        seq: 0,
    };
    if let Some(r) = check(&st, euid) {
        return ack(Err(refused(r)), 0);
    }
    let mut buf = [0u8; MAX_FILE + 1];
    let read = pal::read_small(path, &mut buf, |f| {
        check(f, euid).is_none() && identity(f) == identity(&st)
    });
    let text = match read {
        // Replaced between lstat and open: the new version is handled next time.
        Ok((f, _)) if identity(&f) != identity(&st) => {
            LAST_ID[1].store(0, Ordering::Relaxed);
            return;
        }
        Ok((f, n)) => match check(&f, euid) {
            Some(r) => return ack(Err(refused(r)), 0),
            None if n > MAX_FILE => return ack(Err(refused(ControlReason::TooLarge)), 0),
            None => &buf[..n],
        },
        Err(libc::ELOOP) => return ack(Err(refused(ControlReason::NotRegular)), 0),
        Err(libc::ENOENT) => return,
        Err(_) => return ack(Err(refused(ControlReason::Io)), 0),
    };
    let parsed = parse::parse(text).and_then(|c| {
        let start = w.header().start_unix_ns.load(Ordering::Relaxed);
        if c.seq <= LAST_SEQ.load(Ordering::Relaxed) || c.seq <= start {
            Err(Refusal {
                reason: ControlReason::Stale,
                line: 1,
                seq: c.seq,
            })
        } else if c.check.is_some() && !crate::check::on() {
            // Switching checks on in a running process would find its blocks without
            // trailers: only a process started with them can switch between the modes.
            Err(Refusal {
                reason: ControlReason::Unavailable,
                line: 0,
                seq: c.seq,
            })
        } else {
            Ok(c)
        }
    });
    let trimmed = match &parsed {
        Ok(c) => apply(c),
        Err(_) => 0,
    };
    ack(parsed, trimmed);
}

/// Why a file with this stat is refused before it is read, if it is.
fn check(st: &pal::FileStat, euid: u32) -> Option<ControlReason> {
    if !st.regular {
        Some(ControlReason::NotRegular)
    } else if st.uid != euid {
        Some(ControlReason::NotOwner)
    } else if st.size > MAX_FILE as u64 {
        Some(ControlReason::TooLarge)
    } else {
        None
    }
}

/// Carries out every command of an accepted file; returns the SuperSlabs trimmed.
fn apply(c: &Commands<'_>) -> u64 {
    LAST_SEQ.store(c.seq, Ordering::Relaxed);
    if let Some(f) = c.log {
        settings::set_log_filter(f);
    }
    if let Some(s) = c.sample {
        // Before any thread samples: a segment made while the process did not sample
        // has no sample-site records allocated yet.
        if s != 0 {
            publish::prepare_sample_sites();
        }
        settings::set_sample_rate(s);
    }
    if c.drain {
        settings::request_drain();
    }
    if let Some(mode) = c.check {
        crate::check::mode::switch(mode);
    }
    if !c.trim {
        return 0;
    }
    let before = TOTALS.superslabs_returned_total.load(Ordering::Relaxed);
    crate::trim::trim();
    publish::totals();
    TOTALS
        .superslabs_returned_total
        .load(Ordering::Relaxed)
        .saturating_sub(before)
}

fn ack(result: Result<Commands<'_>, Refusal>, trimmed: u64) {
    let (seq, accepted, commands, reason, line) = match result {
        Ok(c) => (c.seq, true, c.bits(), ControlReason::Accepted, 0),
        Err(r) => (r.seq, false, 0, r.reason, r.line),
    };
    publish::event(&EventKind::ControlAck {
        seq,
        accepted,
        commands,
        reason,
        line,
        sample_bytes: settings::sample_rate().unwrap_or(0),
        log_hash: settings::log_filter().map_or(0, |f| {
            slabscope_proto::event::control_log_hash(f.as_bytes())
        }),
        trimmed,
    });
}
