//! `alloc-inspect demo`: run the demo workload in a child process and attach to it.
//!
//! The inspector's own binary hosts the workload: `demo` re-executes
//! `std::env::current_exe()` with the hidden `__demo-child` subcommand and
//! `SLABSCOPE_PUBLISH=1`, so the child (which links slabscope as its global allocator,
//! like the inspector) publishes its segment while the inspector itself does not.
//! One binary, so `cargo run -p alloc-inspect -- demo` works on a fresh clone.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use slabscope_proto::{segment_path, SegmentReader};

use crate::error::InspectError;
use crate::interactive;
use crate::source::LiveSource;

/// How long the child may take to publish its segment.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The child process; killed, reaped and its segment removed when dropped.
pub struct DemoChild {
    child: Child,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl DemoChild {
    /// Starts `current_exe __demo-child ARGS` with publishing on.
    pub fn spawn(args: &[String]) -> Result<Self, InspectError> {
        let exe = std::env::current_exe()
            .map_err(|e| InspectError::Demo(format!("cannot find this program's path: {e}")))?;
        let mut child = Command::new(exe)
            .arg("__demo-child")
            .args(args)
            .env("SLABSCOPE_PUBLISH", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| InspectError::Demo(format!("cannot start the workload: {e}")))?;
        // Drain the child's stderr (kept, bounded, for the error message if it fails)
        // so that it never blocks on a full pipe.
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let keep = stderr.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut k) = keep.lock() {
                        if k.len() < 16 << 10 {
                            k.extend_from_slice(&chunk[..n]);
                        }
                    }
                }
            });
        }
        Ok(Self { child, stderr })
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stderr_line(&self) -> String {
        let buf = self.stderr.lock().map(|b| b.clone()).unwrap_or_default();
        let text = String::from_utf8_lossy(&buf);
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string()
    }

    /// Waits until the child's segment can be opened.
    pub fn wait_for_segment(&mut self, timeout: Duration) -> Result<(), InspectError> {
        let path = segment_path(self.pid());
        let deadline = Instant::now() + timeout;
        loop {
            if SegmentReader::open(&path).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(50));
                return Err(InspectError::Demo(format!(
                    "the workload exited ({status}) before publishing: {}",
                    self.stderr_line()
                )));
            }
            if Instant::now() >= deadline {
                return Err(InspectError::Demo(format!(
                    "the workload did not publish {} within {}s",
                    path.display(),
                    timeout.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for DemoChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A killed child cannot unlink its segment; it was ours to clean up.
        let _ = std::fs::remove_file(segment_path(self.child.id()));
    }
}

/// `alloc-inspect demo [-- ARGS]`.
pub fn run_parent(
    args: &[String],
    interval_ms: u64,
    colour: crate::view::ColourDepth,
) -> Result<(), InspectError> {
    crate::workload::check_args(args).map_err(InspectError::Demo)?;
    let mut child = DemoChild::spawn(args)?;
    child.wait_for_segment(STARTUP_TIMEOUT)?;
    let mut source = LiveSource::attach(child.pid(), interval_ms)?;
    let result = interactive::run(&mut source, interval_ms, colour);
    drop(child);
    result
}

/// `alloc-inspect __demo-child [ARGS]`: runs the workload in this process.
pub fn run_child(args: Vec<String>) -> Result<(), InspectError> {
    crate::workload::run(args).map_err(InspectError::Demo)
}
