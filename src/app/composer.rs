//! The input box: a ratatui-textarea `TextArea` that receives only editing
//! keys. kaiwa maps each key to a textarea operation itself instead of
//! calling `TextArea::input`, because the textarea's own shortcuts clash
//! with kaiwa's (its Ctrl+J deletes text, its Ctrl+N/P move lines).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Modifier, Style};
use ratatui_textarea::{CursorMove, TextArea, WrapMode};

use crate::text::wrap::wrap_line;

/// The composer's state.
#[derive(Debug)]
pub struct Composer {
    pub textarea: TextArea<'static>,
    /// Bumped on every change (row-count cache key).
    rev: u64,
    rows_cache: std::cell::Cell<Option<(u64, usize, usize)>>,
}

impl Default for Composer {
    fn default() -> Self {
        Self::new()
    }
}

impl Composer {
    pub fn new() -> Self {
        let mut textarea = TextArea::default();
        textarea.set_wrap_mode(WrapMode::WordOrGlyph);
        textarea.set_cursor_line_style(Style::default());
        textarea.set_cursor_style(Style::default().add_modifier(Modifier::REVERSED));
        textarea.set_tab_length(4);
        textarea.set_placeholder_text("Type a message · F1 shows every key");
        textarea.set_placeholder_style(Style::default().add_modifier(Modifier::DIM));
        Self {
            textarea,
            rev: 0,
            rows_cache: std::cell::Cell::new(None),
        }
    }

    /// The whole text, lines joined with `\n`.
    pub fn text(&self) -> String {
        self.textarea.lines().join("\n")
    }

    pub fn is_blank(&self) -> bool {
        self.textarea.lines().iter().all(|l| l.trim().is_empty())
    }

    /// Replace the text, cursor at the end.
    pub fn set_text(&mut self, text: &str) {
        self.textarea.clear();
        self.textarea.insert_str(text);
        self.touch();
    }

    /// Empty the box.
    pub fn clear(&mut self) {
        self.textarea.clear();
        self.touch();
    }

    /// Insert pasted text as one operation, newlines included (never sent by them).
    pub fn paste(&mut self, text: &str) {
        let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
        self.textarea.insert_str(normalised);
        self.touch();
    }

    pub fn insert_newline(&mut self) {
        self.textarea.insert_newline();
        self.touch();
    }

    fn touch(&mut self) {
        self.rev += 1;
    }

    /// Apply an editing key. Returns false when the key is not an editing
    /// key (the caller may then ignore it).
    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "crossterm's KeyCode has dozens of variants; only a few edit"
    )]
    pub fn edit(&mut self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let word = ctrl || alt;
        let ta = &mut self.textarea;
        let handled = match key.code {
            KeyCode::Char(c) if !ctrl && !alt => {
                ta.insert_char(c);
                true
            }
            KeyCode::Char('z') if ctrl => ta.undo(),
            KeyCode::Char('y') if ctrl => ta.redo(),
            KeyCode::Char('w') if ctrl => ta.delete_word(),
            KeyCode::Char('u') if ctrl => ta.delete_line_by_head(),
            KeyCode::Char('k') if ctrl => ta.delete_line_by_end(),
            KeyCode::Char('a') if ctrl => move_to(ta, CursorMove::Head),
            KeyCode::Char('b') if alt => move_to(ta, CursorMove::WordBack),
            KeyCode::Char('f') if alt => move_to(ta, CursorMove::WordForward),
            KeyCode::Char('d') if alt => ta.delete_next_word(),
            KeyCode::Backspace if word => ta.delete_word(),
            KeyCode::Backspace => ta.delete_char(),
            KeyCode::Delete if word => ta.delete_next_word(),
            KeyCode::Delete => ta.delete_next_char(),
            KeyCode::Left if word => move_to(ta, CursorMove::WordBack),
            KeyCode::Left => move_to(ta, CursorMove::Back),
            KeyCode::Right if word => move_to(ta, CursorMove::WordForward),
            KeyCode::Right => move_to(ta, CursorMove::Forward),
            KeyCode::Up => move_to(ta, CursorMove::Up),
            KeyCode::Down => move_to(ta, CursorMove::Down),
            KeyCode::Home if ctrl => move_to(ta, CursorMove::Top),
            KeyCode::Home => move_to(ta, CursorMove::Head),
            KeyCode::End => move_to(ta, CursorMove::End),
            KeyCode::Tab => {
                ta.insert_tab();
                true
            }
            _ => false,
        };
        if handled {
            self.touch();
        }
        handled
    }

    /// Rows the text takes at `width` columns (soft-wrapped), at least 1.
    /// Cached per (revision, width): a 1 MB paste is measured once.
    pub fn rows(&self, width: usize) -> usize {
        if let Some((rev, w, rows)) = self.rows_cache.get()
            && rev == self.rev
            && w == width
        {
            return rows;
        }
        let rows = self
            .textarea
            .lines()
            .iter()
            .map(|line| wrap_line(line, width.max(1)).len().max(1))
            .sum::<usize>()
            .max(1);
        self.rows_cache.set(Some((self.rev, width, rows)));
        rows
    }
}

fn move_to(ta: &mut TextArea<'static>, m: CursorMove) -> bool {
    ta.move_cursor(m);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn typing_editing_and_paste() {
        let mut c = Composer::new();
        for ch in "한국어".chars() {
            assert!(c.edit(&k(KeyCode::Char(ch))));
        }
        c.edit(&k(KeyCode::Backspace));
        assert_eq!(c.text(), "한국");
        c.paste("line1\r\nline2\n");
        assert_eq!(c.text(), "한국line1\nline2\n");
        assert!(!c.edit(&KeyEvent::new(KeyCode::Char('j'), KeyModifiers::CONTROL)));
        assert_eq!(
            c.text(),
            "한국line1\nline2\n",
            "Ctrl+J never reaches the textarea"
        );
    }

    #[test]
    fn rows_follow_wrapping() {
        let mut c = Composer::new();
        c.set_text("aaaa bbbb cccc\nx");
        assert_eq!(c.rows(5), 4);
        assert_eq!(c.rows(80), 2);
    }

    #[test]
    fn huge_paste_is_one_operation() {
        let mut c = Composer::new();
        let text = "0123456789abcdef\n".repeat(65_536); // 1 MiB
        c.paste(&text);
        assert_eq!(c.textarea.lines().len(), 65_537);
        assert_eq!(c.rows(80), 65_537);
    }
}
