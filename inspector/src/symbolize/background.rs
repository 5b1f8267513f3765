//! [`Background`]: a [`Symbolizer`] on its own thread, so that reading a binary's debug
//! info (which can take seconds for a large one) never stalls the screen.

use std::collections::HashMap;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use super::frame::Frame;
use super::symbolizer::{Namer, Symbolizer, MAPS_REFRESH};

type Names = Arc<Mutex<HashMap<u64, Arc<[Frame]>>>>;

/// Asks a symbolizer thread for names and reads its answers. The thread ends when every
/// clone of its `Background` is dropped.
#[derive(Clone)]
pub struct Background {
    names: Names,
    /// When each address still without an answer was last asked for.
    asked: HashMap<u64, Instant>,
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
                    // An address outside every mapping gets no answer, and is asked
                    // again later (a library loaded since may map it).
                    let Some(frames) = symbolizer.lookup(addr) else {
                        continue;
                    };
                    if let Ok(mut n) = shared.lock() {
                        n.insert(addr, frames);
                    }
                }
            })
            .ok()?;
        Some(Self {
            names,
            asked: HashMap::new(),
            tx,
        })
    }
}

impl Namer for Background {
    fn frames(&mut self, addr: u64) -> Option<Arc<[Frame]>> {
        if let Some(f) = self.names.lock().ok()?.get(&addr) {
            self.asked.remove(&addr);
            return Some(f.clone());
        }
        let now = Instant::now();
        let due = self
            .asked
            .get(&addr)
            .is_none_or(|&t| now.duration_since(t) >= MAPS_REFRESH);
        if due {
            self.asked.insert(addr, now);
            let _ = self.tx.send(addr);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// The answer for `addr`, waited for up to a minute.
    fn answer(b: &mut Background, addr: u64) -> Arc<[Frame]> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(f) = b.frames(addr) {
                return f;
            }
            assert!(Instant::now() < deadline, "no answer in 60 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn names_arrive_from_the_thread() {
        let mut b = Background::spawn(Symbolizer::for_pid(std::process::id())).unwrap();
        let addr = names_arrive_from_the_thread as *const () as u64 + 2;
        let frames = answer(&mut b, addr);
        assert!(
            frames
                .last()
                .unwrap()
                .function
                .contains("names_arrive_from_the_thread"),
            "{frames:?}"
        );
    }

    /// An address the thread could not place (its library was loaded after the
    /// mappings were read) is asked for again, and named once the mappings are read
    /// again.
    #[test]
    fn an_address_without_an_answer_is_asked_for_again() {
        let mut late = crate::symbolize::symbolizer::tests::LateLibrary::start();
        let mut b = Background::spawn(Symbolizer::for_pid(late.pid())).unwrap();
        let addr = late.load() + 1;
        let frames = answer(&mut b, addr);
        assert_eq!(
            frames.last().unwrap().function,
            "late_function",
            "{frames:?}"
        );
    }
}
