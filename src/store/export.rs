//! Export: Markdown (the current path, for reading) and JSON (the whole
//! tree, for import), PERSISTENCE-NOTES §0.13.
//!
//! Invariant: the JSON form is versioned (`"format": "kaiwa.conversation",
//! "version": 1`), lists parents before children, and holds everything
//! `import` needs to rebuild the same tree: export → import → export gives
//! the same document. Text is exported exactly as stored.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use rusqlite::OptionalExtension;
use serde_json::{Value, json};

use super::time::iso_utc;
use super::{LoadedConversation, MessageState, Store, StoreError, StoredRole};

/// The `format` of a kaiwa conversation document.
pub const FORMAT: &str = "kaiwa.conversation";
/// Its version.
pub const FORMAT_VERSION: u64 = 1;

impl Store {
    /// The conversation `uid` as a JSON document (the whole tree).
    pub fn export_json(&self, uid: &str) -> Result<Value, StoreError> {
        let loaded = self.load(uid)?;
        let archived_at: Option<i64> = self
            .conn
            .query_row(
                "SELECT archived_at FROM conversations WHERE id = ?1",
                [loaded.summary.id],
                |row| row.get(0),
            )
            .optional()?
            .flatten();
        let uid_of: HashMap<i64, &str> = loaded
            .messages
            .iter()
            .map(|m| (m.id, m.uid.as_str()))
            .collect();
        let messages: Vec<Value> = loaded
            .messages
            .iter()
            .map(|m| {
                let mut message = json!({
                    "uid": m.uid,
                    "parent_uid": m.parent.and_then(|p| uid_of.get(&p)),
                    "role": m.role.as_str(),
                    "content": m.content,
                    "state": m.state.as_str(),
                    "model": m.model,
                    "finish_reason": m.finish_reason,
                    "error": m.error,
                    "skipped": m.skipped,
                    "created_at": m.created_at_ms,
                });
                if let (Some(reasoning), Some(obj)) = (&m.reasoning, message.as_object_mut()) {
                    obj.insert("reasoning".into(), Value::String(reasoning.clone()));
                }
                message
            })
            .collect();
        let s = &loaded.summary;
        Ok(json!({
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "uid": s.uid,
            "title": s.title,
            "created_at": s.created_at_ms,
            "last_active_at": s.last_active_at_ms,
            "archived_at": archived_at,
            "model": s.model,
            "base_url": loaded.base_url,
            "source": loaded.source,
            "source_id": loaded.source_id,
            "head": loaded.head.and_then(|h| uid_of.get(&h)),
            "messages": messages,
        }))
    }

    /// The conversation `uid` as Markdown: front matter, then the current
    /// path as `## User` / `## Assistant (model, time)` sections.
    pub fn export_markdown(&self, uid: &str) -> Result<String, StoreError> {
        let loaded = self.load(uid)?;
        Ok(markdown(&loaded))
    }
}

fn markdown(loaded: &LoadedConversation) -> String {
    let s = &loaded.summary;
    let path = loaded.path();
    let models: BTreeSet<&str> = path.iter().filter_map(|m| m.model.as_deref()).collect();
    let hidden = loaded.messages.len().saturating_sub(path.len());
    let quote = |text: &str| serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into());
    let mut out = String::from("---\n");
    let _ = writeln!(out, "title: {}", quote(s.display_title()));
    let _ = writeln!(out, "uid: {}", s.uid);
    let _ = writeln!(out, "created: {}", iso_utc(s.created_at_ms));
    let _ = writeln!(out, "updated: {}", iso_utc(s.last_active_at_ms));
    let models: Vec<String> = models.iter().map(|m| quote(m)).collect();
    let _ = writeln!(out, "models: [{}]", models.join(", "));
    let _ = writeln!(out, "messages: {}", path.len());
    if hidden > 0 {
        let _ = writeln!(out, "other_branch_messages: {hidden}");
    }
    out.push_str("---\n\n");
    let _ = writeln!(out, "# {}\n", s.display_title());
    for m in &path {
        let who = match m.role {
            StoredRole::System => "System",
            StoredRole::User => "User",
            StoredRole::Assistant => "Assistant",
            StoredRole::Tool => "Tool",
        };
        let when = iso_utc(m.created_at_ms);
        let when = when.get(..16).unwrap_or(&when).replace('T', " ");
        match &m.model {
            Some(model) if m.role != StoredRole::User => {
                let _ = writeln!(out, "## {who} ({model}, {when} UTC)\n");
            }
            _ => {
                let _ = writeln!(out, "## {who}\n");
            }
        }
        if let Some(reasoning) = m
            .reasoning
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            let _ = write!(
                out,
                "<details><summary>thinking</summary>\n\n{reasoning}\n\n</details>\n\n"
            );
        }
        out.push_str(m.content.trim_end());
        out.push_str("\n\n");
        let note = match m.state {
            MessageState::Done | MessageState::Streaming => None,
            MessageState::Stopped => Some("stopped".to_string()),
            MessageState::Interrupted | MessageState::Error => Some(match &m.error {
                Some(e) => format!("interrupted: {e}"),
                None => "interrupted".to_string(),
            }),
        };
        if let Some(note) = note {
            let _ = writeln!(out, "*({note})*\n");
        }
    }
    if hidden > 0 {
        let plural = if hidden == 1 { "message" } else { "messages" };
        let _ = writeln!(
            out,
            "---\n\n*{hidden} {plural} on other branches not shown (export as JSON for the whole tree).*"
        );
    }
    out
}
