//! docs/INSPECTOR.md against the tables it documents: every row of the key table and
//! every declared per-class counter has its row there.

use alloc_inspect::keys::{row_keys, KEYS};
use slabscope_proto::layout::CLASS_COUNTERS;

fn inspector_md() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/INSPECTOR.md");
    std::fs::read_to_string(path).expect("docs/INSPECTOR.md")
}

#[test]
fn every_row_of_the_key_table_is_documented() {
    let doc = inspector_md();
    for row in KEYS {
        let cell = format!("| `{}` |", row_keys(row));
        assert!(
            doc.contains(&cell),
            "docs/INSPECTOR.md lacks the key row {cell}"
        );
    }
}

#[test]
fn every_declared_class_counter_is_documented() {
    let doc = inspector_md();
    for d in CLASS_COUNTERS {
        let cell = format!("| `{}` |", d.name);
        assert!(
            doc.contains(&cell),
            "docs/INSPECTOR.md lacks the counter row {cell}"
        );
    }
}
