//! [`Symbolizer`]: addresses of one process to function names, cached per binary.

use std::collections::HashMap;

use super::elf::Binary;
use super::maps::{parse_maps, Mapping};

/// Names the return addresses of one process.
#[derive(Clone, Debug, Default)]
pub struct Symbolizer {
    maps: Vec<Mapping>,
    binaries: HashMap<String, Option<Binary>>,
    names: HashMap<u64, String>,
}

impl Symbolizer {
    /// A symbolizer over the mappings of process `pid` (none when its maps cannot be
    /// read: every address is then named by its value).
    pub fn for_pid(pid: u32) -> Self {
        let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        Self::from_maps(parse_maps(&text))
    }

    /// A symbolizer over `maps`.
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

    /// The name of the function containing return address `addr`: the demangled
    /// symbol, `file+0xOFFSET` without one, `0xADDR` outside every mapping.
    pub fn name(&mut self, addr: u64) -> String {
        if let Some(n) = self.names.get(&addr) {
            return n.clone();
        }
        let n = self.lookup(addr);
        self.names.insert(addr, n.clone());
        n
    }

    fn lookup(&mut self, addr: u64) -> String {
        // A return address points after the call: look up the call instruction.
        let pc = addr.saturating_sub(1);
        let Some(m) = self.maps.iter().find(|m| pc >= m.start && pc < m.end) else {
            return format!("{addr:#x}");
        };
        let off = m.offset + (pc - m.start);
        let file = m.path.rsplit('/').next().unwrap_or(&m.path).to_string();
        let bin = self
            .binaries
            .entry(m.path.clone())
            .or_insert_with(|| Binary::load(&m.path));
        bin.as_ref()
            .and_then(|b| b.function_at(b.vaddr_of_offset(off)?))
            .unwrap_or_else(|| format!("{file}+{off:#x}"))
    }
}

/// Whether a frame belongs to the allocator or the standard library's allocation
/// plumbing (skipped when naming a site by its first frame of user code).
pub fn is_allocator_frame(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "slabscope::",
        "<slabscope::",
        "__rustc::",
        "__rust_alloc",
        "__rust_realloc",
        "__rust_alloc_zeroed",
        "__rg_",
        "__rdl_",
        "alloc::",
        "<alloc::",
        "core::",
        "<core::",
        "std::",
        "<std::",
        "malloc",
        "calloc",
        "realloc",
    ];
    // `<T as alloc::vec::spec_from_elem::SpecFromElem>::from_elem`: a standard
    // library trait implemented for a plain type is plumbing too.
    const TRAITS: &[&str] = &[" as alloc::", " as core::", " as std::"];
    PREFIXES.iter().any(|p| name.starts_with(p))
        || (name.starts_with('<') && TRAITS.iter().any(|t| name.contains(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn a_named_function() -> u64 {
        std::hint::black_box(7)
    }

    #[test]
    fn this_process_names_its_own_functions() {
        let mut s = Symbolizer::for_pid(std::process::id());
        assert!(s.has_maps());
        let f = a_named_function as *const () as u64;
        // The address just past the function's first instruction, as a return address.
        let name = s.name(f + 2);
        assert!(name.contains("a_named_function"), "{name}");
        assert_eq!(s.name(0x10), "0x10");
    }

    #[test]
    fn allocator_frames_are_recognised() {
        assert!(is_allocator_frame("slabscope::heap::alloc_sampled"));
        assert!(is_allocator_frame("alloc::raw_vec::finish_grow"));
        assert!(is_allocator_frame("__rustc::__rust_alloc_zeroed"));
        assert!(is_allocator_frame(
            "<u8 as alloc::vec::spec_from_elem::SpecFromElem>::from_elem"
        ));
        assert!(!is_allocator_frame("<app::Cache as app::Store>::insert"));
        assert!(!is_allocator_frame("leaky::leak_session_cache_entry"));
    }
}
