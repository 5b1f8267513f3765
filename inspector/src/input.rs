//! Key events to actions, through the one key table (`keys::KEYS`).

use crossterm::event::{KeyEvent, KeyEventKind, KeyModifiers};

use crate::keys;
use crate::state::Action;

/// The action bound to `key`, if any. Key releases are ignored; Ctrl with a key the
/// table does not bind with Ctrl does nothing.
pub fn action(key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    keys::lookup(key.code, key.modifiers.contains(KeyModifiers::CONTROL))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::ControlKey;
    use crate::state::ViewId;
    use crossterm::event::{KeyCode, KeyEventState};

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn keys_map_to_actions() {
        assert_eq!(action(key(KeyCode::Char('q'))), Some(Action::Quit));
        assert_eq!(action(key(KeyCode::Esc)), Some(Action::Quit));
        assert_eq!(
            action(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(action(key(KeyCode::Tab)), Some(Action::NextView));
        assert_eq!(action(key(KeyCode::BackTab)), Some(Action::PrevView));
        assert_eq!(
            action(key(KeyCode::Char('3'))),
            Some(Action::Show(ViewId::SuperSlabs))
        );
        assert_eq!(
            action(key(KeyCode::Char('6'))),
            Some(Action::Show(ViewId::Gpu))
        );
        assert_eq!(
            action(key(KeyCode::Char('7'))),
            Some(Action::Show(ViewId::Oom))
        );
        assert_eq!(
            action(key(KeyCode::Char('8'))),
            Some(Action::Show(ViewId::Leaks))
        );
        assert_eq!(
            action(key(KeyCode::Char('9'))),
            Some(Action::Show(ViewId::HeapErrors))
        );
        assert_eq!(
            action(key(KeyCode::Char('!'))),
            Some(Action::Show(ViewId::HeapErrors))
        );
        assert_eq!(action(key(KeyCode::Char('j'))), Some(Action::Down));
        assert_eq!(action(key(KeyCode::PageUp)), Some(Action::PageUp));
        assert_eq!(action(key(KeyCode::Char(' '))), Some(Action::TogglePause));
        assert_eq!(action(key(KeyCode::Char('f'))), Some(Action::CycleFilter));
        assert_eq!(action(key(KeyCode::Char('s'))), Some(Action::CycleSort));
        assert_eq!(action(key(KeyCode::Char('?'))), Some(Action::ToggleHelp));
        assert_eq!(
            action(key(KeyCode::Char('D'))),
            Some(Action::Control(ControlKey::Drain))
        );
        assert_eq!(
            action(key(KeyCode::Char('L'))),
            Some(Action::Control(ControlKey::ToggleLog))
        );
        let release = KeyEvent {
            kind: KeyEventKind::Release,
            state: KeyEventState::NONE,
            ..key(KeyCode::Char('q'))
        };
        assert_eq!(action(release), None);
    }
}
