//! Why the inspector cannot show a target: each case is one clear line on stderr and
//! exit code 1.

use std::fmt;
use std::path::{Path, PathBuf};

use slabscope::{grammar, options};
use slabscope_proto::ReadError;

use crate::procfs::{self, PublishEnv};

/// Everything that stops the inspector.
#[derive(Debug)]
pub enum InspectError {
    /// No process has this pid, and no segment is left for it.
    NoProcess {
        /// The pid asked for.
        pid: u32,
    },
    /// The process is gone but its segment remains (it was killed or crashed).
    Exited {
        /// The pid asked for.
        pid: u32,
        /// The segment left behind.
        path: PathBuf,
    },
    /// The pid runs, but a process that started after the segment was created: the
    /// segment's writer is gone and its pid was given to another process.
    PidReused {
        /// The pid asked for.
        pid: u32,
        /// The segment left behind.
        path: PathBuf,
    },
    /// The process runs but has no segment.
    NoSegment {
        /// The pid asked for.
        pid: u32,
        /// Where the segment would be.
        path: PathBuf,
        /// What the process's environment says about publishing, when it can be read.
        env: Option<PublishEnv>,
    },
    /// The process belongs to another user.
    NotYours {
        /// The pid asked for.
        pid: u32,
        /// Its owner's name.
        owner: String,
    },
    /// The segment could not be read (wrong protocol major, corrupt, symlink, ...).
    Read {
        /// The file.
        path: PathBuf,
        /// The reader's error.
        error: ReadError,
    },
    /// The demo child could not be started or never published its segment.
    Demo(String),
    /// Terminal or other I/O failure.
    Io(String),
    /// Standard output was closed by its reader (`alloc-inspect list | head -1`): not
    /// a failure, the command stops quietly.
    OutputClosed,
}

impl InspectError {
    /// Running process `pid` has no segment at `path`; its environment is read to say why.
    pub fn no_segment(pid: u32, path: PathBuf) -> Self {
        InspectError::NoSegment {
            pid,
            path,
            env: procfs::publish_env(pid),
        }
    }

    /// The segment (or segment copy) at `path` could not be read: `error`.
    pub fn read(path: &std::path::Path, error: ReadError) -> Self {
        InspectError::Read {
            path: path.to_path_buf(),
            error,
        }
    }
}

/// The end of the "no segment" line: what the process started with that explains it
/// (publishing off or by name, another directory, a delay), else what to check.
fn why_no_segment(env: Option<&PublishEnv>, path: &Path) -> String {
    let generic = " (is slabscope its allocator, with publishing on? SLABSCOPE_SHM_DIR must \
                   match; SLABSCOPE_PUBLISH_AFTER_MS puts it off until an allocation after \
                   that delay)"
        .to_owned();
    let Some(env) = env else { return generic };
    // The allocator's own grammar, so that a value reads here as it did there.
    if let Some(v) = &env.publish {
        match grammar::switch(v.as_bytes()) {
            Some(false) => {
                return format!(": it started with SLABSCOPE_PUBLISH={v}, which publishes nothing")
            }
            Some(true) => {}
            None if grammar::program_name(v.as_bytes()) => {
                return format!(
                    ": it started with SLABSCOPE_PUBLISH={v}, which publishes only from \
                     processes named {v}"
                )
            }
            // Refused by the allocator, which then publishes as by default.
            None => {}
        }
    }
    if let Some(dir) = &env.shm_dir {
        // A value the allocator ignored (it then used /dev/shm, as this reader does)
        // explains nothing.
        if slabscope_proto::dir_ok(dir.as_bytes()) && path.parent() != Some(Path::new(dir)) {
            return format!(
                ": it started with SLABSCOPE_SHM_DIR={dir}; run alloc-inspect with the same \
                 SLABSCOPE_SHM_DIR"
            );
        }
    }
    // A delay out of the option's range is refused by the allocator (no delay).
    let accepted = |ms: u64| {
        options::TABLE.iter().any(|d| {
            d.env == "SLABSCOPE_PUBLISH_AFTER_MS"
                && matches!(d.kind, options::Kind::Count { min, max } if (min..=max).contains(&ms))
        })
    };
    match env
        .after_ms
        .as_deref()
        .and_then(|v| grammar::decimal(v.as_bytes()))
    {
        Some(ms) if ms > 0 && accepted(ms) => format!(
            " yet: it started with SLABSCOPE_PUBLISH_AFTER_MS={ms}, which makes one at its \
             first allocation after {ms} ms (a process that only waits makes none)"
        ),
        _ => generic,
    }
}

impl fmt::Display for InspectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InspectError::NoProcess { pid } => write!(f, "no process with pid {pid}"),
            InspectError::Exited { pid, path } => write!(
                f,
                "process {pid} is not running; it left its segment behind: alloc-inspect --postmortem {}",
                path.display()
            ),
            InspectError::PidReused { pid, path } => write!(
                f,
                "pid {pid} now belongs to a process that started after its segment was made; \
                 the process that made it is gone: alloc-inspect --postmortem {}",
                path.display()
            ),
            InspectError::NoSegment { pid, path, env } => write!(
                f,
                "process {pid} has no slabscope segment at {}{}",
                path.display(),
                why_no_segment(env.as_ref(), path)
            ),
            InspectError::NotYours { pid, owner } => write!(
                f,
                "process {pid} belongs to {owner}; alloc-inspect only attaches to your own processes"
            ),
            InspectError::Read { path, error } => {
                let msg = error.to_string();
                if msg.contains(&*path.to_string_lossy()) {
                    write!(f, "{msg}")
                } else {
                    write!(f, "cannot read segment {}: {msg}", path.display())
                }
            }
            InspectError::Demo(m) => write!(f, "demo: {m}"),
            InspectError::Io(m) => write!(f, "{m}"),
            InspectError::OutputClosed => write!(f, "standard output was closed"),
        }
    }
}

impl std::error::Error for InspectError {}

impl From<std::io::Error> for InspectError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            InspectError::OutputClosed
        } else {
            InspectError::Io(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(publish: Option<&str>, after: Option<&str>, dir: Option<&str>) -> String {
        let env = PublishEnv {
            publish: publish.map(str::to_owned),
            after_ms: after.map(str::to_owned),
            shm_dir: dir.map(str::to_owned),
        };
        why_no_segment(Some(&env), Path::new("/dev/shm/slabscope.42"))
    }

    #[test]
    fn the_line_names_what_the_process_started_with() {
        assert!(why(Some("0"), Some("100"), None)
            .contains("SLABSCOPE_PUBLISH=0, which publishes nothing"));
        assert!(why(Some("python3"), None, None).contains("only from processes named python3"));
        // Switch words in any case, as the allocator reads them: `OFF` is off.
        assert!(
            why(Some("OFF"), None, None).contains("SLABSCOPE_PUBLISH=OFF, which publishes nothing")
        );
        assert!(why(None, None, Some("/tmp/seg")).contains("SLABSCOPE_SHM_DIR=/tmp/seg; run"));
        assert!(why(Some("1"), Some("250"), Some("/dev/shm"))
            .contains("yet: it started with SLABSCOPE_PUBLISH_AFTER_MS=250"));
        // Nothing that explains it: what to check.
        for generic in [
            why(None, None, None),
            why(Some("on"), Some("0"), Some("/dev/shm")),
            why(Some("a/b"), None, None),
            why(None, None, Some("relative/dir")),
            why(None, Some("soon"), None),
            why(None, Some("99999999999"), None),
        ] {
            assert!(
                generic.starts_with(" (is slabscope its allocator"),
                "{generic}"
            );
        }
        assert!(why_no_segment(None, Path::new("/x/slabscope.1")).starts_with(" (is slabscope"));
    }
}
