//! docs/INSPECTOR.md against what it documents: every row of the key table and every
//! declared per-class counter has its row there, and every rendered screen it shows
//! (its pid masked as `[PID]`) is a committed render (`tests/snapshots/*.snap`), in
//! full or with rows left out, so that none goes stale.

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

/// The screens rendered by `tests/snapshots.rs`, each as its lines with trailing blanks
/// removed.
fn rendered_screens() -> Vec<Vec<String>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots");
    let mut screens = Vec::new();
    for entry in std::fs::read_dir(dir).expect("tests/snapshots") {
        let path = entry.expect("snapshot entry").path();
        if path.extension().is_none_or(|e| e != "snap") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("snapshot");
        // The body follows the second `---` line: one quoted string per screen line.
        let body = text.splitn(3, "---\n").nth(2).expect("snapshot body");
        let lines = body
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let inner = l
                    .strip_prefix('"')
                    .and_then(|l| l.strip_suffix('"'))
                    .unwrap_or_else(|| panic!("{}: unquoted line {l}", path.display()));
                inner
                    .replace("\\\"", "\"")
                    .replace("\\\\", "\\")
                    .trim_end()
                    .to_owned()
            })
            .collect();
        screens.push(lines);
    }
    screens
}

#[test]
fn every_screen_shown_is_a_committed_render() {
    let doc = inspector_md();
    let screens = rendered_screens();
    let mut shown = 0;
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line != "```" {
            continue;
        }
        let block: Vec<String> = lines
            .by_ref()
            .take_while(|l| *l != "```")
            .map(|l| l.trim_end().to_owned())
            .collect();
        // A screen starts with the tab bar; a render has its pid masked (a capture of a
        // real process, with its pid, is not a render).
        let screen = block
            .first()
            .is_some_and(|l| l.starts_with(" alloc-inspect  1 "));
        if !screen || !block.iter().any(|l| l.contains("[PID]")) {
            continue;
        }
        shown += 1;
        // Screens may be shown shortened (rows left out), never changed.
        let from = |screen: &Vec<String>| {
            let mut rows = screen.iter();
            block.iter().all(|l| rows.any(|r| r == l))
        };
        assert!(
            screens.iter().any(from),
            "docs/INSPECTOR.md shows a screen that is no snapshot's rows (update it from \
             inspector/tests/snapshots):\n{}",
            block.join("\n")
        );
    }
    assert!(
        shown >= 8,
        "only {shown} screens found in docs/INSPECTOR.md"
    );
}
