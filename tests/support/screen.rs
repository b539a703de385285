//! kaiwa's screen as the PTY tests read it (rows from [`super::pty::screen_rows`]): the
//! transcript, the input box and its border, the status bar, and the waits on them; what the
//! status bar says for gpt-4o-mini.
//!
//! The input box's top border is the last row above the status bar drawn as a line (a run of
//! `─`); the input box is the rows between it and the status bar, the transcript the rows above
//! it.

#![allow(
    clippy::indexing_slicing,
    reason = "indices come from searches of the same rows"
)]

use super::pty::{Tui, screen_rows, status_of};

/// The row of the input box's top border: the last row above the status bar drawn as a line.
pub fn input_border(rows: &[String]) -> Option<usize> {
    let status = rows.iter().rposition(|r| !r.trim().is_empty())?;
    rows[..status].iter().rposition(|r| r.contains("─────"))
}

/// The rows of the input box: between its border and the status bar, trimmed.
pub fn input_rows(rows: &[String]) -> Vec<String> {
    let status = rows.iter().rposition(|r| !r.trim().is_empty()).unwrap_or(0);
    let border = input_border(rows).unwrap_or(status);
    rows[border + 1..status]
        .iter()
        .map(|r| r.trim().to_owned())
        .collect()
}

/// The text of the input box: its rows joined with `\n`; empty when there is no input box (while
/// the editor runs the screen may be empty).
pub fn input_text(rows: &[String]) -> String {
    if input_border(rows).is_none() {
        return String::new();
    }
    input_rows(rows).join("\n")
}

/// The transcript's rows: everything above the input box's border.
pub fn transcript_rows(rows: &[String]) -> Vec<String> {
    let border = input_border(rows).unwrap_or(rows.len());
    rows[..border].to_vec()
}

/// The transcript as text: its rows joined with `\n`.
pub fn transcript_text(rows: &[String]) -> String {
    transcript_rows(rows).join("\n")
}

/// Whether the status bar shows an answer on its way (streaming, or waiting for the server).
fn answer_in_flight(bar: &str) -> bool {
    bar.contains("streaming") || bar.contains("waiting for the server")
}

/// Waits until the answer that is streaming has ended (the bar no longer shows a stream).
pub fn wait_idle(tui: &Tui) {
    tui.wait_until("the answer to end", |s| !answer_in_flight(&status_of(s)));
}

/// Waits until `text` is on screen and the answer that brought it has ended (the input's
/// border no longer offers Esc to stop it and the status bar no longer shows a stream).
pub fn wait_answered(tui: &Tui, text: &str) {
    tui.wait_for(text);
    tui.wait_until("the answer to end", |s| {
        let rows = screen_rows(s);
        let border = input_border(&rows).map_or("", |i| rows[i].as_str());
        !border.contains("Esc stops") && !answer_in_flight(&status_of(s))
    });
}

/// The status bar SPEC prescribes, priced as `src/chat/pricing.rs` prices gpt-4o-mini
/// ($0.15 prompt, $0.60 completion per 1M tokens).
pub fn mini_status(prompt: u64, completion: u64) -> String {
    let cost = (prompt as f64 * 0.15 + completion as f64 * 0.60) / 1_000_000.0;
    format!(
        "gpt-4o-mini │ prompt {prompt} · completion {completion} · total {} · ${}",
        prompt + completion,
        usd(cost)
    )
}

/// SPEC: "show enough decimals for a non-zero figure (at least 4)" — as `format_usd` does.
pub fn usd(cost: f64) -> String {
    let mut decimals = 4_u8;
    while decimals < 10 && cost > 0.0 && cost < 10_f64.powi(-i32::from(decimals)) {
        decimals += 1;
    }
    let decimals = usize::from(decimals);
    format!("{cost:.decimals$}")
}
