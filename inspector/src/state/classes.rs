//! The class table: per-class figures, rates, live history and sort order.

use slabscope_proto::layout::ClassCounters;
use slabscope_proto::ClassSnapshot;

use super::history::{History, Rate};

/// Columns the class table sorts by, in the order `s` cycles through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortColumn {
    /// Class index.
    Class,
    /// Bytes in user hands (live blocks x block size).
    LiveBytes,
    /// Blocks in user hands.
    Live,
    /// Blocks cached in magazines.
    Cached,
    /// Blocks free in slots.
    Free,
    /// Blocks carved.
    Capacity,
    /// `live / capacity`.
    Utilisation,
    /// Allocations per second.
    AllocRate,
    /// Frees per second.
    FreeRate,
}

impl SortColumn {
    /// Every column in cycle order.
    pub const ALL: [SortColumn; 9] = [
        SortColumn::Class,
        SortColumn::LiveBytes,
        SortColumn::Live,
        SortColumn::Cached,
        SortColumn::Free,
        SortColumn::Capacity,
        SortColumn::Utilisation,
        SortColumn::AllocRate,
        SortColumn::FreeRate,
    ];

    /// Short column name as shown in the header.
    pub const fn name(self) -> &'static str {
        match self {
            SortColumn::Class => "class",
            SortColumn::LiveBytes => "live bytes",
            SortColumn::Live => "live",
            SortColumn::Cached => "cached",
            SortColumn::Free => "free",
            SortColumn::Capacity => "capacity",
            SortColumn::Utilisation => "util",
            SortColumn::AllocRate => "alloc/s",
            SortColumn::FreeRate => "free/s",
        }
    }

    /// The column after this one.
    pub fn next(self) -> Self {
        let i = Self::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }
}

/// One size class as the table shows it.
#[derive(Clone, Debug, Default)]
pub struct ClassRow {
    /// Class index.
    pub class: u32,
    /// Block size in bytes.
    pub block_size: u32,
    /// Blocks in user hands.
    pub live: u64,
    /// Every declared counter as last read (`layout::CLASS_COUNTERS` names them).
    pub counters: ClassCounters,
    /// Allocations per second.
    pub alloc_rate: f64,
    /// Frees per second.
    pub free_rate: f64,
    /// Live blocks, one sample per refresh.
    pub live_history: History,
    alloc_counter: Rate,
    free_counter: Rate,
}

impl ClassRow {
    /// Bytes in user hands.
    pub fn live_bytes(&self) -> u64 {
        self.live.saturating_mul(u64::from(self.block_size))
    }

    /// `live / capacity` in `0.0..=1.0` (0 when nothing is carved).
    pub fn utilisation(&self) -> f64 {
        let capacity = self.counters.capacity_blocks;
        if capacity == 0 {
            0.0
        } else {
            (self.live as f64 / capacity as f64).min(1.0)
        }
    }

    fn fold(&mut self, c: &ClassSnapshot, now_ns: u64) {
        let k = &c.counters;
        self.class = c.class;
        self.block_size = c.block_size;
        self.live = c.live;
        self.counters = *k;
        self.alloc_rate = self.alloc_counter.update(k.allocs, now_ns);
        self.free_rate = self.free_counter.update(k.frees, now_ns);
        self.live_history.push(c.live);
    }

    fn key(&self, col: SortColumn) -> f64 {
        match col {
            SortColumn::Class => f64::from(self.class),
            SortColumn::LiveBytes => self.live_bytes() as f64,
            SortColumn::Live => self.live as f64,
            SortColumn::Cached => self.counters.cached_blocks as f64,
            SortColumn::Free => self.counters.free_blocks as f64,
            SortColumn::Capacity => self.counters.capacity_blocks as f64,
            SortColumn::Utilisation => self.utilisation(),
            SortColumn::AllocRate => self.alloc_rate,
            SortColumn::FreeRate => self.free_rate,
        }
    }
}

/// Every class with its history, in display order.
#[derive(Clone, Debug)]
pub struct ClassTable {
    rows: Vec<ClassRow>,
    order: Vec<usize>,
    /// Column the rows are sorted by.
    pub sort: SortColumn,
    /// Largest first when true.
    pub descending: bool,
}

impl Default for ClassTable {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            order: Vec::new(),
            sort: SortColumn::Class,
            descending: false,
        }
    }
}

impl ClassTable {
    /// Folds the classes of one snapshot read at `now_ns`.
    pub fn fold(&mut self, classes: &[ClassSnapshot], now_ns: u64) {
        if self.rows.len() != classes.len() {
            self.rows.resize_with(classes.len(), ClassRow::default);
        }
        for (row, c) in self.rows.iter_mut().zip(classes) {
            row.fold(c, now_ns);
        }
        self.resort();
    }

    /// Rows in display order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &ClassRow> + '_ {
        self.order.iter().map(|&i| &self.rows[i])
    }

    /// The row shown at display position `pos`.
    pub fn row_at(&self, pos: usize) -> Option<&ClassRow> {
        self.order.get(pos).map(|&i| &self.rows[i])
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are no classes.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Sorts by the next column; size-like columns sort largest first.
    pub fn cycle_sort(&mut self) {
        self.sort = self.sort.next();
        self.descending = self.sort != SortColumn::Class;
        self.resort();
    }

    /// Reverses the order.
    pub fn reverse(&mut self) {
        self.descending = !self.descending;
        self.resort();
    }

    fn resort(&mut self) {
        self.order = (0..self.rows.len()).collect();
        let (col, desc, rows) = (self.sort, self.descending, &self.rows);
        self.order.sort_by(|&a, &b| {
            let o = rows[a].key(col).total_cmp(&rows[b].key(col));
            let o = if desc { o.reverse() } else { o };
            o.then(rows[a].class.cmp(&rows[b].class))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{Synthetic, TICK_NS};

    #[test]
    fn rates_come_from_counter_deltas() {
        let syn = Synthetic::default();
        let mut t = ClassTable::default();
        t.fold(&syn.snapshot(0).classes, 0);
        let s1 = syn.snapshot(1);
        t.fold(&s1.classes, TICK_NS);
        let row = t.row_at(0).unwrap();
        let s0 = syn.snapshot(0);
        let expect = (s1.classes[0].counters.allocs - s0.classes[0].counters.allocs) as f64 * 10.0;
        assert!(
            (row.alloc_rate - expect).abs() < 1e-6,
            "{} vs {expect}",
            row.alloc_rate
        );
        assert_eq!(row.live_history.len(), 2);
    }

    #[test]
    fn sorting_cycles_columns_and_reverses() {
        let syn = Synthetic::default();
        let mut t = ClassTable::default();
        t.fold(&syn.snapshot(0).classes, 0);
        assert_eq!(
            t.rows().map(|r| r.class).collect::<Vec<_>>(),
            (0..12).collect::<Vec<_>>()
        );
        t.cycle_sort();
        assert_eq!(t.sort, SortColumn::LiveBytes);
        let bytes: Vec<u64> = t.rows().map(|r| r.live_bytes()).collect();
        assert!(bytes.windows(2).all(|w| w[0] >= w[1]), "{bytes:?}");
        t.reverse();
        let bytes: Vec<u64> = t.rows().map(|r| r.live_bytes()).collect();
        assert!(bytes.windows(2).all(|w| w[0] <= w[1]), "{bytes:?}");
        for _ in 0..SortColumn::ALL.len() - 1 {
            t.cycle_sort();
        }
        assert_eq!(t.sort, SortColumn::Class);
    }
}
