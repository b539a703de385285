//! The first-run panel, drawn instead of the transcript while no API key
//! is set: the servers found on this machine (SPEC, First run) to choose
//! from, and how to give kaiwa a key, or use a local server that needs none.
//!
//! Invariant: the base URL comes from the user's config, yet is sanitised
//! like any other text before it reaches a cell.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use super::styled_rows;
use crate::app::App;
use crate::app::first_run::FirstRun;
use crate::text::sanitize::sanitize;
use crate::ui::theme;

/// The first-run panel: how to give kaiwa a key, or use a local server.
pub fn draw_first_run(app: &App, buf: &mut Buffer, area: Rect) {
    let base = sanitize(&app.settings.base_url);
    let mut text = vec![
        (
            "Welcome to kaiwa — no API key is set".to_string(),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        (String::new(), Style::default()),
    ];
    if let Some(first_run) = &app.first_run {
        text.extend(local_servers(first_run));
        text.push((String::new(), Style::default()));
    }
    let others: Vec<&str> = app
        .settings
        .providers
        .iter()
        .map(String::as_str)
        .filter(|name| *name != crate::provider::DEFAULT)
        .collect();
    if !others.is_empty() {
        text.push((
            format!(
                "Other providers are ready: F2 lists the models of {}.",
                others.join(", ")
            ),
            Style::default().add_modifier(Modifier::BOLD),
        ));
        text.push((String::new(), Style::default()));
    }
    let rest = [
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
    ];
    text.extend(rest.iter().map(|(t, s)| ((*t).to_string(), *s)));
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

/// What the search of this machine found, as lines: each server as
/// `127.0.0.1:PORT (kind)` with its models, the selected one marked.
fn local_servers(first_run: &FirstRun) -> Vec<(String, Style)> {
    if first_run.searching && first_run.servers.is_empty() {
        return vec![(
            "Looking for a server on this machine (127.0.0.1)…".to_string(),
            theme::dim(),
        )];
    }
    if first_run.servers.is_empty() {
        return vec![(
            "No server found on this machine (Ollama, LM Studio, llama.cpp, vLLM, LiteLLM, Jan, \
             KoboldCpp on their usual ports)."
                .to_string(),
            theme::dim(),
        )];
    }
    let selected = first_run.choices().get(first_run.cursor).copied();
    let mut lines = vec![(
        "Found on this machine — no key needed:".to_string(),
        Style::default().add_modifier(Modifier::BOLD),
    )];
    for (s, server) in first_run.servers.iter().enumerate() {
        let head = format!("  {} ({})", server.address, server.kind);
        if server.needs_key {
            lines.push((format!("{head} — needs a key"), theme::dim()));
            continue;
        }
        lines.push((head, Style::default()));
        for (m, model) in server.models.iter().enumerate() {
            if selected == Some((s, m)) {
                lines.push((format!("  ▸ {model}"), theme::selected()));
            } else {
                lines.push((format!("    {model}"), Style::default()));
            }
        }
    }
    if first_run.searching {
        lines.push((
            "  (still looking on the other ports…)".to_string(),
            theme::dim(),
        ));
    }
    if selected.is_some() {
        lines.push((
            "Enter uses the selected model for this run · s also saves it to the config file · \
             ↑↓ choose"
                .to_string(),
            theme::dim(),
        ));
    }
    lines
}
