//! Helpers shared by the integration tests.
#![allow(dead_code)]

use alloc_inspect::state::{Action, State, TargetInfo, ViewId};
use alloc_inspect::synthetic::Synthetic;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// A state fed `ticks` frames of `syn`.
pub fn state_after(syn: &Synthetic, ticks: u64) -> State {
    let mut st = State::new(TargetInfo {
        pid: syn.pid,
        path: format!("/dev/shm/slabscope.{}", syn.pid),
        interval_ms: 100,
    });
    for t in 0..ticks {
        st.fold(syn.frame(t));
    }
    st
}

/// Renders `st` on a `w` x `h` test terminal.
pub fn render(st: &State, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    term.draw(|f| f.render_widget(st, f.area())).expect("draw");
    term
}

/// Switches to `view`.
pub fn show(st: &mut State, view: ViewId) {
    st.apply(Action::Show(view));
    assert_eq!(st.view, view, "view {view:?} offered");
}

/// The rendered screen as text lines.
pub fn text(term: &Terminal<TestBackend>) -> Vec<String> {
    let buf = term.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect()
}
