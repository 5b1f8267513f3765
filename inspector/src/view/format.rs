//! Number formatting shared by the views.

/// Bytes with a binary unit: `512 B`, `1.5 KiB`, `12.0 MiB`, `3.25 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if v >= 100.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A count with a metric suffix past 10,000: `9999`, `12.3k`, `4.5M`, `7.8G`.
pub fn count(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// A per-second rate, rounded: `0`, `12`, `3.4k`.
pub fn rate(r: f64) -> String {
    if !r.is_finite() || r <= 0.0 {
        "0".to_string()
    } else {
        count(r.round() as u64)
    }
}

/// A fraction as a percentage: `58.7%`.
pub fn percent(f: f64) -> String {
    format!("{:.1}%", f * 100.0)
}

/// A duration: `950ms`, `42s`, `3m 07s`, `2h 05m`, `3d 04h`.
pub fn duration_ns(ns: u64) -> String {
    let s = ns / 1_000_000_000;
    match s {
        0 => format!("{}ms", ns / 1_000_000),
        1..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// An event time relative to the process start: `+12.345s`.
pub fn since_start(time_ns: u64, start_ns: u64) -> String {
    let d = time_ns.saturating_sub(start_ns);
    format!(
        "+{}.{:03}s",
        d / 1_000_000_000,
        d % 1_000_000_000 / 1_000_000
    )
}

/// An address in the target's address space.
pub fn addr(a: u64) -> String {
    format!("{a:#014x}")
}

/// A sparkline of `values` scaled to their maximum, one character per value.
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|&v| {
            if max == 0 {
                BARS[0]
            } else {
                BARS[((v as u128 * 7 + max as u128 / 2) / max as u128).min(7) as usize]
            }
        })
        .collect()
}

/// `s` with every control character written as its Rust escape (`\n`, `\u{1b}`): text
/// that a watched process controls (its command line, thread names) never moves the
/// cursor or changes the terminal when printed as plain text.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(char::is_control) {
        return s.into();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// A sampled allocation site on one line: `function (file.c:LINE)`, the location's
/// directories left out (a call stack pane shows the whole path), or the function alone.
pub fn site(function: &str, location: Option<&str>) -> String {
    match location {
        Some(loc) => format!("{function} ({})", loc.rsplit('/').next().unwrap_or(loc)),
        None => function.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("python3 -c x"), "python3 -c x");
        assert_eq!(
            printable("sh -c import os\nos._exit(0)\x1b[2J\u{9b}"),
            "sh -c import os\\nos._exit(0)\\u{1b}[2J\\u{9b}"
        );
    }

    #[test]
    fn formats_are_short_and_exact_at_the_edges() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(300 << 20), "300 MiB");
        assert_eq!(bytes(u64::MAX), "16384 PiB");
        assert_eq!(count(12_345), "12.3k");
        assert_eq!(rate(f64::NAN), "0");
        assert_eq!(percent(0.587), "58.7%");
        assert_eq!(duration_ns(187_000_000_000), "3m 07s");
        assert_eq!(duration_ns(5_000_000), "5ms");
        assert_eq!(since_start(2_012_345_678, 1_000_000_000), "+1.012s");
        assert_eq!(addr(0x7f00_0000_0000), "0x7f0000000000");
        assert_eq!(sparkline(&[0, 1, 2, 4]), "▁▃▅█");
        assert_eq!(sparkline(&[0, 0]), "▁▁");
        assert_eq!(site("f", Some("/src/a/b.c:12")), "f (b.c:12)");
        assert_eq!(site("f", None), "f");
    }
}
