//! The tracing sink under the preload: `libslabscope_trace.so`, loaded the first time the
//! process asks for debug tracing, so that a process that does not ask (almost every
//! one) never maps or relocates tracing-subscriber (1-3 % of a short process's
//! time, docs/BENCHMARKS.md).
//!
//! Looked for at `SLABSCOPE_TRACE_LIB` if set; else beside this library, then in its
//! `deps/` subdirectory (where cargo builds it next to `target/<profile>/`), then by
//! name in the library search path. A library whose fingerprint differs (another build
//! of slabscope) is passed over. When none loads, one line on stderr says so and
//! tracing goes off; the program runs on.
//!
//! `SLABSCOPE_LOG` set: loaded from the load-time constructor ([`load_if_asked`]), where
//! glibc lets a library call `dlopen`. A `log=` filter through the control channel: the
//! next flush starts a thread that loads it, and the events wait in their buffers until
//! it is loaded. Never from inside a `malloc` itself: that call may come from the
//! loader, half way through a `dlopen` on the same thread, and a nested one fails
//! glibc's assertions or deadlocks. Not at all in secure mode (a set-user-ID program):
//! a library path from the environment is not for such a program to load.
#![forbid(unsafe_code)]

use std::sync::OnceLock;

use core::ffi::c_void;
use core::sync::atomic::{AtomicU64, Ordering};

use slabscope::trace::{Batch, Readiness, Sink};
use slabscope_trace_sink::abi::{RawBatch, RawEvent, FINGERPRINT, LIBRARY};

use crate::dl::{self, Entry};
use crate::sys;

/// The sink the preload registers.
pub static SINK: Sink = Sink { ready, write };

const UNTRIED: u64 = 0;
const LOADING: u64 = 1;
const LOADED: u64 = 2;
const MISSING: u64 = 3;

/// The load's state in the low byte, and above it the pid of the process whose thread
/// moved it there last: a `LOADING` from another pid was left by a fork while the
/// parent loaded. One word, so that every move is one compare-exchange.
static STATE: AtomicU64 = AtomicU64::new(UNTRIED);
static ENTRY: OnceLock<Entry> = OnceLock::new();

fn word(state: u64) -> u64 {
    u64::from(std::process::id()) << 8 | state
}

/// From the load-time constructor: loads the library now when `SLABSCOPE_LOG` asks for
/// tracing (the first flushes then find it ready).
pub fn load_if_asked() {
    if slabscope::options::get().log.is_none() {
        return;
    }
    let seen = STATE.load(Ordering::Acquire);
    if seen & 0xff == UNTRIED && claim(seen) {
        let saved = sys::errno();
        finish(slabscope::trace::paused(load));
        sys::set_errno(saved);
    }
}

/// Takes the load on (`seen`, an `UNTRIED` word, -> `LOADING`); `false` when another
/// caller took it first.
fn claim(seen: u64) -> bool {
    STATE
        .compare_exchange(seen, word(LOADING), Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// Ends the load this process's caller claimed.
fn finish(entry: Option<Entry>) -> Readiness {
    let (state, readiness) = match entry {
        Some(e) => {
            let _ = ENTRY.set(e);
            (LOADED, Readiness::Now)
        }
        None => (MISSING, Readiness::Never),
    };
    let _ = STATE.compare_exchange(
        word(LOADING),
        word(state),
        Ordering::AcqRel,
        Ordering::Acquire,
    );
    readiness
}

extern "C" fn loader(_: *mut c_void) -> *mut c_void {
    finish(slabscope::trace::paused(load));
    core::ptr::null_mut()
}

/// Starts the thread that loads the library (inside a `malloc`: `errno` kept).
fn spawn_loader() -> bool {
    let saved = sys::errno();
    let started = sys::spawn_detached(loader);
    sys::set_errno(saved);
    started
}

fn ready() -> Readiness {
    let seen = STATE.load(Ordering::Acquire);
    match seen & 0xff {
        LOADED => Readiness::Now,
        MISSING => Readiness::Never,
        LOADING if seen == word(LOADING) => Readiness::NotYet,
        LOADING => {
            // Forked while the parent's thread loaded: the loader's own state may be half
            // changed in this copy, so no `dlopen` here.
            if STATE
                .compare_exchange(seen, word(MISSING), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                sys::say(&[
                    b"slabscope: forked while libslabscope_trace.so was being loaded: nothing is traced in this process",
                ]);
            }
            Readiness::Never
        }
        _ if !claim(seen) => Readiness::NotYet,
        // No thread for a program that may not load it: `load` says so and returns.
        _ if sys::secure() => finish(load()),
        _ if spawn_loader() => Readiness::NotYet,
        _ => {
            sys::say(&[
                b"slabscope: cannot start a thread to load libslabscope_trace.so: nothing is traced",
            ]);
            finish(None)
        }
    }
}

fn write(batch: &Batch<'_>) -> bool {
    let Some(entry) = ENTRY.get() else {
        return false;
    };
    let mut room = [RawEvent::default(); slabscope::trace::BATCH_MAX];
    entry.write(&RawBatch::of(batch, &mut room))
}

/// A path being built, NUL-terminated when used.
struct PathBuf {
    bytes: [u8; 4096],
    len: usize,
}

impl PathBuf {
    fn new() -> Self {
        Self {
            bytes: [0; 4096],
            len: 0,
        }
    }

    fn push(&mut self, part: &[u8]) -> bool {
        let end = self.len + part.len();
        if end >= self.bytes.len() {
            return false;
        }
        self.bytes[self.len..end].copy_from_slice(part);
        self.len = end;
        true
    }

    /// The path with its NUL.
    fn c_path(&mut self) -> &[u8] {
        self.bytes[self.len] = 0;
        &self.bytes[..=self.len]
    }
}

/// What went wrong with the first candidate, for the message.
struct Why {
    path: PathBuf,
    text: [u8; 512],
    len: usize,
}

/// Tries `path`; on failure keeps the first failure's path and reason in `why`.
fn try_path(path: &mut PathBuf, why: &mut Option<Why>) -> Option<Entry> {
    let mut text = [0u8; 512];
    let len = match dl::open(path.c_path(), &mut text) {
        Ok(lib) => match lib.entry(FINGERPRINT) {
            Some(e) => return Some(e),
            None => {
                let m = b"not a tracing library of this build of slabscope";
                text[..m.len()].copy_from_slice(m);
                m.len()
            }
        },
        Err(n) => n,
    };
    if why.is_none() {
        let mut p = PathBuf::new();
        p.push(&path.bytes[..path.len]);
        *why = Some(Why { path: p, text, len });
    }
    None
}

fn load() -> Option<Entry> {
    if sys::secure() {
        sys::say(&[
            b"slabscope: debug tracing is not loaded in a set-user-ID or set-group-ID program",
        ]);
        return None;
    }
    let mut why = None;
    if let Some(path) = slabscope::options::get().trace_lib {
        let mut p = PathBuf::new();
        if p.push(path) {
            if let Some(e) = try_path(&mut p, &mut why) {
                return Some(e);
            }
        }
        say_missing(b"SLABSCOPE_TRACE_LIB=", why.as_ref());
        return None;
    }
    let mut own = [0u8; 4096];
    if let Some(n) = dl::own_path(&mut own) {
        let dir = match own[..n].iter().rposition(|&b| b == b'/') {
            Some(i) => &own[..=i],
            None => &b"./"[..],
        };
        for sub in [&b""[..], b"deps/"] {
            let mut p = PathBuf::new();
            if p.push(dir) && p.push(sub) && p.push(LIBRARY) {
                if let Some(e) = try_path(&mut p, &mut why) {
                    return Some(e);
                }
            }
        }
    }
    let mut p = PathBuf::new();
    p.push(LIBRARY);
    if let Some(e) = try_path(&mut p, &mut None) {
        return Some(e);
    }
    say_missing(b"", why.as_ref());
    None
}

fn say_missing(setting: &[u8], why: Option<&Why>) {
    let (path, text): (&[u8], &[u8]) = match why {
        Some(w) => (&w.path.bytes[..w.path.len], &w.text[..w.len]),
        None => (LIBRARY, b"not found"),
    };
    sys::say(&[
        b"slabscope: debug tracing needs libslabscope_trace.so (built with the preload); cannot load ",
        setting,
        path,
        b" (",
        text,
        b"): nothing is traced",
    ]);
}
