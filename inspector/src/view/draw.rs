//! Clipped drawing helpers for widgets that place text cell by cell.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

/// Writes `text` at `(x, y)`, clipped to `clip` (nothing when outside it).
pub fn put(buf: &mut Buffer, clip: Rect, x: u16, y: u16, text: &str, style: Style) {
    if y < clip.y || y >= clip.bottom() || x < clip.x || x >= clip.right() {
        return;
    }
    let room = (clip.right() - x) as usize;
    buf.set_stringn(x, y, text, room, style);
}
