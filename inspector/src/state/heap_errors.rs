//! What the Heap errors view shows, from the latest snapshot: the heap errors
//! `SLABSCOPE_CHECK` found (the segment keeps the most recent ones) and how many of each
//! kind there were in all. No ratatui here.

use slabscope_proto::heap_error::{HEAP_ERROR_LARGE, HEAP_ERROR_NO_CLASS};
use slabscope_proto::{HeapError, HeapErrorCounts};

use super::leaks::SiteName;
use super::State;

/// Where a heap error's address lies, by its `class` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorBlock {
    /// A block of this size class.
    Class(u32),
    /// A large (directly mapped) allocation.
    Large,
    /// No block: a SuperSlab header, a slot that holds no blocks.
    None,
}

impl ErrorBlock {
    /// Decodes a [`HeapError::class`].
    pub fn of(class: u32) -> Self {
        match class {
            HEAP_ERROR_LARGE => ErrorBlock::Large,
            HEAP_ERROR_NO_CLASS => ErrorBlock::None,
            c => ErrorBlock::Class(c),
        }
    }
}

impl State {
    /// Heap errors found since the process started, by kind (zero for a segment older
    /// than protocol 1.4).
    pub fn heap_error_counts(&self) -> HeapErrorCounts {
        self.snapshot
            .as_ref()
            .map_or_else(HeapErrorCounts::default, |s| s.heap_error_counts)
    }

    /// The heap errors the segment still holds, newest first.
    pub fn heap_errors_newest_first(&self) -> impl Iterator<Item = &HeapError> {
        self.snapshot
            .as_ref()
            .map_or(&[][..], |s| &s.heap_errors[..])
            .iter()
            .rev()
    }

    /// Whether the Heap errors view is offered: the process found at least one.
    pub fn has_heap_errors(&self) -> bool {
        self.heap_error_counts().total() > 0
            || self
                .snapshot
                .as_ref()
                .is_some_and(|s| !s.heap_errors.is_empty())
    }

    /// The error selected in the Heap errors view.
    pub fn selected_heap_error(&self) -> Option<&HeapError> {
        self.heap_errors_newest_first().nth(self.heap_error_sel)
    }

    /// The named allocation site of `e`'s block: `None` when the block was not sampled
    /// or its site is not in the latest frame.
    pub fn heap_error_site(&self, e: &HeapError) -> Option<&SiteName> {
        e.site.and_then(|i| self.leaks.error_sites.get(&i))
    }

    /// How long before the latest frame `e` was found, in ns.
    pub fn heap_error_age_ns(&self, e: &HeapError) -> u64 {
        self.now_mono_ns.saturating_sub(e.time_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Action, TargetInfo, ViewId};
    use crate::synthetic::Synthetic;

    #[test]
    fn the_selected_error_stays_selected_as_new_ones_arrive() {
        let syn = Synthetic {
            heap_errors: true,
            ..Default::default()
        };
        let mut st = State::new(TargetInfo {
            pid: 4242,
            path: String::new(),
            interval_ms: 100,
        });
        let mut f = syn.frame(1);
        let newest = f.snapshot.heap_errors.pop().unwrap();
        f.snapshot.heap_error_counts.0[newest.kind as usize - 1] -= 1;
        st.fold(f);
        st.view = ViewId::HeapErrors;
        st.apply(Action::Down);
        let picked = *st.selected_heap_error().unwrap();
        // The next frame holds one error more, newer than every other.
        st.fold(syn.frame(2));
        assert_eq!(st.selected_heap_error(), Some(&picked));
        // The newest selected follows the newest.
        st.apply(Action::Home);
        st.fold(syn.frame(3));
        assert_eq!(st.heap_error_sel, 0);
    }

    #[test]
    fn the_view_is_offered_once_the_process_found_a_heap_error() {
        let target = TargetInfo {
            pid: 4242,
            path: String::new(),
            interval_ms: 100,
        };
        let mut st = State::new(target.clone());
        st.fold(Synthetic::default().frame(0));
        assert!(!st.has_heap_errors());
        assert!(!st.views().contains(&ViewId::HeapErrors));

        let mut st = State::new(target);
        st.fold(
            Synthetic {
                heap_errors: true,
                ..Default::default()
            }
            .frame(3),
        );
        assert!(st.has_heap_errors());
        assert_eq!(st.views().last(), Some(&ViewId::HeapErrors));
        let newest: Vec<u64> = st.heap_errors_newest_first().map(|e| e.time_ns).collect();
        assert!(newest.windows(2).all(|w| w[0] >= w[1]), "{newest:?}");
        assert_eq!(
            st.view,
            ViewId::Overview,
            "a live process opens on the Overview"
        );
        assert_eq!(ErrorBlock::of(HEAP_ERROR_LARGE), ErrorBlock::Large);
        assert_eq!(ErrorBlock::of(HEAP_ERROR_NO_CLASS), ErrorBlock::None);
        assert_eq!(ErrorBlock::of(3), ErrorBlock::Class(3));
    }

    #[test]
    fn a_post_mortem_file_with_heap_errors_opens_on_them() {
        let mut st = State::new(TargetInfo {
            pid: 4242,
            path: String::new(),
            interval_ms: 0,
        });
        let mut f = Synthetic {
            heap_errors: true,
            ..Default::default()
        }
        .frame(0);
        f.liveness = crate::state::Liveness::Unknown;
        st.fold(f);
        assert_eq!(st.view, ViewId::HeapErrors);
    }
}
