//! The status bar, one line: the model, the cumulative counts in SPEC's
//! exact form (`gpt-4o-mini │ prompt 17 · completion 188 · total 205 ·
//! $0.0001`), then what is happening (streaming and speed, a retry wait, a
//! notice). On a narrow screen the notice and activity go first, then the
//! model id is shortened, so the counts stay readable as long as possible.

use std::fmt::Write as _;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use super::theme;
use crate::app::App;
use crate::text::sanitize::sanitize_str;
use crate::text::wrap::{display_width, truncate_to_width};

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// What is happening right now (streaming, a retry wait), if anything.
fn activity(app: &App) -> Option<String> {
    let flight = app.in_flight.as_ref()?;
    let spin = SPINNER
        .get(app.clock.spinner % SPINNER.len())
        .copied()
        .unwrap_or("");
    let mut out = String::new();
    match &flight.retry {
        Some(retry) => {
            let left = app
                .clock
                .now
                .and_then(|now| retry.until.checked_duration_since(now))
                .map_or(0.0, |d| d.as_secs_f64());
            let _ = write!(
                out,
                "{spin} retry {}/2 in {left:.0}s: {}",
                retry.attempt,
                sanitize_str(&retry.cause)
            );
        }
        None if flight.started.is_none() => {
            let _ = write!(out, "{spin} waiting for the server");
        }
        None => {
            let _ = write!(out, "{spin} streaming");
            if let Some(speed) = app.stream_speed() {
                let _ = write!(out, " {speed:.0} tok/s");
            }
        }
    }
    Some(out)
}

/// The counts, with the cost once known — before the first request, a
/// priced model already shows `$0.0000` (SPEC's format has the cost); a
/// local model, which costs nothing, shows none.
fn counts_text(app: &App) -> String {
    let mut text = cost_text(app);
    if let Some(meter) = app.context_meter() {
        text.push_str(" · ");
        text.push_str(&meter.text());
    }
    text
}

/// The counts and the cost.
fn cost_text(app: &App) -> String {
    let mut text = app.usage.totals.status_text();
    let counted = app.usage.totals.priced_requests + app.usage.totals.unpriced_requests;
    let priced = app
        .usage
        .prices
        .lookup(&app.settings.model)
        .is_some_and(|(_, source)| source != crate::chat::pricing::PriceSource::Local);
    if counted == 0 && priced {
        text.push_str(" · $");
        text.push_str(&crate::chat::usage::format_usd(0.0));
    }
    text
}

/// The full text of the status bar.
pub fn status_text(app: &App) -> String {
    let mut out = format!(
        "{} │ {}",
        sanitize_str(&app.settings.model),
        counts_text(app)
    );
    if let Some(activity) = activity(app) {
        let _ = write!(out, " │ {activity}");
    }
    // Errors stay in the status bar (SPEC); other notices are shown beside
    // the input, so the bar keeps its exact format.
    if let Some(notice) = app.notice.as_ref().filter(|n| n.is_error) {
        let _ = write!(out, " │ {}", sanitize_str(&notice.text));
    }
    if let Some(status) = &app.history.status {
        let _ = write!(out, " │ {}", sanitize_str(status));
    }
    if let (Some(used), Some(budget)) = (app.budget_used(), app.usage.budget)
        && used >= 0.8
    {
        let _ = write!(
            out,
            " │ budget {:.0}% of ${:.2}",
            used * 100.0,
            budget.limit_usd
        );
    }
    if let Some(warning) = &app.usage.warning {
        let _ = write!(out, " │ ⚠ {}", sanitize_str(warning));
    }
    out
}

/// The status text fitted to `width` columns: the tail (activity, notice)
/// is cut first, then the model id is shortened; the counts go last.
pub fn fitted_text(app: &App, width: usize) -> String {
    let model = sanitize_str(&app.settings.model);
    let base = format!("{model} │ {}", counts_text(app));
    if display_width(&base) <= width {
        // The counts fit: what follows (activity, notice) is cut at the edge.
        return status_text(app);
    }
    // Then the context meter goes, before the model id is shortened.
    let counts = cost_text(app);
    let base = format!("{model} │ {counts}");
    if display_width(&base) <= width {
        return base;
    }
    // SPEC: the model id is always shown. A long id is shortened to leave
    // room for the counts, down to 12 columns; on a screen too narrow for
    // even that, the id stays whole and the counts are cut at the edge.
    let room = width.saturating_sub(display_width(&counts) + 3);
    if room >= 12 {
        return format!("{} │ {counts}", truncate_to_width(&model, room));
    }
    base
}

pub fn draw(app: &App, buf: &mut Buffer, area: Rect) {
    let style = match &app.notice {
        Some(n) if n.is_error => theme::status_bar_error(),
        _ => theme::status_bar(),
    };
    buf.set_style(area, style);
    let text = fitted_text(app, usize::from(area.width));
    buf.set_stringn(area.x, area.y, &text, usize::from(area.width), style);
    // The meter in colour from 80 % and 95 % (SPEC, Context).
    if let Some(meter) = app.context_meter() {
        let highlight = match meter.level() {
            crate::app::context::Level::Normal => None,
            crate::app::context::Level::High => Some(theme::status_warning()),
            crate::app::context::Level::Full => Some(theme::status_bar_error()),
        };
        let label = meter.text();
        if let (Some(highlight), Some(at)) = (highlight, text.find(&label)) {
            let column = display_width(text.get(..at).unwrap_or_default());
            let x = area
                .x
                .saturating_add(u16::try_from(column).unwrap_or(u16::MAX));
            let width = u16::try_from(display_width(&label)).unwrap_or(0);
            if x < area.right() {
                let span = Rect::new(x, area.y, width.min(area.right() - x), 1);
                buf.set_style(span, highlight);
            }
        }
    }
}
