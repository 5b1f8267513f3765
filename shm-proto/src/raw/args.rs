//! The command line, copied before `main` from the arguments glibc passes to every
//! `.init_array` function (`argc`, `argv`, `envp`, for the program and for each shared
//! object), so that creating a segment does not open and read `/proc/self/cmdline`
//! (four system calls in every process under the preload).
//!
//! The copy holds the first [`CAPACITY`] bytes of the argument strings as the kernel
//! laid them out (contiguous, each ending in a NUL): what `/proc/self/cmdline` shows of
//! a process that has not rewritten them. Where the strings are not laid out that way
//! (a constructor that ran before this one changed `argv`), or where the C library does
//! not pass the arguments (not glibc), nothing is copied and [`command`] says so.
//!
//! It stands for `/proc/self/cmdline` only while the program has had no time to rewrite
//! its arguments (a title set with `setproctitle`, a password a client blanks out): at a
//! segment made on the first allocation. The writer's owner calls [`forget`] where that
//! no longer holds (a forked child, a segment put off), and `/proc/self/cmdline` is read
//! then, as the process shows itself at that moment.

use core::cell::UnsafeCell;
use core::ffi::{c_char, c_int};
use core::sync::atomic::{AtomicUsize, Ordering};

use super::sys;
use crate::sizes::COMMAND_BYTES;

/// Bytes of the command line kept: what the segment header holds.
pub const CAPACITY: usize = COMMAND_BYTES;

/// The copied bytes, written once by [`capture`] before [`LEN`] is published.
struct Copy(UnsafeCell<[u8; CAPACITY]>);

// SAFETY: the bytes are written only by `capture`, before `LEN` is stored with Release,
// and read only after `LEN` is loaded with Acquire; nothing writes them afterwards.
unsafe impl Sync for Copy {}

static COPY: Copy = Copy(UnsafeCell::new([0; CAPACITY]));

/// Bytes in [`COPY`] plus one (0: nothing captured).
static LEN: AtomicUsize = AtomicUsize::new(0);

/// Runs from `.init_array`, before `main`: glibc calls these functions with `argc`,
/// `argv` and `envp`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[used]
#[link_section = ".init_array"]
static CAPTURE: extern "C" fn(c_int, *const *const c_char, *const *const c_char) = capture;

#[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
extern "C" fn capture(argc: c_int, argv: *const *const c_char, _envp: *const *const c_char) {
    if LEN.load(Ordering::Relaxed) != 0 {
        return;
    }
    // SAFETY: `capture` runs once per load of this object (from `.init_array`), and while
    // `LEN` is 0 no reader looks at the bytes.
    let out = unsafe { &mut *COPY.0.get() };
    // SAFETY: glibc passes `argc` and its `argv` array: pointers to NUL-terminated
    // strings, which only a program that broke its own `argv` before a `dlopen` of this
    // library could have changed (the contiguity test then refuses them).
    if let Some(n) = unsafe { copy_args(argc, argv, out) } {
        LEN.store(n + 1, Ordering::Release);
    }
}

/// Copies the first bytes of the `argc` strings of `argv` into `out`, each with its NUL,
/// and returns the bytes copied; `None` when there is no argument or the strings are
/// not laid out one after the other (the copy would not match `/proc/self/cmdline`).
///
/// # Safety
/// `argv` is null or points to `argc` pointers, each null or to a NUL-terminated string.
unsafe fn copy_args(argc: c_int, argv: *const *const c_char, out: &mut [u8]) -> Option<usize> {
    if argc <= 0 || argv.is_null() {
        return None;
    }
    let mut n = 0;
    let mut expect: *const c_char = core::ptr::null();
    for i in 0..argc as usize {
        // SAFETY: the caller's contract: `argv` holds `argc` pointers.
        let arg = unsafe { *argv.add(i) };
        if arg.is_null() || !expect.is_null() && arg != expect {
            return None;
        }
        let mut j = 0;
        loop {
            if n == out.len() {
                return Some(n);
            }
            // SAFETY: `arg` is NUL-terminated and `j` never passes its NUL.
            let b = unsafe { *arg.add(j) } as u8;
            out[n] = b;
            n += 1;
            if b == 0 {
                break;
            }
            j += 1;
        }
        // One past the NUL: where the kernel puts the next argument's first byte
        // (compared, never read unless it is that argument).
        expect = arg.wrapping_add(j + 1);
    }
    Some(n)
}

/// Drops the copy: [`command`] says `None` from now on.
pub fn forget() {
    LEN.store(0, Ordering::Release);
}

/// The command line's first bytes as captured before `main`, NULs between the arguments
/// included (the last argument's NUL too where it fitted); `None` when nothing was
/// captured.
pub fn command() -> Option<&'static [u8]> {
    let len = LEN.load(Ordering::Acquire);
    if len == 0 {
        return None;
    }
    // SAFETY: `LEN` was published (Release) after the bytes were written, and nothing
    // writes them again.
    let bytes = unsafe { &*COPY.0.get() };
    Some(&bytes[..len - 1])
}

/// The command line into `buf`, the NULs that separate arguments replaced with spaces;
/// returns the bytes used (0 if it cannot be had), truncated to `buf.len()`. From the
/// copy made before `main` ([`command`]), else `/proc/self/cmdline` with raw `read(2)`
/// ([`sys::read_proc_cmdline`]).
pub fn read_cmdline(buf: &mut [u8]) -> usize {
    let n = match command() {
        Some(bytes) => {
            let n = bytes.len().min(buf.len());
            buf[..n].copy_from_slice(&bytes[..n]);
            n
        }
        None => sys::read_proc_cmdline(buf),
    };
    spaced(&mut buf[..n])
}

/// Trailing NULs dropped, the others made spaces; the bytes left.
fn spaced(buf: &mut [u8]) -> usize {
    let mut n = buf.len();
    while n > 0 && buf[n - 1] == 0 {
        n -= 1;
    }
    for b in &mut buf[..n] {
        if *b == 0 {
            *b = b' ';
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_names_this_test_binary() {
        let mut buf = [0u8; 128];
        let n = read_cmdline(&mut buf);
        assert!(n > 0);
        assert!(!buf[..n].contains(&0));
        let exe = std::env::args().next().unwrap();
        let want = &exe.as_bytes()[..exe.len().min(n)];
        assert_eq!(&buf[..want.len()], want);
        // The /proc fallback reads the same.
        let mut proc = [0u8; 128];
        let m = sys::read_proc_cmdline(&mut proc);
        assert_eq!(spaced(&mut proc[..m]), n);
        assert_eq!(proc[..n], buf[..n]);
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn the_capture_matches_proc_self_cmdline() {
        let captured = command().expect("glibc passes argv to .init_array functions");
        let proc = std::fs::read("/proc/self/cmdline").unwrap();
        let n = captured.len();
        assert!(n > 0);
        assert_eq!(captured, &proc[..n.min(proc.len())]);
        if proc.len() <= CAPACITY {
            assert_eq!(n, proc.len());
        } else {
            assert_eq!(n, CAPACITY);
        }
    }

    #[test]
    fn contiguous_arguments_are_copied_up_to_the_buffer_and_others_refused() {
        let area = b"prog\0-x\0file name\0";
        let at = |k: usize| area[k..].as_ptr().cast::<c_char>();
        let argv = [at(0), at(5), at(8)];
        let mut out = [0xffu8; 32];
        // SAFETY: three pointers to NUL-terminated strings of `area`.
        let n = unsafe { copy_args(3, argv.as_ptr(), &mut out) };
        assert_eq!(n, Some(area.len()));
        assert_eq!(&out[..area.len()], area);
        let mut short = [0u8; 6];
        // SAFETY: as above.
        assert_eq!(unsafe { copy_args(3, argv.as_ptr(), &mut short) }, Some(6));
        assert_eq!(&short, b"prog\0-");
        // A rearranged argv (not the kernel's layout) is not copied.
        let swapped = [at(0), at(8), at(5)];
        // SAFETY: as above.
        assert_eq!(unsafe { copy_args(3, swapped.as_ptr(), &mut out) }, None);
        // SAFETY: no argument; a null argv.
        assert_eq!(unsafe { copy_args(0, argv.as_ptr(), &mut out) }, None);
        // SAFETY: a null argv is allowed by the contract.
        assert_eq!(unsafe { copy_args(1, core::ptr::null(), &mut out) }, None);
    }
}
