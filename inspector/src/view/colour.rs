//! Colour depth: the views draw in 24-bit colour; before a frame goes to the terminal
//! its colours are brought down to what the terminal shows (256 or 16 colours), or
//! removed for `NO_COLOR` (<https://no-color.org>), keeping bold and reverse video so that
//! headers and the selection still show.

use ratatui::buffer::Buffer;
use ratatui::style::Color;

/// How many colours the terminal shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ColourDepth {
    /// 24-bit colour (`COLORTERM=truecolor` or `24bit`).
    #[default]
    TrueColour,
    /// The xterm 256-colour palette (`TERM` ending in `256color`).
    Ansi256,
    /// The 16 ANSI colours (any other terminal).
    Ansi16,
    /// No colour at all (`NO_COLOR` set and not empty, or `TERM=dumb`).
    None,
}

impl ColourDepth {
    /// The depth the environment asks for, read through `var` (e.g. `std::env::var`).
    pub fn detect(var: impl Fn(&str) -> Option<String>) -> Self {
        if var("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return Self::None;
        }
        let term = var("TERM").unwrap_or_default();
        if term == "dumb" {
            return Self::None;
        }
        let colorterm = var("COLORTERM").unwrap_or_default();
        if colorterm == "truecolor" || colorterm == "24bit" {
            Self::TrueColour
        } else if term.ends_with("256color") {
            Self::Ansi256
        } else {
            Self::Ansi16
        }
    }

    /// `c` as this depth shows it.
    pub fn map(self, c: Color) -> Color {
        match (self, c) {
            (Self::TrueColour, c) | (_, c @ Color::Reset) => c,
            (Self::None, _) => Color::Reset,
            (Self::Ansi256, Color::Rgb(r, g, b)) => Color::Indexed(nearest_256(r, g, b)),
            (Self::Ansi256, c) => c,
            (Self::Ansi16, Color::Rgb(r, g, b)) => nearest_16(r, g, b),
            (Self::Ansi16, Color::Indexed(i)) => {
                let (r, g, b) = rgb_of_256(i);
                nearest_16(r, g, b)
            }
            (Self::Ansi16, c) => c,
        }
    }

    /// Brings every cell of `buf` down to this depth.
    pub fn apply(self, buf: &mut Buffer) {
        if self == Self::TrueColour {
            return;
        }
        for cell in &mut buf.content {
            cell.fg = self.map(cell.fg);
            cell.bg = self.map(cell.bg);
        }
    }
}

/// What `--color` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColourChoice {
    /// Detect from the environment ([`ColourDepth::detect`]).
    Auto,
    /// This depth, whatever the environment says.
    Fixed(ColourDepth),
}

impl ColourChoice {
    /// `--color`'s value: `auto`, `truecolor`, `256`, `16` or `never`.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "auto" => Ok(Self::Auto),
            "truecolor" | "24bit" => Ok(Self::Fixed(ColourDepth::TrueColour)),
            "256" => Ok(Self::Fixed(ColourDepth::Ansi256)),
            "16" => Ok(Self::Fixed(ColourDepth::Ansi16)),
            "never" | "none" => Ok(Self::Fixed(ColourDepth::None)),
            other => Err(format!(
                "`{other}` is not a colour mode (auto, truecolor, 256, 16, never)"
            )),
        }
    }

    /// The depth to draw in, reading the environment through `var` for `Auto`.
    pub fn resolve(self, var: impl Fn(&str) -> Option<String>) -> ColourDepth {
        match self {
            Self::Auto => ColourDepth::detect(var),
            Self::Fixed(d) => d,
        }
    }
}

/// The RGB values xterm gives the 16 ANSI colours (indices 0..=15 of the palette).
const ANSI16_RGB: [(u8, u8, u8); 16] = [
    (0, 0, 0),
    (205, 0, 0),
    (0, 205, 0),
    (205, 205, 0),
    (0, 0, 238),
    (205, 0, 205),
    (0, 205, 205),
    (229, 229, 229),
    (127, 127, 127),
    (255, 0, 0),
    (0, 255, 0),
    (255, 255, 0),
    (92, 92, 255),
    (255, 0, 255),
    (0, 255, 255),
    (255, 255, 255),
];

fn distance((r1, g1, b1): (u8, u8, u8), (r2, g2, b2): (u8, u8, u8)) -> u32 {
    let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).unsigned_abs();
    d(r1, r2).pow(2) + d(g1, g2).pow(2) + d(b1, b2).pow(2)
}

/// The ANSI colour of the same hue: a grey for unsaturated colours, else one of the six
/// hues, bright when the colour is light. (The nearest by RGB distance would turn most
/// muted colours grey.)
fn nearest_16(r: u8, g: u8, b: u8) -> Color {
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    let lightness = (u16::from(max) + u16::from(min)) / 2;
    if max == 0 || (u16::from(max - min) * 4) < u16::from(max) {
        return match max {
            0..=63 => Color::Black,
            64..=159 => Color::DarkGray,
            160..=223 => Color::Gray,
            _ => Color::White,
        };
    }
    let (rf, gf, bf) = (f64::from(r), f64::from(g), f64::from(b));
    let span = f64::from(max - min);
    let hue = if max == r {
        60.0 * ((gf - bf) / span).rem_euclid(6.0)
    } else if max == g {
        60.0 * ((bf - rf) / span + 2.0)
    } else {
        60.0 * ((rf - gf) / span + 4.0)
    };
    let light = lightness > 150;
    match hue {
        h if !(30.0..330.0).contains(&h) => pick(light, Color::LightRed, Color::Red),
        h if h < 90.0 => pick(light, Color::LightYellow, Color::Yellow),
        h if h < 150.0 => pick(light, Color::LightGreen, Color::Green),
        h if h < 210.0 => pick(light, Color::LightCyan, Color::Cyan),
        h if h < 270.0 => pick(light, Color::LightBlue, Color::Blue),
        _ => pick(light, Color::LightMagenta, Color::Magenta),
    }
}

fn pick(light: bool, bright: Color, normal: Color) -> Color {
    if light {
        bright
    } else {
        normal
    }
}

/// The levels of the 6 x 6 x 6 cube of the 256-colour palette.
const CUBE: [u8; 6] = [0, 95, 135, 175, 215, 255];

fn rgb_of_256(i: u8) -> (u8, u8, u8) {
    match i {
        0..=15 => ANSI16_RGB[usize::from(i)],
        16..=231 => {
            let n = i - 16;
            (
                CUBE[usize::from(n / 36)],
                CUBE[usize::from(n / 6 % 6)],
                CUBE[usize::from(n % 6)],
            )
        }
        _ => {
            let v = 8 + 10 * (i - 232);
            (v, v, v)
        }
    }
}

/// The closest entry of the cube (16..=231) or the grey ramp (232..=255).
fn nearest_256(r: u8, g: u8, b: u8) -> u8 {
    let level = |v: u8| {
        (0..CUBE.len())
            .min_by_key(|&k| (i32::from(CUBE[k]) - i32::from(v)).unsigned_abs())
            .unwrap_or(0) as u8
    };
    let cube = 16 + 36 * level(r) + 6 * level(g) + level(b);
    let avg = ((u16::from(r) + u16::from(g) + u16::from(b)) / 3) as u8;
    let grey = 232 + (avg.saturating_sub(3) / 10).min(23);
    let target = (r, g, b);
    if distance(rgb_of_256(grey), target) < distance(rgb_of_256(cube), target) {
        grey
    } else {
        cube
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::{Modifier, Style};

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_environment_picks_the_depth() {
        let d = |vars| ColourDepth::detect(env(vars));
        assert_eq!(
            d(&[("NO_COLOR", "1"), ("COLORTERM", "truecolor")]),
            ColourDepth::None
        );
        assert_eq!(
            d(&[("NO_COLOR", ""), ("COLORTERM", "truecolor")]),
            ColourDepth::TrueColour
        );
        assert_eq!(d(&[("TERM", "xterm-256color")]), ColourDepth::Ansi256);
        assert_eq!(d(&[("TERM", "xterm")]), ColourDepth::Ansi16);
        assert_eq!(d(&[("TERM", "linux")]), ColourDepth::Ansi16);
        assert_eq!(d(&[("TERM", "dumb")]), ColourDepth::None);
        let choice = |v| ColourChoice::parse(v).map(|c| c.resolve(env(&[("TERM", "xterm")])));
        assert_eq!(choice("never"), Ok(ColourDepth::None));
        assert_eq!(choice("256"), Ok(ColourDepth::Ansi256));
        assert_eq!(choice("auto"), Ok(ColourDepth::Ansi16));
        assert!(choice("rainbow").unwrap_err().contains("rainbow"));
    }

    #[test]
    fn colours_come_down_to_the_nearest_the_terminal_has() {
        assert_eq!(
            ColourDepth::Ansi256.map(Color::Rgb(255, 0, 0)),
            Color::Indexed(196)
        );
        assert_eq!(
            ColourDepth::Ansi256.map(Color::Rgb(0x20, 0x20, 0x28)),
            Color::Indexed(235)
        );
        assert_eq!(
            ColourDepth::Ansi16.map(Color::Rgb(0xe1, 0x57, 0x59)),
            Color::LightRed
        );
        assert_eq!(
            ColourDepth::Ansi16.map(Color::Rgb(0x1f, 0x3a, 0x5f)),
            Color::Blue
        );
        assert_eq!(
            ColourDepth::Ansi16.map(Color::Rgb(0x20, 0x20, 0x28)),
            Color::Black
        );
        assert_eq!(
            ColourDepth::Ansi16.map(Color::Rgb(0x9a, 0x7d, 0x1e)),
            Color::Yellow
        );
        assert_eq!(ColourDepth::Ansi16.map(Color::Indexed(21)), Color::Blue);
        assert_eq!(ColourDepth::Ansi16.map(Color::Cyan), Color::Cyan);
        assert_eq!(ColourDepth::None.map(Color::Cyan), Color::Reset);
    }

    #[test]
    fn without_colour_bold_and_reverse_stay() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 2, 1));
        buf.set_style(
            buf.area,
            Style::new()
                .fg(Color::Rgb(1, 2, 3))
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        );
        ColourDepth::None.apply(&mut buf);
        for cell in &buf.content {
            assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset));
            assert!(cell.modifier.contains(Modifier::BOLD | Modifier::REVERSED));
        }
    }
}
