//! The status bar, one line: the model, the cumulative counts in SPEC's
//! exact form (`gpt-4o-mini │ prompt 17 · completion 188 · total 205 ·
//! $0.0001`), then what is happening (streaming and speed, a retry wait, a
//! notice). The counts come first so a narrow screen cuts the notice, never
//! them.

use std::fmt::Write as _;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

use super::theme;
use crate::app::App;
use crate::text::sanitize::sanitize_str;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// The text of the status bar.
pub fn status_text(app: &App) -> String {
    let mut out = format!(
        "{} │ {}",
        sanitize_str(&app.settings.model),
        app.totals.status_text()
    );
    if let Some(flight) = &app.in_flight {
        let spin = SPINNER
            .get(app.spinner % SPINNER.len())
            .copied()
            .unwrap_or("");
        match &flight.retry {
            Some(retry) => {
                let left = app
                    .now
                    .and_then(|now| retry.until.checked_duration_since(now))
                    .map_or(0.0, |d| d.as_secs_f64());
                let _ = write!(
                    out,
                    " │ {spin} retry {}/2 in {left:.0}s: {}",
                    retry.attempt,
                    sanitize_str(&retry.cause)
                );
            }
            None if flight.started.is_none() => {
                let _ = write!(out, " │ {spin} waiting for the server");
            }
            None => {
                let _ = write!(out, " │ {spin} streaming");
                if let Some(speed) = app.stream_speed() {
                    let _ = write!(out, " {speed:.0} tok/s");
                }
            }
        }
    }
    if let Some(notice) = &app.notice {
        let _ = write!(out, " │ {}", sanitize_str(&notice.text));
    }
    out
}

pub fn draw(app: &App, buf: &mut Buffer, area: Rect) {
    buf.set_style(area, theme::status_bar());
    let text = status_text(app);
    let style = match &app.notice {
        Some(n) if n.is_error => theme::status_bar(),
        _ => theme::status_bar(),
    };
    buf.set_stringn(
        area.x,
        area.y,
        &text,
        usize::from(area.width),
        style.patch(Style::default()),
    );
}
