//! The start-up functions lie together (build.rs, `startup.ld`): the built library has
//! the section `.text.slabscope_start`, and every function `startup.ld` names is in the
//! library and inside that section; so do the statics a start touches, in
//! `.bss.slabscope_start`. A name that matches nothing means the list is stale:
//! regenerate it with `alloc/preload/startup-order.sh`. Where build.rs left the script
//! out (another linker, `SLABSCOPE_PRELOAD_NO_ORDER=1`), the library must not have the
//! section. The library checked is the one these tests build (debug): a function that
//! only a release build inlines away still passes here and leaves the release section.

mod common;

use object::{Object, ObjectSection, ObjectSymbol};

/// `text` matches `glob` (`*`: any run of bytes, the only wildcard startup.ld uses).
fn glob_match(glob: &[u8], text: &[u8]) -> bool {
    match glob.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob_match(rest, &text[i..])),
        Some((c, rest)) => text.first() == Some(c) && glob_match(rest, &text[1..]),
    }
}

/// The symbol globs of startup.ld's input-section rules for `kind` (`text` or `bss`):
/// `*(.KIND.NAME)` and `*(.KIND.*NAME)` name the function or static NAME (the archive
/// rule names none).
fn globs(script: &str, kind: &str) -> Vec<String> {
    let prefix = format!("*(.{kind}.");
    script
        .lines()
        .filter_map(|l| l.trim().strip_prefix(prefix.as_str())?.strip_suffix(')'))
        .map(|g| g.to_owned())
        .collect()
}

/// Every name of `globs` is a symbol of `kind` in the library, inside `section`; or,
/// where build.rs left the script out, the section is not there. `what` names them in
/// the messages.
fn named_symbols_lie_in(globs: &[String], kind: object::SymbolKind, section: &str, what: &str) {
    let data = std::fs::read(common::preload_lib()).unwrap();
    let file = object::File::parse(&*data).unwrap();
    // Set by build.rs for this package's crates: whether it passed the script.
    let ordered = env!("SLABSCOPE_PRELOAD_ORDERED") == "1";
    let found = file.section_by_name(section);
    if !ordered {
        assert!(
            found.is_none(),
            "build.rs left startup.ld out, yet {section} is there"
        );
        return;
    }
    let found = found.unwrap_or_else(|| {
        panic!("the library has no {section}: build.rs did not pass startup.ld")
    });
    let range = found.address()..found.address() + found.size();

    let names: Vec<(String, u64)> = file
        .symbols()
        .filter(|s| s.kind() == kind)
        .filter_map(|s| Some((s.name().ok()?.to_owned(), s.address())))
        .collect();
    let stale: Vec<&String> = globs
        .iter()
        .filter(|g| {
            !names
                .iter()
                .any(|(n, _)| glob_match(g.as_bytes(), n.as_bytes()))
        })
        .collect();
    assert!(
        stale.is_empty(),
        "startup.ld names {what} the library no longer has (run alloc/preload/startup-order.sh): {stale:#?}"
    );
    let outside: Vec<&String> = globs
        .iter()
        .filter(|g| {
            !names
                .iter()
                .any(|(n, a)| range.contains(a) && glob_match(g.as_bytes(), n.as_bytes()))
        })
        .collect();
    assert!(
        outside.is_empty(),
        "{what} startup.ld names lie outside {section}: {outside:#?}"
    );
}

#[test]
fn startup_functions_lie_in_their_own_section() {
    let script = include_str!("../startup.ld");
    let globs = globs(script, "text");
    assert!(
        globs.len() > 20,
        "startup.ld names only {} functions",
        globs.len()
    );
    assert!(globs.iter().any(|g| g == "malloc") && globs.iter().any(|g| g == "free"));
    named_symbols_lie_in(
        &globs,
        object::SymbolKind::Text,
        ".text.slabscope_start",
        "functions",
    );
}

#[test]
fn startup_statics_lie_in_their_own_section() {
    let script = include_str!("../startup.ld");
    let globs = globs(script, "bss");
    assert!(
        globs.len() > 10,
        "startup.ld names only {} statics",
        globs.len()
    );
    assert!(
        globs.iter().any(|g| g.contains("9slow_path4INIT")),
        "the allocator's first static is not among them: {globs:#?}"
    );
    named_symbols_lie_in(
        &globs,
        object::SymbolKind::Data,
        ".bss.slabscope_start",
        "statics",
    );
}

#[test]
fn the_symbol_glob_matcher_takes_only_star() {
    assert!(glob_match(
        b"*_ZN9slabscope5front10alloc_miss17h*",
        b"_ZN9slabscope5front10alloc_miss17h2569560e550f909fE"
    ));
    assert!(glob_match(
        b"*_ZN9slabscope5front10alloc_miss17h*",
        b"_ZN9slabscope5front10alloc_miss17h0123456789abcdefE.llvm.42"
    ));
    assert!(!glob_match(
        b"*_ZN9slabscope5front10alloc_miss17h*",
        b"_ZN9slabscope5front9free_miss17h2569560e550f909fE"
    ));
    assert!(glob_match(b"malloc", b"malloc"));
    assert!(!glob_match(b"malloc", b"malloc_usable_size"));
}
