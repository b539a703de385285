//! The input box: a ratatui-textarea `TextArea` that receives only editing
//! keys. kaiwa maps each key to a textarea operation itself instead of
//! calling `TextArea::input`, because the textarea's own shortcuts clash
//! with kaiwa's (its Ctrl+J deletes text, its Ctrl+N/P move lines).

use std::cell::{Cell, RefCell};

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::Widget as _;
use ratatui_textarea::{CursorMove, DataCursor, TextArea, WrapMode};

use crate::text::wrap::wrap_line;

/// ratatui-textarea 0.9 keeps its scroll position in a `u16` (its
/// `widget.rs`, `Viewport`): with the cursor below screen row 65,535 (a
/// 2 MB paste of short lines) the box shows rows far above it and what is
/// typed is out of sight. A screen row holds at least one byte of the text
/// (an empty line its `\n`), so a text of fewer than `WINDOW_FROM` bytes
/// stays under that row at any width and is drawn as it is. A longer one is
/// drawn through a window: a `TextArea` of the text around the cursor
/// (`WINDOW_BEFORE` bytes before it, `WINDOW_AFTER` after, whole lines but
/// the cursor's own), rebuilt when the text or the cursor changes and
/// scrolled so that the cursor moves in the box as in a short text
/// (`Window::keep_row`). Editing and sending always use the whole text.
const WINDOW_FROM: usize = 60 * 1024;
const WINDOW_BEFORE: usize = 8 * 1024;
const WINDOW_AFTER: usize = 4 * 1024;

/// The composer's state.
#[derive(Debug)]
pub struct Composer {
    pub textarea: TextArea<'static>,
    /// Bumped on every change, of the text or of the cursor (the window's
    /// cache key).
    rev: u64,
    /// Bumped on every change of the text (the row count's and rough
    /// count's cache key).
    text_rev: u64,
    rows_cache: Cell<Option<(u64, usize, usize, usize)>>,
    rough_cache: Cell<Option<(u64, bool, u64)>>,
    /// The text is longer than `WINDOW_FROM`: the box draws a window.
    windowed: bool,
    /// For `rev`: that window.
    window: RefCell<(u64, Option<Window>)>,
    /// Where the cursor was last drawn: its place in the text, and its row
    /// in the box.
    drawn_at: Cell<Option<((usize, usize), usize)>>,
}

impl Default for Composer {
    fn default() -> Self {
        Self::new()
    }
}

impl Composer {
    pub fn new() -> Self {
        Self {
            textarea: styled(TextArea::default()),
            rev: 0,
            text_rev: 0,
            rows_cache: Cell::new(None),
            rough_cache: Cell::new(None),
            windowed: false,
            window: RefCell::new((u64::MAX, None)),
            drawn_at: Cell::new(None),
        }
    }

    /// Draws what the input box shows into `area`: the textarea itself, or,
    /// for a long text, a window around the cursor (see `WINDOW_FROM`).
    /// `draw` renders it (the real cursor's place is read from it after).
    pub fn with_view<R>(&self, area: Rect, draw: impl FnOnce(&TextArea<'static>) -> R) -> R {
        let DataCursor(row, col) = self.textarea.cursor();
        if self.window.borrow().0 != self.rev {
            let view = self.windowed.then(|| {
                let mut window = window(self.textarea.lines(), row, col);
                if let Some((before, shown_at)) = self.drawn_at.get() {
                    window.keep_row(area, before, shown_at);
                }
                window
            });
            self.window.replace((self.rev, view));
        }
        let window = self.window.borrow();
        let view = window.1.as_ref().map_or(&self.textarea, |w| &w.view);
        let drawn = draw(view);
        let (top, _) = view.scroll_offset();
        let shown_at = view.screen_cursor().row.saturating_sub(usize::from(top));
        self.drawn_at.set(Some(((row, col), shown_at)));
        drawn
    }

    /// The whole text, lines joined with `\n`.
    pub fn text(&self) -> String {
        self.textarea.lines().join("\n")
    }

    pub fn is_blank(&self) -> bool {
        self.blank_and_rough().0
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

    /// After a change of the text (a cursor move only bumps `rev`).
    fn touch(&mut self) {
        self.rev += 1;
        self.text_rev += 1;
        let bytes: usize = self.textarea.lines().iter().map(|l| l.len() + 1).sum();
        self.windowed = bytes > WINDOW_FROM;
        // While a window is drawn, the whole textarea is never drawn, yet
        // ratatui-textarea maps every line to screen rows again at each
        // edit (`push_history` → `screen_map_load`): word-wrapping 2 MB at
        // every key cost ~50 ms. Unwrapped, that map is one row per line.
        // (Up/Down then move by lines, not by wrapped rows, in such a text.)
        let mode = if self.windowed {
            WrapMode::None
        } else {
            WrapMode::WordOrGlyph
        };
        if self.textarea.wrap_mode() != mode {
            self.textarea.set_wrap_mode(mode);
        }
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
        // Some(whether the text changed), None: not an editing key.
        let outcome = match key.code {
            KeyCode::Char(c) if !ctrl && !alt => {
                ta.insert_char(c);
                Some(true)
            }
            KeyCode::Char('z') if ctrl => Some(ta.undo()),
            KeyCode::Char('y') if ctrl => Some(ta.redo()),
            KeyCode::Char('w') if ctrl => Some(ta.delete_word()),
            KeyCode::Char('u') if ctrl => Some(ta.delete_line_by_head()),
            KeyCode::Char('k') if ctrl => Some(ta.delete_line_by_end()),
            KeyCode::Char('a') if ctrl => Some(move_to(ta, CursorMove::Head)),
            KeyCode::Char('b') if alt => Some(move_to(ta, CursorMove::WordBack)),
            KeyCode::Char('f') if alt => Some(move_to(ta, CursorMove::WordForward)),
            KeyCode::Char('d') if alt => Some(ta.delete_next_word()),
            KeyCode::Backspace if word => Some(ta.delete_word()),
            KeyCode::Backspace => Some(ta.delete_char()),
            KeyCode::Delete if word => Some(ta.delete_next_word()),
            KeyCode::Delete => Some(ta.delete_next_char()),
            KeyCode::Left if word => Some(move_to(ta, CursorMove::WordBack)),
            KeyCode::Left => Some(move_to(ta, CursorMove::Back)),
            KeyCode::Right if word => Some(move_to(ta, CursorMove::WordForward)),
            KeyCode::Right => Some(move_to(ta, CursorMove::Forward)),
            KeyCode::Up => Some(move_to(ta, CursorMove::Up)),
            KeyCode::Down => Some(move_to(ta, CursorMove::Down)),
            KeyCode::Home if ctrl => {
                // The start of the text, as in every editor (Top alone
                // keeps the column).
                ta.move_cursor(CursorMove::Top);
                Some(move_to(ta, CursorMove::Head))
            }
            KeyCode::Home => Some(move_to(ta, CursorMove::Head)),
            KeyCode::End => Some(move_to(ta, CursorMove::End)),
            KeyCode::Tab => {
                ta.insert_tab();
                Some(true)
            }
            _ => None,
        };
        match outcome {
            Some(true) => self.touch(),
            Some(false) => self.rev += 1,
            None => {}
        }
        outcome.is_some()
    }

    /// Rows the text takes at `width` columns (soft-wrapped), at least 1,
    /// counted up to `cap` (the box's height: a 2 MB paste is not wrapped
    /// whole at every key). Cached per (revision, width, cap).
    pub fn rows(&self, width: usize, cap: usize) -> usize {
        if let Some((rev, w, c, rows)) = self.rows_cache.get()
            && rev == self.text_rev
            && w == width
            && c == cap
        {
            return rows;
        }
        let mut rows = 0;
        for line in self.textarea.lines() {
            if rows >= cap {
                break;
            }
            rows += wrap_line(line, width.max(1)).len().max(1);
        }
        let rows = rows.clamp(1, cap.max(1));
        self.rows_cache.set(Some((self.text_rev, width, cap, rows)));
        rows
    }

    /// Whether the text is blank, and its rough token count
    /// (`context::rough`): the status bar's meter asks every frame, so both
    /// are kept per revision instead of joining and counting a long paste
    /// each time.
    pub fn blank_and_rough(&self) -> (bool, u64) {
        if let Some((rev, blank, rough)) = self.rough_cache.get()
            && rev == self.text_rev
        {
            return (blank, rough);
        }
        let lines = self.textarea.lines();
        let blank = lines.iter().all(|l| l.trim().is_empty());
        let rough = crate::app::context::rough(&lines.join("\n"));
        self.rough_cache.set(Some((self.text_rev, blank, rough)));
        (blank, rough)
    }
}

/// The composer's look, for the textarea and a window of it alike.
fn styled(mut textarea: TextArea<'static>) -> TextArea<'static> {
    textarea.set_wrap_mode(WrapMode::WordOrGlyph);
    textarea.set_cursor_line_style(Style::default());
    textarea.set_cursor_style(Style::default().add_modifier(Modifier::REVERSED));
    textarea.set_tab_length(4);
    textarea.set_placeholder_text("Type a message · F1 shows every key");
    textarea.set_placeholder_style(Style::default().add_modifier(Modifier::DIM));
    textarea
}

/// A textarea of the text around `(row, col)` (a char index), with its
/// cursor there: the cursor's line (cut to `WINDOW_BEFORE` bytes before the
/// cursor and `WINDOW_AFTER` after it, on char boundaries), whole lines
/// before it while they fit in `WINDOW_BEFORE`, after it in `WINDOW_AFTER`.
fn window(lines: &[String], row: usize, col: usize) -> Window {
    let line = lines.get(row).map_or("", String::as_str);
    let at = byte_at(line, col);
    let start = (at.saturating_sub(WINDOW_BEFORE)..=at)
        .find(|&i| line.is_char_boundary(i))
        .unwrap_or(at);
    let end = (at..=(at + WINDOW_AFTER).min(line.len()))
        .rev()
        .find(|&i| line.is_char_boundary(i))
        .unwrap_or(at);
    let mut shown = Vec::new();
    let mut room = WINDOW_BEFORE.saturating_sub(at - start);
    for earlier in lines.iter().take(row).rev() {
        if earlier.len() >= room {
            break;
        }
        room -= earlier.len() + 1;
        shown.push(earlier.clone());
    }
    shown.reverse();
    let cursor_row = shown.len();
    shown.push(line.get(start..end).unwrap_or_default().to_string());
    let mut room = WINDOW_AFTER.saturating_sub(end - at);
    for later in lines.iter().skip(row + 1) {
        if later.len() >= room {
            break;
        }
        room -= later.len() + 1;
        shown.push(later.clone());
    }
    let cursor_col = line.get(start..at).map_or(0, |cut| cut.chars().count());
    let mut view = styled(TextArea::new(shown));
    view.move_cursor(jump(cursor_row, cursor_col));
    Window {
        view,
        first: row - cursor_row,
        row,
        cut: line.get(..start).map_or(0, |cut| cut.chars().count()),
    }
}

/// A window of a long text (see `WINDOW_FROM`).
#[derive(Debug)]
struct Window {
    view: TextArea<'static>,
    /// The text's line drawn first.
    first: usize,
    /// The cursor's line in the text, and how many of its chars are cut
    /// off before the window.
    row: usize,
    cut: usize,
}

impl Window {
    /// Where `(row, col)` of the whole text is in the window, if in it.
    fn place(&self, row: usize, col: usize) -> Option<(usize, usize)> {
        let at = row.checked_sub(self.first)?;
        if at >= self.view.lines().len() {
            return None;
        }
        if row == self.row {
            return Some((at, col.checked_sub(self.cut)?));
        }
        Some((at, col))
    }

    /// Scroll the window so that the cursor keeps its row in the box, moved
    /// by as many rows as it moved from `before` (where the cursor was, in
    /// the whole text, drawn on the box's row `shown_at`), as the textarea
    /// itself scrolls; without that, a new window puts the cursor on the
    /// box's last row. `area` is the box: drawing into a scratch buffer of
    /// it first maps the window's lines to rows at its width.
    fn keep_row(&mut self, area: Rect, before: (usize, usize), shown_at: usize) {
        let Some(old) = self.place(before.0, before.1) else {
            return;
        };
        let height = usize::from(area.height);
        if height == 0 {
            return;
        }
        let mut scratch = Buffer::empty(area);
        (&self.view).render(area, &mut scratch);
        let DataCursor(row, col) = self.view.cursor();
        let now = self.view.screen_cursor().row;
        self.view.move_cursor(jump(old.0, old.1));
        let then = self.view.screen_cursor().row;
        self.view.move_cursor(jump(row, col));
        let on_screen = (shown_at.min(height - 1) + now)
            .saturating_sub(then)
            .min(height - 1)
            .min(now);
        let top = now - on_screen;
        let (current, _) = self.view.scroll_offset();
        let delta = i64::try_from(top).unwrap_or(0) - i64::from(current);
        self.view.scroll((i16::try_from(delta).unwrap_or(0), 0));
        // Scrolling moves the cursor into the rows shown; put it back.
        self.view.move_cursor(jump(row, col));
    }
}

/// A jump to a place in a window: both fit in u16 (the window holds at most
/// WINDOW_BEFORE + WINDOW_AFTER bytes, so fewer lines, and a column is a
/// char index into at most WINDOW_BEFORE bytes).
fn jump(row: usize, col: usize) -> CursorMove {
    CursorMove::Jump(
        u16::try_from(row).unwrap_or(u16::MAX),
        u16::try_from(col).unwrap_or(u16::MAX),
    )
}

/// The byte offset of char `col` in `line` (its length past the end).
fn byte_at(line: &str, col: usize) -> usize {
    line.char_indices()
        .nth(col)
        .map_or(line.len(), |(at, _)| at)
}

/// A cursor move: the text unchanged (false).
fn move_to(ta: &mut TextArea<'static>, m: CursorMove) -> bool {
    ta.move_cursor(m);
    false
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
        assert_eq!(c.rows(5, 10), 4);
        assert_eq!(c.rows(5, 3), 3, "counted up to the cap");
        assert_eq!(c.rows(80, 10), 2);
    }

    #[test]
    fn huge_paste_is_one_operation() {
        let mut c = Composer::new();
        let text = "0123456789abcdef\n".repeat(65_536); // 1 MiB
        c.paste(&text);
        assert_eq!(c.textarea.lines().len(), 65_537);
        assert_eq!(c.rows(80, 100_000), 65_537);
        assert_eq!(c.rows(80, 13), 13);
    }

    use std::fmt::Write as _;

    /// The rows the input box shows at `width`×`height`.
    fn drawn(c: &Composer, width: u16, height: u16) -> Vec<String> {
        let area = ratatui::layout::Rect::new(0, 0, width, height);
        let mut buf = ratatui::buffer::Buffer::empty(area);
        c.with_view(area, |view| view.render(area, &mut buf));
        (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
                    .trim_end()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn what_is_typed_after_a_paste_of_100k_lines_is_in_view() {
        // ratatui-textarea keeps its scroll row in a u16: without the window
        // the box showed line 34,464 (100,000 mod 65,536) and hid the typing.
        let mut c = Composer::new();
        let mut text = String::new();
        for i in 0..100_000 {
            let _ = writeln!(text, "line {i} of the paste");
        }
        c.paste(&format!("{text}PASTE-END"));
        for ch in "Z한".chars() {
            c.edit(&k(KeyCode::Char(ch)));
        }
        let rows = drawn(&c, 40, 5);
        assert_eq!(
            rows,
            [
                "line 99996 of the paste",
                "line 99997 of the paste",
                "line 99998 of the paste",
                "line 99999 of the paste",
                "PASTE-ENDZ한"
            ],
        );
        assert!(c.text().ends_with("line 99999 of the paste\nPASTE-ENDZ한"));
        // Up moves the cursor inside the box, as in a short text: the rows
        // stay until it passes the top row, then scroll by one.
        let at_end = drawn(&c, 40, 5);
        c.edit(&k(KeyCode::Up));
        c.edit(&k(KeyCode::Up));
        assert_eq!(drawn(&c, 40, 5), at_end, "the rows stay, the cursor moves");
        for _ in 0..3 {
            c.edit(&k(KeyCode::Up));
            drawn(&c, 40, 5);
        }
        assert_eq!(
            drawn(&c, 40, 5).first().map(String::as_str),
            Some("line 99995 of the paste")
        );
        for _ in 0..3 {
            c.edit(&k(KeyCode::Down));
        }
        assert_eq!(
            drawn(&c, 40, 5).first().map(String::as_str),
            Some("line 99995 of the paste"),
            "Down inside the box does not scroll either"
        );
        c.edit(&KeyEvent::new(KeyCode::End, KeyModifiers::NONE));
        assert_eq!(
            c.textarea.lines().len(),
            100_001,
            "edits act on the whole text"
        );

        // Back at the top: the window starts at the first line.
        c.edit(&KeyEvent::new(KeyCode::Home, KeyModifiers::CONTROL));
        assert_eq!(
            drawn(&c, 40, 2),
            ["line 0 of the paste", "line 1 of the paste"]
        );
        // Deep in the middle, the cursor's line is in view and Backspace works there.
        for _ in 0..70_000 {
            c.edit(&k(KeyCode::Down));
        }
        c.edit(&k(KeyCode::End));
        c.edit(&k(KeyCode::Backspace));
        let rows = drawn(&c, 40, 3);
        assert_eq!(
            rows.last().map(String::as_str),
            Some("line 70000 of the past")
        );
        assert!(
            c.text()
                .contains("\nline 70000 of the past\nline 70001 of the paste\n")
        );
    }

    #[test]
    fn a_window_draws_at_tiny_sizes() {
        // Wide chars, a tab and a long line past 60 KiB, drawn 1×1 to 4×3
        // (one column draws no wide char, but nothing breaks).
        let mut c = Composer::new();
        c.paste(&"한\t글 ab\n".repeat(20_000));
        c.paste(&"가".repeat(30_000));
        for width in 1..=4 {
            for height in 1..=3 {
                let shown = drawn(&c, width, height).concat().replace(' ', "");
                assert!(
                    width == 1 || shown.ends_with('가'),
                    "{width}×{height}: {shown:?}"
                );
            }
        }
    }

    #[test]
    fn the_end_of_one_huge_line_is_in_view_at_any_width() {
        // 2 MB on one line: 200,000 rows at 10 columns.
        let text = format!("{}한글 끝", "0123456789".repeat(200_000));
        for width in [10, 3, 80] {
            let mut c = Composer::new();
            c.paste(&text);
            c.edit(&k(KeyCode::Char('Z')));
            let rows = drawn(&c, width, 3);
            // (A wide char's second cell reads as a space here.)
            let shown = rows.concat().replace(' ', "");
            assert!(shown.ends_with("끝Z"), "{width}: {rows:?}");
        }
    }

    #[test]
    fn a_pasted_source_file_scrolls_as_a_short_text_does() {
        // 1,500 lines, 30 KB: drawn whole (no window), so Up moves the
        // cursor inside the box and the rows stay put.
        let mut c = Composer::new();
        let mut text = String::new();
        for i in 0..1_500 {
            let _ = writeln!(text, "    let line_{i} = {i};");
        }
        c.paste(text.trim_end());
        let at_end = drawn(&c, 40, 5);
        assert_eq!(
            at_end.last().map(String::as_str),
            Some("    let line_1499 = 1499;")
        );
        c.edit(&k(KeyCode::Up));
        c.edit(&k(KeyCode::Up));
        assert_eq!(drawn(&c, 40, 5), at_end, "the rows stay, the cursor moves");
        for _ in 0..4 {
            c.edit(&k(KeyCode::Up));
        }
        assert_eq!(
            drawn(&c, 40, 5).first().map(String::as_str),
            Some("    let line_1493 = 1493;"),
            "past the top row the rows scroll by one"
        );
        // Ctrl+Home goes to the start of the text, not the first line's
        // column 4, so a question typed there comes first.
        c.edit(&k(KeyCode::End));
        c.edit(&KeyEvent::new(KeyCode::Home, KeyModifiers::CONTROL));
        for ch in "Q: ".chars() {
            c.edit(&k(KeyCode::Char(ch)));
        }
        assert!(c.text().starts_with("Q:     let line_0 = 0;\n"));
        assert_eq!(
            drawn(&c, 40, 5).first().map(String::as_str),
            Some("Q:     let line_0 = 0;")
        );
    }
}
