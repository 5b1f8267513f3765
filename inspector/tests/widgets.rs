//! Widget tests against rendered `Buffer` contents, styles included, and a sweep of
//! terminal sizes down to nothing (never a panic).

mod common;

use alloc_inspect::state::{Action, Liveness, State, TargetInfo, ViewId};
use alloc_inspect::synthetic::Synthetic;
use alloc_inspect::view::{
    palette, slot_cell, Banner, Events, HeapErrors, Magazines, StatusBar, SuperSlabs, TabBar,
};
use common::{render, show, state_after, text};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::Widget;
use slabscope_proto::{SlotOwner, SlotSnapshot, SlotState};

fn draw(widget: impl Widget, w: u16, h: u16) -> Buffer {
    let mut buf = Buffer::empty(Rect::new(0, 0, w, h));
    widget.render(buf.area, &mut buf);
    buf
}

#[test]
fn tab_bar_highlights_the_current_view() {
    let mut st = state_after(&Synthetic::default(), 1);
    st.apply(Action::Show(ViewId::Classes));
    let buf = draw(TabBar(&st), 50, 1);
    let mut expected = Buffer::with_lines([" alloc-inspect  1 Overview  2 Classes  3 SuperSlab"]);
    expected.set_style(
        Rect::new(0, 0, 15, 1),
        Style::new().add_modifier(Modifier::BOLD),
    );
    expected.set_style(
        Rect::new(27, 0, 11, 1),
        Style::new()
            .fg(Color::Black)
            .bg(Color::Cyan)
            .add_modifier(Modifier::BOLD),
    );
    assert_eq!(buf, expected);
}

#[test]
fn banner_of_a_post_mortem_file() {
    let mut st = State::new(TargetInfo {
        pid: 7,
        path: "/x/s.7".into(),
        interval_ms: 0,
    });
    let mut f = Synthetic::default().frame(0);
    f.liveness = Liveness::Unknown;
    st.fold(f);
    let buf = draw(Banner(&st), 30, 2);
    let mut expected = Buffer::with_lines([
        "post-mortem: the last state   ",
        "process 7 left in /x/s.7      ",
    ]);
    expected.set_style(
        expected.area,
        Style::new().fg(Color::White).bg(Color::Magenta),
    );
    assert_eq!(buf, expected);
}

#[test]
fn slot_cells_by_state_fill_and_class() {
    let slot = |state, used| SlotSnapshot {
        state,
        class: 3,
        used,
        capacity: 100,
        owner: SlotOwner::Thread(7),
    };
    let c3 = Style::new().fg(palette::class_colour(3));
    assert_eq!(
        slot_cell(&slot(SlotState::Unused, 0)),
        ('·', palette::dim())
    );
    assert_eq!(slot_cell(&slot(SlotState::Empty, 0)), ('░', c3));
    assert_eq!(slot_cell(&slot(SlotState::Active, 10)), ('▂', c3));
    assert_eq!(slot_cell(&slot(SlotState::Active, 60)), ('▆', c3));
    assert_eq!(slot_cell(&slot(SlotState::Active, 100)), ('█', c3));
    assert_ne!(palette::class_colour(3), palette::class_colour(4));
    // An abandoned slot keeps its fill glyph and colour, underlined.
    let abandoned = SlotSnapshot {
        owner: SlotOwner::Abandoned,
        ..slot(SlotState::Active, 60)
    };
    assert_eq!(
        slot_cell(&abandoned),
        ('▆', c3.add_modifier(Modifier::UNDERLINED))
    );
}

#[test]
fn superslab_grid_colours_cells_and_reverses_the_selection() {
    let syn = Synthetic::default();
    let mut st = state_after(&syn, 1);
    show(&mut st, ViewId::SuperSlabs);
    st.apply(Action::Right);
    let buf = draw(SuperSlabs(&st), 60, 12);
    let snap = syn.snapshot(0);
    // Row 0 of the grid: border, 14-character address, space, then the slots.
    let x0 = 1 + 14 + 1;
    for (k, slot) in snap.superslabs[0].slots.iter().take(8).enumerate() {
        let (glyph, style) = slot_cell(slot);
        let cell = &buf[(x0 + k as u16, 1)];
        assert_eq!(cell.symbol(), glyph.to_string(), "slot {k}");
        assert_eq!(cell.fg, style.fg.unwrap_or(Color::Reset), "slot {k}");
        let reversed = cell.modifier.contains(Modifier::REVERSED);
        assert_eq!(reversed, k == 1, "only the selected slot is reversed");
    }
}

#[test]
fn lost_events_are_red() {
    let syn = Synthetic::default();
    let mut st = state_after(&syn, 2);
    show(&mut st, ViewId::Events);
    let buf = draw(Events(&st), 120, 10);
    let line: String = (0..120).map(|x| buf[(x, 0)].symbol().to_string()).collect();
    let at = line
        .find("dropped by writer 3")
        .expect("dropped count shown") as u16;
    assert_eq!(buf[(at, 0)].fg, Color::Red);
    assert!(buf[(at, 0)].modifier.contains(Modifier::BOLD));
    // Nothing lost: the same text is not red.
    let mut clean = syn.frame(0);
    clean.snapshot.ring.dropped = 0;
    let mut st = State::new(st.target.clone());
    st.fold(clean);
    let buf = draw(Events(&st), 120, 10);
    assert_ne!(buf[(at, 0)].fg, Color::Red);
}

#[test]
fn magazine_cells_are_a_heat_map() {
    let syn = Synthetic::default();
    let st = state_after(&syn, 1);
    let buf = draw(Magazines(&st), 120, 8);
    let snap = syn.snapshot(0);
    let m = &snap.threads[0].magazines[0];
    // Border, label (24), drains (8): the first class column ends at x = 1 + 32 + 4.
    let cell = &buf[(1 + 32 + 4, 2)];
    assert_eq!(cell.symbol(), (m.fill % 10).to_string());
    assert_eq!(cell.bg, palette::heat(m.fill, m.capacity).bg.unwrap());
    assert_ne!(palette::heat(0, 10).bg, palette::heat(10, 10).bg);
}

#[test]
fn every_view_survives_tiny_and_odd_terminal_sizes() {
    let sizes = [
        (0, 0),
        (1, 1),
        (1, 0),
        (0, 7),
        (20, 5),
        (5, 20),
        (33, 9),
        (80, 24),
        (200, 60),
    ];
    for gpu in [false, true] {
        let syn = Synthetic {
            gpu,
            heap_errors: gpu,
            ..Default::default()
        };
        let mut st = state_after(&syn, 3);
        for view in st.views() {
            show(&mut st, view);
            for (w, h) in sizes {
                render(&st, w, h);
                st.help = true;
                render(&st, w, h);
                st.help = false;
            }
        }
        let mut f = syn.frame(4);
        f.liveness = Liveness::Gone;
        st.fold(f);
        for (w, h) in sizes {
            render(&st, w, h);
        }
    }
    // An empty state (before the first frame) too.
    let st = State::new(TargetInfo {
        pid: 1,
        path: String::new(),
        interval_ms: 100,
    });
    for (w, h) in sizes {
        render(&st, w, h);
    }
}

#[test]
fn a_20_by_5_terminal_still_shows_the_tabs_and_status() {
    let st = state_after(&Synthetic::default(), 2);
    let lines = text(&render(&st, 20, 5));
    assert!(lines[0].starts_with(" alloc-inspect"), "{lines:?}");
    assert!(lines[4].contains("live"), "{lines:?}");
}

#[test]
fn the_classes_view_shows_every_declared_counter_of_the_selected_class() {
    use slabscope_proto::layout::CLASS_COUNTERS;
    let syn = Synthetic::default();
    let mut st = state_after(&syn, 3);
    show(&mut st, ViewId::Classes);
    let screen = text(&render(&st, 120, 40)).join("\n");
    let counters = syn.snapshot(2).classes[0].counters;
    for d in CLASS_COUNTERS {
        let value = alloc_inspect::view::format::count((d.get)(&counters));
        let cell = format!(" {} ", d.name);
        let line = screen
            .lines()
            .find(|l| l.contains(&cell))
            .unwrap_or_else(|| panic!("no {} in\n{screen}", d.name));
        let after = &line[line.find(&cell).unwrap() + cell.len()..];
        assert!(
            after.trim_start().starts_with(&value),
            "{} {value} in {line}",
            d.name
        );
    }
}

/// The column of the first cell of `needle` in row `y` of `buf`.
fn column_of(buf: &Buffer, y: u16, needle: &str) -> Option<u16> {
    let cells: Vec<&str> = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
    let line = cells.concat();
    let at = line.find(needle)?;
    Some(line[..at].chars().count() as u16)
}

#[test]
fn the_status_bar_counts_heap_errors_in_red_only_when_there_are() {
    let st = state_after(&Synthetic::default(), 1);
    let buf = draw(StatusBar(&st), 120, 1);
    assert_eq!(column_of(&buf, 0, "heap error"), None);

    let st = state_after(
        &Synthetic {
            heap_errors: true,
            ..Default::default()
        },
        1,
    );
    let buf = draw(StatusBar(&st), 120, 1);
    let at = column_of(&buf, 0, " 6 heap errors (!) ").expect("the count");
    for x in at..at + 19 {
        let c = &buf[(x, 0)];
        assert_eq!(
            (c.fg, c.bg, c.modifier),
            (Color::Red, Color::Rgb(0x22, 0x22, 0x2a), Modifier::BOLD),
            "cell {x}"
        );
    }
    // The live mark keeps its colour before it.
    assert_eq!(buf[(1, 0)].fg, Color::Green);
}

#[test]
fn the_heap_errors_view_lists_the_newest_first_in_red() {
    let syn = Synthetic {
        heap_errors: true,
        ..Default::default()
    };
    let mut st = state_after(&syn, 3);
    show(&mut st, ViewId::HeapErrors);
    let buf = draw(HeapErrors(&st), 140, 18);
    let lines: Vec<String> = (0..buf.area.height)
        .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect())
        .collect();
    assert!(
        lines[0].starts_with(
            "6 heap errors: double_free 2, invalid_free 2, write_after_free 1, overflow 1"
        ),
        "{lines:?}"
    );
    assert_eq!(
        (buf[(0, 0)].fg, buf[(0, 0)].modifier),
        (Color::Red, Modifier::BOLD)
    );
    assert!(
        lines[3].contains("age") && lines[3].contains("reason"),
        "{lines:?}"
    );
    // Newest first: the double free of a large block, then the invalid free of a header.
    assert!(lines[4].contains("double_free") && lines[4].contains("large, 1.0 MiB"));
    assert!(lines[5].contains("invalid_free") && lines[5].contains("a SuperSlab header address"));
    assert!(
        lines[7].contains("write_after_free") && lines[7].contains(" 8 "),
        "{:?}",
        lines[7]
    );
    assert!(lines[9].contains("double_free") && lines[9].contains("class 3, 64 B"));
    let look = |y: u16| (buf[(0, y)].fg, buf[(0, y)].modifier);
    assert_eq!(
        look(4),
        (Color::Red, Modifier::BOLD | Modifier::REVERSED),
        "the newest in bold, and selected"
    );
    assert_eq!(look(5), (Color::Red, Modifier::empty()));
    // Below the table, the selected error's allocation stack, or why there is none.
    assert!(lines[10].contains("where the selected error's block was allocated"));
    assert!(
        lines[11].contains("The block was not sampled"),
        "{:?}",
        lines[11]
    );

    // On a short screen the stack pane keeps its rows and the table scrolls to the
    // selected error: here the oldest.
    for _ in 0..5 {
        st.apply(Action::Down);
    }
    let buf = draw(HeapErrors(&st), 140, 12);
    let lines: Vec<String> = (0..buf.area.height)
        .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect())
        .collect();
    let oldest = (0..buf.area.height)
        .find(|&y| buf[(0, y)].modifier.contains(Modifier::REVERSED))
        .expect("the selected row is on screen");
    assert!(
        lines[oldest as usize].contains("double_free")
            && lines[oldest as usize].contains("class 3, 64 B"),
        "{lines:?}"
    );
    assert!(
        lines[6].contains("where the selected error's block was allocated"),
        "{lines:?}"
    );
}
