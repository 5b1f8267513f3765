//! Segment configuration, creation errors, and the layout plan and path built from them.
#![forbid(unsafe_code)]

use core::fmt;

use crate::layout::*;

/// Longest segment path the writer handles, NUL included.
pub const MAX_PATH_BYTES: usize = 512;
/// Largest segment the writer creates.
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;

/// What the segment holds and how big its tables are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentConfig {
    /// Block size of each class (the first `class_count` entries are used, each > 0).
    pub class_sizes: [u32; MAX_CLASSES],
    /// Size classes, 1..=[`MAX_CLASSES`].
    pub class_count: u32,
    /// Thread records (threads beyond it are counted in the section's `overflow`).
    pub max_threads: u32,
    /// SuperSlab records.
    pub max_superslabs: u32,
    /// GPU pool records.
    pub max_gpu_pools: u32,
    /// Events in the ring: a power of two.
    pub ring_capacity: u32,
    /// Magazine drain interval in frees, published in the header.
    pub drain_interval: u64,
    /// `SLABSCOPE_LIMIT` in bytes (0 = none), published in the header totals.
    pub limit_bytes: u64,
    /// Initial `FLAG_*` bits.
    pub flags: u32,
}

/// Allocation sampling (`SLABSCOPE_SAMPLE`): adds the sample-site section (protocol 1.2)
/// and publishes the interval in the header. An interval of 0 means "not sampling now":
/// the section is there for sampling switched on later (the control channel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleConfig {
    /// Site records (sites beyond it are counted in the section's `overflow`), >= 1.
    pub max_sites: u32,
    /// Mean bytes between two sampled allocations; 0 = not sampling now.
    pub interval_bytes: u64,
}

/// Why a segment could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateError {
    /// `dir/slabscope.<pid>` does not fit in [`MAX_PATH_BYTES`].
    PathTooLong,
    /// Something (a file, a symlink, anything) already exists at the path.
    Exists,
    /// A system call failed.
    Io {
        /// The call.
        op: &'static str,
        /// Its `errno`.
        errno: i32,
    },
    /// The configuration is unusable.
    BadConfig(&'static str),
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PathTooLong => write!(
                f,
                "segment path is longer than {} bytes",
                MAX_PATH_BYTES - 1
            ),
            Self::Exists => write!(
                f,
                "a file already exists at the segment path (refusing to reuse or follow it)"
            ),
            Self::Io { op, errno } => write!(
                f,
                "{op} failed: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
            Self::BadConfig(why) => write!(f, "bad segment configuration: {why}"),
        }
    }
}

impl std::error::Error for CreateError {}

/// Offset, capacity and stride of one section, as laid out by this writer.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Section {
    pub(super) offset: usize,
    pub(super) capacity: u32,
    pub(super) stride: usize,
}

/// Where every section lives, and the segment's total size.
#[derive(Clone, Copy, Debug)]
pub(super) struct Plan {
    pub(super) classes: Section,
    pub(super) threads: Section,
    pub(super) superslabs: Section,
    pub(super) gpu_pools: Section,
    pub(super) ring: Section,
    /// The OOM report (one record).
    pub(super) oom: Section,
    /// The sample-site section, when the writer samples.
    pub(super) sites: Option<Section>,
    /// The slot owners, one record per SuperSlab record (1.3).
    pub(super) slot_owners: Section,
    pub(super) total: usize,
}

const fn align64(v: u64) -> u64 {
    (v + SECTION_ALIGN - 1) & !(SECTION_ALIGN - 1)
}

/// A page (of 4 KiB, the smallest Linux has): where a table starts when its first
/// records, allocated at creation, would otherwise straddle a page boundary or share a
/// page with nothing allocated.
const PAGE: u64 = 4096;

const fn align_page(v: u64) -> u64 {
    (v + PAGE - 1) & !(PAGE - 1)
}

impl Plan {
    /// Lays the sections out so that what a growing segment allocates at creation (the
    /// header, the class table, the OOM report and the first records of each table,
    /// `super::backing::INITIAL`) takes as few pages as it can, and those pages lie in
    /// the first few hundred KiB of the file:
    ///
    /// - the header, the class table and the thread table's first records share the
    ///   first three pages;
    /// - the SuperSlab map starts on a page;
    /// - the OOM report starts on a page and the slot owners follow it, so that the
    ///   report and the first eight owner records fill one page;
    /// - the GPU pool table and the sample sites (allocated as they are claimed, or when
    ///   sampling starts) start on pages;
    /// - the event ring, the largest table and touched as it is written, comes last.
    ///
    /// With the defaults that is six pages in four runs (the test
    /// `writer::tests::a_default_segment_allocates_six_pages_at_creation`).
    pub(super) fn new(
        cfg: &SegmentConfig,
        sample: Option<&SampleConfig>,
    ) -> Result<Self, CreateError> {
        if let Some(s) = sample {
            if s.max_sites == 0 {
                return Err(CreateError::BadConfig("sampling needs max_sites > 0"));
            }
        }
        if cfg.class_count == 0 || cfg.class_count as usize > MAX_CLASSES {
            return Err(CreateError::BadConfig("class_count must be in 1..=64"));
        }
        if cfg.class_sizes[..cfg.class_count as usize].contains(&0) {
            return Err(CreateError::BadConfig("every class needs a block size > 0"));
        }
        if !cfg.ring_capacity.is_power_of_two() {
            return Err(CreateError::BadConfig(
                "ring_capacity must be a power of two",
            ));
        }
        // Every product below fits in u64: capacities are u32, record sizes < 2^12.
        let mut at = align64(HEADER_BYTES as u64);
        let mut next = |kind: SectionKind, capacity: u32, on_page: bool| {
            if on_page {
                at = align_page(at);
            }
            let stride = kind.record_size() as u64;
            let s = Section {
                offset: at as usize,
                capacity,
                stride: stride as usize,
            };
            at = align64(at + stride * capacity as u64);
            s
        };
        let classes = next(SectionKind::Classes, cfg.class_count, false);
        let threads = next(SectionKind::Threads, cfg.max_threads, false);
        let superslabs = next(SectionKind::SuperSlabs, cfg.max_superslabs, true);
        let oom = next(SectionKind::OomReport, 1, true);
        let slot_owners = next(SectionKind::SlotOwners, cfg.max_superslabs, false);
        let gpu_pools = next(SectionKind::GpuPools, cfg.max_gpu_pools, true);
        let sites = sample.map(|s| next(SectionKind::SampleSites, s.max_sites, true));
        let ring = next(SectionKind::Ring, cfg.ring_capacity, true);
        if at > MAX_SEGMENT_BYTES {
            return Err(CreateError::BadConfig("segment would be larger than 1 GiB"));
        }
        Ok(Self {
            classes,
            threads,
            superslabs,
            gpu_pools,
            ring,
            oom,
            sites,
            slot_owners,
            total: at as usize,
        })
    }
}

impl Plan {
    /// Records of `part` in all (events for the ring).
    pub(super) fn capacity(&self, part: super::backing::Part) -> u64 {
        use super::backing::Part;
        u64::from(match part {
            Part::Threads => self.threads.capacity,
            Part::SuperSlabs => self.superslabs.capacity,
            Part::SampleSites => self.sites.map_or(0, |s| s.capacity),
            Part::Ring => self.ring.capacity,
        })
    }

    /// The sections whose records `part` counts (SuperSlabs: their records and their
    /// slot owners, index for index).
    pub(super) fn sections_of(&self, part: super::backing::Part) -> impl Iterator<Item = Section> {
        use super::backing::Part;
        let (a, b) = match part {
            Part::Threads => (Some(self.threads), None),
            Part::SuperSlabs => (Some(self.superslabs), Some(self.slot_owners)),
            Part::SampleSites => (self.sites, None),
            Part::Ring => (Some(self.ring), None),
        };
        a.into_iter().chain(b)
    }
}

/// Builds `dir/slabscope.<pid>\0` into `buf`; returns its length without the NUL.
pub(super) fn build_path(
    dir: &[u8],
    pid: u32,
    buf: &mut [u8; MAX_PATH_BYTES],
) -> Result<usize, CreateError> {
    if dir.is_empty() {
        return Err(CreateError::BadConfig("segment directory is empty"));
    }
    if dir.contains(&0) {
        return Err(CreateError::BadConfig(
            "segment directory contains a NUL byte",
        ));
    }
    let mut digits = [0u8; 10];
    let mut n = 0;
    let mut p = pid;
    loop {
        digits[n] = b'0' + (p % 10) as u8;
        n += 1;
        p /= 10;
        if p == 0 {
            break;
        }
    }
    let sep: &[u8] = if dir.ends_with(b"/") { b"" } else { b"/" };
    let name = b"slabscope.";
    let len = dir.len() + sep.len() + name.len() + n;
    if len + 1 > MAX_PATH_BYTES {
        return Err(CreateError::PathTooLong);
    }
    let mut at = 0;
    for part in [dir, sep, name] {
        buf[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    for i in (0..n).rev() {
        buf[at] = digits[i];
        at += 1;
    }
    buf[at] = 0;
    Ok(len)
}
