//! Memory figures of a process from `/proc/<pid>/status` and `/proc/<pid>/maps`.

use std::fs;

/// Resident set size now (`VmRSS`) of this process, in bytes.
pub fn rss_bytes() -> Option<u64> {
    status_kib("self", "VmRSS:").map(|k| k * 1024)
}

/// Peak resident set size (`VmHWM`) of this process, in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    status_kib("self", "VmHWM:").map(|k| k * 1024)
}

/// A `kB` field of `/proc/<who>/status` (`who` is a pid or `self`).
pub fn status_kib(who: &str, field: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{who}/status")).ok()?;
    parse_status_kib(&text, field)
}

/// Finds `field` (with its colon) in status text and parses its value in kB.
pub fn parse_status_kib(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(field))?;
    let mut words = line[field.len()..].split_whitespace();
    let value = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(value)
}

/// CPU time the calling thread has used, in nanoseconds (first field of
/// `/proc/thread-self/schedstat`).
pub fn thread_cpu_ns() -> Option<u64> {
    let text = fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The 1-minute load average (first field of `/proc/loadavg`).
pub fn loadavg_1min() -> Option<f64> {
    let text = fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Whether process `pid` has a file whose path contains `needle` mapped.
pub fn maps_contain(pid: u32, needle: &str) -> std::io::Result<bool> {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps"))?;
    Ok(maps.lines().any(|l| l.contains(needle)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kib_fields() {
        let text = "Name:\tx\nVmHWM:\t  12345 kB\nVmRSS:\t   100 kB\n";
        assert_eq!(parse_status_kib(text, "VmHWM:"), Some(12345));
        assert_eq!(parse_status_kib(text, "VmRSS:"), Some(100));
        assert_eq!(parse_status_kib(text, "VmSwap:"), None);
        assert_eq!(parse_status_kib("VmRSS: 1 MB\n", "VmRSS:"), None);
    }

    #[test]
    fn own_figures_are_positive() {
        let rss = rss_bytes().unwrap();
        let peak = peak_rss_bytes().unwrap();
        assert!(rss > 0 && peak >= rss / 2);
        // The kernel adds a running thread's time to its figure at scheduler ticks (up
        // to 10 ms apart), so spin until a tick has passed rather than for a fixed count.
        let a = thread_cpu_ns().unwrap();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut x = 0u64;
        let mut b = a;
        while b == a && std::time::Instant::now() < until {
            for i in 0..100_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            b = thread_cpu_ns().unwrap();
        }
        assert!(b > a, "no CPU time counted in 5 s of spinning ({x})");
        assert!(loadavg_1min().unwrap() >= 0.0);
    }
}
