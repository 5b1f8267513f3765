//! The writing end of the control channel: `alloc-inspect ctl <pid> COMMAND...` and the
//! TUI's control keys.
//!
//! A request becomes a small text file (`seq=<n>` then one command per line) written
//! atomically beside the target's segment as `slabscope.<pid>.ctl`: a temporary file
//! created with `O_EXCL` and mode 0600 in the same directory, then renamed over the old
//! one. The target's allocator reads it on a slow path, acts on it whole or refuses it
//! whole, and answers with a `control_ack` event in its ring, which `ctl` waits for. The
//! allocator parses; this side only refuses what could not be a single line. See
//! docs/FLEET.md.

use std::fmt::Write as _;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use slabscope_proto::event::{control_command as cmd, control_log_hash, ControlReason};
use slabscope_proto::{realtime_ns, segment_path, Cursor, Event, EventKind, SegmentReader};

use crate::error::InspectError;
use crate::owner;
use crate::procfs;

/// How long `ctl` waits for the acknowledgement by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// The sampling rate the TUI's `S` key turns on (jemalloc's default spacing).
pub const TUI_SAMPLE_BYTES: u64 = 512 << 10;
/// The log filter the TUI's `L` key turns on.
pub const TUI_LOG_FILTER: &str = "slabscope=debug";

/// `<segment>.ctl`: the control file beside a segment.
pub fn ctl_path(segment: &Path) -> PathBuf {
    let mut p = segment.as_os_str().to_owned();
    p.push(".ctl");
    PathBuf::from(p)
}

/// The commands, one per line after `seq=`. Each must be one line of printable text.
pub fn body(seq: u64, commands: &[String]) -> Result<String, InspectError> {
    let mut s = format!("seq={seq}\n");
    for c in commands {
        if c.is_empty() || c.chars().any(|ch| ch.is_control()) {
            return Err(InspectError::Io(format!(
                "control command {c:?} is empty or holds a control character"
            )));
        }
        let _ = writeln!(s, "{c}");
    }
    Ok(s)
}

/// A sequence number newer than the process's start and than any earlier request:
/// the wall clock in ns.
pub fn next_seq(start_unix_ns: u64) -> u64 {
    realtime_ns().max(start_unix_ns + 1)
}

/// Writes `contents` to `path` atomically: a fresh 0600 file in the same directory,
/// given to `owner` when that is another user (only root may; tests use it to make a
/// file the target must refuse), then renamed over `path`. Returns the new inode.
pub fn write_atomically(path: &Path, contents: &[u8], owner: Option<u32>) -> std::io::Result<u64> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let result = (|| {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        if let Some(uid) = owner {
            if Some(uid) != procfs::my_uid() {
                std::os::unix::fs::fchown(&f, Some(uid), None)?;
            }
        }
        f.write_all(contents)?;
        f.sync_data()?;
        let ino = f.metadata()?.ino();
        std::fs::rename(&tmp, path)?;
        Ok(ino)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A request written and not yet answered.
pub struct Sent {
    /// Its sequence number.
    pub seq: u64,
    /// The control file.
    pub path: PathBuf,
    /// The inode written (to remove only our own file afterwards).
    pub ino: u64,
    /// The commands, in line order (line 2 is `commands[0]`).
    pub commands: Vec<String>,
}

/// Writes a request for the process whose segment `reader` reads (at `segment`).
pub fn send(
    reader: &SegmentReader,
    segment: &Path,
    commands: &[String],
) -> Result<Sent, InspectError> {
    let snap = reader.snapshot().map_err(|error| InspectError::Read {
        path: segment.to_path_buf(),
        error,
    })?;
    let seq = next_seq(snap.start_unix_ns);
    let text = body(seq, commands)?;
    // The reader only opens segments of this user, so the target is this user's too:
    // the file stays ours.
    let path = ctl_path(segment);
    let ino = write_atomically(&path, text.as_bytes(), None)
        .map_err(|e| InspectError::Io(format!("cannot write {}: {e}", path.display())))?;
    Ok(Sent {
        seq,
        path,
        ino,
        commands: commands.to_vec(),
    })
}

impl Sent {
    /// Waits up to `timeout` for the acknowledgement of this request among the events
    /// after `cursor` (an ack of this `seq`, or a refusal of an unreadable file, which
    /// carries seq 0).
    pub fn wait(
        &self,
        reader: &SegmentReader,
        cursor: &mut Cursor,
        timeout: Duration,
    ) -> Option<EventKind> {
        let deadline = Instant::now() + timeout;
        let mut events: Vec<Event> = Vec::new();
        loop {
            events.clear();
            reader.poll_events(cursor, usize::MAX, &mut events);
            let found = events.iter().find_map(|e| match e.kind {
                EventKind::ControlAck { seq, .. } if seq == self.seq || seq == 0 => Some(e.kind),
                _ => None,
            });
            if found.is_some() || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Removes the control file if it is still the one written.
    pub fn remove(&self) {
        let ours = std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.ino);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// One line saying what the process answered, naming the command a refusal is about.
    pub fn report(&self, pid: u32, ack: &EventKind) -> String {
        let mut s = format!("pid {pid}: {}", describe(ack));
        if let EventKind::ControlAck {
            accepted: false,
            line,
            ..
        } = *ack
        {
            if let Some(c) = (line as usize)
                .checked_sub(2)
                .and_then(|i| self.commands.get(i))
            {
                let _ = write!(s, " in `{c}`");
            }
            s.push_str("; nothing was changed");
        }
        s
    }
}

fn names(bits: u16) -> String {
    cmd::names(bits).collect::<Vec<_>>().join(" ")
}

/// The log filter a hash names, when it is one the inspector knows.
fn filter_name(hash: u64) -> String {
    match hash {
        0 => "unset".into(),
        h if h == control_log_hash(b"off") => "off".into(),
        h if h == control_log_hash(TUI_LOG_FILTER.as_bytes()) => TUI_LOG_FILTER.into(),
        h => format!("#{h:016x}"),
    }
}

/// A `control_ack` event in words (for `ctl` and the event log).
pub fn describe(kind: &EventKind) -> String {
    let EventKind::ControlAck {
        seq,
        accepted,
        commands,
        reason,
        line,
        sample_bytes,
        log_hash,
        trimmed,
    } = *kind
    else {
        return kind.name().to_string();
    };
    if !accepted {
        let at = if line > 0 {
            format!(" at line {line}")
        } else {
            String::new()
        };
        return format!("refused seq {seq}: {}{at}", reason.describe());
    }
    let mut s = format!("accepted seq {seq}: {}", names(commands));
    if commands & cmd::SAMPLE != 0 {
        let _ = write!(
            s,
            "; sampling {}",
            if sample_bytes == 0 {
                "off".to_string()
            } else {
                format!("every {sample_bytes} bytes")
            }
        );
    }
    if commands & cmd::LOG != 0 {
        let _ = write!(s, "; log filter {}", filter_name(log_hash));
    }
    if commands & cmd::TRIM != 0 {
        let _ = write!(s, "; {trimmed} SuperSlabs returned");
    }
    s
}

/// `alloc-inspect ctl <pid> COMMAND...`: writes the request, waits for the answer and
/// prints it. Returns the exit code: 0 accepted, 1 refused or not answered.
pub fn run(
    pid: u32,
    commands: &[String],
    timeout: Duration,
    out: &mut dyn Write,
) -> Result<i32, InspectError> {
    if commands.is_empty() {
        return Err(InspectError::Io(
            "give at least one command: log=<filter> sample=<bytes> drain trim check=1|abort"
                .into(),
        ));
    }
    owner::check(pid)?;
    if !procfs::alive(pid) {
        return Err(InspectError::NoProcess { pid });
    }
    let segment = segment_path(pid);
    let reader = SegmentReader::open(&segment).map_err(|error| match error {
        slabscope_proto::ReadError::NotFound { .. } => {
            InspectError::no_segment(pid, segment.clone())
        }
        error => InspectError::Read {
            path: segment.clone(),
            error,
        },
    })?;
    if !procfs::runs_segment(pid, reader.start_mono_ns()) {
        // The segment was left by an earlier process with this pid.
        return Err(InspectError::PidReused { pid, path: segment });
    }
    let head = reader
        .snapshot()
        .map_err(|error| InspectError::Read {
            path: segment.clone(),
            error,
        })?
        .ring
        .head;
    let mut cursor = Cursor::from_seq(head);
    let sent = send(&reader, &segment, commands)?;
    let ack = sent.wait(&reader, &mut cursor, timeout);
    sent.remove();
    match ack {
        Some(a) => {
            writeln!(out, "{}", sent.report(pid, &a))?;
            Ok(
                if matches!(a, EventKind::ControlAck { accepted: true, .. }) {
                    0
                } else {
                    1
                },
            )
        }
        None => {
            writeln!(
                out,
                "pid {pid}: no acknowledgement within {:.1} s (the file is read on the \
                 interval drain of a thread that frees memory); request withdrawn",
                timeout.as_secs_f64()
            )?;
            Ok(1)
        }
    }
}

/// What the TUI's control keys ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlKey {
    /// `D`: every thread drains its magazines.
    Drain,
    /// `T`: cached empty SuperSlabs go back to the OS.
    Trim,
    /// `S`: leak sampling on ([`TUI_SAMPLE_BYTES`]) or off.
    ToggleSample,
    /// `L`: the tracing filter [`TUI_LOG_FILTER`] or `off`.
    ToggleLog,
}

/// The command a key sends, given the events seen so far (the latest acknowledgement
/// says what is in force, for the toggles).
pub fn key_command<'a>(key: ControlKey, events: impl Iterator<Item = &'a Event>) -> String {
    let last = events
        .filter_map(|e| match e.kind {
            EventKind::ControlAck {
                accepted: true,
                sample_bytes,
                log_hash,
                ..
            } => Some((sample_bytes, log_hash)),
            _ => None,
        })
        .last();
    let (sample, log) = last.unwrap_or((0, 0));
    match key {
        ControlKey::Drain => "drain".into(),
        ControlKey::Trim => "trim".into(),
        ControlKey::ToggleSample if sample != 0 => "sample=0".into(),
        ControlKey::ToggleSample => format!("sample={TUI_SAMPLE_BYTES}"),
        ControlKey::ToggleLog if log != 0 && log != control_log_hash(b"off") => "log=off".into(),
        ControlKey::ToggleLog => format!("log={TUI_LOG_FILTER}"),
    }
}

/// Sends a key's command from the TUI without waiting: the answer shows in the event
/// log. Returns what was sent.
pub fn send_key<'a>(
    key: ControlKey,
    pid: u32,
    segment: &Path,
    events: impl Iterator<Item = &'a Event>,
) -> Result<String, InspectError> {
    let command = key_command(key, events);
    let reader = SegmentReader::open(segment).map_err(|error| InspectError::Read {
        path: segment.to_path_buf(),
        error,
    })?;
    if reader.pid() != pid {
        return Err(InspectError::Io(format!(
            "{} is not the segment of pid {pid}",
            segment.display()
        )));
    }
    send(&reader, segment, std::slice::from_ref(&command))?;
    Ok(command)
}

/// The refusal reasons, for documentation and tests.
pub const REASONS: [ControlReason; 11] = [
    ControlReason::Syntax,
    ControlReason::UnknownCommand,
    ControlReason::BadValue,
    ControlReason::Duplicate,
    ControlReason::Empty,
    ControlReason::TooLarge,
    ControlReason::NotOwner,
    ControlReason::NotRegular,
    ControlReason::Stale,
    ControlReason::Io,
    ControlReason::Unavailable,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(accepted: bool, reason: ControlReason, line: u16) -> EventKind {
        EventKind::ControlAck {
            seq: 9,
            accepted,
            commands: if accepted { cmd::ALL } else { 0 },
            reason,
            line,
            sample_bytes: 524288,
            log_hash: control_log_hash(b"slabscope=debug"),
            trimmed: 2,
        }
    }

    #[test]
    fn bodies_are_one_command_per_line() {
        let c = vec!["log=slabscope=debug".to_string(), "drain".to_string()];
        assert_eq!(body(5, &c).unwrap(), "seq=5\nlog=slabscope=debug\ndrain\n");
        assert!(body(5, &["drain\ntrim".to_string()]).is_err());
        assert!(body(5, &[String::new()]).is_err());
        assert_eq!(
            ctl_path(Path::new("/dev/shm/slabscope.7")),
            Path::new("/dev/shm/slabscope.7.ctl")
        );
        assert!(next_seq(u64::MAX - 1) == u64::MAX);
    }

    #[test]
    fn acks_read_as_sentences() {
        assert_eq!(
            describe(&ack(true, ControlReason::Accepted, 0)),
            "accepted seq 9: log sample drain trim check; sampling every 524288 bytes; \
             log filter slabscope=debug; 2 SuperSlabs returned"
        );
        let sent = Sent {
            seq: 9,
            path: PathBuf::new(),
            ino: 0,
            commands: vec!["drain".into(), "sample=lots".into()],
        };
        assert_eq!(
            sent.report(4, &ack(false, ControlReason::BadValue, 3)),
            "pid 4: refused seq 9: bad value at line 3 in `sample=lots`; nothing was changed"
        );
        assert_eq!(
            sent.report(4, &ack(false, ControlReason::NotOwner, 0)),
            "pid 4: refused seq 9: file not owned by the process's user; nothing was changed"
        );
    }

    #[test]
    fn toggles_follow_the_latest_acknowledgement() {
        let ev = |kind| Event {
            seq: 1,
            time_ns: 0,
            thread: 1,
            kind,
        };
        let none: Vec<Event> = vec![];
        assert_eq!(
            key_command(ControlKey::ToggleSample, none.iter()),
            "sample=524288"
        );
        assert_eq!(
            key_command(ControlKey::ToggleLog, none.iter()),
            "log=slabscope=debug"
        );
        let on = [ev(ack(true, ControlReason::Accepted, 0))];
        assert_eq!(key_command(ControlKey::ToggleSample, on.iter()), "sample=0");
        assert_eq!(key_command(ControlKey::ToggleLog, on.iter()), "log=off");
        assert_eq!(key_command(ControlKey::Drain, on.iter()), "drain");
        assert_eq!(key_command(ControlKey::Trim, on.iter()), "trim");
    }

    #[test]
    fn files_are_written_whole_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("slabscope.1.ctl");
        std::fs::write(&p, "old").unwrap();
        let ino = write_atomically(&p, b"seq=1\ndrain\n", None).unwrap();
        let m = std::fs::symlink_metadata(&p).unwrap();
        assert_eq!(m.ino(), ino);
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&p).unwrap(), b"seq=1\ndrain\n");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp left"
        );
    }
}
