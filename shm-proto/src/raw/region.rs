//! Checked casts from a byte range of a segment to its records.

use core::marker::PhantomData;
use core::mem::size_of;
use core::ptr::NonNull;

use crate::layout::EventRecord;
#[cfg(not(loom))]
use crate::layout::{
    ClassRecord, GpuPoolRecord, Header, HeapErrorTable, OomReportRecord, SampleSiteRecord,
    SlotOwnerRecord, SuperSlabRecord, ThreadRecord,
};

/// A record type that may be laid over segment bytes.
///
/// # Safety
///
/// Implementors are `#[repr(C)]`, built only of atomics (and arrays or structs of them),
/// with an alignment of at most 8: every bit pattern is a valid value, and any number of
/// threads and processes may access the bytes at once through shared references.
pub unsafe trait Record: Sync {}

// SAFETY: #[repr(C)], only atomics, 8-aligned (layout.rs static asserts).
unsafe impl Record for EventRecord {}
#[cfg(not(loom))]
// SAFETY: #[repr(C)], only atomics, 8-aligned (layout.rs static asserts).
unsafe impl Record for Header {}
#[cfg(not(loom))]
// SAFETY: #[repr(C)], only atomics, 8-aligned (layout.rs static asserts).
unsafe impl Record for ClassRecord {}
#[cfg(not(loom))]
// SAFETY: #[repr(C)], only atomics, 8-aligned (layout.rs static asserts).
unsafe impl Record for ThreadRecord {}
#[cfg(not(loom))]
// SAFETY: #[repr(C)], only atomics, 8-aligned (layout.rs static asserts).
unsafe impl Record for SuperSlabRecord {}
#[cfg(not(loom))]
// SAFETY: #[repr(C)], only atomics, 8-aligned (layout.rs static asserts).
unsafe impl Record for GpuPoolRecord {}
#[cfg(not(loom))]
// SAFETY: #[repr(C)], only atomics, 8-aligned (layout.rs static asserts).
unsafe impl Record for SampleSiteRecord {}
#[cfg(not(loom))]
// SAFETY: #[repr(C)], only atomics (u32 words; 128 bytes, a multiple of 8).
unsafe impl Record for SlotOwnerRecord {}
#[cfg(not(loom))]
// SAFETY: #[repr(C)], only atomics, 8-aligned (oom.rs static asserts).
unsafe impl Record for OomReportRecord {}
#[cfg(not(loom))]
// SAFETY: #[repr(C)], only atomics, 8-aligned (heap_error_table.rs static asserts).
unsafe impl Record for HeapErrorTable {}
#[cfg(not(loom))]
// SAFETY: a single atomic word: any bits valid, 8-aligned, shared access is atomic.
unsafe impl Record for core::sync::atomic::AtomicU64 {}
#[cfg(not(loom))]
// SAFETY: a single atomic word: any bits valid, 4-aligned, shared access is atomic.
unsafe impl Record for core::sync::atomic::AtomicU32 {}

/// A byte range of a segment (a mapping or an owned copy) that is only ever accessed
/// through atomics.
#[cfg(not(loom))]
#[derive(Clone, Copy, Debug)]
pub struct Region<'a> {
    ptr: NonNull<u8>,
    len: usize,
    _bytes: PhantomData<&'a [core::sync::atomic::AtomicU8]>,
}

// SAFETY: a Region only hands out shared references to all-atomic records, which are Sync.
#[cfg(not(loom))]
unsafe impl Send for Region<'_> {}
// SAFETY: as for Send: every access through a Region is an atomic access.
#[cfg(not(loom))]
unsafe impl Sync for Region<'_> {}

#[cfg(not(loom))]
impl<'a> Region<'a> {
    /// A region of `len` bytes at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` is 8-aligned and valid for reads (and, if any caller stores through the
    /// records, writes) of `len` bytes for `'a`; during `'a` those bytes are accessed only
    /// through atomics, by this process and any other. For a read-only mapping, callers
    /// only ever load through the returned records.
    pub unsafe fn new(ptr: NonNull<u8>, len: usize) -> Self {
        debug_assert!((ptr.as_ptr() as usize).is_multiple_of(8));
        Self {
            ptr,
            len,
            _bytes: PhantomData,
        }
    }

    /// Bytes in the region.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The record of type `T` at byte `offset`, if it lies wholly inside the region and
    /// `offset` is aligned for `T`.
    pub fn get<T: Record>(&self, offset: usize) -> Option<&'a T> {
        let end = offset.checked_add(size_of::<T>())?;
        if end > self.len || !offset.is_multiple_of(core::mem::align_of::<T>()) {
            return None;
        }
        // SAFETY: in bounds and aligned (checked above, base 8-aligned by `new`), and T is
        // a Record (any bits valid, atomics only), as `new`'s contract requires.
        Some(unsafe { &*self.ptr.as_ptr().add(offset).cast::<T>() })
    }

    /// `count` records of type `T`, `stride` bytes apart, from byte `offset`, if they lie
    /// wholly inside the region, `offset` and `stride` are aligned for `T` and
    /// `stride >= size_of::<T>()`.
    pub fn records<T: Record>(
        &self,
        offset: usize,
        count: usize,
        stride: usize,
    ) -> Option<Records<'a, T>> {
        if stride < size_of::<T>() || !stride.is_multiple_of(core::mem::align_of::<T>()) {
            return None;
        }
        if !offset.is_multiple_of(core::mem::align_of::<T>()) {
            return None;
        }
        let bytes = count.checked_mul(stride)?;
        let end = offset.checked_add(bytes)?;
        if end > self.len {
            return None;
        }
        Some(Records {
            // SAFETY: offset <= end <= len, so the result stays inside the region.
            ptr: unsafe { NonNull::new_unchecked(self.ptr.as_ptr().add(offset)) },
            len: count,
            stride,
            _records: PhantomData,
        })
    }
}

/// `len` records of type `T`, `stride` bytes apart (`stride >= size_of::<T>()`; a newer
/// minor version may append fields to a record, which this view skips).
pub struct Records<'a, T> {
    ptr: NonNull<u8>,
    len: usize,
    stride: usize,
    _records: PhantomData<&'a [T]>,
}

impl<T> Clone for Records<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Records<'_, T> {}

impl<T> core::fmt::Debug for Records<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Records")
            .field("len", &self.len)
            .field("stride", &self.stride)
            .finish()
    }
}

// SAFETY: Records only hands out `&T` with T: Record, which is Sync.
unsafe impl<T: Record> Send for Records<'_, T> {}
// SAFETY: as for Send.
unsafe impl<T: Record> Sync for Records<'_, T> {}

impl<'a, T: Record> Records<'a, T> {
    /// A view of a slice (stride = record size); used for records on the heap.
    pub fn from_slice(records: &'a [T]) -> Self {
        Self {
            ptr: NonNull::from(records).cast(),
            len: records.len(),
            stride: size_of::<T>(),
            _records: PhantomData,
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes from one record to the next.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Record `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&'a T> {
        if i >= self.len {
            return None;
        }
        // SAFETY: i < len, and construction checked that len * stride bytes from ptr are
        // in bounds and that stride keeps every record aligned (from_slice: a real slice).
        Some(unsafe { &*self.ptr.as_ptr().add(i * self.stride).cast::<T>() })
    }

    /// The records in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a T> + '_ {
        (0..self.len).filter_map(move |i| self.get(i))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicU64, Ordering};

    fn words(n: usize) -> Vec<AtomicU64> {
        (0..n).map(|i| AtomicU64::new(i as u64)).collect()
    }

    fn region(w: &[AtomicU64]) -> Region<'_> {
        // SAFETY: a live, 8-aligned slice of atomics, accessed only through atomics.
        unsafe { Region::new(NonNull::from(w).cast(), core::mem::size_of_val(w)) }
    }

    #[test]
    fn get_checks_bounds_and_alignment() {
        let w = words(100);
        let r = region(&w);
        assert!(r.get::<EventRecord>(0).is_some());
        assert!(r.get::<EventRecord>(800 - 64).is_some());
        assert!(r.get::<EventRecord>(800 - 63).is_none());
        assert!(r.get::<EventRecord>(4).is_none());
        assert!(r.get::<EventRecord>(usize::MAX - 3).is_none());
        let ev = r.get::<EventRecord>(8).unwrap();
        assert_eq!(ev.stamp.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn records_check_stride_count_and_overflow() {
        let w = words(100);
        let r = region(&w);
        assert!(r.records::<EventRecord>(0, 12, 64).is_some());
        assert!(r.records::<EventRecord>(0, 13, 64).is_none());
        assert!(
            r.records::<EventRecord>(0, 1, 56).is_none(),
            "stride < size"
        );
        assert!(
            r.records::<EventRecord>(0, 1, 68).is_none(),
            "misaligned stride"
        );
        assert!(r.records::<EventRecord>(0, usize::MAX, 64).is_none());
        assert!(r.records::<EventRecord>(usize::MAX - 7, 0, 64).is_none());
        let recs = r.records::<EventRecord>(16, 3, 128).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs.get(2).unwrap().stamp.load(Ordering::Relaxed), 2 + 32);
        assert!(recs.get(3).is_none());
        assert_eq!(recs.iter().count(), 3);
    }
}
