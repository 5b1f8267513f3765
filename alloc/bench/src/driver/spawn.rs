//! Runs one allocator binary on one case, with the handshake, the optional 60 Hz
//! reader and the check that the allocator served the allocations.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::Duration;

use super::attach::ReaderStats;
use super::variants::Variant;
use super::verify::verify;
use crate::report::{Ready, RunReport};
use crate::workloads::{Case, Mode};

/// One accepted run.
#[derive(Clone, Debug)]
pub struct Sample {
    /// What the binary printed.
    pub report: RunReport,
    /// The evidence that the named allocator served it.
    pub evidence: String,
    /// What the attached reader did, for variants with one.
    pub reader: Option<ReaderStats>,
}

/// Lines of a child's stdout, read on a thread so that waits can time out.
struct Lines(Receiver<String>);

impl Lines {
    fn of(child: &mut Child) -> Result<Self, String> {
        let out = child.stdout.take().ok_or("child has no stdout pipe")?;
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self(rx))
    }

    fn next(&self, timeout: Duration, what: &str) -> Result<String, String> {
        match self.0.recv_timeout(timeout) {
            Ok(l) => Ok(l),
            Err(RecvTimeoutError::Timeout) => Err(format!("no {what} within {timeout:?}")),
            Err(RecvTimeoutError::Disconnected) => Err(format!("exited before its {what}")),
        }
    }
}

/// A started process that is killed and reaped if the run fails half-way.
struct Guard(Option<Child>);

impl Guard {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("guard already released")
    }

    fn finish(mut self, timeout: Duration, what: &str) -> Result<(), String> {
        let mut child = self.0.take().expect("guard already released");
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(s)) if s.success() => return Ok(()),
                Ok(Some(s)) => return Err(format!("{what} exited with {s}")),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("{what} did not exit within {timeout:?}"));
                }
                Err(e) => return Err(format!("waiting for {what}: {e}")),
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn say(stdin: &mut ChildStdin, line: &str) -> Result<(), String> {
    stdin
        .write_all(line.as_bytes())
        .and_then(|()| stdin.flush())
        .map_err(|e| format!("writing to the child: {e}"))
}

/// Longest a run may take.
pub fn run_timeout(mode: Mode) -> Duration {
    Duration::from_secs(match mode {
        Mode::Smoke | Mode::Quick => 120,
        Mode::Full => 600,
    })
}

/// Runs `variant` on `case` and checks its figures; `driver` is this driver's binary
/// (started again as the reader).
pub fn run_one(variant: &Variant, case: Case, mode: Mode, driver: &Path) -> Result<Sample, String> {
    let timeout = run_timeout(mode);
    let short = Duration::from_secs(30);
    let started = slabscope_proto::monotonic_ns();
    let spawned = Command::new(&variant.binary)
        .args(["--workload", case.workload.name(), "--threads"])
        .arg(case.threads.to_string())
        .args(["--mode", mode.name(), "--handshake"])
        .envs(variant.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", variant.binary.display()))?;
    let mut child = Guard(Some(spawned));
    let lines = Lines::of(child.child())?;
    let mut stdin = child
        .child()
        .stdin
        .take()
        .ok_or("child has no stdin pipe")?;
    let ready: Ready = serde_json::from_str(&lines.next(short, "ready line")?)
        .map_err(|e| format!("bad ready line: {e}"))?;

    let mut reader = None;
    if variant.reader {
        let spawned = Command::new(driver)
            .args(["--attach-reader", &ready.pid.to_string(), "--hz", "60"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting the reader: {e}"))?;
        let mut r = Guard(Some(spawned));
        let r_lines = Lines::of(r.child())?;
        let r_stdin = r.child().stdin.take().ok_or("reader has no stdin pipe")?;
        let hello = r_lines.next(short, "reader's attached line")?;
        if hello != "attached" {
            return Err(format!("reader said {hello:?} instead of attached"));
        }
        reader = Some((r, r_lines, r_stdin));
    }

    say(&mut stdin, "go\n")?;
    let line = lines.next(timeout, "result line")?;
    let report: RunReport =
        serde_json::from_str(&line).map_err(|e| format!("bad result line {line:?}: {e}"))?;
    let evidence = verify(&variant.check, ready.pid, started, &report)?;

    let reader_stats = match reader {
        Some((r, r_lines, r_stdin)) => {
            drop(r_stdin);
            let stats: ReaderStats = serde_json::from_str(&r_lines.next(short, "reader's stats")?)
                .map_err(|e| format!("bad reader stats: {e}"))?;
            r.finish(short, "the reader")?;
            if stats.snapshots == 0 {
                return Err("the attached reader took no snapshot".into());
            }
            Some(stats)
        }
        None => None,
    };
    let mut report = report;
    let evidence = match &reader_stats {
        Some(r) => {
            let cpu_pct = 100.0 * r.cpu_seconds / r.seconds.max(1e-9);
            report
                .extra
                .insert("reader_snapshots".into(), r.snapshots as f64);
            report.extra.insert("reader_cpu_pct".into(), cpu_pct);
            format!(
                "{evidence}; reader took {} snapshots, read {} events, used {cpu_pct:.2} % of a CPU",
                r.snapshots, r.events
            )
        }
        None => evidence,
    };
    drop(stdin);
    child.finish(short, &format!("bench binary {}", variant.binary.display()))?;
    Ok(Sample {
        report,
        evidence,
        reader: reader_stats,
    })
}
