//! slabscope: the host SuperSlab allocator.
pub mod gpu;
