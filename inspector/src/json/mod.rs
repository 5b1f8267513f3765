//! The stable JSON documents: `--once --json` and `list --json` (docs/INSPECTOR.md,
//! "JSON schema 1"). The documents have their own types, so that nothing renamed in
//! `slabscope-proto` changes them unnoticed; within schema 1 fields are only added.

mod document;
mod event;
mod heap_error;
mod list;
mod oom;
pub mod schema;

pub use document::{document, to_string};
pub use list::{list_document, list_to_string};
pub use schema::SCHEMA;
