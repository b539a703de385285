//! Popups drawn over the screen: the model menu, the key help (generated
//! from the keymap table, so it lists exactly what the keys do), the raw
//! view, the history browser and the monthly budget question.
//!
//! Invariant: text from the network, the history or the user (model ids,
//! titles, snippets, the raw JSON, the filter and search lines) is
//! sanitised before it is drawn.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Widget};

use super::theme;
use crate::app::App;
use crate::app::history_browser::{BrowserItem, BrowserMode, HistoryBrowser};
use crate::app::keymap::{BINDINGS, Context};
use crate::app::model_menu::{ListState, MenuRow, ModelMenu};
use crate::app::state::{Focus, RawView};
use crate::text::sanitize::sanitize_str;
use crate::text::wrap::truncate_to_width;

/// A centred rectangle of at most `width`×`height` inside `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn frame(buf: &mut Buffer, rect: Rect, title: &str) -> Rect {
    // A wide character just left of the popup would cover its left border
    // (its second half is the border's cell): blank it first.
    if rect.x > 0 {
        for y in rect.top()..rect.bottom() {
            if let Some(cell) = buf.cell_mut((rect.x - 1, y))
                && crate::text::wrap::display_width(cell.symbol()) > 1
            {
                cell.set_symbol(" ");
            }
        }
    }
    Clear.render(rect, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme::border())
        .title(title.to_string());
    let inner = block.inner(rect);
    block.render(rect, buf);
    inner
}

/// The model menu: rows grouped under their provider's name (when there
/// is more than one provider), each id with its window and price at the
/// right; a provider that is loading or failed says so in one line.
pub fn draw_model_menu(app: &App, menu: &ModelMenu, buf: &mut Buffer, area: Rect) {
    let visible = menu.visible_rows();
    let grouped = app.models.lists.len() > 1;
    let rows = u16::try_from(visible.len() + app.models.lists.len())
        .unwrap_or(u16::MAX)
        .saturating_add(4);
    let rect = centered(
        area,
        84,
        rows.max(8).min(area.height.saturating_sub(2).max(3)),
    );
    let inner = frame(
        buf,
        rect,
        " Model · type to filter · Enter picks · Esc closes ",
    );
    if inner.height == 0 {
        return;
    }
    let width = usize::from(inner.width);
    let mut lines: Vec<Line<'static>> = vec![Line::from(vec![
        Span::styled("filter: ", theme::dim()),
        Span::raw(sanitize_str(&menu.filter)),
        Span::styled("▏", theme::dim()),
    ])];
    for (provider, state) in &app.models.lists {
        let name = if grouped {
            format!("{} — ", sanitize_str(provider))
        } else {
            "server ".to_string()
        };
        match state {
            ListState::Loading => lines.push(Line::styled(
                format!("{name}loading the models…"),
                theme::dim(),
            )),
            ListState::Failed(why) => lines.push(Line::styled(
                truncate_to_width(
                    &format!("{name}list unavailable: {}", sanitize_str(why)),
                    width,
                ),
                theme::error(),
            )),
            ListState::Loaded(_) => {}
        }
    }
    if visible.is_empty() {
        lines.push(Line::styled(
            "no model matches — Enter uses the typed id",
            theme::dim(),
        ));
    }
    let list_rows = usize::from(inner.height).saturating_sub(lines.len());
    // Keep the cursor in view; a group's header takes a row of its own.
    let mut rows: Vec<(Option<usize>, Line<'static>)> = Vec::new();
    let mut last_provider: Option<&str> = None;
    for (i, row) in visible.iter().enumerate() {
        if grouped && last_provider != Some(row.provider.as_str()) {
            rows.push((
                None,
                Line::styled(
                    sanitize_str(&row.provider),
                    theme::role_label(crate::api::types::Role::System),
                ),
            ));
            last_provider = Some(row.provider.as_str());
        }
        rows.push((Some(i), model_row(app, row, i == menu.cursor, width)));
    }
    let cursor_row = rows
        .iter()
        .position(|(i, _)| *i == Some(menu.cursor))
        .unwrap_or(0);
    let first = cursor_row.saturating_sub(list_rows.saturating_sub(1));
    lines.extend(rows.into_iter().skip(first).take(list_rows).map(|(_, l)| l));
    paint(buf, inner, &lines);
}

/// `● corp:beta-2            128k · $0.15/$0.60`, cut to `width`.
fn model_row(app: &App, row: &MenuRow, selected: bool, width: usize) -> Line<'static> {
    let current = row.model.id == app.settings.model;
    let mark = if current { "● " } else { "  " };
    let id = sanitize_str(&row.model.id);
    let detail = sanitize_str(&row.model.detail);
    let used = crate::text::wrap::display_width(mark)
        + crate::text::wrap::display_width(&id)
        + crate::text::wrap::display_width(&detail);
    let gap = width.saturating_sub(used).max(2);
    let text = if detail.is_empty() {
        format!("{mark}{id}")
    } else {
        format!("{mark}{id}{:gap$}{detail}", "")
    };
    let style = if selected {
        theme::selected()
    } else {
        Style::default()
    };
    Line::styled(truncate_to_width(&text, width), style)
}

/// Every binding, grouped by where it applies (the focused area first),
/// with descriptions wrapped to `width` columns.
pub fn help_lines(focus: Focus, width: usize) -> Vec<Line<'static>> {
    const LABEL: usize = 24;
    let mut order = vec![
        Context::Input,
        Context::Transcript,
        Context::Streaming,
        Context::Global,
        Context::ModelMenu,
        Context::RawView,
        Context::History,
        Context::Help,
    ];
    if focus == Focus::Transcript {
        order.swap(0, 1);
    }
    let text_width = width.saturating_sub(LABEL + 3).max(10);
    let mut lines = Vec::new();
    for context in order {
        lines.push(Line::styled(
            context.title().to_string(),
            theme::role_label(crate::api::types::Role::System),
        ));
        for binding in BINDINGS.iter().filter(|b| b.context == context) {
            let label_fits = crate::text::wrap::display_width(binding.label) <= LABEL;
            if !label_fits {
                lines.push(Line::raw(format!("  {}", binding.label)));
            }
            let rows = crate::text::wrap::wrap_line(binding.description, text_width);
            for (i, row) in rows.into_iter().enumerate() {
                let label = if i == 0 && label_fits {
                    binding.label
                } else {
                    ""
                };
                let text = binding.description.get(row).unwrap_or("").to_string();
                lines.push(Line::from(vec![
                    Span::raw(format!("  {label:<LABEL$} ")),
                    Span::raw(text),
                ]));
            }
        }
        lines.push(Line::default());
    }
    for note in [
        "Shift+Enter needs the kitty keyboard protocol; Alt+Enter and Ctrl+J always work.",
        "Copy writes the system clipboard where there is one and always sends OSC 52 (inside tmux it needs `set -g set-clipboard on`).",
        "Mouse: the wheel scrolls, a click selects; F12 or Shift+drag selects text.",
        "Some terminals keep F1 for themselves: ? opens this help from the transcript.",
    ] {
        for row in crate::text::wrap::wrap_line(note, width.max(10)) {
            lines.push(Line::styled(
                note.get(row).unwrap_or("").to_string(),
                theme::dim(),
            ));
        }
    }
    lines
}

/// Draw `lines` in a scrolled popup, with a hint when more is below.
fn draw_scrolled(
    buf: &mut Buffer,
    area: Rect,
    title: &str,
    lines: &[Line<'static>],
    scroll: u16,
    min_width: usize,
) {
    let width = lines
        .iter()
        .map(Line::width)
        .max()
        .unwrap_or(20)
        .saturating_add(2)
        .max(20)
        .max(min_width);
    let width = u16::try_from(width)
        .unwrap_or(u16::MAX)
        .min(area.width.saturating_sub(2).max(1));
    let height = u16::try_from(lines.len() + 2)
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(1).max(1));
    let rect = centered(area, width, height);
    let inner = frame(buf, rect, title);
    let rows = usize::from(inner.height);
    let skip = usize::from(scroll).min(lines.len().saturating_sub(rows));
    for (row, line) in lines.iter().skip(skip).take(rows).enumerate() {
        buf.set_line(
            inner.x,
            inner.y + u16::try_from(row).unwrap_or(0),
            line,
            inner.width,
        );
    }
    if skip + rows < lines.len() && inner.width > 12 {
        let label = " ↓ more ";
        let x = inner.right().saturating_sub(8);
        buf.set_string(x, rect.bottom().saturating_sub(1), label, theme::selected());
    }
}

pub fn draw_help(focus: Focus, scroll: u16, buf: &mut Buffer, area: Rect) {
    let width = usize::from(area.width.saturating_sub(4).clamp(10, 96));
    let lines = help_lines(focus, width);
    draw_scrolled(
        buf,
        area,
        " Keys · Esc closes · ↑↓ scroll ",
        &lines,
        scroll,
        0,
    );
}

/// The raw view: the request and response JSON, sanitised line by line.
pub fn draw_raw(raw: &RawView, buf: &mut Buffer, area: Rect) {
    let width = usize::from(area.width.saturating_sub(4).max(10));
    let mut lines = Vec::new();
    for text in raw.text.lines() {
        let safe = crate::text::sanitize::sanitize(text);
        let style = if text.starts_with("──") {
            theme::role_label(crate::api::types::Role::System)
        } else {
            Style::default()
        };
        for row in crate::text::wrap::wrap_line(safe.as_str(), width) {
            lines.push(Line::styled(
                safe.as_str().get(row).unwrap_or("").to_string(),
                style,
            ));
        }
    }
    let full = Rect {
        x: area.x,
        y: area.y,
        width: area.width,
        height: area.height,
    };
    let title = sanitize_str(&raw.title);
    // The raw view takes the whole width: JSON reads best wide.
    let padded: Vec<Line<'static>> = lines;
    draw_scrolled(
        buf,
        full,
        &title,
        &padded,
        raw.scroll,
        usize::from(area.width),
    );
}

/// The history browser: search line, conversations (with a snippet under
/// search hits), and the rename / delete prompts.
pub fn draw_history(browser: &HistoryBrowser, buf: &mut Buffer, area: Rect) {
    let rect = centered(area, 110, area.height.saturating_sub(2).max(3));
    let title = if browser.archived {
        " Archived conversations · Tab: active ones · Esc closes "
    } else {
        " History · Enter opens · Ctrl+R rename · Ctrl+A archive · Ctrl+D delete · Ctrl+E export · Tab archived "
    };
    let inner = frame(buf, rect, title);
    if inner.height == 0 {
        return;
    }
    let width = usize::from(inner.width);
    let mut lines: Vec<Line<'static>> = vec![browser_prompt(browser)];
    lines.extend(browser_state(browser));
    let header_rows = lines.len();
    let snippets = browser.items.iter().any(|i| i.snippet.is_some());
    let per_item = if snippets { 2 } else { 1 };
    let visible = (usize::from(inner.height).saturating_sub(header_rows) / per_item).max(1);
    let first = browser.cursor.saturating_sub(visible.saturating_sub(1));
    for (i, item) in browser.items.iter().enumerate().skip(first).take(visible) {
        let style = if i == browser.cursor {
            theme::selected()
        } else {
            Style::default()
        };
        lines.push(item_line(item, style, width));
        if snippets {
            let snippet = item
                .snippet
                .as_deref()
                .map(sanitize_str)
                .unwrap_or_default();
            let cut = truncate_to_width(&snippet, width.saturating_sub(4));
            lines.push(Line::styled(format!("    {cut}"), theme::dim()));
        }
    }
    paint(buf, inner, &lines);
}

/// The browser's first row: the search line, or the rename or delete
/// prompt.
fn browser_prompt(browser: &HistoryBrowser) -> Line<'static> {
    match &browser.mode {
        BrowserMode::Rename(text) => Line::from(vec![
            Span::styled(
                "new title: ",
                theme::role_label(crate::api::types::Role::System),
            ),
            Span::raw(sanitize_str(text)),
            Span::styled("▏ Enter saves · Esc cancels", theme::dim()),
        ]),
        BrowserMode::ConfirmDelete => Line::styled(
            format!(
                "Delete \"{}\" for good? y deletes, any other key keeps it",
                browser
                    .selected()
                    .map(|i| sanitize_str(&i.title))
                    .unwrap_or_default()
            ),
            theme::error(),
        ),
        BrowserMode::List => Line::from(vec![
            Span::styled("search: ", theme::dim()),
            Span::raw(sanitize_str(&browser.query)),
            Span::styled("▏", theme::dim()),
        ]),
    }
}

/// A row under the prompt when there is no list to show: the error,
/// loading, or why the list is empty.
fn browser_state(browser: &HistoryBrowser) -> Option<Line<'static>> {
    if let Some(error) = &browser.error {
        Some(Line::styled(sanitize_str(error), theme::error()))
    } else if browser.loading && browser.items.is_empty() {
        Some(Line::styled("loading…", theme::dim()))
    } else if browser.items.is_empty() {
        let empty = if browser.query.is_empty() {
            "no saved conversations yet"
        } else {
            "no match"
        };
        Some(Line::styled(empty, theme::dim()))
    } else {
        None
    }
}

/// One conversation: its title cut to fit, then when, model, size.
fn item_line(item: &BrowserItem, style: Style, width: usize) -> Line<'static> {
    let meta = format!(
        "  {} · {} · {} messages{}",
        item.when,
        item.model.as_deref().map(sanitize_str).unwrap_or_default(),
        item.messages,
        if item.archived { " · archived" } else { "" }
    );
    let room = width.saturating_sub(crate::text::wrap::display_width(&meta));
    let title = truncate_to_width(&sanitize_str(&item.title), room);
    let pad = room.saturating_sub(crate::text::wrap::display_width(&title));
    Line::from(vec![
        Span::styled(
            format!("{title}{}", " ".repeat(pad)),
            style.patch(Style::default()),
        ),
        Span::styled(meta, style.patch(theme::dim())),
    ])
}

/// Draws `lines` from the top of `inner`, as many as fit.
fn paint(buf: &mut Buffer, inner: Rect, lines: &[Line<'_>]) {
    for (row, line) in lines.iter().enumerate().take(usize::from(inner.height)) {
        buf.set_line(
            inner.x,
            inner.y + u16::try_from(row).unwrap_or(0),
            line,
            inner.width,
        );
    }
}

/// Sending past `budget_monthly_usd`: ask first.
/// The overflow dialog: why, and the answers (SPEC, Context).
pub fn draw_overflow(dialog: &crate::app::context::OverflowDialog, buf: &mut Buffer, area: Rect) {
    let size = dialog.window.map_or_else(
        || "its context window".to_string(),
        |w| format!("its window of {w} tokens"),
    );
    let mut lines = vec![(
        format!(
            "This message is too long for {} — {size} (it needs about {}).",
            sanitize_str(&dialog.model),
            dialog.needed
        ),
        theme::error(),
    )];
    if let Some(said) = &dialog.server_said {
        lines.push((
            format!("The server said: {}", sanitize_str(said)),
            theme::dim(),
        ));
    }
    lines.push((String::new(), Style::default()));
    if dialog.fits_alone {
        lines.push((
            "t  trim: leave out the oldest turns (they stay on screen, marked not sent) and send"
                .to_string(),
            Style::default(),
        ));
        if let Some(cost) = &dialog.summary_cost {
            lines.push((
                format!(
                    "s  summarise the earlier turns first (one more request: {cost}), then send \
                     with the summary in their place"
                ),
                Style::default(),
            ));
        }
        lines.push((
            "n  send it in a new conversation".to_string(),
            Style::default(),
        ));
    } else {
        lines.push((
            "Even alone (with the system prompt) it does not fit: shorten it.".to_string(),
            theme::error(),
        ));
    }
    lines.push((
        "Esc  cancel: the message stays in the input".to_string(),
        Style::default(),
    ));
    let width = area.width.saturating_sub(4).min(96);
    let text_width = usize::from(width.saturating_sub(2)).max(1);
    let mut wrapped: Vec<Line<'static>> = Vec::new();
    for (text, style) in &lines {
        let ranges = crate::text::wrap::wrap_text(text, text_width);
        if ranges.is_empty() {
            wrapped.push(Line::raw(""));
        }
        for range in ranges {
            let row = text.get(range).unwrap_or_default().to_string();
            wrapped.push(Line::styled(row, *style));
        }
    }
    let height = u16::try_from(wrapped.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let rect = centered(area, width, height);
    let inner = frame(buf, rect, " Too long for the model ");
    paint(buf, inner, &wrapped);
}

pub fn draw_confirm_budget(app: &App, buf: &mut Buffer, area: Rect) {
    let Some(budget) = app.usage.budget else {
        return;
    };
    let spent = budget.spent_before_usd + app.usage.totals.cost;
    let lines = [
        Line::styled(
            format!(
                "This month's budget of ${} is spent (${}).",
                crate::chat::usage::format_usd(budget.limit_usd),
                crate::chat::usage::format_usd(spent)
            ),
            theme::error(),
        ),
        Line::raw("Send this request anyway?  y sends · any other key keeps it in the input"),
    ];
    let rect = centered(area, 80, 4);
    let inner = frame(buf, rect, " Monthly budget ");
    paint(buf, inner, &lines);
}
