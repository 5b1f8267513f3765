//! slabscope: the host SuperSlab allocator.
