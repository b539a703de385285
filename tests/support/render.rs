//! Screens drawn without a terminal, for the snapshot tests: an [`App`] driven by keys and
//! stream events as the runtime drives it (every event at one instant, so nothing on screen
//! depends on timing), then `ui::prepare` and `ui::draw` into a ratatui `TestBackend`, read back
//! as text rows, as a snapshot string, or cell by cell for colours.
//!
//! Invariant: a cell hidden behind a wide symbol is left out of every reading, and the snapshot
//! string reports one that is not blank (that would be a drawing bug).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: what they cannot do fails the test, with a message"
)]

use std::fmt::Write as _;
use std::time::Instant;

use kaiwa::api::client::StreamEvent;
use kaiwa::app::state::Settings;
use kaiwa::app::{App, Msg, RequestId, update};
use kaiwa::chat::pricing::PriceTable;
use kaiwa::text::wrap::display_width;
use kaiwa::ui::{self, Ui};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;

// ---------------------------------------------------------------- the app

/// gpt-4o-mini at OpenAI with a key set (no first-run panel) and the mouse on; no system
/// prompt, no other models, no sampling settings.
pub fn settings() -> Settings {
    Settings {
        model: "gpt-4o-mini".into(),
        base_url: "https://api.openai.com/v1".into(),
        mouse: true,
        ..Settings::default()
    }
}

/// An app with [`settings`].
pub fn new_app() -> App {
    App::new(settings(), PriceTable::default())
}

/// An app with `settings` whose tokenizer tables are built and reported ready: exact figures,
/// as in a running kaiwa once its tables are.
pub fn warm_app(settings: Settings) -> App {
    kaiwa::chat::estimate::warm_up(&settings.model);
    let mut app = App::new(settings, PriceTable::default());
    update(&mut app, Msg::TokenizerReady);
    app
}

/// One instant for every event: no speed is computed, so nothing on screen depends on timing.
pub fn now() -> Instant {
    use std::sync::OnceLock;
    static NOW: OnceLock<Instant> = OnceLock::new();
    *NOW.get_or_init(Instant::now)
}

pub fn press(app: &mut App, code: KeyCode, mods: KeyModifiers) {
    update(app, Msg::Key(KeyEvent::new(code, mods)));
}

pub fn key(app: &mut App, code: KeyCode) {
    press(app, code, KeyModifiers::NONE);
}

pub fn ctrl(app: &mut App, c: char) {
    press(app, KeyCode::Char(c), KeyModifiers::CONTROL);
}

/// Type characters; upper-case ones carry Shift, as terminals report them.
pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        let mods = if c.is_uppercase() {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        press(app, KeyCode::Char(c), mods);
    }
}

/// The id of the request in flight (panics when there is none).
pub fn in_flight_id(app: &App) -> u64 {
    app.in_flight.as_ref().expect("a request in flight").id.0
}

/// `event` of request `id`, at [`now`].
pub fn api(app: &mut App, id: u64, event: StreamEvent) {
    let (id, at) = (RequestId(id), now());
    update(app, Msg::Api { id, event, at });
}

// ---------------------------------------------------------------- drawing

/// Prepare and draw one frame at `width`×`height` with `ui` (which keeps its caches and scroll
/// state from frame to frame).
pub fn render_with(ui: &mut Ui, app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    ui::prepare(ui, app, Rect::new(0, 0, width, height));
    terminal.draw(|f| ui::draw(ui, app, f)).unwrap();
    terminal
}

/// Prepare and draw one frame at `width`×`height` with a fresh `Ui`.
pub fn render(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    render_with(&mut Ui::default(), app, width, height)
}

// ---------------------------------------------------------------- reading

/// Each row as (column, symbol) of the cells that are drawn (the cells behind a wide symbol
/// left out).
pub fn rows_with_columns(buffer: &Buffer) -> Vec<Vec<(u16, String)>> {
    let width = usize::from(buffer.area.width);
    buffer
        .content()
        .chunks(width.max(1))
        .map(|row| {
            let mut out = Vec::new();
            let mut skip = 0;
            for (x, cell) in row.iter().enumerate() {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                out.push((u16::try_from(x).unwrap(), cell.symbol().to_string()));
                skip = display_width(cell.symbol()).saturating_sub(1);
            }
            out
        })
        .collect()
}

/// The screen as plain rows, trailing blanks trimmed.
pub fn rows(buffer: &Buffer) -> Vec<String> {
    rows_with_columns(buffer)
        .into_iter()
        .map(|row| {
            let line: String = row.iter().map(|(_, s)| s.as_str()).collect();
            line.trim_end().to_string()
        })
        .collect()
}

/// The screen as plain text: [`rows`] joined by newlines.
pub fn screen_text(terminal: &Terminal<TestBackend>) -> String {
    rows(terminal.backend().buffer()).join("\n")
}

/// The status bar: the last row.
pub fn status_row(terminal: &Terminal<TestBackend>) -> String {
    rows(terminal.backend().buffer()).pop().unwrap()
}

/// The row of the input box's border: the last row above the status bar that is drawn as a
/// line.
pub fn input_border(terminal: &Terminal<TestBackend>) -> String {
    let rows = rows(terminal.backend().buffer());
    rows[..rows.len() - 1]
        .iter()
        .rev()
        .find(|r| r.contains("──"))
        .cloned()
        .expect("an input border")
}

/// The screen for a snapshot: one quoted row per line, like `TestBackend`'s own view but
/// without listing the blank cells behind every wide character (which buries Korean rows in
/// noise); a hidden cell that is not blank is still reported, since that would be a drawing
/// bug.
pub fn screen(terminal: &Terminal<TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    let width = usize::from(buffer.area.width);
    let mut out = String::new();
    for row in buffer.content().chunks(width.max(1)) {
        let mut line = String::new();
        let mut hidden = Vec::new();
        let mut skip = 0;
        for (x, cell) in row.iter().enumerate() {
            if skip > 0 {
                skip -= 1;
                if cell.symbol() != " " {
                    hidden.push((x, cell.symbol().to_string()));
                }
                continue;
            }
            line.push_str(cell.symbol());
            skip = display_width(cell.symbol()).saturating_sub(1);
        }
        out.push('"');
        out.push_str(&line);
        out.push('"');
        if !hidden.is_empty() {
            write!(out, " hidden by wide symbols: {hidden:?}").unwrap();
        }
        out.push('\n');
    }
    out
}

/// Every position (x, y) where `text` starts on screen, row by row.
pub fn find_all(buffer: &Buffer, text: &str) -> Vec<(u16, u16)> {
    let mut found = Vec::new();
    for (y, row) in rows_with_columns(buffer).iter().enumerate() {
        let line: String = row.iter().map(|(_, s)| s.as_str()).collect();
        for (byte, _) in line.match_indices(text) {
            let mut acc = 0;
            for (x, symbol) in row {
                if acc == byte {
                    found.push((*x, u16::try_from(y).unwrap()));
                    break;
                }
                acc += symbol.len();
            }
        }
    }
    found
}

/// The position of the first cell where `text` starts on screen (for its style:
/// `buffer[find(buffer, "▍you")].style()`).
pub fn find(buffer: &Buffer, text: &str) -> (u16, u16) {
    *find_all(buffer, text)
        .first()
        .unwrap_or_else(|| panic!("{text:?} not on screen"))
}

/// No cell may hold a control character (C0, C1, DEL) or a bidi control: such a byte would be
/// written to the terminal.
pub fn assert_no_control_in_cells(buffer: &Buffer) {
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            let symbol = buffer[(x, y)].symbol();
            for c in symbol.chars() {
                let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
                assert!(
                    !c.is_control() && !bidi,
                    "cell ({x},{y}) holds {c:?} (U+{:04X})",
                    u32::from(c)
                );
            }
        }
    }
}
