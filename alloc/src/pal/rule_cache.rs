//! The frame rules already derived, by code address: a table in static memory (no
//! allocation), taken with a try-lock so that a thread never waits for it.
//!
//! A rule is kept only for an address inside a module the dynamic linker loaded, and
//! the whole table is emptied when a module has been unloaded since it was filled
//! (glibc's `dlpi_subs` counter): a later module mapped at the same addresses cannot
//! inherit the old module's rules. Code registered at run time (JIT compilers) is looked
//! up each time.

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_void};

use super::frame_rule::{step_for, Step};
use super::lock::{Guard, RawMutex};

/// Entries of the direct-mapped table (a power of two): 24 KiB of `.bss`, touched only
/// by processes that sample.
const ENTRIES: usize = 1024;

#[derive(Clone, Copy)]
struct Entry {
    /// The code address (0: empty).
    addr: usize,
    step: Step,
}

struct Table {
    entries: [Entry; ENTRIES],
    /// `dlpi_subs` when the entries were checked last.
    unloads: u64,
}

/// The table and the lock that owns it.
struct Shared {
    lock: RawMutex,
    table: UnsafeCell<Table>,
}

// SAFETY: `table` is only reached through `Cache`, which holds `lock`.
unsafe impl Sync for Shared {}

static SHARED: Shared = Shared {
    lock: RawMutex::new(),
    table: UnsafeCell::new(Table {
        entries: [Entry {
            addr: 0,
            step: Step::Unsupported,
        }; ENTRIES],
        unloads: 0,
    }),
};

/// The table, held by the calling thread.
pub struct Cache {
    _held: Guard<'static>,
    table: &'static mut Table,
}

/// Takes the table if no other thread holds it, emptied first if a module was unloaded
/// since its last use; `None` when it is busy (the caller derives every rule itself).
///
/// The unload count comes from `dl_iterate_phdr`, which holds the dynamic linker's
/// (recursive) list lock for one callback: the one lock a sampled walk may wait for,
/// while `dlopen` or `dlclose` edits the list. The walk holds no allocator lock then,
/// and the table's own lock is only ever tried, so a thread inside the loader that
/// allocates cannot deadlock against it. libgcc's unwinder takes the same lock on every
/// frame on glibc before 2.35.
pub fn open() -> Option<Cache> {
    let held = SHARED.lock.try_guard()?;
    let unloads = unloads();
    // SAFETY: `held` is the lock that owns the table, kept in the `Cache` as long as
    // the reference.
    let table = unsafe { &mut *SHARED.table.get() };
    if table.unloads != unloads {
        for e in table.entries.iter_mut() {
            e.addr = 0;
        }
        table.unloads = unloads;
    }
    Some(Cache { _held: held, table })
}

/// Re-initialises the lock in a forked child (its holder may not exist there).
pub fn reinit_in_child() {
    SHARED.lock.reinit_in_child();
}

impl Cache {
    /// The [`Step`] for code address `addr`, from the table or derived and kept.
    #[inline]
    pub fn step(&mut self, addr: usize) -> Step {
        let e = &mut self.table.entries[slot(addr)];
        if e.addr == addr && addr != 0 {
            return e.step;
        }
        let step = step_for(addr);
        if step != Step::Unsupported && in_loaded_module(addr) {
            *e = Entry { addr, step };
        }
        step
    }
}

/// The table slot of `addr` (a multiplicative hash: return addresses of one function
/// are close together).
fn slot(addr: usize) -> usize {
    ((addr as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 54) as usize & (ENTRIES - 1)
}

/// glibc's count of modules unloaded so far (`dlpi_subs`, the same in every entry).
fn unloads() -> u64 {
    extern "C" fn first(info: *mut libc::dl_phdr_info, size: usize, data: *mut c_void) -> c_int {
        if size >= core::mem::offset_of!(libc::dl_phdr_info, dlpi_subs) + 8 {
            // SAFETY: `info` is the entry `dl_iterate_phdr` passes, `size` bytes long,
            // which covers `dlpi_subs`; `data` is the `u64` `unloads` passed.
            unsafe { *data.cast::<u64>() = (*info).dlpi_subs };
        }
        1 // one entry is enough
    }
    let mut subs = 0u64;
    // SAFETY: `first` matches the callback type and only reads the entry it is given;
    // `subs` outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(first), (&mut subs as *mut u64).cast()) };
    subs
}

/// Whether `addr` lies in a loaded segment of a module the dynamic linker loaded.
fn in_loaded_module(addr: usize) -> bool {
    extern "C" fn contains(info: *mut libc::dl_phdr_info, _: usize, data: *mut c_void) -> c_int {
        // SAFETY: `info` is the entry `dl_iterate_phdr` passes; `data` is the address
        // `in_loaded_module` passed.
        let (info, addr) = unsafe { (&*info, *data.cast::<usize>()) };
        if info.dlpi_phdr.is_null() {
            return 0;
        }
        // SAFETY: `dlpi_phdr` points at the module's `dlpi_phnum` program headers.
        let headers =
            unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
        let inside = headers.iter().any(|h| {
            let start = (info.dlpi_addr as usize).wrapping_add(h.p_vaddr as usize);
            h.p_type == libc::PT_LOAD && addr >= start && addr - start < h.p_memsz as usize
        });
        c_int::from(inside)
    }
    let mut a = addr;
    // SAFETY: `contains` matches the callback type and only reads the entry it is given;
    // `a` outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(contains), (&mut a as *mut usize).cast()) != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_binary_is_a_loaded_module_and_the_stack_is_not() {
        let code = in_loaded_module as *const () as usize;
        assert!(in_loaded_module(code));
        let local = 0u8;
        assert!(!in_loaded_module(&local as *const u8 as usize));
        assert!(!in_loaded_module(0));
    }

    /// The table, once other tests' walks have let go of it.
    fn take() -> Cache {
        loop {
            if let Some(c) = open() {
                return c;
            }
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_rule_is_kept_and_a_held_table_is_busy() {
        let code = in_loaded_module as *const () as usize + 1;
        let mut c = take();
        let first = c.step(code);
        assert!(matches!(first, Step::Frame(_)), "{first:?}");
        assert_eq!(c.table.entries[slot(code)].addr, code);
        assert_eq!(c.step(code), first);
        assert!(open().is_none(), "held by this thread");
        drop(c);
        assert_eq!(take().step(code), first);
    }

    /// The return address into the C library's `call_back`, seen by a walk from the
    /// callback it calls.
    static INTO_LIBRARY: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    extern "C" fn walk_from_the_library() {
        let mut out = [0u64; 4];
        // out[0] returns into this function, out[1] into its caller, `call_back`.
        if crate::pal::backtrace(&mut out, 0) > 1 {
            INTO_LIBRARY.store(out[1] as usize, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn the_rules_of_an_unloaded_module_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("cb.c");
        let lib = dir.path().join("libcb.so");
        std::fs::write(
            &src,
            "void call_back(void (*f)(void)) { f(); __asm__ volatile(\"\" ::: \"memory\"); }\n",
        )
        .unwrap();
        let built = std::process::Command::new("cc")
            .args(["-O2", "-shared", "-fPIC", "-o"])
            .arg(&lib)
            .arg(&src)
            .status()
            .expect("a C compiler (cc) for this test");
        assert!(built.success());
        let path = std::ffi::CString::new(lib.to_str().unwrap()).unwrap();
        // SAFETY: loads a library built above, whose only code is `call_back`.
        let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW) };
        assert!(!handle.is_null(), "dlopen");
        // SAFETY: `handle` is the library just loaded; the name is NUL-terminated.
        let sym = unsafe { libc::dlsym(handle, c"call_back".as_ptr()) };
        assert!(!sym.is_null(), "dlsym");
        // SAFETY: `call_back` has this signature in the source above.
        let call_back: extern "C" fn(extern "C" fn()) = unsafe { core::mem::transmute(sym) };
        call_back(walk_from_the_library);
        let ra = INTO_LIBRARY.load(std::sync::atomic::Ordering::Relaxed);
        assert!(in_loaded_module(ra), "{ra:#x} is in the library");
        let kept = |c: &Cache| c.table.entries[slot(ra - 1)].addr == ra - 1;
        // The walk keeps the rule only if no other test's walk held the table then:
        // derive it here once more, holding the table.
        let mut c = take();
        assert!(
            matches!(c.step(ra - 1), Step::Frame(_)),
            "a rule for the library"
        );
        assert!(kept(&c), "the library's rule is kept");
        drop(c);
        // SAFETY: nothing of the library is in use any more.
        assert_eq!(unsafe { libc::dlclose(handle) }, 0);
        assert!(!in_loaded_module(ra), "unloaded");
        assert!(!kept(&take()), "the table forgot it");
    }
}
