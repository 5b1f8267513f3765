//! One binary's code: load segments, DWARF (functions, inlined frames, file:line) and
//! the symbol table, through addr2line's `Loader` (which maps the file instead of
//! reading it, and parses debug info lazily).

use std::borrow::Cow;
use std::io::Read;

use object::elf::{FileHeader64, PT_LOAD};
use object::read::elf::{FileHeader, ProgramHeader};
use object::Endianness;

use super::frame::Frame;

/// Largest ELF header plus program header table read.
const MAX_HEADERS: u64 = 1 << 20;

/// What a binary says about its code.
pub struct Binary {
    /// `(file offset, file size, virtual address)` of each load segment.
    segments: Vec<(u64, u64, u64)>,
    /// DWARF and symbols; `None` when the file has neither in a form addr2line reads.
    loader: Option<addr2line::Loader>,
}

impl std::fmt::Debug for Binary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binary")
            .field("segments", &self.segments)
            .field("loader", &self.loader.is_some())
            .finish()
    }
}

/// The load segments of the 64-bit ELF file at `path`, from its headers alone.
fn load_segments(path: &str) -> Option<Vec<(u64, u64, u64)>> {
    let mut head = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(4096)
        .read_to_end(&mut head)
        .ok()?;
    let hdr = FileHeader64::<Endianness>::parse(&*head).ok()?;
    let e = hdr.endian().ok()?;
    let end = hdr.e_phoff(e) + u64::from(hdr.e_phnum(e)) * u64::from(hdr.e_phentsize(e));
    if end > head.len() as u64 && end <= MAX_HEADERS {
        head.clear();
        std::fs::File::open(path)
            .ok()?
            .take(end)
            .read_to_end(&mut head)
            .ok()?;
    }
    let hdr = FileHeader64::<Endianness>::parse(&*head).ok()?;
    let phdrs = hdr.program_headers(e, &*head).ok()?;
    Some(
        phdrs
            .iter()
            .filter(|p| p.p_type(e) == PT_LOAD)
            .map(|p| (p.p_offset(e), p.p_filesz(e), p.p_vaddr(e)))
            .collect(),
    )
}

impl Binary {
    /// Opens `path`; `None` when it is not a readable 64-bit ELF file.
    pub fn load(path: &str) -> Option<Self> {
        let segments = load_segments(path)?;
        Some(Self {
            segments,
            loader: addr2line::Loader::new(path).ok(),
        })
    }

    /// The virtual address (as linked) of file offset `off`.
    pub fn vaddr_of_offset(&self, off: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|&&(o, size, _)| off >= o && off < o + size)
            .map(|&(o, _, v)| v + (off - o))
    }

    /// The frames at `vaddr`, innermost inlined function first; empty when neither debug
    /// info nor the symbol table names it.
    pub fn frames_at(&self, vaddr: u64) -> Vec<Frame> {
        let Some(loader) = &self.loader else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Ok(mut it) = loader.find_frames(vaddr) {
            while let Ok(Some(f)) = it.next() {
                let function = f.function.as_ref().and_then(|n| {
                    let name = n.demangle().ok()?;
                    // A function of one language exported under another's mangled name
                    // (the preload's `#[no_mangle] fn _Znwm`, C++'s `operator new`, is
                    // Rust in the debug info) keeps that name: try every scheme.
                    Some(if name.starts_with("_Z") {
                        addr2line::demangle_auto(name, None).into_owned()
                    } else {
                        name.into_owned()
                    })
                });
                let (file, line) = f
                    .location
                    .map(|l| (l.file.map(str::to_string), l.line))
                    .unwrap_or_default();
                out.push((function, file, line));
            }
        }
        let symbol = || {
            loader
                .find_symbol(vaddr)
                .map(|s| addr2line::demangle_auto(Cow::Borrowed(s), None).into_owned())
        };
        if out.is_empty() {
            return symbol().map(Frame::unnamed).into_iter().collect();
        }
        let n = out.len();
        out.into_iter()
            .enumerate()
            .map(|(i, (function, file, line))| Frame {
                // A frame that the debug info places but does not name (a line table
                // without function entries) takes the symbol's name.
                function: function
                    .or_else(|| (i + 1 == n).then(symbol).flatten())
                    .unwrap_or_else(|| "(unknown function)".to_string()),
                file,
                line,
                inlined: i + 1 < n,
            })
            .collect()
    }
}
