//! The input box and what belongs to composing: the role written as, the
//! message being edited, and the prompts Up/Down recall.

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::composer::Composer;
use super::state::EditTarget;
use crate::api::types::Role;

/// The input box and what belongs to composing: the role written as, the
/// message being edited, the prompts to recall.
#[derive(Debug)]
pub struct InputState {
    pub composer: Composer,
    /// The role of what is being composed (Ctrl+R).
    pub role: Role,
    /// Editing an existing message (`e`).
    pub editing: Option<EditTarget>,
    /// Earlier prompts, for Up/Down.
    pub recall: PromptHistory,
    /// The terminal's width and the most text rows the box may have there
    /// (from the last resize), to keep the textarea's viewport right.
    pub room: Option<(u16, u16)>,
}

/// The most text rows the input box grows to in a terminal this high (the
/// layout and `InputState::fit` agree through it).
pub fn max_text_rows(terminal_height: u16) -> u16 {
    (terminal_height / 3).max(1)
}

/// Earlier prompts, for Up/Down in the input box.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PromptHistory {
    pub entries: Vec<String>,
    /// Position while browsing (an index into `entries`).
    pub index: Option<usize>,
    /// What was typed before browsing started.
    pub draft: String,
}

/// Most prompts kept in memory and on disk.
pub const PROMPT_HISTORY_MAX: usize = 1000;

impl PromptHistory {
    /// Remembers a sent prompt (not twice in a row); true when it is new
    /// and so worth saving.
    pub fn remember(&mut self, text: &str) -> bool {
        self.index = None;
        self.draft.clear();
        if self.entries.last().is_some_and(|last| last == text) {
            return false;
        }
        self.entries.push(text.to_string());
        if self.entries.len() > PROMPT_HISTORY_MAX {
            self.entries.remove(0);
        }
        true
    }
}

impl InputState {
    pub fn new() -> Self {
        Self {
            composer: Composer::new(),
            role: Role::User,
            editing: None,
            recall: PromptHistory::default(),
            room: None,
        }
    }

    /// ratatui-textarea never scrolls back up on its own when the text
    /// shrinks (or the box grows): with everything fitting, show it from the
    /// top, or the first lines stay hidden above an empty row. `update`
    /// calls this after every message.
    pub fn fit(&mut self) {
        let Some((width, max_rows)) = self.room else {
            return;
        };
        let rows = self
            .composer
            .rows(usize::from(width), usize::from(max_rows) + 1);
        let (top, _) = self.composer.textarea.scroll_offset();
        if top > 0 && rows <= usize::from(max_rows) {
            let up = i16::try_from(top).unwrap_or(i16::MAX);
            self.composer.textarea.scroll((-up, 0));
        }
    }

    /// Ctrl+R: the role of what is composed, user → assistant → system;
    /// false (nothing changes) while a message is being edited.
    pub fn cycle_role(&mut self) -> bool {
        if self.editing.is_some() {
            return false;
        }
        self.role = match self.role {
            Role::User => Role::Assistant,
            Role::Assistant => Role::System,
            Role::System => Role::User,
        };
        true
    }

    /// Esc while editing a message: the edit is dropped with its text;
    /// false when nothing was being edited.
    pub fn cancel_edit(&mut self) -> bool {
        if self.editing.take().is_none() {
            return false;
        }
        self.composer.clear();
        self.role = Role::User;
        true
    }

    /// Up on the first line / Down on the last line: an earlier / later
    /// prompt (Down past the last gives back what was typed). False when
    /// the key is not for recall.
    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "only Up and Down matter here"
    )]
    pub fn recall_key(&mut self, key: &KeyEvent) -> bool {
        if !key.modifiers.is_empty() || self.editing.is_some() {
            return false;
        }
        let ratatui_textarea::DataCursor(row, _) = self.composer.textarea.cursor();
        let last_row = self.composer.textarea.lines().len().saturating_sub(1);
        let recall = &mut self.recall;
        let count = recall.entries.len();
        let next = match key.code {
            KeyCode::Up if row == 0 && count > 0 => match recall.index {
                None => {
                    recall.draft = self.composer.text();
                    Some(count - 1)
                }
                Some(i) => Some(i.saturating_sub(1)),
            },
            KeyCode::Down if row == last_row && recall.index.is_some() => {
                recall.index.and_then(|i| (i + 1 < count).then_some(i + 1))
            }
            _ => return false,
        };
        let text = match next {
            Some(i) => recall.entries.get(i).cloned().unwrap_or_default(),
            None => std::mem::take(&mut recall.draft),
        };
        recall.index = next;
        self.composer.set_text(&text);
        true
    }
}

impl Default for InputState {
    fn default() -> Self {
        Self::new()
    }
}
