//! Popups drawn over the screen: the model menu and the key help (generated
//! from the keymap table, so it lists exactly what the keys do).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Widget};

use super::theme;
use crate::app::App;
use crate::app::keymap::{BINDINGS, Context};
use crate::app::model_menu::{ModelMenu, ModelsState};
use crate::text::sanitize::sanitize_str;

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
    Clear.render(rect, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme::border())
        .title(title.to_string());
    let inner = block.inner(rect);
    block.render(rect, buf);
    inner
}

pub fn draw_model_menu(app: &App, menu: &ModelMenu, buf: &mut Buffer, area: Rect) {
    let visible = menu.visible();
    let rows = u16::try_from(visible.len())
        .unwrap_or(u16::MAX)
        .saturating_add(5);
    let rect = centered(
        area,
        60,
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
    let mut lines: Vec<Line<'static>> = vec![Line::from(vec![
        Span::styled("filter: ", theme::dim()),
        Span::raw(sanitize_str(&menu.filter)),
        Span::styled("▏", theme::dim()),
    ])];
    match &app.models {
        ModelsState::Loading => {
            lines.push(Line::styled("loading the server's models…", theme::dim()));
        }
        ModelsState::Failed(why) => lines.push(Line::styled(
            format!("server list unavailable: {}", sanitize_str(why)),
            theme::error(),
        )),
        ModelsState::Loaded(_) => {}
    }
    let list_rows = usize::from(inner.height).saturating_sub(lines.len());
    if visible.is_empty() {
        lines.push(Line::styled("no model matches", theme::dim()));
    }
    // Keep the cursor in view.
    let first = menu.cursor.saturating_sub(list_rows.saturating_sub(1));
    for (i, id) in visible.iter().enumerate().skip(first).take(list_rows) {
        let current = *id == app.settings.model;
        let mark = if current { "● " } else { "  " };
        let style = if i == menu.cursor {
            theme::selected()
        } else {
            Style::default()
        };
        lines.push(Line::styled(format!("{mark}{}", sanitize_str(id)), style));
    }
    for (row, line) in lines.iter().enumerate().take(usize::from(inner.height)) {
        let y = inner.y + u16::try_from(row).unwrap_or(0);
        buf.set_line(inner.x, y, line, inner.width);
    }
}

/// Every binding, grouped by where it applies.
pub fn help_lines() -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for context in [
        Context::Input,
        Context::Streaming,
        Context::Global,
        Context::ModelMenu,
        Context::Help,
    ] {
        lines.push(Line::styled(
            context.title().to_string(),
            theme::role_label(crate::api::types::Role::System),
        ));
        for binding in BINDINGS.iter().filter(|b| b.context == context) {
            lines.push(Line::from(vec![
                Span::raw(format!("  {:<30} ", binding.label)),
                Span::raw(binding.description),
            ]));
        }
        lines.push(Line::default());
    }
    lines.push(Line::styled(
        "Shift+Enter needs the kitty keyboard protocol; Alt+Enter and Ctrl+J always work.",
        theme::dim(),
    ));
    lines.push(Line::styled(
        "Mouse: the wheel scrolls; Shift+drag or F12 selects text in most terminals.",
        theme::dim(),
    ));
    lines
}

pub fn draw_help(scroll: u16, buf: &mut Buffer, area: Rect) {
    let lines = help_lines();
    let rect = centered(
        area,
        100,
        u16::try_from(lines.len() + 2).unwrap_or(u16::MAX),
    );
    let inner = frame(buf, rect, " Keys · Esc closes ");
    let skip = usize::from(scroll).min(lines.len().saturating_sub(usize::from(inner.height)));
    for (row, line) in lines
        .iter()
        .skip(skip)
        .take(usize::from(inner.height))
        .enumerate()
    {
        buf.set_line(
            inner.x,
            inner.y + u16::try_from(row).unwrap_or(0),
            line,
            inner.width,
        );
    }
}
