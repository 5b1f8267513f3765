//! Every `SLABSCOPE_*` option in one table: name, environment variable, default,
//! accepted values and effect.
//!
//! The environment is read once per process, on the allocator's first slow path, with
//! `getenv` (which does not allocate) and parsed into fixed-size values. A bad value
//! gives one line on stderr (written with `write(2)`) and the default. docs/ENV.md is
//! checked against [`TABLE`] by a test, so the two cannot drift apart.
#![forbid(unsafe_code)]

use std::sync::OnceLock;

use crate::{grammar, pal};

/// How an option's value is parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `0`/`1` (also `false`/`true`, `off`/`on`, `no`/`yes`).
    Bool,
    /// [`Kind::Bool`], or a program name: on only in processes of that name.
    Publish,
    /// A decimal integer in `min..=max`.
    Count {
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// A byte size ([`crate::grammar::size`]: `512K`, `512KiB`, `1M`, ...).
    Size,
    /// A directory path (at most 200 bytes).
    Path,
    /// `0` (also `off`, ...), `1` (also `on`, ...) or `abort`.
    Check,
    /// A tracing-subscriber `Targets` filter string of the shape
    /// [`crate::grammar::filter_ok`] accepts.
    Filter,
    /// `stderr`, or an absolute file path (at most 200 bytes).
    File,
    /// An absolute path of a shared library, at most 200 bytes.
    Library,
}

/// One row of the option table.
#[derive(Clone, Copy, Debug)]
pub struct OptionDesc {
    /// Environment variable, e.g. `SLABSCOPE_LIMIT`.
    pub env: &'static str,
    /// Default value as written in docs/ENV.md.
    pub default: &'static str,
    /// Value syntax.
    pub kind: Kind,
    /// What the option does (one sentence, copied into docs/ENV.md).
    pub doc: &'static str,
}

/// Parsed options of this process.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// `SLABSCOPE_PUBLISH`: `Some(on)` when set, `None` to use the binary's default.
    pub publish: Option<bool>,
    /// `SLABSCOPE_PUBLISH=<name>`: publish only in a process whose name
    /// (`/proc/self/comm`) is this.
    pub publish_only: Option<&'static [u8]>,
    /// `SLABSCOPE_PUBLISH_AFTER_MS`: milliseconds of the process's life before its first
    /// slow path creates the segment (0: the first slow path creates it).
    pub publish_after_ms: u64,
    /// `SLABSCOPE_SHM_DIR`: directory of the segment.
    pub shm_dir: &'static [u8],
    /// `SLABSCOPE_DRAIN_INTERVAL`: frees between full magazine drains of a thread.
    pub drain_interval: u64,
    /// `SLABSCOPE_MAGAZINE`: most blocks one magazine holds.
    pub magazine: usize,
    /// `SLABSCOPE_EMPTY_CACHE`: empty SuperSlabs kept before returning them to the OS.
    pub empty_cache: usize,
    /// `SLABSCOPE_LIMIT`: most bytes the allocator may map (0 = no limit).
    pub limit: u64,
    /// `SLABSCOPE_MAX_THREADS`: thread records in the segment.
    pub max_threads: u32,
    /// `SLABSCOPE_MAX_SUPERSLABS`: SuperSlab records in the segment.
    pub max_superslabs: u32,
    /// `SLABSCOPE_MAX_GPU_POOLS`: GPU pool records in the segment.
    pub max_gpu_pools: u32,
    /// `SLABSCOPE_RING`: events in the ring (a power of two).
    pub ring_capacity: u32,
    /// `SLABSCOPE_LOG`: the tracing filter; `None` when unset or `off` (no tracing).
    pub log: Option<&'static [u8]>,
    /// `SLABSCOPE_LOG_FILE`: the file tracing appends to; `None` for stderr.
    pub log_file: Option<&'static [u8]>,
    /// `SLABSCOPE_TRACE_LIB`: the tracing library the preload loads; `None` to look for
    /// it beside the preload.
    pub trace_lib: Option<&'static [u8]>,
    /// `SLABSCOPE_SAMPLE`: mean bytes between sampled allocations (0 = no sampling).
    pub sample: u64,
    /// `SLABSCOPE_CONTROL`: whether the control file `slabscope.<pid>.ctl` is polled.
    pub control: bool,
    /// `SLABSCOPE_KEEP`: segments of ended processes kept per user (the oldest beyond
    /// it are removed by the next process that creates a segment).
    pub keep: usize,
    /// `SLABSCOPE_CHECK`: the check mode (`check::mode`: 0 off, 1 report, 2 abort).
    pub check: u8,
}

pub use crate::grammar::{LOG_FILTER_MAX, SAMPLE_MAX};

/// [`Kind::Publish`]'s parsed value for a program name (0 and 1 are the switch).
const PUBLISH_BY_NAME: u64 = 2;

/// Largest magazine capacity (`SLABSCOPE_MAGAZINE` upper bound; the magazine array size).
pub const MAGAZINE_MAX: usize = 512;

/// The option table, in docs/ENV.md order.
pub const TABLE: &[OptionDesc] = &[
    OptionDesc {
        env: "SLABSCOPE_PUBLISH",
        default: "1",
        kind: Kind::Publish,
        doc: "Publish the allocator's live state into the shared-memory segment; 0 turns publishing off entirely (no file is created). A program name publishes only in processes of that name (their `/proc/self/comm`), so that one program of a pipeline or a build can be watched. A binary may default it off (alloc-inspect does); setting it here always wins.",
    },
    OptionDesc {
        env: "SLABSCOPE_PUBLISH_AFTER_MS",
        default: "0",
        kind: Kind::Count { min: 0, max: 86_400_000 },
        doc: "Put the segment off until the process has run this many milliseconds (counted from its first allocation, or from `fork` in a forked child): the first slow path after that creates it, with the state of the process as it is then (the events before it are not kept). A process that ends sooner creates no file at all, which spares each short command of a build or a script the segment's cost; a process that runs out of memory creates it at once. A process that allocates at start and then only waits, or dies from a signal before, has none. 0: the first allocation creates it.",
    },
    OptionDesc {
        env: "SLABSCOPE_SHM_DIR",
        default: "/dev/shm",
        kind: Kind::Path,
        doc: "Directory in which the segment `slabscope.<pid>` is created (and where alloc-inspect looks for it).",
    },
    OptionDesc {
        env: "SLABSCOPE_DRAIN_INTERVAL",
        default: "1024",
        kind: Kind::Count { min: 1, max: 1 << 30 },
        doc: "Frees after which a thread gives back to their slots the magazine blocks that sat unused since the previous interval, folds its counters and refreshes its published state.",
    },
    OptionDesc {
        env: "SLABSCOPE_MAGAZINE",
        default: "512",
        kind: Kind::Count { min: 4, max: MAGAZINE_MAX as u64 },
        doc: "Most blocks one per-thread magazine holds; each class holds about 64 KiB of blocks, at least 4 and at most this many.",
    },
    OptionDesc {
        env: "SLABSCOPE_EMPTY_CACHE",
        default: "2",
        kind: Kind::Count { min: 0, max: 1024 },
        doc: "Empty SuperSlabs kept mapped (decommitted) for reuse before further empty ones are returned to the OS.",
    },
    OptionDesc {
        env: "SLABSCOPE_LIMIT",
        default: "0",
        kind: Kind::Size,
        doc: "Most bytes the allocator may map (SuperSlabs and large allocations); an allocation that would exceed it fails with an OOM event. 0 means no limit.",
    },
    OptionDesc {
        env: "SLABSCOPE_MAX_THREADS",
        default: "256",
        kind: Kind::Count { min: 1, max: 65536 },
        doc: "Thread records in the segment; threads beyond it still allocate but are counted as overflow instead of shown.",
    },
    OptionDesc {
        env: "SLABSCOPE_MAX_SUPERSLABS",
        default: "1024",
        kind: Kind::Count { min: 1, max: 1 << 20 },
        doc: "SuperSlab records in the segment's slot map; SuperSlabs beyond it still work but are counted as overflow instead of shown.",
    },
    OptionDesc {
        env: "SLABSCOPE_MAX_GPU_POOLS",
        default: "16",
        kind: Kind::Count { min: 0, max: 4096 },
        doc: "GPU pool records in the segment.",
    },
    OptionDesc {
        env: "SLABSCOPE_RING",
        default: "65536",
        kind: Kind::Count { min: 64, max: 1 << 22 },
        doc: "Events the segment's ring holds (rounded up to a power of two); the oldest are overwritten and readers count what they missed. The default (4 MiB of segment, its pages touched only as events are written) holds about a second of the worst slot-churn bursts measured in the demo.",
    },
    OptionDesc {
        env: "SLABSCOPE_LOG",
        default: "off",
        kind: Kind::Filter,
        doc: "Debug tracing of slow-path events (SuperSlab map/empty/return, slot acquire/empty/release, drains, large map/unmap, OOM, GPU miss/trim) through tracing-subscriber, with this filter of targets and levels (targets `slabscope::superslab`, `slabscope::slot`, `slabscope::drain`, `slabscope::large`, `slabscope::oom`, `slabscope::gpu`). Unset, or `off` alone (any case, or `0`): no subscriber is installed.",
    },
    OptionDesc {
        env: "SLABSCOPE_LOG_FILE",
        default: "stderr",
        kind: Kind::File,
        doc: "Where `SLABSCOPE_LOG` output goes: `stderr`, or a file the lines are appended to (created with mode 0600 if missing).",
    },
    OptionDesc {
        env: "SLABSCOPE_TRACE_LIB",
        default: "unset",
        kind: Kind::Library,
        doc: "Under the preload only: the tracing library (`libslabscope_trace.so`) loaded when a process asks for tracing. By default it is looked for in the preload's directory, then in its `deps/` subdirectory (where cargo builds it), then in the library search path.",
    },
    OptionDesc {
        env: "SLABSCOPE_SAMPLE",
        default: "0",
        kind: Kind::Size,
        doc: "Sample one allocation per this many allocated bytes on average (e.g. `512K`, jemalloc's default spacing): its call stack and lifetime are recorded in the segment's sample sites, which `alloc-inspect`'s Leaks view ranks by estimated live bytes. 0 turns sampling off; the fast path then pays one compare and writes nothing.",
    },
    OptionDesc {
        env: "SLABSCOPE_CONTROL",
        default: "1",
        kind: Kind::Bool,
        doc: "Accept commands from `alloc-inspect ctl` through the file `slabscope.<pid>.ctl` beside the segment (looked at from the interval drain, at most every 100 ms); 0 never looks at it.",
    },
    OptionDesc {
        env: "SLABSCOPE_KEEP",
        default: "8",
        kind: Kind::Count { min: 0, max: 64 },
        doc: "Segments of ended processes (killed by a signal, crashed, out of memory) kept in `SLABSCOPE_SHM_DIR` for `alloc-inspect --postmortem`: a process creating its segment removes this user's oldest ones beyond it. 0 keeps none.",
    },
    OptionDesc {
        env: "SLABSCOPE_CHECK",
        default: "0",
        kind: Kind::Check,
        doc: "Heap checks: `1` reports each double free, invalid free (a SuperSlab header address, an interior pointer, a block never handed out), write after free and write past the requested size with one line on stderr, an entry in the segment's heap error table and a ring event, and goes on without performing the bad free; `abort` reports and aborts. Every call then takes a slow path and each block carries an 8-byte trailer; 0 (the default) leaves the fast paths as they are. Read at start-up only (`alloc-inspect ctl <pid> check=abort` or `check=1` switches a process started with checks between the two).",
    },
];

impl Options {
    /// The defaults of [`TABLE`].
    pub const DEFAULT: Options = Options {
        publish: None,
        publish_only: None,
        publish_after_ms: 0,
        shm_dir: b"/dev/shm",
        drain_interval: 1024,
        magazine: 512,
        empty_cache: 2,
        limit: 0,
        max_threads: 256,
        max_superslabs: 1024,
        max_gpu_pools: 16,
        ring_capacity: 65536,
        log: None,
        log_file: None,
        trace_lib: None,
        sample: 0,
        control: true,
        keep: 8,
        check: 0,
    };

    /// Parses options from `lookup` (an environment); bad values are reported through
    /// `complain(env, value, expected)` and replaced by the default.
    pub fn parse(
        lookup: impl Fn(&'static str) -> Option<&'static [u8]>,
        mut complain: impl FnMut(&str, &[u8], &str),
    ) -> Options {
        let mut o = Options::DEFAULT;
        for desc in TABLE {
            let Some(raw) = lookup(desc.env) else {
                continue;
            };
            let parsed = parse_value(desc.kind, raw);
            let Some(v) = parsed else {
                complain(desc.env, raw, expected(desc.kind));
                continue;
            };
            match desc.env {
                "SLABSCOPE_PUBLISH" => {
                    o.publish = Some(v.num != 0);
                    o.publish_only = (v.num == PUBLISH_BY_NAME).then_some(raw);
                }
                "SLABSCOPE_PUBLISH_AFTER_MS" => o.publish_after_ms = v.num,
                "SLABSCOPE_SHM_DIR" => o.shm_dir = raw,
                "SLABSCOPE_DRAIN_INTERVAL" => o.drain_interval = v.num,
                "SLABSCOPE_MAGAZINE" => o.magazine = v.num as usize,
                "SLABSCOPE_EMPTY_CACHE" => o.empty_cache = v.num as usize,
                "SLABSCOPE_LIMIT" => o.limit = v.num,
                "SLABSCOPE_MAX_THREADS" => o.max_threads = v.num as u32,
                "SLABSCOPE_MAX_SUPERSLABS" => o.max_superslabs = v.num as u32,
                "SLABSCOPE_MAX_GPU_POOLS" => o.max_gpu_pools = v.num as u32,
                "SLABSCOPE_LOG" => o.log = (!grammar::filter_off(raw)).then_some(raw),
                "SLABSCOPE_LOG_FILE" => o.log_file = (raw != b"stderr").then_some(raw),
                "SLABSCOPE_TRACE_LIB" => o.trace_lib = Some(raw),
                "SLABSCOPE_SAMPLE" => o.sample = v.num.min(SAMPLE_MAX),
                "SLABSCOPE_CONTROL" => o.control = v.num != 0,
                "SLABSCOPE_KEEP" => o.keep = v.num as usize,
                "SLABSCOPE_CHECK" => o.check = v.num as u8,
                "SLABSCOPE_RING" => {
                    o.ring_capacity = (v.num as u32)
                        .checked_next_power_of_two()
                        .unwrap_or(1 << 22)
                }
                _ => {}
            }
        }
        o
    }
}

struct Value {
    num: u64,
}

// The message of `Kind::Path` names the length `dir_ok` takes.
const _: () = assert!(slabscope_proto::MAX_DIR_BYTES == 200);

fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Bool => "0 or 1 (also false/true, off/on, no/yes)",
        Kind::Check => "0, 1 (also false/true, off/on, no/yes) or abort",
        Kind::Publish => {
            "0, 1 (also false/true, off/on, no/yes) or a program name: 1 to 15 printable bytes without spaces or /"
        }
        Kind::Count { .. } => "an integer in the documented range",
        Kind::Size => concat!(
            "a byte count with an optional unit: ",
            grammar::unit_names!()
        ),
        Kind::Path => "an absolute directory path of at most 200 bytes",
        Kind::Filter => {
            "a filter: comma-separated directives, each a level, a target or target=level, at most 256 bytes"
        }
        Kind::File => "stderr or an absolute file path of at most 200 bytes",
        Kind::Library => "an absolute file path of at most 200 bytes",
    }
}

fn parse_value(kind: Kind, raw: &[u8]) -> Option<Value> {
    let num = match kind {
        Kind::Bool => u64::from(grammar::switch(raw)?),
        Kind::Check => match grammar::switch(raw) {
            Some(on) => u64::from(on),
            None if raw.eq_ignore_ascii_case(b"abort") => 2,
            None => return None,
        },
        Kind::Publish => match grammar::switch(raw) {
            Some(on) => u64::from(on),
            None => grammar::program_name(raw).then_some(PUBLISH_BY_NAME)?,
        },
        Kind::Count { min, max } => {
            Some(grammar::decimal(raw)?).filter(|n| (min..=max).contains(n))?
        }
        Kind::Size => grammar::size(raw)?,
        Kind::Path => slabscope_proto::dir_ok(raw).then_some(0)?,
        Kind::Filter => grammar::filter_ok(raw).then_some(0)?,
        Kind::File => (raw == b"stderr"
            || raw.first() == Some(&b'/') && raw.len() <= 200 && !raw.contains(&0))
        .then_some(0)?,
        Kind::Library => {
            (raw.first() == Some(&b'/') && raw.len() <= 200 && !raw.contains(&0)).then_some(0)?
        }
    };
    Some(Value { num })
}

static OPTIONS: OnceLock<Options> = OnceLock::new();

/// The options of this process, read from the environment on first use.
pub fn get() -> &'static Options {
    OPTIONS.get_or_init(|| {
        Options::parse(env_lookup, |env, value, expected| {
            let shown = &value[..value.len().min(64)];
            pal::write_stderr(&[
                b"slabscope: ignoring ",
                env.as_bytes(),
                b"=",
                shown,
                b" (expected ",
                expected.as_bytes(),
                b"); using the default",
            ]);
        })
    })
}

fn env_lookup(env: &'static str) -> Option<&'static [u8]> {
    // A NUL-terminated copy of the name for getenv (every name in TABLE is shorter).
    let mut name = [0u8; 48];
    let n = env.len();
    if n >= name.len() {
        return None;
    }
    name[..n].copy_from_slice(env.as_bytes());
    pal::getenv(&name[..=n])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(pairs: &'static [(&'static str, &'static [u8])]) -> (Options, usize) {
        let mut complaints = 0;
        let o = Options::parse(
            |env| pairs.iter().find(|p| p.0 == env).map(|p| p.1),
            |_, _, _| complaints += 1,
        );
        (o, complaints)
    }

    #[test]
    fn good_values_are_taken_and_bad_ones_complain_and_default() {
        let (o, bad) = parse_with(&[
            ("SLABSCOPE_PUBLISH", b"0"),
            ("SLABSCOPE_LIMIT", b"64M"),
            ("SLABSCOPE_RING", b"1000"),
            ("SLABSCOPE_DRAIN_INTERVAL", b"0"),
            ("SLABSCOPE_MAGAZINE", b"lots"),
            ("SLABSCOPE_SHM_DIR", b"relative/dir"),
        ]);
        assert_eq!(o.publish, Some(false));
        assert_eq!(o.limit, 64 << 20);
        assert_eq!(o.ring_capacity, 1024);
        assert_eq!(o.drain_interval, 1024);
        assert_eq!(o.magazine, 512);
        assert_eq!(o.shm_dir, b"/dev/shm");
        assert_eq!(bad, 3);
    }

    #[test]
    fn the_level_off_in_any_case_installs_no_subscriber() {
        for off in [&b"off"[..], b"OFF", b"Off", b"0"] {
            let pairs: &'static [(&'static str, &'static [u8])] =
                Box::leak(Box::new([("SLABSCOPE_LOG", off)]));
            let (o, bad) = parse_with(pairs);
            assert_eq!((o.log, bad), (None, 0), "{}", String::from_utf8_lossy(off));
        }
        let (o, bad) = parse_with(&[("SLABSCOPE_LOG", b"slabscope=DEBUG")]);
        assert_eq!((o.log, bad), (Some(&b"slabscope=DEBUG"[..]), 0));
    }

    #[test]
    fn switch_words_are_the_switch_in_any_case_and_never_a_program_name() {
        let (o, bad) = parse_with(&[
            ("SLABSCOPE_PUBLISH", b"TRUE"),
            ("SLABSCOPE_CONTROL", b"Off"),
        ]);
        assert_eq!(
            (o.publish, o.publish_only, o.control, bad),
            (Some(true), None, false, 0)
        );
        let (o, bad) = parse_with(&[("SLABSCOPE_PUBLISH", b"python3")]);
        assert_eq!(
            (o.publish, o.publish_only, bad),
            (Some(true), Some(&b"python3"[..]), 0)
        );
    }

    #[test]
    fn defaults_in_the_table_match_the_default_struct() {
        let (o, bad) = parse_with(&[]);
        assert_eq!(bad, 0);
        for d in TABLE {
            if d.env == "SLABSCOPE_TRACE_LIB" {
                // Its default is a search (docs/ENV.md), not a value it could be set to.
                assert_eq!((d.default, o.trace_lib), ("unset", None));
                continue;
            }
            let parsed = parse_value(d.kind, d.default.as_bytes());
            assert!(parsed.is_some(), "{} default does not parse", d.env);
            let n = parsed.map(|v| v.num).unwrap_or(0);
            let actual = match d.env {
                "SLABSCOPE_PUBLISH" => 1,
                "SLABSCOPE_PUBLISH_AFTER_MS" => o.publish_after_ms,
                "SLABSCOPE_SHM_DIR" => 0,
                "SLABSCOPE_DRAIN_INTERVAL" => o.drain_interval,
                "SLABSCOPE_MAGAZINE" => o.magazine as u64,
                "SLABSCOPE_EMPTY_CACHE" => o.empty_cache as u64,
                "SLABSCOPE_LIMIT" => o.limit,
                "SLABSCOPE_MAX_THREADS" => o.max_threads as u64,
                "SLABSCOPE_MAX_SUPERSLABS" => o.max_superslabs as u64,
                "SLABSCOPE_MAX_GPU_POOLS" => o.max_gpu_pools as u64,
                "SLABSCOPE_RING" => o.ring_capacity as u64,
                "SLABSCOPE_LOG" => {
                    assert_eq!(o.log, None);
                    0
                }
                "SLABSCOPE_LOG_FILE" => {
                    assert_eq!(o.log_file, None);
                    0
                }
                "SLABSCOPE_SAMPLE" => o.sample,
                "SLABSCOPE_CONTROL" => o.control as u64,
                "SLABSCOPE_KEEP" => o.keep as u64,
                "SLABSCOPE_CHECK" => o.check as u64,
                other => panic!("{other} is not handled by Options::parse"),
            };
            assert_eq!(n, actual, "{}", d.env);
        }
    }
}
