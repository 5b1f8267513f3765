//! Finding segment files, checking them and mapping them read-only.
#![forbid(unsafe_code)]

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::error::ReadError;
use crate::raw::sys;

/// Longest `SLABSCOPE_SHM_DIR` a writer or a reader takes, in bytes.
pub const MAX_DIR_BYTES: usize = 200;

/// Whether `dir` is a `SLABSCOPE_SHM_DIR` that the allocator and readers both take: an
/// absolute path of at most [`MAX_DIR_BYTES`] bytes without NUL. Any other value is
/// ignored on both sides, which then use `/dev/shm`, so that they never look in
/// different places.
pub fn dir_ok(dir: &[u8]) -> bool {
    dir.first() == Some(&b'/') && dir.len() <= MAX_DIR_BYTES && !dir.contains(&0)
}

/// The directory segments live in: `$SLABSCOPE_SHM_DIR` where [`dir_ok`], else
/// `/dev/shm`.
pub fn segment_dir() -> PathBuf {
    match std::env::var_os("SLABSCOPE_SHM_DIR") {
        Some(d) if dir_ok(d.as_bytes()) => PathBuf::from(d),
        _ => PathBuf::from("/dev/shm"),
    }
}

/// The segment path of process `pid`: `segment_dir()/slabscope.<pid>`.
pub fn segment_path(pid: u32) -> PathBuf {
    segment_dir().join(format!("slabscope.{pid}"))
}

/// The pid in a segment file name (`slabscope.<pid>`, decimal, no sign or padding).
pub fn pid_of_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("slabscope.")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

/// Regular files named `slabscope.<pid>` in `dir`, by pid.
pub fn list_segments(dir: &Path) -> std::io::Result<Vec<(u32, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(pid) = entry.file_name().to_str().and_then(pid_of_name) else {
            continue;
        };
        if entry.file_type()?.is_file() {
            out.push((pid, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Whether a file owned by `owner` may be read by a reader running as `euid`: only
/// the reader's own segments are read (another user could craft one to attack it).
pub fn owner_allowed(owner: u32, euid: u32) -> bool {
    owner == euid
}

/// An open, checked segment file and its length.
pub struct Checked {
    /// The file, opened read-only.
    pub file: File,
    /// Its length in bytes.
    pub len: u64,
}

/// Opens `path` for reading without following a symbolic link, and checks that it is a
/// regular file owned by the caller's effective uid.
pub fn open_checked(path: &Path) -> Result<Checked, ReadError> {
    let p = || path.to_path_buf();
    // Refuse special files before opening them (opening a device can have effects).
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => return Err(ReadError::Symlink { path: p() }),
        Ok(m) if !m.file_type().is_file() => return Err(ReadError::NotRegular { path: p() }),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ReadError::NotFound { path: p() })
        }
        Err(source) => {
            return Err(ReadError::Io {
                path: p(),
                op: "stat",
                source,
            })
        }
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| match source.raw_os_error() {
            Some(libc::ENOENT) => ReadError::NotFound { path: p() },
            Some(libc::ELOOP)
                if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) =>
            {
                ReadError::Symlink { path: p() }
            }
            _ => ReadError::Io {
                path: p(),
                op: "open",
                source,
            },
        })?;
    // Check what was opened, not what the path named a moment ago.
    let meta = file.metadata().map_err(|source| ReadError::Io {
        path: p(),
        op: "stat",
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular { path: p() });
    }
    let euid = sys::geteuid();
    if !owner_allowed(meta.uid(), euid) {
        return Err(ReadError::NotOwner {
            path: p(),
            owner: meta.uid(),
            euid,
        });
    }
    Ok(Checked {
        file,
        len: meta.len(),
    })
}

/// Maps `len` bytes of `file` read-only.
pub fn map_read_only(file: &File, len: u64, path: &Path) -> Result<memmap2::MmapRaw, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        op: "map",
        source,
    };
    let len =
        usize::try_from(len).map_err(|_| io(std::io::Error::from_raw_os_error(libc::EFBIG)))?;
    memmap2::MmapOptions::new()
        .len(len)
        .map_raw_read_only(file)
        .map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_parse_strictly() {
        assert_eq!(pid_of_name("slabscope.1234"), Some(1234));
        assert_eq!(pid_of_name("slabscope.0"), Some(0));
        for bad in [
            "slabscope.",
            "slabscope.01",
            "slabscope.+1",
            "slabscope.1x",
            "slabscope.99999999999",
            "xslabscope.1",
            "slabscope.1.tmp",
        ] {
            assert_eq!(pid_of_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_the_owner_may_read() {
        assert!(owner_allowed(1000, 1000));
        assert!(!owner_allowed(0, 1000));
        assert!(
            !owner_allowed(1000, 0),
            "root does not read other users' segments"
        );
    }

    #[test]
    fn list_finds_segment_files_only() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["slabscope.20", "slabscope.3", "slabscope.x", "other"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        std::fs::create_dir(dir.path().join("slabscope.4")).unwrap();
        std::os::unix::fs::symlink("slabscope.3", dir.path().join("slabscope.5")).unwrap();
        let got = list_segments(dir.path()).unwrap();
        let pids: Vec<u32> = got.iter().map(|(p, _)| *p).collect();
        assert_eq!(pids, vec![3, 20]);
        assert_eq!(got[0].1, dir.path().join("slabscope.3"));
    }
}
