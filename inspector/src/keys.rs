//! The key bindings: the one table that `input.rs` looks keys up in and that the help
//! overlay and `--help` list. A key is bound here or nowhere.

use crossterm::event::KeyCode;

use crate::ctl::ControlKey;
use crate::state::{Action, EventFilter, ViewId};

/// A key as the table names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A key pressed without Ctrl (Shift is in the character, or `BackTab`).
    Code(KeyCode),
    /// Ctrl and a lower-case character.
    Ctrl(char),
    /// A view's number key: `1` for the first view of [`ViewId::ALL`], and so on.
    ViewNumber,
}

/// What a binding does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Does {
    /// This action.
    Act(Action),
    /// Shows the view the number key names.
    ShowView,
}

/// What a row of the help says about its keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Help {
    /// This text.
    Text(&'static str),
    /// The view titles, in number order.
    ViewTitles,
    /// The event filters, in the order `f` cycles through them.
    EventFilters,
}

/// One row of the help: bindings that belong together and what they do.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    /// Each binding: its keys and what they do.
    pub bindings: &'static [(&'static [Key], Does)],
    /// What the row does.
    pub help: Help,
}

const fn c(ch: char) -> Key {
    Key::Code(KeyCode::Char(ch))
}

const fn act(a: Action) -> Does {
    Does::Act(a)
}

/// Every binding, in help order.
pub const KEYS: &[Row] = &[
    Row {
        bindings: &[
            (&[Key::Code(KeyCode::Tab)], act(Action::NextView)),
            (&[Key::Code(KeyCode::BackTab)], act(Action::PrevView)),
        ],
        help: Help::Text("next / previous view"),
    },
    Row {
        bindings: &[(&[Key::ViewNumber], Does::ShowView)],
        help: Help::ViewTitles,
    },
    Row {
        bindings: &[
            (&[Key::Code(KeyCode::Up), c('k')], act(Action::Up)),
            (&[Key::Code(KeyCode::Down), c('j')], act(Action::Down)),
        ],
        help: Help::Text("select row (scroll the event log)"),
    },
    Row {
        bindings: &[
            (&[Key::Code(KeyCode::Left), c('h')], act(Action::Left)),
            (&[Key::Code(KeyCode::Right), c('l')], act(Action::Right)),
        ],
        help: Help::Text("select slot (SuperSlabs)"),
    },
    Row {
        bindings: &[
            (&[Key::Code(KeyCode::PageUp)], act(Action::PageUp)),
            (&[Key::Code(KeyCode::PageDown)], act(Action::PageDown)),
        ],
        help: Help::Text("one page up / down"),
    },
    Row {
        bindings: &[
            (&[Key::Code(KeyCode::Home), c('g')], act(Action::Home)),
            (&[Key::Code(KeyCode::End), c('G')], act(Action::End)),
        ],
        help: Help::Text("first / last row (End: follow events)"),
    },
    Row {
        bindings: &[(&[c('!')], act(Action::Show(ViewId::HeapErrors)))],
        help: Help::Text("heap errors (SLABSCOPE_CHECK; shown once there is one)"),
    },
    Row {
        bindings: &[(&[c('s')], act(Action::CycleSort))],
        help: Help::Text("sort classes by the next column"),
    },
    Row {
        bindings: &[(&[c('r')], act(Action::ReverseSort))],
        help: Help::Text("reverse the class order"),
    },
    Row {
        bindings: &[(&[c('f')], act(Action::CycleFilter))],
        help: Help::EventFilters,
    },
    Row {
        bindings: &[(&[c(' ')], act(Action::TogglePause))],
        help: Help::Text("pause / resume the event log"),
    },
    Row {
        bindings: &[
            (&[c('D')], act(Action::Control(ControlKey::Drain))),
            (&[c('T')], act(Action::Control(ControlKey::Trim))),
        ],
        help: Help::Text("process: drain every magazine / return cached SuperSlabs"),
    },
    Row {
        bindings: &[
            (&[c('S')], act(Action::Control(ControlKey::ToggleSample))),
            (&[c('L')], act(Action::Control(ControlKey::ToggleLog))),
        ],
        help: Help::Text("process: leak sampling / debug log, on or off"),
    },
    Row {
        bindings: &[(&[c('?'), Key::Code(KeyCode::F(1))], act(Action::ToggleHelp))],
        help: Help::Text("show / hide this help"),
    },
    Row {
        bindings: &[(
            &[c('q'), Key::Code(KeyCode::Esc), Key::Ctrl('c')],
            act(Action::Quit),
        )],
        help: Help::Text("quit"),
    },
];

/// The action `code` (with Ctrl when `ctrl`) is bound to.
pub fn lookup(code: KeyCode, ctrl: bool) -> Option<Action> {
    KEYS.iter()
        .flat_map(|row| row.bindings.iter())
        .find_map(|(keys, does)| {
            keys.iter()
                .any(|k| matches(*k, code, ctrl))
                .then(|| match *does {
                    Does::Act(a) => Some(a),
                    Does::ShowView => view_of(code).map(Action::Show),
                })
                .flatten()
        })
}

fn matches(k: Key, code: KeyCode, ctrl: bool) -> bool {
    match k {
        Key::Code(want) => !ctrl && want == code,
        Key::Ctrl(ch) => ctrl && code == KeyCode::Char(ch),
        Key::ViewNumber => !ctrl && view_of(code).is_some(),
    }
}

/// The view a number key shows.
fn view_of(code: KeyCode) -> Option<ViewId> {
    let KeyCode::Char(ch) = code else { return None };
    let n = ch.to_digit(10)? as usize;
    n.checked_sub(1).and_then(|i| ViewId::ALL.get(i).copied())
}

/// How the help writes one key.
pub fn key_label(k: Key) -> String {
    match k {
        Key::Code(code) => match code {
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "Shift-Tab".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::F(n) => format!("F{n}"),
            KeyCode::Char(' ') => "space".into(),
            KeyCode::Char(ch) => ch.to_string(),
            other => format!("{other:?}"),
        },
        Key::Ctrl(ch) => format!("Ctrl-{}", ch.to_ascii_uppercase()),
        Key::ViewNumber => format!("1 … {}", ViewId::ALL.len()),
    }
}

/// The keys of a row as the help writes them: each binding's keys joined by a space,
/// bindings by ` / `.
pub fn row_keys(row: &Row) -> String {
    row.bindings
        .iter()
        .map(|(keys, _)| {
            keys.iter()
                .map(|k| key_label(*k))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

/// What a row does, as the help writes it.
pub fn row_help(row: &Row) -> String {
    match row.help {
        Help::Text(t) => t.to_string(),
        Help::ViewTitles => ViewId::ALL
            .iter()
            .map(|v| v.title())
            .collect::<Vec<_>>()
            .join(" "),
        Help::EventFilters => format!(
            "event filter ({})",
            EventFilter::ALL
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The keys in one line, for `--help`.
pub fn summary() -> String {
    KEYS.iter()
        .map(|row| format!("{} {}", row_keys(row), row_help(row)))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice() {
        let mut seen = Vec::new();
        for (keys, _) in KEYS.iter().flat_map(|r| r.bindings.iter()) {
            for k in *keys {
                assert!(!seen.contains(k), "{k:?} bound twice");
                seen.push(*k);
            }
        }
    }

    #[test]
    fn every_view_has_its_number_key() {
        for v in ViewId::ALL {
            let ch = char::from_digit(v.number() as u32, 10).unwrap();
            assert_eq!(lookup(KeyCode::Char(ch), false), Some(Action::Show(v)));
        }
        // Nine views fill the digits; a tenth would have no number key.
        assert!(ViewId::ALL.len() <= 9);
        if let Some(past) = char::from_digit(ViewId::ALL.len() as u32 + 1, 10) {
            assert_eq!(lookup(KeyCode::Char(past), false), None);
        }
        assert_eq!(lookup(KeyCode::Char('0'), false), None);
    }

    #[test]
    fn labels_read_as_the_help_shows_them() {
        assert_eq!(row_keys(&KEYS[0]), "Tab / Shift-Tab");
        assert_eq!(row_keys(&KEYS[2]), "↑ k / ↓ j");
        assert_eq!(row_keys(KEYS.last().unwrap()), "q Esc Ctrl-C");
        assert_eq!(row_keys(&KEYS[1]), format!("1 … {}", ViewId::ALL.len()));
        assert!(row_help(&KEYS[1]).starts_with("Overview Classes"));
    }
}
