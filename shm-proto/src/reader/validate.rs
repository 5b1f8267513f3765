//! Validation of a segment's header and section table, once, when it is opened.
//!
//! Everything the reader later uses to find a record (offsets, strides, capacities,
//! class count) is checked here and kept in [`Layout`]; the header's copies are never
//! read again, so a writer that rewrites them later cannot make the reader stray.
#![forbid(unsafe_code)]

use core::mem::size_of;
use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use super::error::ReadError;
use crate::layout::*;
use crate::raw::Region;
use crate::snapshot::ProtocolVersion;

/// A section's place in the segment, validated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SectionLoc {
    /// Index of its descriptor in the header's section table.
    pub table_index: usize,
    /// Offset of its first record.
    pub offset: usize,
    /// Records reserved.
    pub capacity: u32,
    /// Bytes between records (>= the record size this version knows).
    pub stride: usize,
}

/// What a reader skipped because the segment is of a newer minor version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CompatInfo {
    /// Header bytes past the header this reader knows (appended fields, skipped).
    pub header_extra_bytes: u32,
    /// Known sections whose records are longer than this reader knows (tails skipped).
    pub wider_sections: u32,
    /// Sections of kinds this reader does not know (skipped).
    pub unknown_sections: u32,
}

/// A validated segment layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The segment's protocol version.
    pub version: ProtocolVersion,
    /// The writer's pid.
    pub pid: u32,
    /// Bytes of the whole segment.
    pub total_size: u64,
    /// Size classes.
    pub class_count: u32,
    /// The class table.
    pub classes: SectionLoc,
    /// The thread table.
    pub threads: SectionLoc,
    /// The SuperSlab slot map.
    pub superslabs: SectionLoc,
    /// The GPU pool table.
    pub gpu_pools: SectionLoc,
    /// The event ring.
    pub ring: SectionLoc,
    /// The sample-site table (1.2), when the writer samples.
    pub sample_sites: Option<SectionLoc>,
    /// The OOM report (1.2; absent in older segments).
    pub oom_report: Option<SectionLoc>,
    /// The slots' owner threads (1.3; absent in older segments).
    pub slot_owners: Option<SectionLoc>,
    /// Offset of the heap error table (1.4: inside a header of at least
    /// [`HEADER_BYTES`]; absent in older segments).
    pub heap_errors: Option<usize>,
    /// What was skipped.
    pub compat: CompatInfo,
}

/// Loads a header word (`Relaxed` + `Acquire` fence, as every reader load).
fn load64(a: &AtomicU64) -> u64 {
    let v = a.load(Ordering::Relaxed);
    fence(Ordering::Acquire);
    v
}

fn load32(a: &AtomicU32) -> u32 {
    let v = a.load(Ordering::Relaxed);
    fence(Ordering::Acquire);
    v
}

/// The protocol version this reader implements.
pub const SUPPORTED: ProtocolVersion = ProtocolVersion {
    major: PROTOCOL_MAJOR,
    minor: PROTOCOL_MINOR,
};

/// Checks the magic and the major version, then every header field and section
/// descriptor, against the `region.len()` bytes there are.
pub fn validate(region: Region<'_>) -> Result<Layout, ReadError> {
    let len = region.len() as u64;
    let too_small = |need: usize| ReadError::TooSmall {
        len,
        need: need as u64,
    };
    // Magic and version sit at offsets 0 and 8 in every major version.
    let magic = region.get::<AtomicU64>(0).ok_or(too_small(16))?;
    let version = region.get::<AtomicU32>(8).ok_or(too_small(16))?;
    if load64(magic) != MAGIC {
        return Err(ReadError::BadMagic);
    }
    let v = load32(version);
    let version = ProtocolVersion {
        major: (v >> 16) as u16,
        minor: v as u16,
    };
    if version.major != PROTOCOL_MAJOR {
        return Err(ReadError::WrongMajor {
            found: version,
            supported: SUPPORTED,
        });
    }
    let h = region
        .get::<Header>(0)
        .ok_or(too_small(size_of::<Header>()))?;
    let bad = |s: String| Err(ReadError::BadHeader(s));
    let header_size = load32(&h.header_size);
    let total_size = load64(&h.total_size);
    if (header_size as usize) < size_of::<Header>() || !header_size.is_multiple_of(8) {
        return bad(format!(
            "header_size {header_size} is not a multiple of 8 of at least {}",
            size_of::<Header>()
        ));
    }
    if total_size > len {
        return Err(ReadError::Truncated { total_size, len });
    }
    if total_size < header_size as u64 {
        return bad(format!(
            "total_size {total_size} is smaller than header_size {header_size}"
        ));
    }
    let pid = load32(&h.pid);
    if pid == 0 {
        return bad("pid is 0".into());
    }
    let page_size = load32(&h.page_size);
    if !page_size.is_power_of_two() {
        return bad(format!("page_size {page_size} is not a power of two"));
    }
    let class_count = load32(&h.class_count);
    if class_count == 0 || class_count as usize > MAX_CLASSES {
        return bad(format!(
            "class_count {class_count} is not in 1..={MAX_CLASSES}"
        ));
    }
    let slots = load32(&h.slots_per_superslab);
    if slots as usize != SLOTS_PER_SUPERSLAB {
        return bad(format!(
            "slots_per_superslab is {slots}, protocol 1 has {SLOTS_PER_SUPERSLAB}"
        ));
    }
    let ss_bytes = load64(&h.superslab_bytes);
    if ss_bytes != SUPERSLAB_BYTES {
        return bad(format!(
            "superslab_bytes is {ss_bytes}, protocol 1 has {SUPERSLAB_BYTES}"
        ));
    }
    let section_count = load32(&h.section_count);
    if section_count as usize > MAX_SECTIONS {
        return bad(format!(
            "section_count {section_count} is more than {MAX_SECTIONS}"
        ));
    }
    // The heap error table (1.4) is part of the header when the writer is 1.4 or newer
    // and the header is long enough.
    let heap_errors = (version.minor >= 4 && header_size as usize >= HEADER_BYTES)
        .then_some(HEAP_ERROR_TABLE_OFFSET);
    let known_header = if heap_errors.is_some() {
        HEADER_BYTES
    } else {
        size_of::<Header>()
    };
    let mut compat = CompatInfo {
        header_extra_bytes: header_size - known_header as u32,
        ..CompatInfo::default()
    };
    // Indexed by kind - 1, for every kind code this reader knows.
    const KINDS: usize = 9;
    let mut found: [Option<SectionLoc>; KINDS] = [None; KINDS];
    let mut spans: [(u64, u64); KINDS] = [(0, 0); KINDS];
    for (i, d) in h.sections[..section_count as usize].iter().enumerate() {
        let code = load32(&d.kind);
        let Some(kind) = SectionKind::from_u32(code) else {
            if code == 0 {
                return Err(ReadError::BadSection {
                    kind: 0,
                    reason: format!("table entry {i} is in use but has kind 0"),
                });
            }
            compat.unknown_sections += 1;
            continue;
        };
        let loc = section(kind, i, d, header_size, total_size, class_count)?;
        let slot = kind as usize - 1;
        if found[slot].is_some() {
            return Err(ReadError::BadSection {
                kind: code,
                reason: "appears twice in the section table".into(),
            });
        }
        if loc.stride > kind.record_size() {
            compat.wider_sections += 1;
        }
        found[slot] = Some(loc);
        let start = loc.offset as u64;
        spans[slot] = (start, start + loc.stride as u64 * loc.capacity as u64);
    }
    for (a, &(s1, e1)) in spans.iter().enumerate() {
        for (b, &(s2, e2)) in spans.iter().enumerate().skip(a + 1) {
            if s1 < e2 && s2 < e1 {
                return Err(ReadError::BadSection {
                    kind: b as u32 + 1,
                    reason: format!("overlaps the section of kind {}", a + 1),
                });
            }
        }
    }
    let need = |kind: SectionKind| {
        found[kind as usize - 1].ok_or_else(|| ReadError::BadSection {
            kind: kind as u32,
            reason: "missing from the section table".into(),
        })
    };
    Ok(Layout {
        version,
        pid,
        total_size,
        class_count,
        classes: need(SectionKind::Classes)?,
        threads: need(SectionKind::Threads)?,
        superslabs: need(SectionKind::SuperSlabs)?,
        gpu_pools: need(SectionKind::GpuPools)?,
        ring: need(SectionKind::Ring)?,
        sample_sites: found[SectionKind::SampleSites as usize - 1],
        oom_report: found[SectionKind::OomReport as usize - 1],
        slot_owners: found[SectionKind::SlotOwners as usize - 1],
        heap_errors,
        compat,
    })
}

/// Validates one known section's descriptor.
fn section(
    kind: SectionKind,
    index: usize,
    d: &SectionDesc,
    header_size: u32,
    total_size: u64,
    class_count: u32,
) -> Result<SectionLoc, ReadError> {
    let bad = |reason: String| {
        Err(ReadError::BadSection {
            kind: kind as u32,
            reason,
        })
    };
    let offset = load64(&d.offset);
    let stride = load32(&d.stride);
    let capacity = load32(&d.capacity);
    let used = load32(&d.used);
    if !offset.is_multiple_of(SECTION_ALIGN) {
        return bad(format!("offset {offset} is not {SECTION_ALIGN}-aligned"));
    }
    if offset < header_size as u64 {
        return bad(format!(
            "offset {offset} lies inside the {header_size}-byte header"
        ));
    }
    if (stride as usize) < kind.record_size() || !stride.is_multiple_of(8) {
        return bad(format!(
            "stride {stride} is not a multiple of 8 of at least {}",
            kind.record_size()
        ));
    }
    let end = (stride as u64)
        .checked_mul(capacity as u64)
        .and_then(|b| b.checked_add(offset));
    match end {
        Some(end) if end <= total_size => {}
        _ => {
            return bad(format!(
                "{capacity} records of {stride} bytes at offset {offset} do not fit in \
                 {total_size} bytes"
            ))
        }
    }
    if kind != SectionKind::Ring && used > capacity {
        return bad(format!("used {used} is more than capacity {capacity}"));
    }
    if kind == SectionKind::Ring && !capacity.is_power_of_two() {
        return bad(format!("ring capacity {capacity} is not a power of two"));
    }
    if kind == SectionKind::Classes && capacity != class_count {
        return bad(format!(
            "holds {capacity} records for {class_count} classes"
        ));
    }
    Ok(SectionLoc {
        table_index: index,
        offset: offset as usize,
        capacity,
        stride: stride as usize,
    })
}
