//! The view: `prepare` brings the display caches up to date (the one
//! mutable step before drawing), `draw` paints a frame from `App` and the
//! caches without changing the app.
//!
//! Invariant: every string that came from the network is turned into
//! display text by `text::sanitize` before it reaches a buffer cell; the
//! transcript is painted from cached wrapped lines, visible rows only.

pub mod markdown;
pub mod popups;
pub mod status;
pub mod theme;
pub mod transcript;

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders};

use crate::app::App;
use crate::app::state::Popup;
pub use transcript::TranscriptView;

/// Below this size only `terminal too small` is shown.
pub const MIN_WIDTH: u16 = 20;
pub const MIN_HEIGHT: u16 = 5;

/// Where each region is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppLayout {
    pub transcript: Rect,
    pub input: Rect,
    pub status: Rect,
}

/// Split the screen: transcript (the rest), input (grows with its text up to
/// a third of the screen), status bar (the last row). None when too small.
pub fn layout(area: Rect, app: &App) -> Option<AppLayout> {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return None;
    }
    let status = Rect {
        y: area.bottom() - 1,
        height: 1,
        ..area
    };
    // One border row above the text.
    let max_rows = crate::app::input::max_text_rows(area.height);
    // The same cap as `InputState::fit`, which must tell "fits" from "one
    // more": one cached count serves both.
    let rows = app
        .input
        .composer
        .rows(usize::from(area.width), usize::from(max_rows) + 1);
    let text_rows = u16::try_from(rows).unwrap_or(u16::MAX).clamp(1, max_rows);
    let input_height = text_rows + 1;
    let input = Rect {
        y: status.y - input_height,
        height: input_height,
        ..area
    };
    let transcript = Rect {
        height: input.y - area.y,
        ..area
    };
    Some(AppLayout {
        transcript,
        input,
        status,
    })
}

/// All display caches, owned by the runtime beside the `App`.
#[derive(Debug, Default)]
pub struct Ui {
    pub transcript: TranscriptView,
}

/// Bring the view's caches up to date for a frame of `area` and resolve
/// the transcript's scroll requests (the view owns the resolved position).
/// Reads the app, never writes it.
pub fn prepare(ui: &mut Ui, app: &App, area: Rect) {
    if let Some(layout) = layout(area, app) {
        ui.transcript.prepare(app, layout.transcript);
    }
}

/// Draw one frame.
pub fn draw(ui: &Ui, app: &App, frame: &mut Frame<'_>) {
    let area = frame.area();
    let Some(layout) = layout(area, app) else {
        if area.is_empty() {
            // A pty whose size was never set reports 0 rows or columns.
            return;
        }
        let line = if area.width >= 18 {
            "terminal too small"
        } else {
            "too small"
        };
        frame.buffer_mut().set_stringn(
            area.x,
            area.y,
            line,
            usize::from(area.width),
            Style::default(),
        );
        return;
    };
    if app.settings.needs_key
        && !app
            .conversation
            .messages()
            .iter()
            .any(|m| m.role == crate::api::types::Role::User)
    {
        transcript::draw_first_run(app, frame.buffer_mut(), layout.transcript);
    } else {
        ui.transcript
            .draw(app, frame.buffer_mut(), layout.transcript);
    }
    draw_input(app, frame, layout.input);
    status::draw(app, frame.buffer_mut(), layout.status);
    match &app.popup {
        Some(Popup::ModelMenu(menu)) => {
            popups::draw_model_menu(app, menu, frame.buffer_mut(), area);
        }
        Some(Popup::Help { scroll }) => {
            popups::draw_help(app.browse.focus, *scroll, frame.buffer_mut(), area);
        }
        Some(Popup::Raw(raw)) => popups::draw_raw(raw, frame.buffer_mut(), area),
        Some(Popup::History(browser)) => popups::draw_history(browser, frame.buffer_mut(), area),
        Some(Popup::ConfirmBudget) => popups::draw_confirm_budget(app, frame.buffer_mut(), area),
        Some(Popup::Overflow(dialog)) => popups::draw_overflow(dialog, frame.buffer_mut(), area),
        None => {}
    }
}

/// The input border: who is writing (the role, or the message being
/// edited, or the search being typed) and a hint of the keys that matter now.
fn input_titles(app: &App) -> (ratatui::text::Line<'static>, std::borrow::Cow<'static, str>) {
    use crate::api::types::Role;
    let role = app.input.role;
    let title = if let Some(search) = app.browse.search.as_ref().filter(|s| s.editing) {
        ratatui::text::Line::from(vec![
            ratatui::text::Span::styled(" search: ", theme::role_label(Role::System)),
            ratatui::text::Span::raw(crate::text::sanitize::sanitize_str(&search.query)),
            ratatui::text::Span::styled("▏ ", theme::dim()),
        ])
    } else {
        let label = match (app.input.editing, role) {
            (Some(_), Role::User) => " editing your question ".to_string(),
            (Some(_), other) => format!(" editing the {} message ", other.as_str()),
            (None, Role::User) => " you ".to_string(),
            (None, other) => format!(" {} (Ctrl+R) ", other.as_str()),
        };
        ratatui::text::Line::styled(label, theme::role_label(role))
    };
    if let Some(notice) = app.notice.as_ref().filter(|n| !n.is_error) {
        // What just happened is said beside the input, so the status bar
        // keeps SPEC's exact format (model, counts, cost).
        let text = format!(" {} ", crate::text::sanitize::sanitize_str(&notice.text));
        return (title, text.into());
    }
    let hint = if app.browse.search.as_ref().is_some_and(|s| s.editing) {
        " Enter finds · Esc cancels "
    } else if app.browse.focus == crate::app::state::Focus::Transcript {
        let thinks = app
            .selected_index()
            .and_then(|i| app.conversation.messages().get(i))
            .is_some_and(|m| !m.reasoning.trim().is_empty());
        if thinks {
            " ↑↓ · y copy · e edit · r regen · d del · v raw · t thinking · / find · ? help "
        } else {
            " ↑↓ · y copy · c code · e edit · r regen · ←→ alt · d del · v raw · / find · ? help "
        }
    } else if app.is_streaming() {
        " Esc stops the answer "
    } else if app.settings.needs_key {
        " Ctrl+Q quits · F1 help "
    } else if app.input.editing.is_some_and(|e| e.role == Role::User) {
        " Enter resends from here · Esc cancels "
    } else if app.input.editing.is_some() {
        " Enter saves · Esc cancels "
    } else if role == Role::User {
        " Enter sends · Alt+Enter new line · Tab browse "
    } else {
        " Enter adds it (not sent) · Ctrl+R role "
    };
    (title, hint.into())
}

fn draw_input(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let (title, hint) = input_titles(app);
    let room = usize::from(area.width).saturating_sub(title.width() + 2);
    let mut block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme::border())
        .title(title);
    let is_notice = app.notice.as_ref().is_some_and(|n| !n.is_error);
    let mut hint = hint;
    if is_notice && crate::text::wrap::display_width(&hint) > room && room > 8 {
        // Keep the end of a long notice (a file name, say), marked as cut.
        let chars: Vec<char> = hint.chars().collect();
        let mut tail = String::new();
        let mut width = 1;
        for c in chars.iter().rev() {
            let w = crate::text::wrap::display_width(c.encode_utf8(&mut [0; 4]));
            if width + w > room {
                break;
            }
            width += w;
            tail.insert(0, *c);
        }
        hint = format!("…{tail}").into();
    }
    let hint_width = crate::text::wrap::display_width(&hint);
    if hint_width <= room {
        let style = if app.notice.as_ref().is_some_and(|n| !n.is_error) {
            theme::notice()
        } else {
            Style::default().add_modifier(Modifier::DIM)
        };
        block = block.title(ratatui::text::Line::styled(hint, style).right_aligned());
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    app.input.composer.with_view(inner, |view| {
        frame.render_widget(view, inner);
        if app.popup.is_none() {
            // The real cursor sits on the input's cursor so an IME composes there.
            let cursor = view.screen_cursor();
            let (top, _) = view.scroll_offset();
            let row = cursor.row.saturating_sub(usize::from(top));
            if let (Ok(row), Ok(col)) = (u16::try_from(row), u16::try_from(cursor.col))
                && row < inner.height
                && col < inner.width
            {
                frame.set_cursor_position(Position {
                    x: inner.x + col,
                    y: inner.y + row,
                });
            }
        }
    });
}
