//! What `/proc` says about a process: RSS and peak RSS, command line, whether it still
//! runs, and which user owns it.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use slabscope_proto::monotonic_ns;
use slabscope_proto::raw::sys::{boottime_ns, clock_ticks_per_second};

/// Figures about the target process from `/proc` (absent for post-mortem files).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessStatus {
    /// Resident set size in bytes (`VmRSS`).
    pub rss_bytes: u64,
    /// Peak resident set size in bytes (`VmHWM`).
    pub peak_rss_bytes: u64,
}

fn proc_dir(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}"))
}

/// Parses a `VmRSS:     1234 kB` style line of `/proc/<pid>/status` into bytes.
fn kb_field(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// RSS and peak RSS of `pid` (`None` when `/proc` cannot tell, e.g. the process is gone
/// or is a kernel thread).
pub fn status(pid: u32) -> Option<ProcessStatus> {
    let text = fs::read_to_string(proc_dir(pid).join("status")).ok()?;
    Some(ProcessStatus {
        rss_bytes: kb_field(&text, "VmRSS:")?,
        peak_rss_bytes: kb_field(&text, "VmHWM:").unwrap_or(0),
    })
}

/// The command line of `pid`, arguments joined by spaces.
pub fn command(pid: u32) -> Option<String> {
    let raw = fs::read(proc_dir(pid).join("cmdline")).ok()?;
    let parts: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    Some(parts.join(" "))
}

/// Tries of [`publish_env`] while a process is still inside `exec`.
const EXEC_TRIES: u32 = 50;
/// Wait between those tries.
const EXEC_WAIT: std::time::Duration = std::time::Duration::from_millis(2);

/// `/proc/<pid>/environ`, up to 1 MiB.
fn environ(pid: u32) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut raw = Vec::new();
    fs::File::open(proc_dir(pid).join("environ"))
        .ok()?
        .take(1 << 20)
        .read_to_end(&mut raw)
        .ok()?;
    Some(raw)
}

/// The environment `read` gives once it is in place: read again, after each `wait`, up to
/// [`EXEC_TRIES`] times while it and the command line (`has_command`) are both empty (a
/// process inside `exec`); an empty one of a process with a command line is its own.
/// `None` when a read fails.
fn after_exec(
    mut read: impl FnMut() -> Option<Vec<u8>>,
    mut has_command: impl FnMut() -> bool,
    mut wait: impl FnMut(),
) -> Option<Vec<u8>> {
    let mut raw = read()?;
    for _ in 0..EXEC_TRIES {
        if !raw.is_empty() || has_command() {
            break;
        }
        wait();
        raw = read()?;
    }
    Some(raw)
}

/// The `SLABSCOPE_*` variables that decide whether and where `pid` publishes, as its
/// environment held them at `exec` (`/proc/<pid>/environ`, read up to 1 MiB): what the
/// allocator read at its start, unless the program changed them before its first
/// allocation. `None` when the environment cannot be read.
///
/// A process that has just been started may show no environment and no command line
/// for a moment: a parent that used `vfork` (as `posix_spawn` does) resumes when the
/// child's `exec` drops the old memory, before the kernel has copied the new arguments
/// and environment into place. Both empty is read again, every 2 ms for up to 100 ms.
pub fn publish_env(pid: u32) -> Option<PublishEnv> {
    let raw = after_exec(
        || environ(pid),
        || command(pid).is_some_and(|c| !c.is_empty()),
        || std::thread::sleep(EXEC_WAIT),
    )?;
    let mut env = PublishEnv::default();
    for var in raw.split(|&b| b == 0) {
        let text = String::from_utf8_lossy(var);
        let Some((name, value)) = text.split_once('=') else {
            continue;
        };
        let slot = match name {
            "SLABSCOPE_PUBLISH" => &mut env.publish,
            "SLABSCOPE_PUBLISH_AFTER_MS" => &mut env.after_ms,
            "SLABSCOPE_SHM_DIR" => &mut env.shm_dir,
            _ => continue,
        };
        *slot = Some(value.chars().take(256).collect());
    }
    Some(env)
}

/// See [`publish_env`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishEnv {
    /// `SLABSCOPE_PUBLISH`.
    pub publish: Option<String>,
    /// `SLABSCOPE_PUBLISH_AFTER_MS`.
    pub after_ms: Option<String>,
    /// `SLABSCOPE_SHM_DIR`.
    pub shm_dir: Option<String>,
}

/// True while `pid` runs: its `/proc` entry exists and it is not a zombie.
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(proc_dir(pid).join("stat")) {
        // The state follows the command name, which is in parentheses and may hold any
        // byte: take the first field after the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// A process younger than its segment by more than this is not the segment's writer
/// (the clocks read here tick in 10 ms; the writer creates its segment after it starts).
const REUSE_SLACK_NS: u64 = 1_000_000_000;

/// Whether `pid` runs and is the process that created a segment at `segment_start_mono_ns`
/// (the writer's `CLOCK_MONOTONIC`, [`slabscope_proto::SegmentReader::start_mono_ns`]):
/// false when the pid is gone, or was reused by a process that started after the segment
/// was created (a segment left by a crash outlives its process, and pids come round again).
pub fn runs_segment(pid: u32, segment_start_mono_ns: u64) -> bool {
    alive(pid) && !started_after(pid, segment_start_mono_ns)
}

/// Whether `pid` started after `mono_ns` (`CLOCK_MONOTONIC` of this machine), by more
/// than [`REUSE_SLACK_NS`]. False when `/proc` cannot tell.
fn started_after(pid: u32, mono_ns: u64) -> bool {
    let Some(process_age) = process_age_ns(pid) else {
        return false;
    };
    let now = monotonic_ns();
    if mono_ns == 0 || now < mono_ns {
        return false;
    }
    younger_than_segment(process_age, now - mono_ns)
}

/// The comparison itself: ages, not start times, because `/proc` counts from boot with
/// suspend included and `CLOCK_MONOTONIC` without it. A suspend between the segment's
/// creation and now only makes the process look older, never younger.
fn younger_than_segment(process_age_ns: u64, segment_age_ns: u64) -> bool {
    process_age_ns.saturating_add(REUSE_SLACK_NS) < segment_age_ns
}

/// How long ago `pid` started: `CLOCK_BOOTTIME` now minus field 22 of
/// `/proc/<pid>/stat` (clock ticks since boot, on the same clock). Not `/proc/uptime`,
/// which some container setups replace with the container's own uptime. `None` when the
/// start lies in the future (the clocks disagree: then nothing can be concluded).
fn process_age_ns(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(proc_dir(pid).join("stat")).ok()?;
    // Fields after the command name's ')': state is field 3, starttime field 22.
    let (_, rest) = stat.rsplit_once(')')?;
    let ticks: u64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let start_ns = ticks.checked_mul(1_000_000_000)? / clock_ticks_per_second();
    boottime_ns().checked_sub(start_ns)
}

/// The uid that owns `pid` (`None` when there is no such process).
pub fn owner(pid: u32) -> Option<u32> {
    fs::metadata(proc_dir(pid)).ok().map(|m| m.uid())
}

/// The effective uid of this process (the owner of `/proc/self`).
pub fn my_uid() -> Option<u32> {
    fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// The name of user `uid` from `/etc/passwd`, or the number.
pub fn user_name(uid: u32) -> String {
    fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let id: u32 = f.nth(1)?.parse().ok()?;
                (id == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_environment_is_read_again_while_exec_puts_it_in_place() {
        // The window: the first reads of a process inside exec find neither an
        // environment nor a command line; the third finds both.
        let reads = std::cell::Cell::new(0);
        let got = after_exec(
            || {
                reads.set(reads.get() + 1);
                Some(if reads.get() < 3 {
                    Vec::new()
                } else {
                    b"A=1".to_vec()
                })
            },
            || reads.get() >= 3,
            || {},
        );
        assert_eq!(got.as_deref(), Some(&b"A=1"[..]));
        assert_eq!(reads.get(), 3);
        // A process started with no environment has a command line: not waited for.
        let mut waits = 0;
        let empty = after_exec(|| Some(Vec::new()), || true, || waits += 1);
        assert_eq!((empty, waits), (Some(Vec::new()), 0));
        // Both empty for good (a kernel thread): given up after the tries.
        let mut waits = 0;
        let none = after_exec(|| Some(Vec::new()), || false, || waits += 1);
        assert_eq!((none, waits), (Some(Vec::new()), EXEC_TRIES));
        // A failed read ends it.
        assert_eq!(after_exec(|| None, || false, || {}), None);
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(alive(me));
        let st = status(me).expect("own status");
        assert!(st.rss_bytes > 0 && st.peak_rss_bytes >= st.rss_bytes);
        assert!(command(me).is_some_and(|c| !c.is_empty()));
        assert_eq!(owner(me), my_uid());
    }

    #[test]
    fn this_process_is_as_old_as_it_is() {
        // Started before any segment this test could make now; younger than one made
        // (supposedly) a day before it started.
        let me = std::process::id();
        let age = process_age_ns(me).expect("own age");
        assert!(age < 3_600 * 1_000_000_000, "{age} ns");
        assert!(runs_segment(me, monotonic_ns()));
        assert!(!younger_than_segment(age, age));
        assert!(younger_than_segment(age, age + 2 * REUSE_SLACK_NS));
        assert!(!younger_than_segment(age, age + REUSE_SLACK_NS / 2));
    }

    #[test]
    fn a_missing_pid_is_not_alive() {
        // Above the kernel's pid_max limit (2^22), so never a real process.
        let pid = (1 << 22) + 17;
        assert!(!alive(pid));
        assert_eq!(status(pid), None);
        assert_eq!(owner(pid), None);
    }

    #[test]
    fn parses_kb_fields() {
        let s = "Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(kb_field(s, "VmRSS:"), Some(1 << 20));
        assert_eq!(kb_field(s, "VmHWM:"), Some(2 << 20));
        assert_eq!(kb_field(s, "VmSwap:"), None);
    }
}
