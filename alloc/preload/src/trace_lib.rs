//! The tracing sink under the preload: `libslabscope_trace.so`, loaded the first time the
//! process asks for debug tracing, so that a process that does not ask (almost every
//! one) never maps or relocates tracing-subscriber (about 2 % of a short process's
//! time, docs/BENCHMARKS.md).
//!
//! Looked for at `SLABSCOPE_TRACE_LIB` if set; else beside this library, then in its
//! `deps/` subdirectory (where cargo builds it next to `target/<profile>/`), then by
//! name in the library search path. A library whose fingerprint differs (another build
//! of slabscope) is passed over. When none loads, one line on stderr says so and
//! tracing goes off; the program runs on.
//!
//! `SLABSCOPE_LOG` set: loaded from the load-time constructor ([`slabscope::trace::set_sink`]).
//! A `log=` filter through the control channel: loaded by the next flush, unless a
//! `dlopen` is half done ([`dl::loader_idle`]; the events wait for a later flush).
#![forbid(unsafe_code)]

use std::sync::OnceLock;

use core::sync::atomic::{AtomicU8, Ordering};

use slabscope::trace::{Batch, Readiness, Sink};
use slabscope_trace_sink::abi::{RawBatch, RawEvent, FINGERPRINT, LIBRARY};

use crate::dl::{self, Entry};
use crate::sys;

/// The sink the preload registers.
pub static SINK: Sink = Sink { ready, write };

const UNTRIED: u8 = 0;
const LOADING: u8 = 1;
const LOADED: u8 = 2;
const MISSING: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNTRIED);
static ENTRY: OnceLock<Entry> = OnceLock::new();

/// Events one call passes (a flush's buffer holds as many).
const ROOM: usize = 64;

fn ready() -> Readiness {
    match STATE.load(Ordering::Acquire) {
        LOADED => Readiness::Now,
        MISSING => Readiness::Never,
        LOADING => Readiness::NotYet,
        _ if !dl::loader_idle() => Readiness::NotYet,
        _ => {
            if STATE
                .compare_exchange(UNTRIED, LOADING, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                return Readiness::NotYet;
            }
            match load() {
                Some(entry) => {
                    let _ = ENTRY.set(entry);
                    STATE.store(LOADED, Ordering::Release);
                    Readiness::Now
                }
                None => {
                    STATE.store(MISSING, Ordering::Release);
                    Readiness::Never
                }
            }
        }
    }
}

fn write(batch: &Batch<'_>) -> bool {
    let Some(entry) = ENTRY.get() else {
        return false;
    };
    let mut room = [RawEvent::default(); ROOM];
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
