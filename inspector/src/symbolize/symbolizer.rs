//! [`Symbolizer`]: return addresses of one process to frames, cached per binary and per
//! address.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::binary::Binary;
use super::frame::Frame;
use super::maps::{parse_maps, Mapping};

/// Least time between two reads of a live process's `/proc/<pid>/maps`, re-read when an
/// address falls outside every known mapping (a library loaded after attach).
pub(super) const MAPS_REFRESH: Duration = Duration::from_secs(1);

/// Anything that names return addresses: a [`Symbolizer`] answers at once, a
/// [`super::Background`] once its thread has looked the address up.
pub trait Namer {
    /// The frames of return address `addr`, innermost first; `None` while not known yet.
    fn frames(&mut self, addr: u64) -> Option<Arc<[Frame]>>;
}

/// Names the return addresses of one process.
#[derive(Debug, Default)]
pub struct Symbolizer {
    /// The live process whose maps are re-read for unknown addresses.
    pid: Option<u32>,
    maps: Vec<Mapping>,
    maps_read: Option<Instant>,
    binaries: HashMap<String, Option<Binary>>,
    cache: HashMap<u64, Arc<[Frame]>>,
}

impl Symbolizer {
    /// A symbolizer over the mappings of the running process `pid`, re-read when an
    /// address is outside all of them (none when they cannot be read: addresses are then
    /// named by their value).
    pub fn for_pid(pid: u32) -> Self {
        let mut s = Self {
            pid: Some(pid),
            ..Self::default()
        };
        s.read_maps();
        s
    }

    /// A symbolizer over fixed `maps` (a recording's, or a process that is gone).
    pub fn from_maps(maps: Vec<Mapping>) -> Self {
        Self {
            maps,
            ..Self::default()
        }
    }

    /// Whether any mapping is known (false for a process that is gone).
    pub fn has_maps(&self) -> bool {
        !self.maps.is_empty()
    }

    fn read_maps(&mut self) {
        let Some(pid) = self.pid else { return };
        self.maps_read = Some(Instant::now());
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/maps")) {
            self.maps = parse_maps(&text);
        }
    }

    fn mapping(&mut self, pc: u64) -> Option<Mapping> {
        let find = |maps: &[Mapping]| maps.iter().find(|m| pc >= m.start && pc < m.end).cloned();
        if let Some(m) = find(&self.maps) {
            return Some(m);
        }
        let stale = self.maps_read.is_some_and(|t| t.elapsed() >= MAPS_REFRESH);
        if self.pid.is_some() && stale {
            self.read_maps();
            return find(&self.maps);
        }
        None
    }

    /// The frames of return address `addr`, innermost first (at least one): functions
    /// with `file:line` and inlined frames where the binary has debug info, the symbol
    /// otherwise, `file+0xOFFSET` without one, `0xADDR` outside every mapping.
    pub fn frames(&mut self, addr: u64) -> Arc<[Frame]> {
        self.lookup(addr)
            .unwrap_or_else(|| Arc::from([Frame::unnamed(format!("{addr:#x}"))]))
    }

    /// [`Self::frames`], or `None` for an address outside every mapping, which is not
    /// kept: a library loaded later may map it, and the mappings are read again (at
    /// most once a second) when asked again.
    pub fn lookup(&mut self, addr: u64) -> Option<Arc<[Frame]>> {
        if let Some(f) = self.cache.get(&addr) {
            return Some(f.clone());
        }
        // A return address points after the call: look up the call instruction.
        let pc = addr.saturating_sub(1);
        let m = self.mapping(pc)?;
        let off = m.offset + (pc - m.start);
        let bin = self
            .binaries
            .entry(m.path.clone())
            .or_insert_with(|| Binary::load(&m.path));
        let mut frames = bin
            .as_ref()
            .and_then(|b| Some(b.frames_at(b.vaddr_of_offset(off)?)))
            .unwrap_or_default();
        if frames.is_empty() {
            let file = m.path.rsplit('/').next().unwrap_or(&m.path);
            frames.push(Frame::unnamed(format!("{file}+{off:#x}")));
        }
        let frames: Arc<[Frame]> = frames.into();
        self.cache.insert(addr, frames.clone());
        Some(frames)
    }
}

impl Namer for Symbolizer {
    fn frames(&mut self, addr: u64) -> Option<Arc<[Frame]>> {
        Some(Symbolizer::frames(self, addr))
    }
}

/// Whether a frame's function belongs to the allocator, the C library's allocation
/// entry points or a standard library's allocation plumbing (skipped when naming a site
/// by its first frame of user code).
pub fn is_allocator_frame(name: &str) -> bool {
    /// Namespaces and name prefixes.
    const PREFIXES: &[&str] = &[
        "slabscope::",
        "<slabscope::",
        "slabscope_preload::",
        "__rustc::",
        "__rg_",
        "__rdl_",
        "alloc::",
        "<alloc::",
        "core::",
        "<core::",
        "std::",
        "<std::",
        "__gnu_cxx::",
        "operator new",
    ];
    /// Whole function names.
    const FUNCTIONS: &[&str] = &[
        "__rust_alloc",
        "__rust_realloc",
        "__rust_alloc_zeroed",
        "malloc",
        "calloc",
        "realloc",
        "reallocarray",
        "posix_memalign",
        "aligned_alloc",
        "memalign",
        "valloc",
        "pvalloc",
        "strdup",
        "strndup",
        "__strdup",
        "__strndup",
    ];
    // `<T as alloc::vec::spec_from_elem::SpecFromElem>::from_elem`: a standard
    // library trait implemented for a plain type is plumbing too.
    const TRAITS: &[&str] = &[" as alloc::", " as core::", " as std::"];
    PREFIXES.iter().any(|p| name.starts_with(p))
        || FUNCTIONS.contains(&name)
        || (name.starts_with('<') && TRAITS.iter().any(|t| name.contains(t)))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[inline(never)]
    fn a_named_function() -> u64 {
        std::hint::black_box(7)
    }

    #[test]
    fn this_process_names_its_own_functions_with_their_file_and_line() {
        let mut s = Symbolizer::for_pid(std::process::id());
        assert!(s.has_maps());
        let f = a_named_function as *const () as u64;
        // The address just past the function's first instruction, as a return address.
        let frames = s.frames(f + 2);
        let last = frames.last().unwrap();
        assert!(last.function.contains("a_named_function"), "{frames:?}");
        assert!(!last.inlined);
        let loc = last.location().unwrap_or_default();
        assert!(loc.contains("symbolizer.rs:"), "{frames:?}");
        assert_eq!(s.frames(0x10)[0].function, "0x10");
        assert!(Arc::ptr_eq(&s.frames(f + 2), &frames), "cached");
    }

    #[test]
    fn allocator_frames_are_recognised() {
        assert!(is_allocator_frame("slabscope::front::alloc_sampled"));
        assert!(is_allocator_frame("slabscope_preload::entry::malloc_miss"));
        assert!(is_allocator_frame("alloc::raw_vec::finish_grow"));
        assert!(is_allocator_frame("__rustc::__rust_alloc_zeroed"));
        assert!(is_allocator_frame("malloc"));
        assert!(is_allocator_frame("operator new(unsigned long)"));
        assert!(is_allocator_frame(
            "std::vector<int, std::allocator<int> >::push_back"
        ));
        assert!(is_allocator_frame(
            "<u8 as alloc::vec::spec_from_elem::SpecFromElem>::from_elem"
        ));
        assert!(!is_allocator_frame("<app::Cache as app::Store>::insert"));
        assert!(!is_allocator_frame("leaky::leak_session_cache_entry"));
        assert!(!is_allocator_frame("malloc_wrapper_of_the_program"));
        assert!(!is_allocator_frame("strdup_all"));
    }

    /// A child process that loads a small C library (`late_function` in `late.c`) when
    /// told to: for tests of names of libraries loaded after attach.
    pub(in crate::symbolize) struct LateLibrary {
        child: std::process::Child,
        out: std::io::BufReader<std::process::ChildStdout>,
        _dir: tempfile::TempDir,
    }

    impl LateLibrary {
        /// Builds the library and the loader and starts the loader, which has not
        /// loaded the library yet.
        pub(in crate::symbolize) fn start() -> Self {
            use std::io::BufRead;
            let dir = tempfile::tempdir().unwrap();
            let cc = |args: &[&str]| {
                let ok = std::process::Command::new("cc")
                    .current_dir(dir.path())
                    .args(args)
                    .status()
                    .expect("a C compiler (cc) for this test");
                assert!(ok.success(), "cc {args:?}");
            };
            std::fs::write(
                dir.path().join("late.c"),
                "int late_function(int x) { return x * 3 + 1; }\n",
            )
            .unwrap();
            std::fs::write(
                dir.path().join("loader.c"),
                "#include <dlfcn.h>\n#include <stdio.h>\n#include <unistd.h>\n\
                 int main(int argc, char **argv) { char go[8];\n\
                 puts(\"ready\"); fflush(stdout);\n\
                 if (argc < 2 || !fgets(go, sizeof go, stdin)) return 1;\n\
                 void *h = dlopen(argv[1], RTLD_NOW); if (!h) return 2;\n\
                 printf(\"%p\\n\", dlsym(h, \"late_function\")); fflush(stdout);\n\
                 pause(); return 0; }\n",
            )
            .unwrap();
            cc(&[
                "-O1",
                "-g",
                "-shared",
                "-fPIC",
                "-o",
                "liblate.so",
                "late.c",
            ]);
            cc(&["-O1", "-o", "loader", "loader.c"]);
            let mut child = std::process::Command::new(dir.path().join("loader"))
                .arg(dir.path().join("liblate.so"))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            assert_eq!(line, "ready\n");
            Self {
                child,
                out,
                _dir: dir,
            }
        }

        /// The loader's pid.
        pub(in crate::symbolize) fn pid(&self) -> u32 {
            self.child.id()
        }

        /// Makes the loader load the library; returns `late_function`'s address there.
        pub(in crate::symbolize) fn load(&mut self) -> u64 {
            use std::io::{BufRead, Write};
            self.child.stdin.take().unwrap().write_all(b"go\n").unwrap();
            let mut line = String::new();
            self.out.read_line(&mut line).unwrap();
            u64::from_str_radix(line.trim().trim_start_matches("0x"), 16).unwrap()
        }
    }

    impl Drop for LateLibrary {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// A library a process loads after the symbolizer read its mappings is named once
    /// the mappings are read again (at most once a second, for an unknown address).
    #[test]
    fn a_library_loaded_after_attach_is_named() {
        let mut late = LateLibrary::start();
        // The mappings are read before the library is loaded.
        let mut s = Symbolizer::for_pid(late.pid());
        let read_at = Instant::now();
        assert!(s.has_maps());
        let f = late.load();
        // Within a second of the last read the address is unknown, and not kept so.
        let early = s.frames(f + 1);
        let soon = read_at.elapsed() < MAPS_REFRESH;
        std::thread::sleep(MAPS_REFRESH + Duration::from_millis(100));
        let frames = s.frames(f + 1);
        drop(late);
        if soon {
            assert!(early[0].function.starts_with("0x"), "{early:?}");
        }
        assert_eq!(
            frames.last().unwrap().function,
            "late_function",
            "{frames:?}"
        );
        let loc = frames.last().unwrap().location().unwrap_or_default();
        assert!(loc.ends_with("late.c:1"), "{frames:?}");
    }
}
