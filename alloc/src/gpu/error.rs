//! [`PoolError`] and the out-of-memory report.

use std::fmt;

use super::memory::{Backend, DeviceError, MemInfo};
use super::stats::PoolStats;

/// Formats a byte count the way a person reads it: `0 B`, `4.00 KiB`, `1.50 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.2} {}", UNITS[unit])
}

/// Everything known when an allocation failed for lack of device memory, after the pool
/// gave its cached buffers back and retried once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OomReport {
    /// Bytes the caller asked for.
    pub request: u64,
    /// The bucket the request maps to; `None` for an oversize request.
    pub bucket_bytes: Option<u64>,
    /// Backend of the pool.
    pub backend: Backend,
    /// Device ordinal (`None` for host memory).
    pub device: Option<u32>,
    /// Device name.
    pub device_name: String,
    /// Free and total device memory after the retry failed (`None` if the query failed).
    pub mem_info: Option<MemInfo>,
    /// Cached buffers the pool gave back before retrying.
    pub trimmed_buffers: u64,
    /// Bytes of those buffers.
    pub trimmed_bytes: u64,
    /// The pool's counters after the retry failed.
    pub stats: PoolStats,
    /// What the device said on the retry.
    pub source: DeviceError,
}

impl fmt::Display for OomReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = human_bytes;
        let device = match self.device {
            Some(d) => format!("{}:{d}", self.backend),
            None => self.backend.to_string(),
        };
        write!(
            f,
            "out of memory on {device} ({}): tried to allocate {}",
            self.device_name,
            h(self.request)
        )?;
        match self.bucket_bytes {
            Some(b) => write!(f, " ({} bytes, {} bucket)", self.request, h(b))?,
            None => write!(
                f,
                " ({} bytes, oversize: above the {} ceiling, not pooled)",
                self.request,
                h(self.stats.max_bucket_bytes)
            )?,
        }
        match self.mem_info {
            Some(m) => write!(f, "; device has {} free of {} total", h(m.free), h(m.total))?,
            None => write!(f, "; device free memory unknown")?,
        }
        write!(
            f,
            "; this pool holds {} live and {} cached",
            h(self.stats.live_bytes()),
            h(self.stats.cached_bytes())
        )?;
        write!(
            f,
            "; gave back {} cached buffer(s) ({}) and retried once",
            self.trimmed_buffers,
            h(self.trimmed_bytes)
        )?;
        writeln!(f, "; the device said: {}", self.source)?;
        writeln!(f, "  {:>10}  {:>22}  {:>22}", "bucket", "live", "cached")?;
        for b in self.stats.buckets.iter().filter(|b| b.live + b.cached > 0) {
            writeln!(
                f,
                "  {:>10}  {:>22}  {:>22}",
                h(b.bucket_bytes),
                format!("{} ({})", b.live, h(b.live_bytes())),
                format!("{} ({})", b.cached, h(b.cached_bytes())),
            )?;
        }
        if self.stats.oversize_live > 0 {
            writeln!(
                f,
                "  {:>10}  {:>22}  {:>22}",
                "oversize",
                format!(
                    "{} ({})",
                    self.stats.oversize_live,
                    h(self.stats.oversize_live_bytes)
                ),
                "-"
            )?;
        }
        write!(
            f,
            "hint: live buffers are held by callers; drop those no longer needed"
        )?;
        if let Some(b) = self.bucket_bytes.filter(|&b| b > self.request) {
            write!(
                f,
                "; the {} bucket rounds this request up by {} (a lower max_bucket_bytes \
                 sends large requests to the device unrounded)",
                h(b),
                h(b - self.request)
            )?;
        }
        Ok(())
    }
}

/// A failed [`SlabPool`](super::SlabPool) call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// The device is out of memory even after the pool trimmed its cache and retried.
    OutOfMemory(Box<OomReport>),
    /// The device failed an allocation for another reason.
    Device {
        /// Bytes the caller asked for.
        request: u64,
        /// What the device said.
        source: DeviceError,
    },
    /// Frees the device refused: in `trim`, or earlier, in a buffer's `Drop` or a cache
    /// limit eviction (`deferred`), reported on the pool's next call. The buffers
    /// concerned are lost; the pool's counters no longer count them.
    FreeFailed {
        /// True when the frees happened earlier, where no caller could be told.
        deferred: bool,
        /// The errors, oldest first (at most [`MAX_DEFERRED_ERRORS`]).
        errors: Vec<DeviceError>,
        /// Errors beyond those kept in `errors`.
        more: u64,
    },
    /// The pool configuration is invalid.
    InvalidConfig(String),
}

/// Most deferred free errors a pool keeps before counting only.
pub const MAX_DEFERRED_ERRORS: usize = 16;

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfMemory(r) => r.fmt(f),
            Self::Device { request, source } => {
                write!(f, "device allocation of {request} bytes failed: {source}")
            }
            Self::FreeFailed {
                deferred,
                errors,
                more,
            } => {
                let when = if *deferred {
                    "earlier (reported now)"
                } else {
                    "during trim"
                };
                write!(
                    f,
                    "{} device free(s) failed {when}",
                    errors.len() as u64 + more
                )?;
                for e in errors {
                    write!(f, "; {e}")?;
                }
                if *more > 0 {
                    write!(f, "; and {more} more")?;
                }
                Ok(())
            }
            Self::InvalidConfig(why) => write!(f, "invalid pool configuration: {why}"),
        }
    }
}

impl std::error::Error for PoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::OutOfMemory(r) => Some(&r.source),
            Self::Device { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn human_bytes_picks_the_unit() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(4096), "4.00 KiB");
        assert_eq!(human_bytes(3 << 19), "1.50 MiB");
        assert_eq!(human_bytes(80 << 30), "80.00 GiB");
    }
}
