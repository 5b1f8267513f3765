//! Turning the return addresses of sampled allocation sites into function names.
//!
//! - `maps`: the target's executable mappings, from `/proc/<pid>/maps`.
//! - `elf`: one binary's function symbols (`.symtab`, else `.dynsym`), read once with
//!   the `object` crate and kept sorted; names demangled with `rustc-demangle`.
//! - [`Symbolizer`]: a per-binary cache over both.
//!
//! Symbols, not debug info: function names are what a leak hunter needs first, they
//! survive `debug = 0` builds, and reading `.symtab` is fast. A binary without symbols
//! (stripped) gives `binary+0xOFFSET` names.

mod elf;
mod maps;
mod symbolizer;

pub use maps::{parse_maps, Mapping};
pub use symbolizer::{is_allocator_frame, Symbolizer};
