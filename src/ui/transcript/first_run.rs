//! The first-run panel, drawn instead of the transcript while no API key
//! is set: how to give kaiwa one, or use a local server that needs none.
//!
//! Invariant: the base URL comes from the user's config, yet is sanitised
//! like any other text before it reaches a cell.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use super::styled_rows;
use crate::app::App;
use crate::text::sanitize::sanitize;
use crate::ui::theme;

/// The first-run panel: how to give kaiwa a key, or use a local server.
pub fn draw_first_run(app: &App, buf: &mut Buffer, area: Rect) {
    let base = sanitize(&app.settings.base_url);
    let text = [
        (
            "Welcome to kaiwa — no API key is set",
            Style::default().add_modifier(Modifier::BOLD),
        ),
        ("", Style::default()),
        (
            &*format!("kaiwa talks to {} and needs a key for it:", base.as_str()),
            Style::default(),
        ),
        ("", Style::default()),
        (
            "  • export OPENAI_API_KEY=sk-…   and start kaiwa again",
            Style::default(),
        ),
        ("  • or in ~/.config/kaiwa/config.toml:", Style::default()),
        ("      api_key_cmd = \"pass show openai\"", theme::dim()),
        (
            "  • or use a local server that needs no key:",
            Style::default(),
        ),
        (
            "      kaiwa --base-url http://localhost:8080/v1",
            theme::dim(),
        ),
        ("", Style::default()),
        ("Ctrl+Q quits · F1 shows every key", theme::dim()),
    ]
    .iter()
    .map(|(t, s)| ((*t).to_string(), *s))
    .collect::<Vec<_>>();
    let mut y = area.y;
    for (line, style) in text {
        for row in styled_rows(
            &sanitize(&line),
            usize::from(area.width.saturating_sub(2).max(1)),
            style,
            1,
        ) {
            if y >= area.bottom() {
                return;
            }
            buf.set_line(area.x, y, &row, area.width);
            y += 1;
        }
    }
}
