//! Prints a trimmed `--once --json` document of the synthetic process (one thread, one
//! SuperSlab, two events) for docs/INSPECTOR.md:
//! `cargo run -p alloc-inspect --example json_sample`.

use alloc_inspect::json;
use alloc_inspect::synthetic::Synthetic;

fn main() {
    let syn = Synthetic {
        superslabs: 1,
        threads: 1,
        gpu: true,
        ..Default::default()
    };
    let mut frame = syn.frame(1);
    frame.events.truncate(2);
    frame.snapshot.classes.truncate(2);
    frame.snapshot.superslabs[0].slots.truncate(3);
    frame.snapshot.threads[0].magazines.truncate(2);
    frame.snapshot.gpu[0].buckets.truncate(1);
    println!("{}", json::to_string(&frame));
}
