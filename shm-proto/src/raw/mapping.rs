//! Owned mappings and buffers that segment regions are laid over.

use core::ptr::NonNull;
use core::sync::atomic::AtomicU64;

use super::region::Region;
use super::sys;

/// The writer's shared, writable mapping of the segment file; unmapped on drop.
#[derive(Debug)]
pub struct SharedMapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is only accessed through atomics (Region's contract), from any thread.
unsafe impl Send for SharedMapping {}
// SAFETY: as for Send.
unsafe impl Sync for SharedMapping {}

impl SharedMapping {
    /// Maps `len` bytes of `fd` shared and writable.
    pub fn map(fd: &sys::Fd, len: usize) -> Result<Self, i32> {
        let ptr = sys::mmap_shared(fd, len)?;
        Ok(Self { ptr, len })
    }

    /// Allocates the pages of bytes `[offset, offset + len)` of the mapping now
    /// ([`sys::populate_write`]), rounded out to whole pages and clamped to the mapping.
    pub fn populate(&self, offset: usize, len: usize) -> Result<(), i32> {
        let page = sys::page_size().max(1) as usize;
        let start = offset / page * page;
        let end = offset.saturating_add(len).min(self.len);
        if start >= end {
            return Ok(());
        }
        // The start is inside the mapping (start < end <= len), so the pointer is too.
        let ptr = self.ptr.as_ptr().wrapping_add(start);
        let Some(ptr) = NonNull::new(ptr) else {
            return Err(libc::EINVAL);
        };
        // SAFETY: `ptr` is page-aligned (the mapping is, and `start` is a multiple of the
        // page size) and `[ptr, ptr + (end - start))` lies inside this live mapping.
        unsafe { sys::populate_write(ptr, end - start) }
    }

    /// The mapped bytes, to be accessed through atomics only.
    pub fn region(&self) -> Region<'_> {
        // SAFETY: a page-aligned live mapping of len writable bytes that lives as long as
        // the borrow of self; this crate accesses segment bytes only through atomics.
        unsafe { Region::new(self.ptr, self.len) }
    }
}

impl Drop for SharedMapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len are this mapping's; every Region borrowed from self is gone.
        unsafe { sys::munmap(self.ptr, self.len) };
    }
}

/// A read-only `memmap2` mapping of a segment, seen as a region of `len` bytes
/// (`len <= map.len()`, checked).
pub fn read_only_region(map: &memmap2::MmapRaw, len: usize) -> Option<Region<'_>> {
    if len > map.len() {
        return None;
    }
    let ptr = NonNull::new(map.as_ptr().cast_mut())?;
    // SAFETY: memmap2 keeps the page-aligned mapping alive while `map` is borrowed; it is
    // read-only, and the reader only loads through the records it lays over it.
    Some(unsafe { Region::new(ptr, len) })
}

/// An owned, 8-aligned copy of segment bytes (post-mortem files, fuzzing).
#[derive(Debug)]
pub struct OwnedSegment {
    words: Box<[AtomicU64]>,
    len: usize,
}

impl OwnedSegment {
    /// Copies `bytes` (native byte order) into an aligned buffer.
    pub fn copy_of(bytes: &[u8]) -> Self {
        let mut words = Vec::with_capacity(bytes.len().div_ceil(8));
        // Whole words by `chunks_exact`, which the compiler turns into a plain copy.
        let whole = bytes.chunks_exact(8);
        let tail = whole.remainder();
        words.extend(whole.map(|c| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            AtomicU64::new(u64::from_ne_bytes(w))
        }));
        if !tail.is_empty() {
            let mut w = [0u8; 8];
            w[..tail.len()].copy_from_slice(tail);
            words.push(AtomicU64::new(u64::from_ne_bytes(w)));
        }
        Self {
            words: words.into_boxed_slice(),
            len: bytes.len(),
        }
    }

    /// The copied bytes.
    pub fn region(&self) -> Region<'_> {
        let ptr = NonNull::from(&*self.words).cast::<u8>();
        // SAFETY: an 8-aligned heap buffer of at least len bytes, owned by self, whose
        // words are atomics; it lives as long as the borrow of self.
        unsafe { Region::new(ptr, self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::Ordering;

    #[test]
    fn an_owned_copy_keeps_its_length_and_bytes() {
        let bytes: Vec<u8> = (0..13).collect();
        let seg = OwnedSegment::copy_of(&bytes);
        let r = seg.region();
        assert_eq!(r.len(), 13);
        let w = r.get::<crate::layout::EventRecord>(0);
        assert!(w.is_none(), "64-byte record does not fit in 13 bytes");
        let w2 = seg.words[1].load(Ordering::Relaxed);
        assert_eq!(w2.to_ne_bytes()[..5], [8, 9, 10, 11, 12]);
    }

    #[test]
    fn an_empty_copy_is_an_empty_region() {
        let seg = OwnedSegment::copy_of(&[]);
        assert!(seg.region().is_empty());
    }
}
