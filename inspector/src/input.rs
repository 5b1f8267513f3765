//! Keys to actions. The only place that knows which key does what (the help overlay
//! lists the same bindings).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::ctl::ControlKey;
use crate::state::{Action, ViewId};

/// The action bound to `key`, if any. Key releases are ignored.
pub fn action(key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return match key.code {
            KeyCode::Char('c') => Some(Action::Quit),
            _ => None,
        };
    }
    Some(match key.code {
        KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
        KeyCode::Tab => Action::NextView,
        KeyCode::BackTab => Action::PrevView,
        KeyCode::Char(c @ '1'..='8') => Action::Show(ViewId::ALL[(c as u8 - b'1') as usize]),
        KeyCode::Char('?') | KeyCode::F(1) => Action::ToggleHelp,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::Left | KeyCode::Char('h') => Action::Left,
        KeyCode::Right | KeyCode::Char('l') => Action::Right,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Home,
        KeyCode::End | KeyCode::Char('G') => Action::End,
        KeyCode::Char('s') => Action::CycleSort,
        KeyCode::Char('r') => Action::ReverseSort,
        KeyCode::Char('f') => Action::CycleFilter,
        KeyCode::Char(' ') => Action::TogglePause,
        KeyCode::Char('D') => Action::Control(ControlKey::Drain),
        KeyCode::Char('T') => Action::Control(ControlKey::Trim),
        KeyCode::Char('S') => Action::Control(ControlKey::ToggleSample),
        KeyCode::Char('L') => Action::Control(ControlKey::ToggleLog),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEventState;

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
        assert_eq!(action(key(KeyCode::Char('9'))), None);
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
