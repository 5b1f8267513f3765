//! The one thread-local word the allocator's fast paths read: the calling thread's state
//! address, or the address of one of the [`IDLE`] records (no state yet, being created,
//! gone; `thread` names them). Beside it, a second word the slow paths read: the thread's
//! kernel thread id ([`tid`]), so that publishing an event makes no system call.
//!
//! Every thread's word starts as the address of `IDLE[0]` (a `.tdata` initial value on
//! x86_64 Linux, a `const` initialiser elsewhere), so the word always points at
//! something readable: the fast paths read a key and a sampling countdown through it
//! with no test for "no state" first. An idle record reads as a key no slot's meta word
//! matches, no bytes left before the next sample and an empty view of the pagemap, so
//! every fast path fails its first compare and takes its slow path; the records are
//! immutable statics (read-only memory), which the fast paths only ever read.
//!
//! On x86_64 Linux the word is declared in assembly in the *initial-exec* TLS model, so a
//! read is two instructions (`mov reg, [rip + word@GOTTPOFF]; mov reg, fs:[reg]`) in an
//! executable and in the LD_PRELOAD shim alike. Rust's `thread_local!` in a shared object
//! uses the general-dynamic model, one call to `__tls_get_addr` per access (22 of the 148
//! instructions of a malloc/free pair through the shim, docs/PRELOAD.md), and stable Rust
//! cannot choose the model. Initial-exec places the word in the static TLS block: always
//! there for a library loaded at start-up (LD_PRELOAD, DT_NEEDED). It marks the whole
//! module `STATIC_TLS`: a shared library with slabscope inside that is loaded late with
//! `dlopen` needs its entire TLS block (a few hundred bytes in the preload) from
//! glibc's static TLS surplus, and may be refused; the `dynamic-tls` feature keeps
//! `thread_local!` for such libraries (as the mimalloc and jemalloc crates offer). The
//! symbol is hidden: an executable with slabscope compiled in and a preloaded shim in the
//! same process each keep their own word. Other targets use `thread_local!`.

#[cfg(all(
    target_arch = "x86_64",
    target_os = "linux",
    not(feature = "dynamic-tls")
))]
mod imp {
    // `.tdata`: the initial value is the address of `IDLE[0]`. The dynamic linker
    // relocates the TLS initialisation image with the rest of the module before any
    // thread's block is copied from it.
    core::arch::global_asm!(
        ".pushsection .tdata,\"awT\",@progbits",
        ".p2align 3",
        ".globl slabscope_thread_state_v2",
        ".hidden slabscope_thread_state_v2",
        ".type slabscope_thread_state_v2, @tls_object",
        ".size slabscope_thread_state_v2, 8",
        "slabscope_thread_state_v2:",
        ".quad {idle}",
        ".globl slabscope_thread_tid",
        ".hidden slabscope_thread_tid",
        ".type slabscope_thread_tid, @tls_object",
        ".size slabscope_thread_tid, 8",
        "slabscope_thread_tid:",
        ".quad 0",
        ".popsection",
        idle = sym super::IDLE,
    );

    /// A reader and a writer of one of the 8-byte words declared above, found at the
    /// thread pointer plus the offset its GOT entry holds (two instructions each).
    macro_rules! word {
        ($get:ident, $set:ident, $sym:literal, $what:literal) => {
            #[doc = concat!("The calling thread's ", $what, ".")]
            #[inline(always)]
            pub fn $get() -> usize {
                let v: usize;
                // SAFETY: reads the calling thread's own 8-byte, 8-aligned word of the
                // static TLS block.
                unsafe {
                    core::arch::asm!(
                        concat!("mov {v}, qword ptr [rip + ", $sym, "@GOTTPOFF]"),
                        "mov {v}, qword ptr fs:[{v}]",
                        v = out(reg) v,
                        options(nostack, readonly, preserves_flags, pure),
                    );
                }
                v
            }

            #[doc = concat!("Sets the calling thread's ", $what, ".")]
            #[inline(always)]
            pub fn $set(v: usize) {
                // SAFETY: writes the calling thread's own word (see the reader); no other
                // thread can reach it.
                unsafe {
                    core::arch::asm!(
                        concat!("mov {t}, qword ptr [rip + ", $sym, "@GOTTPOFF]"),
                        "mov qword ptr fs:[{t}], {v}",
                        t = out(reg) _,
                        v = in(reg) v,
                        options(nostack, preserves_flags),
                    );
                }
            }
        };
    }

    word!(get, set, "slabscope_thread_state_v2", "word");
    word!(get_tid, set_tid, "slabscope_thread_tid", "tid word");
}

#[cfg(not(all(
    target_arch = "x86_64",
    target_os = "linux",
    not(feature = "dynamic-tls")
)))]
mod imp {
    use core::cell::Cell;

    use super::Hot;

    thread_local! {
        static WORD: Cell<*const Hot> = const { Cell::new(&super::IDLE[0]) };
        static TID: Cell<usize> = const { Cell::new(0) };
    }

    /// The calling thread's word.
    #[inline(always)]
    pub fn get() -> usize {
        WORD.with(|w| w.get()) as usize
    }

    /// Sets the calling thread's word.
    #[inline(always)]
    pub fn set(v: usize) {
        WORD.with(|w| w.set(v as *const Hot))
    }

    /// The calling thread's tid word.
    pub fn get_tid() -> usize {
        TID.with(|w| w.get())
    }

    /// Sets the calling thread's tid word.
    pub fn set_tid(v: usize) {
        TID.with(|w| w.set(v))
    }
}

pub use imp::{get, set};

/// The calling thread's kernel thread id: the copy [`set_tid`] left (no system call; a
/// slow path publishing an event asks for it each time), `gettid` where the thread never
/// set one (it has no state). The copy is set where the thread's state is created and
/// again in a forked child's handler; a child made without the fork handlers (`_Fork`,
/// a raw `clone`) keeps its parent thread's id until it creates a state.
pub fn tid() -> u32 {
    match imp::get_tid() {
        0 => super::gettid(),
        t => t as u32,
    }
}

/// Records the calling thread's kernel thread id for [`tid`].
pub fn set_tid(tid: u32) {
    imp::set_tid(tid as usize);
}

/// The words the fast paths read through the word before they know whether it holds a
/// state: a thread state starts with them (`thread::ThreadState::hot`), and so does each
/// idle record, where they are a key no meta word matches, no bytes left before the
/// next sample and an empty view of the pagemap.
#[repr(C)]
#[derive(Debug)]
pub struct Hot {
    /// The free fast path's compare value (`slot::owned_key`).
    pub key: u64,
    /// Bytes to allocate before the next sampled allocation (`u64::MAX`: not sampling).
    pub sample_left: u64,
    /// The pagemap's words as this thread last looked (`pagemap::view`): their address
    /// (0 before the map exists)...
    pub map_words: usize,
    /// ...and how many (0 before the map exists: every free takes the slow path, which
    /// looks again). Only a thread state's own record is ever given a view: the idle
    /// records' and the check mode's stay empty, so a record with `map_len != 0` is the
    /// calling thread's state (the free's `thread::OwnerFree::Other` and the aligned
    /// allocation's fast path rely on it).
    pub map_len: usize,
}

impl Hot {
    /// An idle record's values: every fast path misses on it.
    pub const IDLE: Hot = Hot {
        key: u64::MAX,
        sample_left: 0,
        map_words: 0,
        map_len: 0,
    };
}

/// The idle records the word points at when it holds no state: `IDLE[0]` before the
/// thread's state exists, the others for the markers `thread` gives them.
pub static IDLE: [Hot; 3] = [Hot::IDLE; 3];

/// The address of idle record `k` (< 3).
#[inline(always)]
pub fn idle(k: usize) -> usize {
    &IDLE[k] as *const Hot as usize
}

/// The idle record index `v` points at, if it points at one.
#[inline(always)]
pub fn idle_index(v: usize) -> Option<usize> {
    let off = v.wrapping_sub(idle(0));
    let size = core::mem::size_of::<Hot>();
    (off < IDLE.len() * size).then(|| off / size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_thread_has_its_own_word() {
        // Idle records only: were this test binary running on slabscope, neither would
        // be taken for a state address.
        let saved = get();
        set(idle(2));
        let other = std::thread::spawn(|| {
            let before = get();
            set(idle(1));
            (before, get())
        })
        .join()
        .unwrap();
        assert_eq!(other, (idle(0), idle(1)));
        assert_eq!(idle_index(other.0), Some(0));
        assert_eq!(get(), idle(2));
        assert_eq!(idle_index(get()), Some(2));
        assert_eq!(idle_index(idle(0) + 3 * size_of::<Hot>()), None);
        assert_eq!(idle_index(0), None);
        set(saved);
    }
}
