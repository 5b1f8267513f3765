//! The one grammar of values that the `SLABSCOPE_*` options ([`crate::options`]) and the
//! control file ([`crate::control`]) share: decimal numbers, byte sizes, switches and
//! tracing filters. It allocates nothing and cannot panic: the options are parsed inside
//! the first `malloc`.
#![forbid(unsafe_code)]

/// Longest tracing filter (`SLABSCOPE_LOG`, the control file's `log=`), bytes.
pub const LOG_FILTER_MAX: usize = 256;

/// Largest leak-sampling interval (`SLABSCOPE_SAMPLE`, `sample=`): 1 TiB.
pub const SAMPLE_MAX: u64 = 1 << 40;

/// A decimal `u64`: 1 to 20 ASCII digits, nothing else, no overflow.
pub fn decimal(raw: &[u8]) -> Option<u64> {
    if raw.is_empty() || raw.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in raw {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// The units of [`size`] as messages and docs name them (the literal, for `concat!`).
macro_rules! unit_names {
    () => {
        "B, K, KB, KiB, M, MB, MiB, G, GB, GiB or T"
    };
}
pub(crate) use unit_names;

/// The units of [`size`] as messages and docs name them; a test checks that they are
/// the units it takes.
pub const UNIT_NAMES: &str = unit_names!();

/// Binary unit suffixes of [`size`], matched without regard to case.
const UNITS: [(&[u8], u32); 12] = [
    (b"", 0),
    (b"B", 0),
    (b"K", 10),
    (b"KB", 10),
    (b"KIB", 10),
    (b"M", 20),
    (b"MB", 20),
    (b"MIB", 20),
    (b"G", 30),
    (b"GB", 30),
    (b"GIB", 30),
    (b"T", 40),
];

/// A byte count: a [`decimal`] followed by an optional unit, `B`, `K`, `KB`, `KiB`,
/// `M`, `MB`, `MiB`, `G`, `GB`, `GiB` or `T` (powers of 1024, any case); no overflow.
pub fn size(raw: &[u8]) -> Option<u64> {
    let digits = raw.iter().take_while(|b| b.is_ascii_digit()).count();
    let n = decimal(&raw[..digits])?;
    let suffix = &raw[digits..];
    let &(_, shift) = UNITS.iter().find(|(u, _)| u.eq_ignore_ascii_case(suffix))?;
    n.checked_mul(1u64 << shift)
}

/// The words of [`switch`] that mean on, then those that mean off.
pub const SWITCH_WORDS: [[&str; 4]; 2] = [["1", "true", "on", "yes"], ["0", "false", "off", "no"]];

/// A switch: `1`, `true`, `on`, `yes` or `0`, `false`, `off`, `no`, any case.
pub fn switch(raw: &[u8]) -> Option<bool> {
    let is = |words: &[&str; 4]| words.iter().any(|w| w.as_bytes().eq_ignore_ascii_case(raw));
    if is(&SWITCH_WORDS[0]) {
        Some(true)
    } else if is(&SWITCH_WORDS[1]) {
        Some(false)
    } else {
        None
    }
}

/// A program name as the kernel keeps it (`/proc/<pid>/comm`): 1 to 15 bytes of
/// printable ASCII without `/` or spaces.
pub fn program_name(raw: &[u8]) -> bool {
    (1..=15).contains(&raw.len()) && raw.iter().all(|&b| b.is_ascii_graphic() && b != b'/')
}

fn is_level(s: &[u8]) -> bool {
    const LEVELS: [&[u8]; 6] = [b"off", b"error", b"warn", b"info", b"debug", b"trace"];
    LEVELS.iter().any(|l| l.eq_ignore_ascii_case(s)) || matches!(s, [b'0'..=b'5'])
}

/// Whether the tracing filter `f` is the level `off` alone (any case, or `0`): no
/// subscriber is needed.
pub fn filter_off(f: &[u8]) -> bool {
    f.eq_ignore_ascii_case(b"off") || f == b"0"
}

/// A tracing filter (tracing-subscriber's `Targets`): 1 to [`LOG_FILTER_MAX`] bytes of
/// non-empty comma-separated directives, each a level (`off`, `error`, `warn`, `info`,
/// `debug`, `trace`, any case, or `0` to `5`), a target (a module path: ASCII letters,
/// digits, `_`, `:`, `-`, `.`; every level), or `target=level`.
pub fn filter_ok(f: &[u8]) -> bool {
    if f.is_empty() || f.len() > LOG_FILTER_MAX {
        return false;
    }
    let target = |t: &[u8]| {
        !t.is_empty()
            && t.iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-' | b'.'))
    };
    f.split(|&b| b == b',')
        .all(|d| match d.iter().position(|&b| b == b'=') {
            Some(i) => target(&d[..i]) && is_level(&d[i + 1..]),
            None => is_level(d) || target(d),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert_eq!(decimal(b"0"), Some(0));
        assert_eq!(decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(decimal(b"18446744073709551616"), None);
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b" 1",
            b"1 ",
            b"1_000",
            b"0x10",
            b"1.5",
        ] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn sizes_take_every_unit_in_any_case() {
        for (raw, want) in [
            (&b"512"[..], 512),
            (b"512B", 512),
            (b"512K", 512 << 10),
            (b"512k", 512 << 10),
            (b"512KB", 512 << 10),
            (b"512KiB", 512 << 10),
            (b"512kib", 512 << 10),
            (b"3M", 3 << 20),
            (b"3MiB", 3 << 20),
            (b"2G", 2 << 30),
            (b"2GiB", 2 << 30),
            (b"1T", 1 << 40),
        ] {
            assert_eq!(size(raw), Some(want), "{}", String::from_utf8_lossy(raw));
        }
        for bad in [
            &b""[..],
            b"K",
            b"12X",
            b"12 K",
            b"1.5M",
            b"-1K",
            b"16777216T",
        ] {
            assert_eq!(size(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn unit_names_are_the_units() {
        let named: Vec<&str> = UNIT_NAMES
            .split(", ")
            .flat_map(|n| n.split(" or "))
            .collect();
        assert_eq!(named.len(), UNITS.len() - 1, "{UNIT_NAMES}");
        for (unit, _) in &UNITS[1..] {
            assert!(
                named
                    .iter()
                    .any(|n| n.as_bytes().eq_ignore_ascii_case(unit)),
                "{} is not named in {UNIT_NAMES}",
                String::from_utf8_lossy(unit)
            );
        }
    }

    #[test]
    fn switches_take_their_words_in_any_case() {
        for (raw, want) in [
            (&b"1"[..], Some(true)),
            (b"true", Some(true)),
            (b"TRUE", Some(true)),
            (b"On", Some(true)),
            (b"yes", Some(true)),
            (b"0", Some(false)),
            (b"False", Some(false)),
            (b"OFF", Some(false)),
            (b"no", Some(false)),
            (b"2", None),
            (b"", None),
            (b"yess", None),
            (b" on", None),
        ] {
            assert_eq!(switch(raw), want, "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn only_the_level_off_alone_needs_no_subscriber() {
        for off in [&b"off"[..], b"OFF", b"Off", b"0"] {
            assert!(filter_off(off), "{}", String::from_utf8_lossy(off));
        }
        for on in [
            &b"debug"[..],
            b"off,slabscope=debug",
            b"slabscope=off",
            b"1",
        ] {
            assert!(!filter_off(on), "{}", String::from_utf8_lossy(on));
        }
    }

    #[test]
    fn program_names() {
        for ok in [&b"python3"[..], b"cc1", b"x", b"fifteen-bytes-x"] {
            assert!(program_name(ok), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b""[..],
            b"/usr/bin/python3",
            b"two words",
            b"sixteen-bytes-xx",
        ] {
            assert!(!program_name(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn filters() {
        for ok in [
            &b"slabscope=debug"[..],
            b"debug",
            b"slabscope",
            b"off",
            b"a=0",
            b"info,slabscope::drain=trace",
            b"slabscope::drain=TRACE",
        ] {
            assert!(filter_ok(ok), "{}", String::from_utf8_lossy(ok));
        }
        let long = [b'a'; LOG_FILTER_MAX];
        assert!(filter_ok(&long));
        let too_long = [b'a'; LOG_FILTER_MAX + 1];
        assert!(!filter_ok(&too_long));
        for bad in [
            &b""[..],
            b"a b",
            b"a=loud",
            b"a=",
            b"a=6",
            b"=debug",
            b"a,",
            b"a,,b",
            b"a{=debug",
            b"a]=debug",
            b"slabscope[drain{class=3}]=trace",
            b"a=debug=trace",
            "\u{e4}".as_bytes(),
        ] {
            assert!(!filter_ok(bad), "{}", String::from_utf8_lossy(bad));
        }
    }
}
