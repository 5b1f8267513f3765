//! The control file's syntax, parsed whole before anything is acted on.
//!
//! ```text
//! seq=1763771234567890123
//! log=slabscope=debug
//! sample=512K
//! drain
//! trim
//! ```
//!
//! One item per line (`\n`; spaces and tabs around a line are ignored, empty lines
//! too). The first item is `seq=<n>`, a decimal `u64` greater than 0; then at least one
//! command, each at most once: `log=<EnvFilter>` (printable ASCII, at most
//! [`LOG_FILTER_MAX`] bytes, comma-separated directives whose `=level` part, if any,
//! names a level), `sample=<bytes>` (decimal, optional `K`/`M`/`G`, `0` = off, at most
//! 1 TiB), `drain`, `trim`. Anything else refuses the whole file.
#![forbid(unsafe_code)]

use slabscope_proto::event::{control_command, ControlReason};

/// Largest control file the allocator reads, bytes.
pub const MAX_FILE: usize = 4096;
/// Longest log filter, bytes.
pub const LOG_FILTER_MAX: usize = 255;
/// Largest sampling rate, bytes (1 TiB).
pub const SAMPLE_MAX: u64 = 1 << 40;

/// A parsed control file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commands<'a> {
    /// The file's sequence number.
    pub seq: u64,
    /// `log=`: the new filter.
    pub log: Option<&'a [u8]>,
    /// `sample=`: the new rate in bytes (0 = off).
    pub sample: Option<u64>,
    /// `drain`.
    pub drain: bool,
    /// `trim`.
    pub trim: bool,
}

impl Commands<'_> {
    /// The [`control_command`] bits of the commands present.
    pub fn bits(&self) -> u16 {
        let mut b = 0;
        if self.log.is_some() {
            b |= control_command::LOG;
        }
        if self.sample.is_some() {
            b |= control_command::SAMPLE;
        }
        if self.drain {
            b |= control_command::DRAIN;
        }
        if self.trim {
            b |= control_command::TRIM;
        }
        b
    }
}

/// Why and where a file was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The reason.
    pub reason: ControlReason,
    /// 1-based line (0: the whole file).
    pub line: u16,
    /// The file's `seq`, when it was read before the error (else 0).
    pub seq: u64,
}

fn trim_ws(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn split_once(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&b| b == sep)?;
    Some((&s[..i], &s[i + 1..]))
}

fn decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    Some(v)
}

/// `<decimal>[K|M|G]` (powers of 1024), at most [`SAMPLE_MAX`].
pub fn size(s: &[u8]) -> Option<u64> {
    let (digits, shift) = match s.last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 10),
        b'M' | b'm' => (&s[..s.len() - 1], 20),
        b'G' | b'g' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let v = decimal(digits)?.checked_mul(1 << shift)?;
    (v <= SAMPLE_MAX).then_some(v)
}

fn is_level(s: &[u8]) -> bool {
    const LEVELS: [&[u8]; 6] = [b"off", b"error", b"warn", b"info", b"debug", b"trace"];
    LEVELS.iter().any(|l| l.eq_ignore_ascii_case(s)) || matches!(s, [b'0'..=b'5'])
}

/// Checks the shape of an `EnvFilter` string: printable ASCII, non-empty
/// comma-separated directives, balanced `[...]`/`{...}`, and a level after the last `=`
/// that is outside brackets.
pub fn filter_ok(f: &[u8]) -> bool {
    if f.is_empty() || f.len() > LOG_FILTER_MAX || !f.iter().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    f.split(|&b| b == b',').all(|d| {
        if d.is_empty() {
            return false;
        }
        let mut depth = 0i32;
        let mut eq = None;
        for (i, &b) in d.iter().enumerate() {
            match b {
                b'[' | b'{' => depth += 1,
                b']' | b'}' => depth -= 1,
                b'=' if depth == 0 => eq = Some(i),
                _ => {}
            }
            if depth < 0 {
                return false;
            }
        }
        depth == 0 && eq.is_none_or(|i| i > 0 && is_level(&d[i + 1..]))
    })
}

/// Parses a whole control file. Nothing is acted on unless this returns `Ok`.
pub fn parse(text: &[u8]) -> Result<Commands<'_>, Refusal> {
    let mut c = Commands {
        seq: 0,
        log: None,
        sample: None,
        drain: false,
        trim: false,
    };
    let mut seen_seq = false;
    let mut last_line = 0u16;
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = u16::try_from(i + 1).unwrap_or(u16::MAX);
        let refuse = |reason| Refusal {
            reason,
            line,
            seq: c.seq,
        };
        let item = trim_ws(raw);
        if item.is_empty() {
            continue;
        }
        last_line = line;
        if !item.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            return Err(refuse(ControlReason::Syntax));
        }
        let (key, value) = match split_once(item, b'=') {
            Some((k, v)) => (k, Some(v)),
            None => (item, None),
        };
        if !seen_seq {
            match (key, value.and_then(decimal)) {
                (b"seq", Some(n)) if n > 0 => {
                    c.seq = n;
                    seen_seq = true;
                    continue;
                }
                _ => return Err(refuse(ControlReason::Syntax)),
            }
        }
        let dup = |present: bool| {
            if present {
                Err(refuse(ControlReason::Duplicate))
            } else {
                Ok(())
            }
        };
        match (key, value) {
            (b"log", Some(f)) => {
                dup(c.log.is_some())?;
                if !filter_ok(f) {
                    return Err(refuse(ControlReason::BadValue));
                }
                c.log = Some(f);
            }
            (b"sample", Some(v)) => {
                dup(c.sample.is_some())?;
                c.sample = Some(size(v).ok_or(refuse(ControlReason::BadValue))?);
            }
            (b"drain", None) => {
                dup(c.drain)?;
                c.drain = true;
            }
            (b"trim", None) => {
                dup(c.trim)?;
                c.trim = true;
            }
            (b"drain" | b"trim", Some(_)) | (b"log" | b"sample", None) => {
                return Err(refuse(ControlReason::BadValue))
            }
            (b"seq", _) => return Err(refuse(ControlReason::Duplicate)),
            (k, _) if k.is_empty() || k.contains(&b' ') => {
                return Err(refuse(ControlReason::Syntax))
            }
            _ => return Err(refuse(ControlReason::UnknownCommand)),
        }
    }
    let whole = |reason| Refusal {
        reason,
        line: 0,
        seq: c.seq,
    };
    if !seen_seq {
        return Err(whole(ControlReason::Syntax));
    }
    if c.bits() == 0 {
        return Err(Refusal {
            line: last_line,
            ..whole(ControlReason::Empty)
        });
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ControlReason as R;

    fn refused(text: &str) -> (ControlReason, u16) {
        let r = parse(text.as_bytes()).unwrap_err();
        (r.reason, r.line)
    }

    #[test]
    fn a_full_file_parses() {
        let c = parse(
            b"seq=7\nlog=slabscope=debug,slabscope::drain=trace\n  sample=512K \n\ndrain\ntrim\n",
        )
        .unwrap();
        assert_eq!(c.seq, 7);
        assert_eq!(c.log, Some(&b"slabscope=debug,slabscope::drain=trace"[..]));
        assert_eq!(c.sample, Some(512 << 10));
        assert!(c.drain && c.trim);
        assert_eq!(c.bits(), control_command::ALL);
        let c = parse(b"seq=1\nsample=0").unwrap();
        assert_eq!((c.sample, c.bits()), (Some(0), control_command::SAMPLE));
        assert_eq!(parse(b"seq=2\nlog=off").unwrap().log, Some(&b"off"[..]));
    }

    #[test]
    fn malformed_files_are_refused_with_the_line() {
        assert_eq!(refused(""), (R::Syntax, 0));
        assert_eq!(refused("drain\n"), (R::Syntax, 1));
        assert_eq!(refused("seq=0\ndrain"), (R::Syntax, 1));
        assert_eq!(refused("seq=-1\ndrain"), (R::Syntax, 1));
        assert_eq!(refused("seq=99999999999999999999\ndrain"), (R::Syntax, 1));
        assert_eq!(refused("seq=3\n"), (R::Empty, 1));
        assert_eq!(refused("seq=3\ndrain\nfrobnicate"), (R::UnknownCommand, 3));
        assert_eq!(refused("seq=3\ndrain\ndrain"), (R::Duplicate, 3));
        assert_eq!(refused("seq=3\nseq=4\ndrain"), (R::Duplicate, 2));
        assert_eq!(refused("seq=3\ndrain=1"), (R::BadValue, 2));
        assert_eq!(refused("seq=3\nlog"), (R::BadValue, 2));
        assert_eq!(refused("seq=3\nsample=lots"), (R::BadValue, 2));
        assert_eq!(refused("seq=3\nsample=2T"), (R::BadValue, 2));
        assert_eq!(refused("seq=3\nsample=2048G"), (R::BadValue, 2));
        assert_eq!(refused("seq=3\nlog=slabscope=loud"), (R::BadValue, 2));
        assert_eq!(refused("seq=3\nlog=a,,b"), (R::BadValue, 2));
        assert_eq!(refused("seq=3\nlog=a[b"), (R::BadValue, 2));
        assert_eq!(refused("seq=3\nlog=a b"), (R::BadValue, 2));
        assert_eq!(refused("seq=3\n=x"), (R::Syntax, 2));
        assert_eq!(refused("seq=3\ndrain\n\u{1}"), (R::Syntax, 3));
        assert_eq!(refused("seq=3\r\ndrain"), (R::Syntax, 1));
        let long = format!("seq=3\nlog={}", "a".repeat(LOG_FILTER_MAX + 1));
        assert_eq!(refused(&long), (R::BadValue, 2));
        // The sequence number is reported once read.
        assert_eq!(parse(b"seq=5\nbogus").unwrap_err().seq, 5);
    }

    #[test]
    fn filters_follow_env_filter_shapes() {
        for ok in [
            "slabscope=debug",
            "debug",
            "slabscope",
            "slabscope::drain=trace,warn",
            "slabscope[drain{class=3}]=TRACE",
            "a=0",
            "off",
        ] {
            assert!(filter_ok(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "=debug", "a=", "a=6", "a]=debug", "a{=debug", "a,", "ä"] {
            assert!(!filter_ok(bad.as_bytes()), "{bad}");
        }
    }
}
