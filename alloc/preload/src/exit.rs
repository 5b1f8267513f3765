//! `_exit` and `_Exit`: a process that ends through them (dash, `os._exit` in Python,
//! forked workers) runs no `atexit` handler, so the segment would outlive it. These
//! close and remove it as a normal exit does (`slabscope::raw::close_for_exit`: kept
//! after an OOM, untouched in a `vfork` child), then end the process with the
//! `exit_group` system call, exactly as glibc's `_exit` does. Exits made inside libc
//! (`exit` after its handlers ran, `posix_spawn`'s child) call libc's own `_exit` and
//! do not come here.

use core::ffi::c_int;

/// Ends the process with `status` (`exit_group`), never returning.
fn exit_group(status: c_int) -> ! {
    loop {
        // SAFETY: exit_group takes an int status and does not return.
        unsafe { libc::syscall(libc::SYS_exit_group, status) };
    }
}

/// `_exit(2)`: removes the segment of a normal end, then ends the process.
#[no_mangle]
pub extern "C" fn _exit(status: c_int) -> ! {
    slabscope::raw::close_for_exit();
    exit_group(status)
}

/// `_Exit(3)` (C99): the same as `_exit`.
#[no_mangle]
pub extern "C" fn _Exit(status: c_int) -> ! {
    slabscope::raw::close_for_exit();
    exit_group(status)
}
