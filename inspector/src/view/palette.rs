//! Colours: one per size class (cycled), per slot state, per event kind, per fill level.

use ratatui::style::{Color, Modifier, Style};
use slabscope_proto::EventKind;

/// Distinct colours cycled over size classes.
const CLASS_COLOURS: [Color; 12] = [
    Color::Rgb(0x4e, 0x79, 0xa7),
    Color::Rgb(0xf2, 0x8e, 0x2b),
    Color::Rgb(0x59, 0xa1, 0x4f),
    Color::Rgb(0xe1, 0x57, 0x59),
    Color::Rgb(0x76, 0xb7, 0xb2),
    Color::Rgb(0xed, 0xc9, 0x48),
    Color::Rgb(0xb0, 0x7a, 0xa1),
    Color::Rgb(0xff, 0x9d, 0xa7),
    Color::Rgb(0x9c, 0x75, 0x5f),
    Color::Rgb(0xba, 0xb0, 0xac),
    Color::Rgb(0x86, 0xbc, 0xb6),
    Color::Rgb(0xd3, 0x72, 0x95),
];

/// The colour of size class `class`.
pub fn class_colour(class: u32) -> Color {
    CLASS_COLOURS[class as usize % CLASS_COLOURS.len()]
}

/// Lost data (dropped or missed events, overflowed tables): red, bold.
pub fn lost() -> Style {
    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
}

/// Column headers.
pub fn header() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// The selected row or cell.
pub fn selected() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

/// Secondary text.
pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// Series colours of the history charts.
pub const MAPPED: Color = Color::Cyan;
/// Live bytes series.
pub const LIVE: Color = Color::Green;
/// Cached bytes series.
pub const CACHED: Color = Color::Yellow;
/// Free bytes series.
pub const FREE: Color = Color::Blue;

/// Style of an event kind in the log.
pub fn event(kind: &EventKind) -> Style {
    use EventKind as K;
    match kind {
        K::Oom { .. } | K::GpuOom { .. } | K::HeapError { .. } => {
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        }
        K::MagazineDrain { .. } | K::ThreadExit { .. } => Style::new().fg(Color::Cyan),
        K::SlotAcquire { .. } | K::SlotEmpty { .. } | K::SlotRelease { .. } => {
            Style::new().fg(Color::Green)
        }
        K::SuperSlabMap { .. } | K::SuperSlabEmpty { .. } | K::SuperSlabReturn { .. } => {
            Style::new().fg(Color::Magenta)
        }
        K::LargeMap { .. } | K::LargeUnmap { .. } => Style::new().fg(Color::Blue),
        K::GpuMiss { .. } | K::GpuOversize { .. } | K::GpuTrim { .. } => {
            Style::new().fg(Color::Yellow)
        }
        K::ControlAck { accepted: true, .. } => {
            Style::new().fg(Color::Green).add_modifier(Modifier::BOLD)
        }
        K::ControlAck { .. } => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        K::Unknown { .. } => dim(),
    }
}

/// Heat-map style of a magazine `fill / capacity`.
pub fn heat(fill: u32, capacity: u32) -> Style {
    if capacity == 0 {
        return dim();
    }
    let f = f64::from(fill) / f64::from(capacity);
    let bg = match f {
        f if f <= 0.0 => Color::Rgb(0x20, 0x20, 0x28),
        f if f < 0.25 => Color::Rgb(0x1f, 0x3a, 0x5f),
        f if f < 0.5 => Color::Rgb(0x2e, 0x6b, 0x4f),
        f if f < 0.75 => Color::Rgb(0x9a, 0x7d, 0x1e),
        f if f < 1.0 => Color::Rgb(0xb8, 0x4c, 0x1f),
        _ => Color::Rgb(0xc0, 0x1f, 0x1f),
    };
    Style::new().fg(Color::White).bg(bg)
}
