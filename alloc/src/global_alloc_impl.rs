//! The `GlobalAlloc` implementation of [`crate::SlabScope`].

use core::alloc::{GlobalAlloc, Layout};

use crate::{front, SlabScope};

// SAFETY: every method honours `Layout`'s size and alignment (the slab path for
// alignments up to 4 KiB, the large path beyond), returns null on failure, and `dealloc`
// and `realloc` accept exactly the pointers `alloc` handed out.
unsafe impl GlobalAlloc for SlabScope {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        front::alloc(layout.size(), layout.align(), self.publish_default)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: GlobalAlloc's contract: `ptr` came from this allocator and is live.
        unsafe { front::free(ptr, self.publish_default) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        front::alloc_zeroed(layout.size(), layout.align(), self.publish_default)
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract: `ptr` is live and allocated with `layout`.
        unsafe { front::realloc(ptr, new_size, layout.align(), self.publish_default) }
    }
}
