//! kaiwa's own export format (`"format": "kaiwa.conversation"`, written by
//! `export.rs`) read back into a conversation ready to import.
//!
//! Invariant: a document from a newer format version is refused with the
//! versions this kaiwa reads, never half-read; a message without a uid, a
//! valid role or text content fails the whole conversation, with which
//! message and why.

use serde_json::Value;

use super::{Incoming, IncomingMessage};
use crate::store::export::FORMAT_VERSION;
use crate::store::{MessageState, StoredRole};

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A kaiwa JSON document (`"format": "kaiwa.conversation"`).
pub(super) fn from_kaiwa(value: &Value) -> Result<Incoming, String> {
    let version = value.get("version").and_then(Value::as_u64).unwrap_or(0);
    if version == 0 || version > FORMAT_VERSION {
        return Err(format!(
            "format version {version} is not one this kaiwa reads (1..={FORMAT_VERSION})"
        ));
    }
    let uid = text(value, "uid")
        .filter(|u| !u.is_empty())
        .ok_or("it has no uid")?
        .to_ascii_lowercase();
    let created = value.get("created_at").and_then(Value::as_i64).unwrap_or(0);
    let list = value
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("it has no `messages` list")?;
    let mut messages = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let n = i + 1;
        let uid = text(m, "uid")
            .filter(|u| !u.is_empty())
            .ok_or_else(|| format!("message {n} has no uid"))?;
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .and_then(StoredRole::parse)
            .ok_or_else(|| format!("message {n} has no valid role"))?;
        let content = m
            .get("content")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("message {n} has no text content"))?
            .to_string();
        let state = match m.get("state").and_then(Value::as_str) {
            None => MessageState::Done,
            Some(s) => {
                MessageState::parse(s).ok_or_else(|| format!("message {n} has state {s:?}"))?
            }
        };
        messages.push(IncomingMessage {
            uid,
            parent_uid: text(m, "parent_uid"),
            role,
            content,
            state,
            model: text(m, "model"),
            finish_reason: text(m, "finish_reason"),
            error: text(m, "error"),
            reasoning: text(m, "reasoning"),
            skipped: m
                .get("skipped")
                .and_then(Value::as_u64)
                .and_then(|s| u32::try_from(s).ok())
                .unwrap_or(0),
            created_at_ms: m
                .get("created_at")
                .and_then(Value::as_i64)
                .unwrap_or(created),
        });
    }
    Ok(Incoming {
        uid,
        title: text(value, "title"),
        created_at_ms: created,
        last_active_at_ms: value
            .get("last_active_at")
            .and_then(Value::as_i64)
            .unwrap_or(created),
        archived_at_ms: value.get("archived_at").and_then(Value::as_i64),
        model: text(value, "model"),
        base_url: text(value, "base_url"),
        source: text(value, "source").unwrap_or_else(|| "kaiwa".to_string()),
        source_id: text(value, "source_id"),
        head: text(value, "head"),
        messages,
    })
}
