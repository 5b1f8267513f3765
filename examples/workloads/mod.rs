//! The workloads behind the examples.

mod args;
pub mod demo;
pub mod leaky;
pub mod oom;
pub mod stop;
pub mod threads;

// The unit tests run the workloads on slabscope, as the examples do.
#[cfg(test)]
#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new().publish_by_default(false);
