//! docs/ALLOCATOR.md shows the real size-class table.

use slabscope::options::Options;
use slabscope::size_class::{magazine_capacity, CLASS_COUNT, CLASS_SIZES};

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new().publish_by_default(false);

/// The class table as docs/ALLOCATOR.md must show it.
fn rendered_class_table() -> String {
    let mut s = String::from(
        "| class | block (B) | blocks per slot | magazine | worst waste |\n|---:|---:|---:|---:|---:|\n",
    );
    for c in 0..CLASS_COUNT {
        let b = CLASS_SIZES[c] as usize;
        let prev = if c == 0 {
            0
        } else {
            CLASS_SIZES[c - 1] as usize
        };
        let waste = (b - prev - 1) as f64 / b as f64 * 100.0;
        s += &format!(
            "| {c} | {b} | {} | {} | {waste:.1} % |\n",
            (64 << 10) / b,
            magazine_capacity(c, Options::DEFAULT.magazine)
        );
    }
    s
}

#[test]
fn allocator_md_shows_the_real_class_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ALLOCATOR.md");
    let doc = std::fs::read_to_string(path).expect("docs/ALLOCATOR.md");
    let table = rendered_class_table();
    assert!(
        doc.contains(&table),
        "docs/ALLOCATOR.md's class table is out of date; it must read:\n{table}"
    );
}
