//! What the user can ask for, independent of keys and of drawing.

/// The views, in tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViewId {
    /// Process totals and history.
    Overview,
    /// One row per size class.
    Classes,
    /// The slot grid.
    SuperSlabs,
    /// Threads x classes magazine fill.
    Magazines,
    /// The event ring as a log.
    Events,
    /// GPU pools (shown only when the process has one).
    Gpu,
    /// The OOM report (shown only when an allocation failed).
    Oom,
    /// Sampled allocation sites and growing classes (shown only when the process samples).
    Leaks,
    /// The latest heap errors `SLABSCOPE_CHECK` found (shown only when there are some).
    HeapErrors,
}

impl ViewId {
    /// Every view in tab order.
    pub const ALL: [ViewId; 9] = [
        ViewId::Overview,
        ViewId::Classes,
        ViewId::SuperSlabs,
        ViewId::Magazines,
        ViewId::Events,
        ViewId::Gpu,
        ViewId::Oom,
        ViewId::Leaks,
        ViewId::HeapErrors,
    ];

    /// Tab title.
    pub const fn title(self) -> &'static str {
        match self {
            ViewId::Overview => "Overview",
            ViewId::Classes => "Classes",
            ViewId::SuperSlabs => "SuperSlabs",
            ViewId::Magazines => "Magazines",
            ViewId::Events => "Events",
            ViewId::Gpu => "GPU",
            ViewId::Oom => "OOM",
            ViewId::Leaks => "Leaks",
            ViewId::HeapErrors => "Heap errors",
        }
    }

    /// 1-based number key of the view.
    pub fn number(self) -> usize {
        Self::ALL.iter().position(|v| *v == self).unwrap_or(0) + 1
    }
}

/// A user intent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave the inspector.
    Quit,
    /// Next view (Tab).
    NextView,
    /// Previous view (Shift-Tab).
    PrevView,
    /// Jump to a view (number keys).
    Show(ViewId),
    /// Show or hide the help overlay.
    ToggleHelp,
    /// Move the selection up one row.
    Up,
    /// Move the selection down one row.
    Down,
    /// Move the selection left (slot grid).
    Left,
    /// Move the selection right (slot grid).
    Right,
    /// Move up one page.
    PageUp,
    /// Move down one page.
    PageDown,
    /// First row.
    Home,
    /// Last row.
    End,
    /// Sort the class table by the next column.
    CycleSort,
    /// Reverse the class table's order.
    ReverseSort,
    /// Event log: show the next kind filter.
    CycleFilter,
    /// Event log: stop or resume following new events.
    TogglePause,
    /// Send a control command to the process (the main loop writes it; see `ctl`).
    Control(crate::ctl::ControlKey),
}
