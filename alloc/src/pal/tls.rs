//! The one thread-local word the allocator's fast paths read: the calling thread's state
//! address, or a marker (`thread::BUSY`, `thread::GONE`, 0 for none yet).
//!
//! On x86_64 Linux the word is declared in assembly in the *initial-exec* TLS model, so a
//! read is two instructions (`mov reg, [rip + word@GOTTPOFF]; mov reg, fs:[reg]`) in an
//! executable and in the LD_PRELOAD shim alike. Rust's `thread_local!` in a shared object
//! uses the general-dynamic model, one call to `__tls_get_addr` per access (22 of the 148
//! instructions of a malloc/free pair through the shim, docs/PRELOAD.md), and stable Rust
//! cannot choose the model. Initial-exec places the word in the static TLS block: always
//! there for a library loaded at start-up (LD_PRELOAD, DT_NEEDED). It marks the whole
//! module `STATIC_TLS`: a shared library with slabscope inside that is loaded late with
//! `dlopen` needs its entire TLS block (about 3.5 KiB with tracing-subscriber) from
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
    core::arch::global_asm!(
        ".pushsection .tbss,\"awT\",@nobits",
        ".p2align 3",
        ".globl slabscope_thread_state_v1",
        ".hidden slabscope_thread_state_v1",
        ".type slabscope_thread_state_v1, @tls_object",
        ".size slabscope_thread_state_v1, 8",
        "slabscope_thread_state_v1:",
        ".zero 8",
        ".popsection",
    );

    /// The calling thread's word.
    #[inline(always)]
    pub fn get() -> usize {
        let v: usize;
        // SAFETY: reads the calling thread's own 8-byte, 8-aligned word of the static TLS
        // block, found at the thread pointer plus the offset the GOT entry holds.
        unsafe {
            core::arch::asm!(
                "mov {v}, qword ptr [rip + slabscope_thread_state_v1@GOTTPOFF]",
                "mov {v}, qword ptr fs:[{v}]",
                v = out(reg) v,
                options(nostack, readonly, preserves_flags, pure),
            );
        }
        v
    }

    /// Sets the calling thread's word.
    #[inline(always)]
    pub fn set(v: usize) {
        // SAFETY: writes the calling thread's own word (see `get`); no other thread can
        // reach it.
        unsafe {
            core::arch::asm!(
                "mov {t}, qword ptr [rip + slabscope_thread_state_v1@GOTTPOFF]",
                "mov qword ptr fs:[{t}], {v}",
                t = out(reg) _,
                v = in(reg) v,
                options(nostack, preserves_flags),
            );
        }
    }
}

#[cfg(not(all(
    target_arch = "x86_64",
    target_os = "linux",
    not(feature = "dynamic-tls")
)))]
mod imp {
    use core::cell::Cell;

    thread_local! {
        static WORD: Cell<usize> = const { Cell::new(0) };
    }

    /// The calling thread's word.
    #[inline(always)]
    pub fn get() -> usize {
        WORD.with(|w| w.get())
    }

    /// Sets the calling thread's word.
    #[inline(always)]
    pub fn set(v: usize) {
        WORD.with(|w| w.set(v))
    }
}

pub use imp::{get, set};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_thread_has_its_own_word() {
        // Marker values only (1 and 2 are thread::BUSY and thread::GONE): were this test
        // binary running on slabscope, neither would be taken for a state address.
        let saved = get();
        set(2);
        let other = std::thread::spawn(|| {
            let before = get();
            set(1);
            (before, get())
        })
        .join()
        .unwrap();
        assert_eq!(other, (0, 1));
        assert_eq!(get(), 2);
        set(saved);
    }
}
