//! Why the inspector cannot show a target: each case is one clear line on stderr and
//! exit code 1.

use std::fmt;
use std::path::PathBuf;

use slabscope_proto::ReadError;

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
    /// The segment (or segment copy) at `path` could not be read: `error`.
    pub fn read(path: &std::path::Path, error: ReadError) -> Self {
        InspectError::Read {
            path: path.to_path_buf(),
            error,
        }
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
            InspectError::NoSegment { pid, path } => write!(
                f,
                "process {pid} has no slabscope segment at {} (is slabscope its allocator, with \
                 publishing on? SLABSCOPE_SHM_DIR must match; SLABSCOPE_PUBLISH_AFTER_MS puts \
                 it off until an allocation after that delay)",
                path.display()
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
