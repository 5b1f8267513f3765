//! Why a segment could not be read.
#![forbid(unsafe_code)]

use std::fmt;
use std::path::PathBuf;

use crate::snapshot::ProtocolVersion;

/// Every way reading a segment can fail. `Display` gives one clear line.
#[derive(Debug)]
pub enum ReadError {
    /// Nothing at the path.
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// The path is a symbolic link (never followed).
    Symlink {
        /// The path.
        path: PathBuf,
    },
    /// The file belongs to another user.
    NotOwner {
        /// The path.
        path: PathBuf,
        /// The file's owner.
        owner: u32,
        /// The reader's effective uid.
        euid: u32,
    },
    /// The path is not a regular file (a directory, FIFO, device, socket).
    NotRegular {
        /// The path.
        path: PathBuf,
    },
    /// A system call failed.
    Io {
        /// The path.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// Fewer bytes than the part of the header needed to read it.
    TooSmall {
        /// Bytes there are.
        len: u64,
        /// Bytes needed.
        need: u64,
    },
    /// The first word is not the segment magic (not a segment, or one being created).
    BadMagic,
    /// The segment speaks another major version of the protocol.
    WrongMajor {
        /// The segment's version.
        found: ProtocolVersion,
        /// The version this reader implements.
        supported: ProtocolVersion,
    },
    /// The segment claims more bytes than the file (or copy) has.
    Truncated {
        /// Bytes the header claims.
        total_size: u64,
        /// Bytes there are.
        len: u64,
    },
    /// A header field is out of range.
    BadHeader(String),
    /// A section descriptor is out of range.
    BadSection {
        /// The section kind (`SectionKind` code).
        kind: u32,
        /// What is wrong.
        reason: String,
    },
    /// A record holds a value out of range.
    BadRecord {
        /// The section.
        section: &'static str,
        /// The record's index.
        index: u32,
        /// What is wrong.
        reason: String,
    },
}

fn section_name(kind: u32) -> &'static str {
    match crate::layout::SectionKind::from_u32(kind) {
        Some(k) => k.name(),
        None => "unknown",
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound { path } => write!(
                f,
                "no segment at {} (is the process running with slabscope, and is \
                 SLABSCOPE_SHM_DIR the same for both?)",
                path.display()
            ),
            Self::Symlink { path } => write!(
                f,
                "{} is a symbolic link; segments are never read through one",
                path.display()
            ),
            Self::NotOwner { path, owner, euid } => write!(
                f,
                "{} belongs to uid {owner}, not to you (uid {euid}); refusing to read it",
                path.display()
            ),
            Self::NotRegular { path } => write!(f, "{} is not a regular file", path.display()),
            Self::Io { path, op, source } => {
                write!(f, "cannot {op} {}: {source}", path.display())
            }
            Self::TooSmall { len, need } => write!(
                f,
                "segment is {len} bytes, smaller than the {need} bytes of its header"
            ),
            Self::BadMagic => write!(
                f,
                "not a slabscope segment (bad magic), or one still being created"
            ),
            Self::WrongMajor { found, supported } if found.major > supported.major => write!(
                f,
                "segment speaks protocol {found} but this reader reads {}.x only: upgrade \
                 alloc-inspect to a release that reads protocol {}.x",
                supported.major, found.major
            ),
            Self::WrongMajor { found, supported } => write!(
                f,
                "segment speaks protocol {found} but this reader reads {}.x only: upgrade \
                 slabscope in the traced program to protocol {}.x (or use an alloc-inspect \
                 that reads {}.x)",
                supported.major, supported.major, found.major
            ),
            Self::Truncated { total_size, len } => write!(
                f,
                "segment is truncated: its header says {total_size} bytes, there are {len}"
            ),
            Self::BadHeader(why) => write!(f, "bad segment header: {why}"),
            Self::BadSection { kind, reason } => write!(
                f,
                "bad {} section (kind {kind}): {reason}",
                section_name(*kind)
            ),
            Self::BadRecord {
                section,
                index,
                reason,
            } => write!(f, "bad {section} record {index}: {reason}"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u16, minor: u16) -> ProtocolVersion {
        ProtocolVersion { major, minor }
    }

    #[test]
    fn wrong_major_names_both_versions_and_what_to_upgrade() {
        let newer = ReadError::WrongMajor {
            found: v(2, 3),
            supported: v(1, 0),
        }
        .to_string();
        assert!(newer.contains("2.3") && newer.contains("1.x"), "{newer}");
        assert!(newer.contains("upgrade alloc-inspect"), "{newer}");
        let older = ReadError::WrongMajor {
            found: v(0, 9),
            supported: v(1, 0),
        }
        .to_string();
        assert!(older.contains("0.9") && older.contains("1.x"), "{older}");
        assert!(older.contains("upgrade slabscope"), "{older}");
    }

    #[test]
    fn every_error_is_one_line() {
        let p = PathBuf::from("/dev/shm/slabscope.1");
        let all = [
            ReadError::NotFound { path: p.clone() },
            ReadError::Symlink { path: p.clone() },
            ReadError::NotOwner {
                path: p.clone(),
                owner: 1,
                euid: 2,
            },
            ReadError::NotRegular { path: p.clone() },
            ReadError::Io {
                path: p,
                op: "open",
                source: std::io::Error::from_raw_os_error(libc::EACCES),
            },
            ReadError::TooSmall { len: 1, need: 2 },
            ReadError::BadMagic,
            ReadError::Truncated {
                total_size: 9,
                len: 8,
            },
            ReadError::BadHeader("x".into()),
            ReadError::BadSection {
                kind: 5,
                reason: "y".into(),
            },
            ReadError::BadSection {
                kind: 77,
                reason: "y".into(),
            },
            ReadError::BadRecord {
                section: "thread",
                index: 3,
                reason: "z".into(),
            },
        ];
        for e in all {
            let s = e.to_string();
            assert!(!s.is_empty() && !s.contains('\n'), "{s}");
        }
    }
}
