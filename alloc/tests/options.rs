//! Options as a process sees them: bad values give one clear line on stderr and the
//! default, publishing can be turned off entirely, a segment that cannot be created is
//! reported once while the allocator keeps working, and docs/ENV.md matches the table.

mod common;

use std::process::Command;

use slabscope::options::{Kind, TABLE};

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

fn run_self(name: &str, env: &[(&str, &str)]) -> (String, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(common::CHILD_MARKER, "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{name}: {stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    (stdout, stderr)
}

/// A workload for the children below: allocation on every path and a thread.
fn work() {
    let v: Vec<Vec<u8>> = (0..5000).map(|i| vec![1u8; i % 4000 + 1]).collect();
    let big = vec![2u8; 1 << 20];
    std::thread::spawn(|| (0..1000).map(|i| vec![0u8; i].len()).sum::<usize>())
        .join()
        .unwrap();
    assert!(v.iter().all(|b| b.iter().all(|&x| x == 1)) && big[5] == 2);
}

#[test]
fn bad_values_warn_once_and_use_the_default() {
    if common::in_child() {
        work();
        return;
    }
    let dir = common::shm_dir();
    let (_, stderr) = run_self(
        "bad_values_warn_once_and_use_the_default",
        &[
            ("SLABSCOPE_SHM_DIR", dir.path().to_str().unwrap()),
            ("SLABSCOPE_DRAIN_INTERVAL", "often"),
            ("SLABSCOPE_LIMIT", "12Q"),
        ],
    );
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("slabscope:"))
        .collect();
    assert_eq!(lines.len(), 2, "one line per bad value: {stderr}");
    assert!(lines
        .iter()
        .any(|l| l.contains("SLABSCOPE_DRAIN_INTERVAL=often") && l.contains("using the default")));
    assert!(lines
        .iter()
        .any(|l| l.contains("SLABSCOPE_LIMIT=12Q") && l.contains(slabscope::grammar::UNIT_NAMES)));
}

#[test]
fn publish_zero_creates_no_segment() {
    if common::in_child() {
        work();
        let dir = std::env::var_os("SLABSCOPE_SHM_DIR").unwrap();
        assert!(slabscope::publish::segment().is_none());
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 0);
        return;
    }
    let dir = common::shm_dir();
    let (_, stderr) = run_self(
        "publish_zero_creates_no_segment",
        &[
            ("SLABSCOPE_SHM_DIR", dir.path().to_str().unwrap()),
            ("SLABSCOPE_PUBLISH", "0"),
        ],
    );
    assert!(!stderr.contains("slabscope:"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn an_uncreatable_segment_is_reported_once_and_the_allocator_keeps_working() {
    if common::in_child() {
        work();
        work();
        assert!(slabscope::publish::segment().is_none());
        return;
    }
    let (_, stderr) = run_self(
        "an_uncreatable_segment_is_reported_once_and_the_allocator_keeps_working",
        &[
            ("SLABSCOPE_SHM_DIR", "/nonexistent/slabscope-test"),
            ("SLABSCOPE_PUBLISH", "1"),
        ],
    );
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("slabscope:"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("cannot create the segment in /nonexistent/slabscope-test"));
    assert!(lines[0].contains("continuing without publishing"));
}

fn accepted(kind: Kind) -> String {
    let switch = "`0` or `1` (also `false`/`true`, `off`/`on`, `no`/`yes`; any case)";
    match kind {
        Kind::Bool => switch.into(),
        Kind::Publish => format!(
            "{switch}, or a program name: 1 to 15 printable ASCII bytes without spaces or `/`"
        ),
        Kind::Count { min, max } => format!("integer, {min} to {max}"),
        Kind::Size => {
            let units: Vec<String> = slabscope::grammar::UNIT_NAMES
                .split(", ")
                .flat_map(|n| n.split(" or "))
                .map(|n| format!("`{n}`"))
                .collect();
            let (last, rest) = units.split_last().unwrap();
            format!(
                "bytes, with an optional unit {} or {last} (powers of 1024, any case)",
                rest.join(", ")
            )
        }
        Kind::Path => "absolute directory path, at most 200 bytes".into(),
        Kind::Filter => {
            "comma-separated directives, each a level (`off`, `error`, `warn`, `info`, `debug`, `trace`, any case, or `0` to `5`), a target, or `target=level`; at most 256 bytes"
                .into()
        }
        Kind::File => "`stderr`, or an absolute file path, at most 200 bytes".into(),
        Kind::Library => "an absolute file path, at most 200 bytes".into(),
        Kind::Check => format!("{switch}, or `abort`"),
    }
}

/// The table docs/ENV.md must contain, rendered from `slabscope::options::TABLE`.
fn rendered_table() -> String {
    let mut s =
        String::from("| Variable | Default | Accepted values | Effect |\n|---|---|---|---|\n");
    for d in TABLE {
        s += &format!(
            "| `{}` | `{}` | {} | {} |\n",
            d.env,
            d.default,
            accepted(d.kind),
            d.doc
        );
    }
    s
}

#[test]
fn env_md_matches_the_option_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ENV.md");
    let doc = std::fs::read_to_string(path).expect("docs/ENV.md");
    let table = rendered_table();
    assert!(
        doc.contains(&table),
        "docs/ENV.md is out of date with alloc/src/options.rs; its table must read:\n{table}"
    );
    // Every variable the document describes in a section is in the table.
    for line in doc.lines().filter(|l| l.starts_with("### `SLABSCOPE_")) {
        let name = line.trim_start_matches("### `").trim_end_matches('`');
        assert!(
            TABLE.iter().any(|d| d.env == name),
            "docs/ENV.md describes {name}, which options.rs does not know"
        );
    }
    for d in TABLE {
        assert!(
            doc.contains(&format!("### `{}`", d.env)),
            "docs/ENV.md has no section for {}",
            d.env
        );
    }
}
