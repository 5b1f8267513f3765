//! The load-time constructor: marks the process's segment as written by the preload
//! shim (`FLAG_PRELOAD`), so that `alloc-inspect` can say so. Allocation may already have
//! happened by then (the dynamic loader and libc allocate before constructors run); the
//! flag is set on the existing segment or on the one created later. It also registers
//! the tracing sink (`trace_lib`), which loads its library here when `SLABSCOPE_LOG`
//! asks for tracing.

extern "C" fn on_load() {
    slabscope::publish::mark_preload();
    slabscope::trace::set_sink(&crate::trace_lib::SINK);
    crate::trace_lib::load_if_asked();
}

/// Run by the dynamic loader when the library is loaded.
#[used]
#[link_section = ".init_array"]
static ON_LOAD: extern "C" fn() = on_load;
