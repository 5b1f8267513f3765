//! Drawing the state with ratatui: one widget per file. `impl Widget for &State`
//! (in `screen.rs`) draws the whole screen; each view is also a widget of its own.

mod banner;
mod chart;
mod classes;
pub mod colour;
mod draw;
mod events;
pub mod format;
mod gpu;
pub mod heap_errors;
mod help;
mod leaks;
mod magazines;
mod oom;
mod overview;
pub mod palette;
mod screen;
mod stack;
mod superslabs;
mod tabs;

pub use banner::{message as banner_message, Banner};
pub use classes::Classes;
pub use colour::{ColourChoice, ColourDepth};
pub use events::{describe as describe_event, Events};
pub use gpu::{hit_rate, Gpu};
pub use heap_errors::HeapErrors;
pub use help::Help;
pub use leaks::Leaks;
pub use magazines::Magazines;
pub use oom::Oom;
pub use overview::Overview;
pub use superslabs::{slot_cell, SuperSlabs};
pub use tabs::{StatusBar, TabBar};
