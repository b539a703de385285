//! `kaiwa history list` and `kaiwa history search`: every conversation
//! (newest activity first, archived ones apart), or those matching a query
//! with a snippet; as an aligned table or `--json`.
//!
//! Invariant: the JSON field names are the documented, stable ones (README,
//! "History"); the table is sanitised on a terminal only.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{first_line, open, out, out_json, say, shown};
use crate::cli_io::{Exit, Io};
use crate::config::Config;
use crate::store::{ConversationSummary, SearchHit, StoreError};

/// Conversations per page when listing everything.
const PAGE: usize = 500;
/// Most conversations a search prints.
const SEARCH_LIMIT: usize = 100;

fn summary_json(s: &ConversationSummary) -> Value {
    json!({
        "uid": s.uid,
        "title": s.title,
        "preview": s.preview,
        "model": s.model,
        "created_at": s.created_at_ms,
        "last_active_at": s.last_active_at_ms,
        "archived": s.archived,
        "messages": s.message_count,
    })
}

pub(super) fn list(
    config: &Config,
    archived: bool,
    as_json: bool,
    io: &mut Io<'_>,
) -> Result<Exit, StoreError> {
    let store = match open(config, io, false) {
        Ok(store) => store,
        Err(code) => return Ok(code),
    };
    let mut rows: Vec<ConversationSummary> = Vec::new();
    if let Some(store) = &store {
        let mut cursor = None;
        loop {
            let page = store.list(archived, PAGE, cursor)?;
            let full = page.len() == PAGE;
            cursor = page.last().map(ConversationSummary::cursor);
            rows.extend(page);
            if !full {
                break;
            }
        }
    }
    if as_json {
        let list: Vec<Value> = rows.iter().map(summary_json).collect();
        out_json(io, &list);
        return Ok(Exit::Ok);
    }
    if rows.is_empty() {
        let which = if archived { "archived " } else { "" };
        say(io, &format!("no {which}conversations saved yet"));
        return Ok(Exit::Ok);
    }
    let model_width = rows
        .iter()
        .map(|r| r.model.as_deref().unwrap_or("-").chars().count())
        .max()
        .unwrap_or(0)
        .clamp(5, 32);
    let mut text = format!(
        "{:<26}  {:<16}  {:<model_width$}  {:>5}  TITLE\n",
        "ID", "LAST ACTIVE", "MODEL", "MSGS"
    );
    for r in &rows {
        let model = shown(io, r.model.as_deref().unwrap_or("-"));
        let title = shown(io, first_line(r.display_title()));
        let _ = writeln!(
            text,
            "{:<26}  {:<16}  {:<model_width$}  {:>5}  {}",
            r.uid, r.last_active_local, model, r.message_count, title
        );
    }
    let _ = out(io, &text);
    Ok(Exit::Ok)
}

fn hit_json(h: &SearchHit) -> Value {
    let mut value = summary_json(&h.conversation);
    if let Some(obj) = value.as_object_mut() {
        obj.insert("matches".into(), json!(h.matches));
        obj.insert("message_uid".into(), json!(h.message_uid));
        obj.insert("snippet".into(), json!(h.snippet));
    }
    value
}

pub(super) fn search(
    config: &Config,
    query: &str,
    as_json: bool,
    io: &mut Io<'_>,
) -> Result<Exit, StoreError> {
    let store = match open(config, io, false) {
        Ok(store) => store,
        Err(code) => return Ok(code),
    };
    let hits = match &store {
        Some(store) => store.search(query, SEARCH_LIMIT)?,
        None => Vec::new(),
    };
    if as_json {
        let list: Vec<Value> = hits.iter().map(hit_json).collect();
        out_json(io, &list);
        return Ok(Exit::Ok);
    }
    if hits.is_empty() {
        say(io, "nothing found");
        return Ok(Exit::Ok);
    }
    let mut text = String::new();
    for h in &hits {
        let c = &h.conversation;
        let plural = if h.matches == 1 { "match" } else { "matches" };
        let archived = if c.archived { " [archived]" } else { "" };
        let _ = write!(
            text,
            "{:<26}  {:<16}  {}{archived} ({} {plural})\n    {}\n",
            c.uid,
            c.last_active_local,
            shown(io, first_line(c.display_title())),
            h.matches,
            shown(io, &h.snippet),
        );
    }
    let _ = out(io, &text);
    Ok(Exit::Ok)
}
