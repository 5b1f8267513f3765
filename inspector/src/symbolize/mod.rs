//! Turning the return addresses of sampled allocation sites into frames a C, C++ or Rust
//! programmer reads.
//!
//! - `maps`: the target's executable mappings, from `/proc/<pid>/maps` (re-read when an
//!   address is outside all of them, so libraries loaded after attach are named).
//! - `binary`: one binary through addr2line's `Loader`: from DWARF the function, its
//!   `file:line` and the functions inlined at the address; from the symbol table
//!   (`.symtab`, else `.dynsym`) the function alone; names demangled (Rust and C++).
//! - [`Symbolizer`]: a per-binary and per-address cache over both.
//! - [`Background`]: a symbolizer on its own thread, for the interactive views.
//!
//! A binary without debug info gives function names only; a stripped one
//! `binary+0xOFFSET`.

mod background;
mod binary;
mod frame;
mod maps;
mod symbolizer;

pub use background::Background;
pub use frame::Frame;
pub use maps::{parse_maps, Mapping};
pub use symbolizer::{is_allocator_frame, Namer, Symbolizer};
