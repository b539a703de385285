//! The binding table: every key of kaiwa with its context and the words
//! the F1 help shows for it. Data only; `keymap` resolves keys from it.

use ratatui::crossterm::event::{KeyCode, KeyModifiers};

use super::{Binding, Command, Context, Key};

const fn key(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::CONTROL,
    }
}

const fn ch(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::NONE,
    }
}

/// Every binding. The order within a context is the order of the help.
pub const BINDINGS: &[Binding] = &[
    Binding {
        context: Context::Input,
        keys: &[key(KeyCode::Enter)],
        label: "Enter",
        command: Command::Submit,
        description: "send the message",
    },
    Binding {
        context: Context::Input,
        keys: &[
            Key {
                code: KeyCode::Enter,
                mods: KeyModifiers::ALT,
            },
            ctrl('j'),
            Key {
                code: KeyCode::Enter,
                mods: KeyModifiers::SHIFT,
            },
        ],
        label: "Alt+Enter, Ctrl+J, Shift+Enter",
        command: Command::InsertNewline,
        description: "new line (Shift+Enter only where the terminal reports it)",
    },
    Binding {
        context: Context::Input,
        keys: &[
            key(KeyCode::Tab),
            Key {
                code: KeyCode::Up,
                mods: KeyModifiers::ALT,
            },
        ],
        label: "Tab, Alt+Up",
        command: Command::FocusTranscript,
        description: "browse past turns (select messages in the transcript)",
    },
    Binding {
        context: Context::Input,
        keys: &[ctrl('e')],
        label: "Ctrl+E",
        command: Command::OpenEditor,
        description: "edit the input in $VISUAL / $EDITOR",
    },
    Binding {
        context: Context::Input,
        keys: &[ctrl('r')],
        label: "Ctrl+R",
        command: Command::CycleRole,
        description: "role of what you write: user → assistant → system",
    },
    Binding {
        context: Context::Input,
        keys: &[key(KeyCode::Esc)],
        label: "Esc",
        command: Command::CancelEdit,
        description: "cancel editing a message (or close the search)",
    },
    Binding {
        context: Context::Transcript,
        keys: &[key(KeyCode::Tab), key(KeyCode::Esc), ch('i')],
        label: "Tab, Esc, i",
        command: Command::FocusInput,
        description: "back to the input",
    },
    Binding {
        context: Context::Transcript,
        keys: &[key(KeyCode::Up), ch('k')],
        label: "Up, k",
        command: Command::SelectPrev,
        description: "previous message",
    },
    Binding {
        context: Context::Transcript,
        keys: &[key(KeyCode::Down), ch('j')],
        label: "Down, j",
        command: Command::SelectNext,
        description: "next message",
    },
    Binding {
        context: Context::Transcript,
        keys: &[key(KeyCode::Home), ch('g')],
        label: "Home, g",
        command: Command::SelectFirst,
        description: "first message",
    },
    Binding {
        context: Context::Transcript,
        keys: &[
            key(KeyCode::End),
            ch('G'),
            Key {
                code: KeyCode::Char('G'),
                mods: KeyModifiers::SHIFT,
            },
        ],
        label: "End, G",
        command: Command::SelectLast,
        description: "last message",
    },
    Binding {
        context: Context::Transcript,
        keys: &[ch('y')],
        label: "y",
        command: Command::CopyMessage,
        description: "copy its text (markdown source)",
    },
    Binding {
        context: Context::Transcript,
        keys: &[ch('c')],
        label: "c",
        command: Command::CopyCode,
        description: "copy a code block (then its number, if several)",
    },
    Binding {
        context: Context::Transcript,
        keys: &[ch('e')],
        label: "e",
        command: Command::EditMessage,
        description: "edit: a question is resent from there; others change in place",
    },
    Binding {
        context: Context::Transcript,
        keys: &[ch('r')],
        label: "r",
        command: Command::Regenerate,
        description: "regenerate this answer (earlier answers stay as alternatives)",
    },
    Binding {
        context: Context::Transcript,
        keys: &[key(KeyCode::Left)],
        label: "Left",
        command: Command::PrevAlternative,
        description: "previous alternative",
    },
    Binding {
        context: Context::Transcript,
        keys: &[key(KeyCode::Right)],
        label: "Right",
        command: Command::NextAlternative,
        description: "next alternative",
    },
    Binding {
        context: Context::Transcript,
        keys: &[ch('d')],
        label: "d",
        command: Command::DeleteMessage,
        description: "delete the message",
    },
    Binding {
        context: Context::Transcript,
        keys: &[ch('u')],
        label: "u",
        command: Command::UndoDelete,
        description: "undo the last delete",
    },
    Binding {
        context: Context::Transcript,
        keys: &[ch('v')],
        label: "v",
        command: Command::RawView,
        description: "raw view: the request and response JSON",
    },
    Binding {
        context: Context::Transcript,
        keys: &[ch('t')],
        label: "t",
        command: Command::ToggleThinking,
        description: "open or fold the answer's thinking",
    },
    Binding {
        context: Context::Transcript,
        keys: &[ch('/')],
        label: "/",
        command: Command::StartSearch,
        description: "search the conversation",
    },
    Binding {
        context: Context::Transcript,
        keys: &[ch('n')],
        label: "n",
        command: Command::NextMatch,
        description: "next match",
    },
    Binding {
        context: Context::Transcript,
        keys: &[
            ch('N'),
            Key {
                code: KeyCode::Char('N'),
                mods: KeyModifiers::SHIFT,
            },
        ],
        label: "N",
        command: Command::PrevMatch,
        description: "previous match",
    },
    Binding {
        context: Context::Transcript,
        keys: &[ch('?')],
        label: "?",
        command: Command::OpenHelp,
        description: "help",
    },
    Binding {
        context: Context::RawView,
        keys: &[ch('y')],
        label: "y",
        command: Command::CopyMessage,
        description: "copy the raw JSON",
    },
    Binding {
        context: Context::RawView,
        keys: &[key(KeyCode::Esc), ch('v'), ch('q')],
        label: "Esc, v, q",
        command: Command::ClosePopup,
        description: "close (Up/Down/PageUp/PageDown scroll)",
    },
    Binding {
        context: Context::Streaming,
        keys: &[key(KeyCode::Esc)],
        label: "Esc",
        command: Command::StopAnswer,
        description: "stop the answer, keep what arrived",
    },
    Binding {
        context: Context::Global,
        keys: &[ctrl('c')],
        label: "Ctrl+C",
        command: Command::QuitOrStop,
        description: "stop the answer; quit when none is streaming",
    },
    Binding {
        context: Context::Global,
        keys: &[ctrl('q')],
        label: "Ctrl+Q",
        command: Command::Quit,
        description: "quit",
    },
    Binding {
        context: Context::Global,
        keys: &[ctrl('z')],
        label: "Ctrl+Z",
        command: Command::Suspend,
        description: "suspend to the shell (fg comes back)",
    },
    Binding {
        context: Context::Global,
        keys: &[key(KeyCode::F(2)), ctrl('o')],
        label: "F2, Ctrl+O",
        command: Command::OpenModelMenu,
        description: "choose the model",
    },
    Binding {
        context: Context::Global,
        keys: &[key(KeyCode::PageUp)],
        label: "PageUp",
        command: Command::ScrollPageUp,
        description: "scroll the transcript up (also the mouse wheel)",
    },
    Binding {
        context: Context::Global,
        keys: &[key(KeyCode::PageDown)],
        label: "PageDown",
        command: Command::ScrollPageDown,
        description: "scroll the transcript down",
    },
    Binding {
        context: Context::Global,
        keys: &[Key {
            code: KeyCode::End,
            mods: KeyModifiers::CONTROL,
        }],
        label: "Ctrl+End",
        command: Command::ScrollToBottom,
        description: "back to the bottom, follow new text again",
    },
    Binding {
        context: Context::Global,
        keys: &[ctrl('n')],
        label: "Ctrl+N",
        command: Command::NewConversation,
        description: "new conversation (the token counters keep counting)",
    },
    Binding {
        context: Context::Global,
        keys: &[key(KeyCode::F(3)), ctrl('p')],
        label: "F3, Ctrl+P",
        command: Command::OpenHistory,
        description: "history: saved conversations, search their text",
    },
    Binding {
        context: Context::History,
        keys: &[key(KeyCode::Enter)],
        label: "Enter",
        command: Command::OpenHistory,
        description: "open the selected conversation (type to search, Up/Down move)",
    },
    Binding {
        context: Context::History,
        keys: &[ctrl('r')],
        label: "Ctrl+R",
        command: Command::OpenHistory,
        description: "rename it",
    },
    Binding {
        context: Context::History,
        keys: &[ctrl('a')],
        label: "Ctrl+A",
        command: Command::OpenHistory,
        description: "archive it (restore it from the archived list)",
    },
    Binding {
        context: Context::History,
        keys: &[ctrl('d')],
        label: "Ctrl+D",
        command: Command::OpenHistory,
        description: "delete it, after a confirmation",
    },
    Binding {
        context: Context::History,
        keys: &[ctrl('e')],
        label: "Ctrl+E",
        command: Command::OpenHistory,
        description: "export it as Markdown",
    },
    Binding {
        context: Context::History,
        keys: &[key(KeyCode::Tab)],
        label: "Tab",
        command: Command::OpenHistory,
        description: "show archived conversations / back",
    },
    Binding {
        context: Context::History,
        keys: &[key(KeyCode::Esc)],
        label: "Esc",
        command: Command::ClosePopup,
        description: "close",
    },
    Binding {
        context: Context::Global,
        keys: &[key(KeyCode::F(1))],
        label: "F1",
        command: Command::OpenHelp,
        description: "this help",
    },
    Binding {
        context: Context::Global,
        keys: &[key(KeyCode::F(12))],
        label: "F12",
        command: Command::ToggleMouse,
        description: "mouse capture on/off (off: the terminal's own text selection)",
    },
    Binding {
        context: Context::ModelMenu,
        keys: &[key(KeyCode::Up), ctrl('p')],
        label: "Up",
        command: Command::MenuUp,
        description: "previous model",
    },
    Binding {
        context: Context::ModelMenu,
        keys: &[key(KeyCode::Down), ctrl('n')],
        label: "Down",
        command: Command::MenuDown,
        description: "next model",
    },
    Binding {
        context: Context::ModelMenu,
        keys: &[key(KeyCode::Enter)],
        label: "Enter",
        command: Command::MenuPick,
        description: "use the model for the next request (type to filter)",
    },
    Binding {
        context: Context::ModelMenu,
        keys: &[key(KeyCode::Esc), key(KeyCode::F(2)), ctrl('o')],
        label: "Esc",
        command: Command::ClosePopup,
        description: "close the menu",
    },
    Binding {
        context: Context::Help,
        keys: &[
            key(KeyCode::Esc),
            key(KeyCode::F(1)),
            key(KeyCode::Char('q')),
        ],
        label: "Esc, F1, q",
        command: Command::ClosePopup,
        description: "close the help (Up/Down/PageUp/PageDown scroll it)",
    },
];
