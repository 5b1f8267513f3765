//! Whole-screen snapshots of every view on a fixed 120 x 36 terminal, with pids,
//! addresses and times filtered out.

mod common;

use alloc_inspect::state::{Action, Liveness, ViewId};
use alloc_inspect::synthetic::Synthetic;
use common::{render, show, state_after};

const W: u16 = 120;
const H: u16 = 36;

macro_rules! snap {
    ($name:expr, $state:expr) => {{
        let term = render(&$state, W, H);
        insta::with_settings!({
            filters => vec![
                (r"0x[0-9a-f]{6,}", "[ADDR]"),
                // The checkout's path, and the padding after it (its length varies).
                (r#"\(/\S*/inspector/tests/(\S*?\)) *""#, r#"([WORKSPACE]/inspector/tests/$1""#),
                (r"\b4242\b|\b424[3-9]\b|\b425[0-9]\b", "[PID]"),
                (r"\+\d+\.\d{3}s", "+[T]"),
                (r"up \d+[a-z]+( \d+[a-z]+)?", "up [UPTIME]"),
                (r"uptime        \d+[a-z]+( \d+[a-z]+)?", "uptime        [UPTIME]"),
            ],
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!($name, term.backend());
        });
    }};
}

#[test]
fn overview() {
    let st = state_after(&Synthetic::default(), 30);
    snap!("overview", st);
}

#[test]
fn classes_sorted_by_live_bytes_with_selection() {
    let mut st = state_after(&Synthetic::default(), 30);
    show(&mut st, ViewId::Classes);
    st.apply(Action::CycleSort);
    st.apply(Action::Down);
    snap!("classes", st);
}

#[test]
fn superslabs_with_a_selected_slot() {
    let mut st = state_after(&Synthetic::default(), 30);
    show(&mut st, ViewId::SuperSlabs);
    st.apply(Action::Down);
    for _ in 0..3 {
        st.apply(Action::Right);
    }
    snap!("superslabs", st);
}

#[test]
fn magazines() {
    let mut st = state_after(&Synthetic::default(), 30);
    show(&mut st, ViewId::Magazines);
    snap!("magazines", st);
}

#[test]
fn events_following() {
    let mut st = state_after(&Synthetic::default(), 30);
    show(&mut st, ViewId::Events);
    snap!("events", st);
}

#[test]
fn events_filtered_and_paused() {
    let mut st = state_after(&Synthetic::default(), 30);
    show(&mut st, ViewId::Events);
    st.apply(Action::CycleFilter);
    st.apply(Action::TogglePause);
    st.fold(Synthetic::default().frame(30));
    snap!("events_drains_paused", st);
}

#[test]
fn gpu() {
    let mut st = state_after(
        &Synthetic {
            gpu: true,
            ..Default::default()
        },
        30,
    );
    show(&mut st, ViewId::Gpu);
    st.apply(Action::Down);
    snap!("gpu", st);
}

#[test]
fn help_overlay() {
    let mut st = state_after(&Synthetic::default(), 30);
    st.apply(Action::ToggleHelp);
    snap!("help", st);
}

#[test]
fn target_gone_banner() {
    let syn = Synthetic::default();
    let mut st = state_after(&syn, 30);
    let mut f = syn.frame(30);
    f.liveness = Liveness::Gone;
    st.fold(f);
    snap!("gone", st);
}

#[test]
fn postmortem_banner() {
    let syn = Synthetic::default();
    let mut st = state_after(&syn, 0);
    let mut f = syn.frame(5);
    f.liveness = Liveness::Unknown;
    f.process = None;
    st.target.interval_ms = 0;
    st.fold(f);
    snap!("postmortem", st);
}

#[inline(never)]
fn session_cache_insert() -> u64 {
    std::hint::black_box(1)
}

#[inline(never)]
fn request_buffers() -> u64 {
    std::hint::black_box(2)
}

#[inline(never)]
fn handle_request() -> u64 {
    std::hint::black_box(3)
}

/// A return address inside `f`, one of this test's functions.
fn at(f: fn() -> u64) -> u64 {
    f as usize as u64 + 1
}

/// A symbolizer of this process that has named the return addresses in `fns` (the names
/// come from the symbolizer's thread: drawing before they arrive would show addresses).
fn names_of(fns: &[fn() -> u64]) -> alloc_inspect::symbolize::Background {
    use alloc_inspect::symbolize::{Background, Namer, Symbolizer};
    let mut names = Background::spawn(Symbolizer::for_pid(std::process::id())).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    for &f in fns {
        while names.frames(at(f)).is_none() {
            assert!(std::time::Instant::now() < deadline, "no names in 60 s");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    names
}

#[test]
fn leaks_with_a_growing_site_and_class() {
    use slabscope_proto::SampleSiteSnapshot;
    let syn = Synthetic::default();
    let mut st = state_after(&syn, 0);
    st.leaks.symbolizer = Some(names_of(&[
        session_cache_insert,
        request_buffers,
        handle_request,
    ]));
    for t in 0..30u64 {
        let mut f = syn.frame(t);
        let s = &mut f.snapshot;
        s.sample_interval_bytes = 512 << 10;
        let site = |index: u32, frames: Vec<u64>, live: u64| SampleSiteSnapshot {
            index,
            hash: index as u64 + 1,
            frames,
            live_bytes: live / 64,
            live_samples: live >> 19,
            live_estimated_bytes: live,
            total_bytes: live,
            total_samples: live >> 19,
            first_mono_ns: s.start_mono_ns,
            last_mono_ns: s.start_mono_ns,
        };
        s.sites = vec![
            site(
                0,
                vec![at(session_cache_insert), at(handle_request)],
                (8 << 20) + t * (512 << 10),
            ),
            site(1, vec![at(request_buffers), at(handle_request)], 4 << 20),
        ];
        s.classes[5].live = 10_000 + t * 100;
        st.fold(f);
    }
    show(&mut st, ViewId::Leaks);
    snap!("leaks", st);
}

#[test]
fn heap_errors_newest_first_and_counted_in_the_status_bar() {
    use slabscope_proto::SampleSiteSnapshot;
    let syn = Synthetic {
        heap_errors: true,
        ..Default::default()
    };
    let mut st = state_after(&syn, 0);
    st.leaks.symbolizer = Some(names_of(&[request_buffers, handle_request]));
    for t in 0..30u64 {
        let mut f = syn.frame(t);
        let s = &mut f.snapshot;
        // The block of one error was sampled in request_buffers; freed, it was the
        // site's only sample, so the site has nothing live (and is not in Leaks).
        s.sample_interval_bytes = 512 << 10;
        s.sites = vec![SampleSiteSnapshot {
            index: 2,
            hash: 3,
            frames: vec![at(request_buffers), at(handle_request)],
            live_bytes: 0,
            live_samples: 0,
            live_estimated_bytes: 0,
            total_bytes: 96,
            total_samples: 1,
            first_mono_ns: s.start_mono_ns,
            last_mono_ns: s.start_mono_ns,
        }];
        st.fold(f);
    }
    show(&mut st, ViewId::HeapErrors);
    snap!("heap_errors", st);
    // The overflow, third from the top, shows where its block was allocated.
    st.apply(Action::Down);
    st.apply(Action::Down);
    snap!("heap_errors_selected", st);
}
