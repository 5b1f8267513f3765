//! slabscope-preload: the LD_PRELOAD shim.
