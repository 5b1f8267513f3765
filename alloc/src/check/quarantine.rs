//! A thread's quarantine in check mode: the last [`QUARANTINE`] small blocks it freed,
//! held back from the mechanism, oldest out first.
//!
//! A freed block goes back to the front of its magazine and is the next one handed
//! out, so without a quarantine `free(p); q = malloc(n); free(p)` would find `p` live
//! again (it is `q`) and free `q`'s block: the double free would go unseen and the
//! blame land on `q`'s later, correct free. Held here, a freed block keeps its freed
//! trailer until [`QUARANTINE`] more frees of the thread have passed, and every second
//! free of it meanwhile is reported.
//!
//! The quarantine lives in the thread state and stays there when the thread exits: the
//! next thread that takes the state over goes on releasing its oldest blocks (blocks of
//! a state no thread takes again stay out, at most [`QUARANTINE`] per state).
#![forbid(unsafe_code)]

/// Blocks one thread holds back.
pub const QUARANTINE: usize = 256;

/// The ring of held-back block addresses (all zero: empty).
#[derive(Debug)]
pub struct Quarantine {
    ring: [usize; QUARANTINE],
    /// Index of the oldest block.
    head: usize,
    /// Blocks held.
    len: usize,
}

impl Quarantine {
    /// Holds `block` back; returns the oldest block when the quarantine was full (the
    /// caller gives it back to the mechanism now).
    #[inline(always)]
    pub fn put(&mut self, block: usize) -> Option<usize> {
        let head = self.head % QUARANTINE;
        if self.len < QUARANTINE {
            self.ring[(head + self.len) % QUARANTINE] = block;
            self.len += 1;
            return None;
        }
        let oldest = core::mem::replace(&mut self.ring[head], block);
        self.head = (head + 1) % QUARANTINE;
        Some(oldest)
    }

    /// Blocks held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len.min(QUARANTINE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_come_out_oldest_first_once_full() {
        let mut q = Quarantine {
            ring: [0; QUARANTINE],
            head: 0,
            len: 0,
        };
        for b in 1..=QUARANTINE {
            assert_eq!(q.put(b), None);
        }
        assert_eq!(q.len(), QUARANTINE);
        for b in 1..=3 * QUARANTINE {
            assert_eq!(q.put(QUARANTINE + b), Some(b));
        }
        assert_eq!(q.len(), QUARANTINE);
    }
}
