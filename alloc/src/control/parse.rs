//! The control file's syntax, parsed whole before anything is acted on.
//!
//! ```text
//! seq=1763771234567890123
//! log=slabscope=debug
//! sample=512K
//! drain
//! trim
//! check=abort
//! ```
//!
//! One item per line (`\n`; spaces and tabs around a line are ignored, empty lines
//! too). The first item is `seq=<n>`, a decimal `u64` greater than 0; then at least one
//! command, each at most once: `log=<filter>` ([`crate::grammar::filter_ok`]),
//! `sample=<bytes>` ([`crate::grammar::size`]: `512K`, `512KiB`, `1M`, ...; `0` = off,
//! at most [`SAMPLE_MAX`]), `drain`, `trim`, `check=<1|abort>` (the two reporting modes
//! of `SLABSCOPE_CHECK`: `1` also as `on`, `true`, `yes`; `0` is refused, checks cannot
//! be switched off). The values have the `SLABSCOPE_*` options' grammar. Anything else
//! refuses the whole file.
#![forbid(unsafe_code)]

use slabscope_proto::event::{control_command, ControlReason};

use crate::grammar::{decimal, filter_ok, size, switch, SAMPLE_MAX};

/// Largest control file the allocator reads, bytes.
pub const MAX_FILE: usize = 4096;

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
    /// `check=`: the new check mode (`check::mode`: 1 report, 2 abort).
    pub check: Option<u8>,
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
        if self.check.is_some() {
            b |= control_command::CHECK;
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

/// Parses a whole control file. Nothing is acted on unless this returns `Ok`.
pub fn parse(text: &[u8]) -> Result<Commands<'_>, Refusal> {
    let mut c = Commands {
        seq: 0,
        log: None,
        sample: None,
        drain: false,
        trim: false,
        check: None,
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
                let bytes = size(v).filter(|&n| n <= SAMPLE_MAX);
                c.sample = Some(bytes.ok_or(refuse(ControlReason::BadValue))?);
            }
            (b"drain", None) => {
                dup(c.drain)?;
                c.drain = true;
            }
            (b"trim", None) => {
                dup(c.trim)?;
                c.trim = true;
            }
            (b"check", Some(v)) => {
                dup(c.check.is_some())?;
                let mode = match switch(v) {
                    Some(true) => Some(1),
                    _ if v.eq_ignore_ascii_case(b"abort") => Some(2),
                    _ => None,
                };
                c.check = Some(mode.ok_or(refuse(ControlReason::BadValue))?);
            }
            (b"drain" | b"trim", Some(_)) | (b"log" | b"sample" | b"check", None) => {
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
    fn check_takes_one_or_abort_never_off() {
        let c = parse(b"seq=1\ncheck=abort").unwrap();
        assert_eq!((c.check, c.bits()), (Some(2), control_command::CHECK));
        assert_eq!(parse(b"seq=1\ncheck=on").unwrap().check, Some(1));
        assert_eq!(parse(b"seq=1\ncheck=1").unwrap().check, Some(1));
        assert_eq!(refused("seq=1\ncheck=0"), (R::BadValue, 2));
        assert_eq!(refused("seq=1\ncheck=off"), (R::BadValue, 2));
        assert_eq!(refused("seq=1\ncheck"), (R::BadValue, 2));
        assert_eq!(refused("seq=1\ncheck=1\ncheck=abort"), (R::Duplicate, 3));
    }

    #[test]
    fn sample_takes_the_options_size_grammar() {
        for (v, want) in [
            ("512KiB", 512 << 10),
            ("512K", 512 << 10),
            ("1M", 1 << 20),
            ("0", 0),
        ] {
            let text = format!("seq=1\nsample={v}");
            let c = parse(text.as_bytes()).unwrap();
            assert_eq!(c.sample, Some(want), "{v}");
            let env: &'static [u8] = Box::leak(v.as_bytes().to_vec().into_boxed_slice());
            let o = crate::options::Options::parse(
                |k| (k == "SLABSCOPE_SAMPLE").then_some(env),
                |k, _, _| panic!("{k} refused {v}"),
            );
            assert_eq!(o.sample, want, "{v}");
        }
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
        assert_eq!(c.bits(), control_command::ALL & !control_command::CHECK);
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
        let long = format!(
            "seq=3\nlog={}",
            "a".repeat(crate::grammar::LOG_FILTER_MAX + 1)
        );
        assert_eq!(refused(&long), (R::BadValue, 2));
        // The sequence number is reported once read.
        assert_eq!(parse(b"seq=5\nbogus").unwrap_err().seq, 5);
    }
}
