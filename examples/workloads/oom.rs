//! The `oom` workload: grows memory in several size classes, with a large allocation
//! now and then, until the allocator refuses one (`SLABSCOPE_LIMIT`), and says what it
//! held when that happened. Allocation goes through `std::alloc::alloc`, which returns
//! null on failure instead of aborting, so the workload sees the OOM and can report it.

use std::alloc::{alloc, Layout};

/// Block sizes the workload cycles through (four small and medium classes).
pub const SIZES: [usize; 4] = [48, 320, 2048, 12_000];
/// Size of the occasional large allocation.
pub const LARGE: usize = 1 << 20;
/// One large allocation every this many small ones.
pub const LARGE_EVERY: usize = 512;

/// What the workload held when the allocator refused a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Small and medium blocks allocated.
    pub small_blocks: u64,
    /// Bytes requested for them.
    pub small_bytes: u64,
    /// Large allocations.
    pub large_blocks: u64,
    /// Bytes requested for them.
    pub large_bytes: u64,
    /// The request that failed (`None` if `max_bytes` was reached first).
    pub refused: Option<usize>,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        write!(
            f,
            "held {} blocks of {:?} bytes ({:.1} MiB) and {} large allocations ({:.1} MiB)",
            self.small_blocks,
            SIZES,
            mib(self.small_bytes),
            self.large_blocks,
            mib(self.large_bytes)
        )?;
        match self.refused {
            Some(n) => write!(f, "; a request of {n} bytes was refused: out of memory"),
            None => write!(f, "; no request was refused"),
        }
    }
}

/// Allocates until a request fails or `max_bytes` are held. The blocks are kept (the
/// process is about to exit). Writes one byte per page so the memory is real.
pub fn run(max_bytes: u64) -> Outcome {
    let mut out = Outcome::default();
    let mut kept: Vec<usize> = Vec::with_capacity(1 << 16);
    let mut i = 0usize;
    while out.small_bytes + out.large_bytes < max_bytes {
        let size = if i % LARGE_EVERY == LARGE_EVERY - 1 {
            LARGE
        } else {
            SIZES[i % SIZES.len()]
        };
        i += 1;
        let Ok(layout) = Layout::from_size_align(size, 16) else {
            break;
        };
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { alloc(layout) };
        if p.is_null() {
            out.refused = Some(size);
            break;
        }
        for off in (0..size).step_by(4096) {
            // SAFETY: `p` is a fresh block of `size` bytes.
            unsafe { p.add(off).write(i as u8) };
        }
        if kept.len() == kept.capacity() {
            // Growing the list could itself fail at the limit: stop keeping addresses
            // (the blocks stay allocated all the same).
            std::mem::forget(std::mem::take(&mut kept));
        } else {
            kept.push(p as usize);
        }
        if size == LARGE {
            out.large_blocks += 1;
            out.large_bytes += size as u64;
        } else {
            out.small_blocks += 1;
            out.small_bytes += size as u64;
        }
    }
    std::mem::forget(kept);
    out
}
