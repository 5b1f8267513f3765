//! One binary's function symbols and load segments.

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

/// A function symbol.
#[derive(Clone, Debug)]
struct Func {
    addr: u64,
    size: u64,
    name: String,
}

/// What a binary says about its code: load segments and function symbols.
#[derive(Clone, Debug, Default)]
pub struct Binary {
    /// `(file offset, file size, virtual address)` of each load segment.
    segments: Vec<(u64, u64, u64)>,
    /// Sorted by address.
    funcs: Vec<Func>,
}

impl Binary {
    /// Reads `path`; `None` when it cannot be read or parsed.
    pub fn load(path: &str) -> Option<Self> {
        let data = std::fs::read(path).ok()?;
        let file = object::File::parse(&*data).ok()?;
        let segments = file
            .segments()
            .map(|s| {
                let (off, size) = s.file_range();
                (off, size, s.address())
            })
            .collect();
        let mut funcs: Vec<Func> = file
            .symbols()
            .chain(file.dynamic_symbols())
            .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
            .filter_map(|s| {
                Some(Func {
                    addr: s.address(),
                    size: s.size(),
                    name: s.name().ok()?.to_string(),
                })
            })
            .collect();
        funcs.sort_by_key(|f| (f.addr, std::cmp::Reverse(f.size)));
        funcs.dedup_by_key(|f| f.addr);
        Some(Self { segments, funcs })
    }

    /// The virtual address (as linked) of file offset `off`.
    pub fn vaddr_of_offset(&self, off: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|&&(o, size, _)| off >= o && off < o + size)
            .map(|&(o, _, v)| v + (off - o))
    }

    /// The demangled name of the function containing `vaddr`.
    pub fn function_at(&self, vaddr: u64) -> Option<String> {
        let i = self.funcs.partition_point(|f| f.addr <= vaddr);
        let f = self.funcs.get(i.checked_sub(1)?)?;
        let inside = vaddr < f.addr + f.size.max(1) || f.size == 0;
        inside.then(|| format!("{:#}", rustc_demangle::demangle(&f.name)))
    }
}
