//! Segment files: created 0600; an existing file or a symbolic link at the path is
//! refused; the reader opens only regular files that are not symbolic links and belong
//! to the caller.
#![cfg(not(loom))]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use slabscope_proto::*;

/// The effective uid, as the owner of a file this process just created.
fn euid(dir: &tempfile::TempDir) -> u32 {
    let p = dir.path().join("uid-probe");
    std::fs::write(&p, b"").unwrap();
    let uid = std::fs::metadata(&p).unwrap().uid();
    std::fs::remove_file(p).unwrap();
    uid
}

#[test]
fn a_segment_is_created_0600_even_under_a_permissive_umask() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: umask takes no pointer and cannot fail; this is the only test of this
    // binary that depends on the umask.
    let old = unsafe { libc::umask(0) };
    let w = common::create(&dir, 10, &common::config(1, 8));
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let meta = std::fs::symlink_metadata(common::path(&dir, 10)).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(meta.uid(), euid(&dir));
    assert_eq!(
        w.path_bytes(),
        common::path(&dir, 10).as_os_str().as_encoded_bytes()
    );
}

#[test]
fn an_existing_file_at_the_path_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let p = common::path(&dir, 11);
    std::fs::write(&p, b"someone else's data").unwrap();
    let d = dir.path().as_os_str().as_encoded_bytes();
    let err = SegmentWriter::create(d, 11, &common::config(1, 8)).unwrap_err();
    assert_eq!(err, CreateError::Exists);
    assert_eq!(std::fs::read(&p).unwrap(), b"someone else's data");
    // A second writer for the same pid is refused too.
    let _w = common::create(&dir, 12, &common::config(1, 8));
    let err = SegmentWriter::create(d, 12, &common::config(1, 8)).unwrap_err();
    assert_eq!(err, CreateError::Exists);
}

#[test]
fn a_symlink_at_the_path_is_refused_and_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("victim");
    std::os::unix::fs::symlink(&target, common::path(&dir, 13)).unwrap();
    let d = dir.path().as_os_str().as_encoded_bytes();
    let err = SegmentWriter::create(d, 13, &common::config(1, 8)).unwrap_err();
    assert_eq!(err, CreateError::Exists);
    assert!(!target.exists(), "nothing created through the link");
    // A link to an existing file: not truncated, not written.
    std::fs::write(&target, b"keep").unwrap();
    assert_eq!(
        SegmentWriter::create(d, 13, &common::config(1, 8)).unwrap_err(),
        CreateError::Exists
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
}

#[test]
fn the_reader_refuses_a_symlink_even_to_a_valid_segment() {
    let dir = tempfile::tempdir().unwrap();
    let _w = common::create(&dir, 14, &common::config(1, 8));
    let link = dir.path().join("slabscope.15");
    std::os::unix::fs::symlink(common::path(&dir, 14), &link).unwrap();
    assert!(SegmentReader::open(&common::path(&dir, 14)).is_ok());
    match SegmentReader::open(&link) {
        Err(ReadError::Symlink { path }) => assert_eq!(path, link),
        other => panic!("expected Symlink, got {other:?}"),
    }
    assert!(list_segments(dir.path())
        .unwrap()
        .iter()
        .all(|(pid, _)| *pid == 14));
}

#[test]
fn the_reader_refuses_what_is_not_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("slabscope.16");
    std::fs::create_dir(&sub).unwrap();
    assert!(matches!(
        SegmentReader::open(&sub),
        Err(ReadError::NotRegular { .. })
    ));
    let fifo = dir.path().join("slabscope.17");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: c is a valid NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Opening a FIFO for reading would block; the reader must not even try.
    assert!(matches!(
        SegmentReader::open(&fifo),
        Err(ReadError::NotRegular { .. })
    ));
    assert!(matches!(
        SegmentReader::open(&dir.path().join("slabscope.18")),
        Err(ReadError::NotFound { .. })
    ));
    assert!(matches!(
        SegmentReader::open(Path::new("/dev/null")),
        Err(ReadError::NotRegular { .. })
    ));
}

#[test]
fn the_reader_refuses_a_file_owned_by_another_user() {
    let dir = tempfile::tempdir().unwrap();
    let me = euid(&dir);
    let _w = common::create(&dir, 19, &common::config(1, 8));
    let p = common::path(&dir, 19);
    if me == 0 {
        // As root, hand the segment to another user.
        std::os::unix::fs::chown(&p, Some(65534), None).unwrap();
        match SegmentReader::open(&p) {
            Err(ReadError::NotOwner { owner, euid, .. }) => assert_eq!((owner, euid), (65534, 0)),
            other => panic!("expected NotOwner, got {other:?}"),
        }
    } else {
        // Not root: a root-owned regular file is another user's.
        eprintln!("not root: checking the owner rule with /etc/passwd instead of chown");
        match SegmentReader::open(Path::new("/etc/passwd")) {
            Err(ReadError::NotOwner { owner, euid, .. }) => assert_eq!((owner, euid), (0, me)),
            other => panic!("expected NotOwner, got {other:?}"),
        }
    }
}

#[test]
fn short_and_truncated_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("slabscope.20");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        SegmentReader::open(&empty),
        Err(ReadError::TooSmall { len: 0, .. })
    ));
    let _w = common::create(&dir, 21, &common::config(2, 8));
    let bytes = std::fs::read(common::path(&dir, 21)).unwrap();
    let cut = dir.path().join("slabscope.22");
    std::fs::write(&cut, &bytes[..bytes.len() - 64]).unwrap();
    assert!(matches!(
        SegmentReader::open(&cut),
        Err(ReadError::Truncated { .. })
    ));
    std::fs::write(&cut, &bytes[..100]).unwrap();
    assert!(matches!(
        SegmentReader::open(&cut),
        Err(ReadError::TooSmall { len: 100, .. })
    ));
    std::fs::write(&cut, vec![0u8; 4096]).unwrap();
    assert!(matches!(
        SegmentReader::open(&cut),
        Err(ReadError::BadMagic)
    ));
}

#[test]
fn a_segment_truncated_after_opening_is_reported_not_faulted_on() {
    let dir = tempfile::tempdir().unwrap();
    let _w = common::create(&dir, 23, &common::config(2, 8));
    let p = common::path(&dir, 23);
    let r = SegmentReader::open(&p).unwrap();
    assert!(r.snapshot().is_ok());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(4096)
        .unwrap();
    assert!(matches!(r.snapshot(), Err(ReadError::Truncated { .. })));
    let mut out = Vec::new();
    assert_eq!(
        r.poll_events(&mut Cursor::default(), usize::MAX, &mut out),
        PollStats::default()
    );
}

#[test]
fn unlink_removes_the_segment_and_the_dir_variable_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let w = common::create(&dir, 24, &common::config(1, 8));
    w.unlink().unwrap();
    assert!(!common::path(&dir, 24).exists());
    assert!(matches!(
        SegmentReader::open(&common::path(&dir, 24)),
        Err(ReadError::NotFound { .. })
    ));
    // The only test of this binary that reads the environment.
    let old = std::env::var_os("SLABSCOPE_SHM_DIR");
    std::env::set_var("SLABSCOPE_SHM_DIR", dir.path());
    assert_eq!(segment_dir(), dir.path());
    assert_eq!(segment_path(25), common::path(&dir, 25));
    let _w = common::create(&dir, 25, &common::config(1, 8));
    let pid_reader = SegmentReader::open_pid(25);
    std::env::set_var("SLABSCOPE_SHM_DIR", "");
    assert_eq!(segment_dir(), Path::new("/dev/shm"));
    // A value the allocator ignores (relative, or over 200 bytes) is ignored here too,
    // so that both look in /dev/shm.
    std::env::set_var("SLABSCOPE_SHM_DIR", "relative/dir");
    assert_eq!(segment_dir(), Path::new("/dev/shm"));
    std::env::set_var("SLABSCOPE_SHM_DIR", format!("/{}", "a".repeat(200)));
    assert_eq!(segment_dir(), Path::new("/dev/shm"));
    let longest = format!("/{}", "a".repeat(slabscope_proto::MAX_DIR_BYTES - 1));
    std::env::set_var("SLABSCOPE_SHM_DIR", &longest);
    assert_eq!(segment_dir(), Path::new(&longest));
    match old {
        Some(v) => std::env::set_var("SLABSCOPE_SHM_DIR", v),
        None => std::env::remove_var("SLABSCOPE_SHM_DIR"),
    }
    assert_eq!(pid_reader.unwrap().pid(), 25);
}
