//! The buffers a tracing thread captures events into until its flush: a static pool, a
//! buffer taken at a slow path's first captured event and given back when the flush
//! has copied the events out (or at the thread's exit).
//!
//! They are not thread-locals: every thread of every program under the preload would
//! carry them in its static TLS block (5 KiB, copied at each thread's creation, and too
//! large for a `dlopen` of the library), though tracing is off by default. Here they
//! are zeroed static memory whose pages are touched only when tracing is on. An event
//! is kept in its ring form (`EventKind::code` and `args`), in atomics, so that the
//! pool needs no unsafe code; only the buffer's owner reads and writes it.
#![forbid(unsafe_code)]

use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use slabscope_proto::layout::EVENT_ARGS;
use slabscope_proto::EventKind;

/// Events one buffer holds (a slow path captures a handful; a drain of every class, one
/// per class).
pub const CAP: usize = 64;

/// Buffers in the pool: threads between a capture and their flush at once (a slow path
/// each). A thread beyond them drops its events (counted and reported by its flush).
const BUFFERS: usize = 64;

/// Words of one event: its code, then its arguments.
const WORDS: usize = 1 + EVENT_ARGS;

struct Buffer([[AtomicU64; WORDS]; CAP]);

static POOL: [Buffer; BUFFERS] =
    [const { Buffer([const { [const { AtomicU64::new(0) }; WORDS] }; CAP]) }; BUFFERS];

/// Bit `i` set while buffer `i` has an owner.
static TAKEN: AtomicU64 = AtomicU64::new(0);
const _: () = assert!(BUFFERS == u64::BITS as usize);

/// Takes a free buffer for the calling thread; `None` when every buffer has an owner.
/// Lock-free and without system calls (safe under any allocator lock).
pub fn take() -> Option<usize> {
    let mut taken = TAKEN.load(Relaxed);
    loop {
        let free = !taken;
        if free == 0 {
            return None;
        }
        let i = free.trailing_zeros() as usize;
        match TAKEN.compare_exchange_weak(taken, taken | 1 << i, Acquire, Relaxed) {
            Ok(_) => return Some(i),
            Err(now) => taken = now,
        }
    }
}

/// Gives buffer `i` back (its owner flushed it, or is exiting).
pub fn give_back(i: usize) {
    if i < BUFFERS {
        TAKEN.fetch_and(!(1 << i), Release);
    }
}

/// Stores `kind` as event `n` of buffer `i` (the caller owns it; `n < CAP`).
pub fn put(i: usize, n: usize, kind: &EventKind) {
    let Some(w) = POOL.get(i).and_then(|b| b.0.get(n)) else {
        return;
    };
    w[0].store(u64::from(kind.code()), Relaxed);
    for (word, arg) in w[1..].iter().zip(kind.args()) {
        word.store(arg, Relaxed);
    }
}

/// Event `n` of buffer `i` (the caller owns it and stored it).
pub fn get(i: usize, n: usize) -> Option<EventKind> {
    let w = POOL.get(i)?.0.get(n)?;
    let mut args = [0u64; EVENT_ARGS];
    for (arg, word) in args.iter_mut().zip(&w[1..]) {
        *arg = word.load(Relaxed);
    }
    EventKind::decode(w[0].load(Relaxed) as u16, args).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_comes_back_as_stored_and_buffers_are_taken_once() {
        let kind = EventKind::SuperSlabMap {
            superslab: 0x7f00_0000_0000,
            mapped_bytes: 2 << 20,
        };
        let a = take().unwrap();
        let b = take().unwrap();
        assert_ne!(a, b);
        put(a, CAP - 1, &kind);
        assert_eq!(get(a, CAP - 1), Some(kind));
        put(a, CAP, &kind);
        assert_eq!(get(a, CAP), None, "past the buffer");
        give_back(a);
        give_back(b);
    }
}
