//! Keys to intents. One table holds every binding with its context and
//! description; resolving a key and drawing the F1 help both read it, so
//! the help cannot drift from the behaviour.
//!
//! Order of precedence (SPEC "Keys"): an open popup, then a running stream
//! (Esc and Ctrl+C stop it whatever has the focus), then kaiwa's bindings,
//! and only then the input box.

mod table;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key means, by intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Submit,
    InsertNewline,
    StopAnswer,
    Quit,
    QuitOrStop,
    Suspend,
    OpenModelMenu,
    ScrollPageUp,
    ScrollPageDown,
    ScrollToBottom,
    NewConversation,
    OpenHelp,
    ToggleMouse,
    MenuUp,
    MenuDown,
    MenuPick,
    ClosePopup,
    // Input.
    FocusTranscript,
    OpenEditor,
    CycleRole,
    CancelEdit,
    OpenHistory,
    // Transcript focus.
    FocusInput,
    SelectPrev,
    SelectNext,
    SelectFirst,
    SelectLast,
    CopyMessage,
    CopyCode,
    EditMessage,
    Regenerate,
    PrevAlternative,
    NextAlternative,
    DeleteMessage,
    UndoDelete,
    RawView,
    ToggleThinking,
    StartSearch,
    NextMatch,
    PrevMatch,
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Anywhere (unless a popup takes the key first).
    Global,
    /// The input box has the focus.
    Input,
    /// An answer is streaming.
    Streaming,
    /// The model menu is open.
    ModelMenu,
    /// The help is open.
    Help,
    /// The transcript has the focus (browsing past turns).
    Transcript,
    /// The raw view is open.
    RawView,
    /// The history browser is open (its keys are listed for the help).
    History,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Self::Global => "anywhere",
            Self::Input => "input",
            Self::Streaming => "while an answer streams",
            Self::ModelMenu => "model menu",
            Self::Help => "help",
            Self::Transcript => "transcript (Tab from the input)",
            Self::RawView => "raw view",
            Self::History => "history browser (F3)",
        }
    }
}

/// A key: code plus the modifiers that must be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub context: Context,
    pub keys: &'static [Key],
    /// How the keys read in the help.
    pub label: &'static str,
    pub command: Command,
    pub description: &'static str,
}

pub use table::BINDINGS;

/// Normalise what terminals report: Shift on an upper-case letter is
/// implied, and a `Char` with Control is matched on its lower-case form.
fn matches(binding_key: &Key, event: &KeyEvent) -> bool {
    let mut mods = event.modifiers;
    let mut code = event.code;
    if let KeyCode::Char(c) = code {
        if mods.contains(KeyModifiers::CONTROL) {
            code = KeyCode::Char(c.to_ascii_lowercase());
        }
        if c.is_uppercase() || !c.is_alphabetic() {
            mods.remove(KeyModifiers::SHIFT);
        }
    }
    code == binding_key.code && mods == binding_key.mods
}

/// The binding for `event` in `context`, if any.
pub fn lookup(context: Context, event: &KeyEvent) -> Option<Command> {
    BINDINGS
        .iter()
        .filter(|b| b.context == context)
        .find(|b| b.keys.iter().any(|k| matches(k, event)))
        .map(|b| b.command)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn lookups() {
        assert_eq!(
            lookup(Context::Input, &ev(KeyCode::Enter, KeyModifiers::NONE)),
            Some(Command::Submit)
        );
        assert_eq!(
            lookup(Context::Input, &ev(KeyCode::Enter, KeyModifiers::SHIFT)),
            Some(Command::InsertNewline)
        );
        assert_eq!(
            lookup(
                Context::Input,
                &ev(KeyCode::Char('j'), KeyModifiers::CONTROL)
            ),
            Some(Command::InsertNewline)
        );
        assert_eq!(
            lookup(
                Context::Global,
                &ev(
                    KeyCode::Char('O'),
                    KeyModifiers::CONTROL | KeyModifiers::SHIFT
                )
            ),
            Some(Command::OpenModelMenu)
        );
        assert_eq!(
            lookup(Context::Global, &ev(KeyCode::Char('x'), KeyModifiers::NONE)),
            None
        );
    }

    #[test]
    fn every_command_is_bound_and_described() {
        let all = [
            Command::Submit,
            Command::InsertNewline,
            Command::StopAnswer,
            Command::Quit,
            Command::QuitOrStop,
            Command::Suspend,
            Command::OpenModelMenu,
            Command::ScrollPageUp,
            Command::ScrollPageDown,
            Command::ScrollToBottom,
            Command::NewConversation,
            Command::OpenHelp,
            Command::ToggleMouse,
            Command::MenuUp,
            Command::MenuDown,
            Command::MenuPick,
            Command::ClosePopup,
            Command::FocusTranscript,
            Command::OpenEditor,
            Command::CycleRole,
            Command::CancelEdit,
            Command::OpenHistory,
            Command::FocusInput,
            Command::SelectPrev,
            Command::SelectNext,
            Command::SelectFirst,
            Command::SelectLast,
            Command::CopyMessage,
            Command::CopyCode,
            Command::EditMessage,
            Command::Regenerate,
            Command::PrevAlternative,
            Command::NextAlternative,
            Command::DeleteMessage,
            Command::UndoDelete,
            Command::RawView,
            Command::ToggleThinking,
            Command::StartSearch,
            Command::NextMatch,
            Command::PrevMatch,
        ];
        for command in all {
            assert!(
                BINDINGS
                    .iter()
                    .any(|b| b.command == command && !b.description.is_empty()),
                "{command:?} is missing from the help"
            );
        }
    }
}
