//! Folding snapshots into what the views show: history, rates, sorting, selection,
//! the event log and target liveness. Nothing here knows about terminals or ratatui.

mod action;
mod app_state;
mod classes;
mod events;
mod frame;
pub mod heap_errors;
mod history;
pub mod leaks;
pub mod oom;
mod target;
mod totals;

pub use action::{Action, ViewId};
pub use app_state::{SlotCursor, State, TargetInfo, TotalsHistory, PAGE_ROWS};
pub use classes::{ClassRow, ClassTable, SortColumn};
pub use events::{EventFilter, EventLog, LOG_CAPACITY};
pub use frame::{Frame, Liveness};
pub use history::{History, Rate, HISTORY_LEN};
pub use target::{TargetStatus, STALE_NS};
pub use totals::{fragmentation, ByteTotals};
