//! [`Background`]: a [`Symbolizer`] on its own thread, so that reading a binary's debug
//! info (which can take seconds for a large one) never stalls the screen.

use std::collections::{HashMap, HashSet};
use std::sync::{mpsc, Arc, Mutex};

use super::frame::Frame;
use super::symbolizer::{Namer, Symbolizer};

type Names = Arc<Mutex<HashMap<u64, Arc<[Frame]>>>>;

/// Asks a symbolizer thread for names and reads its answers. The thread ends when every
/// clone of its `Background` is dropped.
#[derive(Clone)]
pub struct Background {
    names: Names,
    asked: HashSet<u64>,
    tx: mpsc::Sender<u64>,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("asked", &self.asked.len())
            .finish()
    }
}

impl Background {
    /// Starts the thread that runs `symbolizer`; `None` when no thread can be started
    /// (addresses then stay unnamed).
    pub fn spawn(mut symbolizer: Symbolizer) -> Option<Self> {
        let names: Names = Arc::default();
        let (tx, rx) = mpsc::channel::<u64>();
        let shared = names.clone();
        std::thread::Builder::new()
            .name("symbolize".into())
            .spawn(move || {
                for addr in rx {
                    let frames = symbolizer.frames(addr);
                    if let Ok(mut n) = shared.lock() {
                        n.insert(addr, frames);
                    }
                }
            })
            .ok()?;
        Some(Self {
            names,
            asked: HashSet::new(),
            tx,
        })
    }
}

impl Namer for Background {
    fn frames(&mut self, addr: u64) -> Option<Arc<[Frame]>> {
        if let Some(f) = self.names.lock().ok()?.get(&addr) {
            return Some(f.clone());
        }
        if self.asked.insert(addr) {
            let _ = self.tx.send(addr);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn names_arrive_from_the_thread() {
        let mut b = Background::spawn(Symbolizer::for_pid(std::process::id())).unwrap();
        let addr = names_arrive_from_the_thread as *const () as u64 + 2;
        let deadline = Instant::now() + Duration::from_secs(60);
        let frames = loop {
            if let Some(f) = b.frames(addr) {
                break f;
            }
            assert!(Instant::now() < deadline, "no answer in 60 s");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(
            frames
                .last()
                .unwrap()
                .function
                .contains("names_arrive_from_the_thread"),
            "{frames:?}"
        );
    }
}
