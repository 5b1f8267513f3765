//! Refresh cost: one refresh is read (snapshot + ring poll through the real reader) +
//! fold into the state + draw into a 200x60 buffer, on a segment of 4,096 SuperSlabs
//! and 64 threads. Prints mean, median and p99. Run:
//! `cargo bench -p alloc-inspect --bench refresh`.

use std::time::{Duration, Instant};

use alloc_inspect::segment;
use alloc_inspect::source::{LiveSource, Source};
use alloc_inspect::state::{Action, State, ViewId};
use alloc_inspect::synthetic::Synthetic;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn stats(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let n = v.len();
    let mean = v.iter().sum::<Duration>() / n as u32;
    let p = |q: f64| v[((n as f64 * q) as usize).min(n - 1)];
    println!(
        "{name:<28} n={n:<5} mean {:>8.3} ms  median {:>8.3} ms  p99 {:>8.3} ms",
        mean.as_secs_f64() * 1e3,
        p(0.5).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3
    );
}

fn main() {
    let iters: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300);
    let dir = tempfile::tempdir().expect("tempdir");
    let syn = Synthetic {
        superslabs: 4096,
        threads: 64,
        ring_capacity: 4096,
        ..Default::default()
    };
    // The segment carries this process's pid, so the reader sees a live target.
    let pid = std::process::id();
    let _writer = segment::write(dir.path(), pid, &syn, 1).expect("write segment");
    let mut source = LiveSource::attach_path(pid, dir.path().join(format!("slabscope.{pid}")), 100)
        .expect("attach");
    println!(
        "segment: {} SuperSlabs, {} threads, {} classes; terminal 200x60; {iters} refreshes per view",
        syn.superslabs,
        syn.threads,
        alloc_inspect::synthetic::CLASS_SIZES.len()
    );
    let mut state = State::new(source.target());
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    for view in [
        ViewId::Overview,
        ViewId::Classes,
        ViewId::SuperSlabs,
        ViewId::Magazines,
        ViewId::Events,
    ] {
        state.apply(Action::Show(view));
        let (mut read, mut fold, mut draw, mut total) = (vec![], vec![], vec![], vec![]);
        for _ in 0..iters {
            let t0 = Instant::now();
            let frame = source.next_frame().expect("read");
            let t1 = Instant::now();
            state.fold(frame);
            let t2 = Instant::now();
            term.draw(|f| f.render_widget(&state, f.area()))
                .expect("draw");
            let t3 = Instant::now();
            read.push(t1 - t0);
            fold.push(t2 - t1);
            draw.push(t3 - t2);
            total.push(t3 - t0);
        }
        println!("-- view {}", view.title());
        stats("  read (snapshot+events)", read);
        stats("  fold", fold);
        stats("  draw 200x60", draw);
        stats("  refresh total", total);
    }
}
