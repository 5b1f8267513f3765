//! The calling thread's identity and a yield, for the writer's growth flag
//! (`writer/backing.rs`), swapped for loom's under `--cfg loom`.

#[cfg(loom)]
pub use loom::thread::yield_now;
#[cfg(not(loom))]
pub use std::thread::yield_now;

/// A non-zero number that tells the calling thread from every other live thread: its
/// kernel thread id (a model thread's identity under loom, whose threads share one).
#[cfg(not(loom))]
pub fn thread_key() -> u64 {
    u64::from(crate::raw::sys::gettid()).max(1)
}

/// A non-zero number that tells the calling thread from every other live thread: its
/// kernel thread id (a model thread's identity under loom, whose threads share one).
#[cfg(loom)]
pub fn thread_key() -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    loom::thread::current().id().hash(&mut h);
    h.finish().max(1)
}
