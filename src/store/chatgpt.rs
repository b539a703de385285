//! ChatGPT's data export (`conversations.json`) read into kaiwa's shape,
//! as PERSISTENCE-NOTES §5 describes it.
//!
//! Invariants: the whole tree is kept (`current_node` becomes the head);
//! hidden nodes (no content, visually hidden, system prompts the user did
//! not write, tool calls, thoughts, browsing displays, `weight` 0) are
//! dropped and their children re-parented to the nearest kept ancestor;
//! nothing assumes a field exists (`parts`, times and titles may be missing
//! or null); ids are derived from ChatGPT's, so importing again finds the
//! same rows.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::import::{Incoming, IncomingMessage};
use super::uid::derived_uid;
use super::{MessageState, StoredRole};

/// Content types that are never shown in ChatGPT's own view.
const HIDDEN_TYPES: &[&str] = &[
    "thoughts",
    "reasoning_recap",
    "tether_browsing_display",
    "user_editable_context",
    "model_editable_context",
    "sonic_webpage",
];

/// Whether a JSON value looks like a ChatGPT conversation.
pub(crate) fn is_chatgpt(value: &Value) -> bool {
    value.get("mapping").is_some_and(Value::is_object)
}

fn seconds_to_ms(value: Option<&Value>) -> Option<i64> {
    let secs = value?.as_f64()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    #[allow(
        clippy::cast_possible_truncation,
        reason = "seconds since 1970 times 1000 fits easily"
    )]
    let ms = (secs * 1000.0).round() as i64;
    Some(ms)
}

/// One conversation; `Ok(None)` when nothing in it is visible.
pub(crate) fn parse<'a>(value: &'a Value) -> Result<Option<Incoming>, String> {
    let id = value
        .get("conversation_id")
        .and_then(Value::as_str)
        .or_else(|| value.get("id").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .ok_or("it has no conversation id")?;
    let mapping = value
        .get("mapping")
        .and_then(Value::as_object)
        .ok_or("it has no `mapping`")?;
    let title = value
        .get("title")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let default_model = value
        .get("default_model_slug")
        .and_then(Value::as_str)
        .map(str::to_string);
    let create = seconds_to_ms(value.get("create_time"));
    let update = seconds_to_ms(value.get("update_time"));

    let (order, parent_of, kept) = tree(mapping, default_model.as_deref());
    if kept.is_empty() {
        return Ok(None);
    }

    let nearest_kept = |start: Option<&'a str>| nearest(start, &kept, &parent_of, mapping.len());

    let conv_ms = create
        .or_else(|| kept.values().filter_map(|v| v.time).min())
        .or(update)
        .unwrap_or(0);
    let uid_of = |node: &str, ms: i64| derived_uid(ms, &format!("chatgpt:{id}:{node}"));

    let times = fill_times(&order, &kept, &parent_of, conv_ms);

    let mut messages = Vec::new();
    let mut seen = HashSet::new();
    for key in order {
        let Some(v) = kept.get(key) else { continue };
        let time = times.get(key).copied().unwrap_or(conv_ms);
        let parent = nearest_kept(parent_of.get(key).copied().flatten());
        let parent_uid = parent.map(|p| uid_of(p, times.get(p).copied().unwrap_or(conv_ms)));
        let uid = uid_of(key, time);
        if !seen.insert(uid.clone()) {
            continue;
        }
        messages.push(IncomingMessage {
            uid,
            parent_uid,
            role: v.role,
            content: v.text.clone(),
            state: v.state,
            model: v.model.clone(),
            finish_reason: v.finish_reason.clone(),
            error: None,
            skipped: 0,
            created_at_ms: time,
            reasoning: None,
        });
    }
    let head = value
        .get("current_node")
        .and_then(Value::as_str)
        .filter(|n| mapping.contains_key(*n))
        .and_then(|n| nearest_kept(Some(n)))
        .map(|n| uid_of(n, times.get(n).copied().unwrap_or(conv_ms)));
    let last = messages
        .iter()
        .map(|m| m.created_at_ms)
        .max()
        .unwrap_or(conv_ms);
    let archived = value
        .get("is_archived")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let last_active = update.unwrap_or(last).max(last);
    Ok(Some(Incoming {
        uid: derived_uid(conv_ms, &format!("chatgpt:{id}")),
        title,
        created_at_ms: conv_ms,
        last_active_at_ms: last_active,
        archived_at_ms: archived.then_some(last_active),
        model: default_model,
        base_url: None,
        source: "chatgpt".to_string(),
        source_id: Some(id.to_string()),
        head,
        messages,
    }))
}

/// The file's node order, every node's parent, and the nodes worth keeping.
type Tree<'a> = (
    Vec<&'a str>,
    HashMap<&'a str, Option<&'a str>>,
    HashMap<&'a str, Visible>,
);

fn tree<'a>(mapping: &'a serde_json::Map<String, Value>, default_model: Option<&str>) -> Tree<'a> {
    let order: Vec<&str> = mapping.keys().map(String::as_str).collect();
    let parent_of: HashMap<&str, Option<&str>> = mapping
        .iter()
        .map(|(key, node)| {
            let parent = node
                .get("parent")
                .and_then(Value::as_str)
                .filter(|p| mapping.contains_key(*p) && *p != key.as_str());
            (key.as_str(), parent)
        })
        .collect();
    let kept: HashMap<&str, Visible> = mapping
        .iter()
        .filter_map(|(key, node)| {
            node.get("message")
                .filter(|m| m.is_object())
                .and_then(|m| visible(m, default_model))
                .map(|v| (key.as_str(), v))
        })
        .collect();
    (order, parent_of, kept)
}

/// Every kept node's time: its own, else its kept parent's, else the
/// conversation's (ChatGPT exports may have null times).
fn fill_times<'a>(
    order: &[&'a str],
    kept: &HashMap<&'a str, Visible>,
    parent_of: &HashMap<&'a str, Option<&'a str>>,
    conv_ms: i64,
) -> HashMap<&'a str, i64> {
    let mut times: HashMap<&str, i64> = HashMap::new();
    let mut pending: Vec<&str> = order
        .iter()
        .copied()
        .filter(|k| kept.contains_key(k))
        .collect();
    let limit = order.len();
    let mut rounds = 0;
    while !pending.is_empty() && rounds <= limit {
        rounds += 1;
        pending.retain(|key| {
            let own = kept.get(key).and_then(|v| v.time);
            let parent = nearest(
                parent_of.get(key).copied().flatten(),
                kept,
                parent_of,
                limit,
            );
            let time = match (own, parent) {
                (Some(t), _) => Some(t),
                (None, None) => Some(conv_ms),
                (None, Some(p)) => times.get(p).copied(),
            };
            match time {
                Some(t) => {
                    times.insert(key, t);
                    false
                }
                None => true,
            }
        });
    }
    times
}

/// The nearest kept node at or above `start` (cycle-safe: at most `limit`
/// steps).
fn nearest<'a>(
    start: Option<&'a str>,
    kept: &HashMap<&'a str, Visible>,
    parent_of: &HashMap<&'a str, Option<&'a str>>,
    limit: usize,
) -> Option<&'a str> {
    let mut node = start;
    let mut steps = 0;
    while let Some(n) = node {
        if kept.contains_key(n) {
            return Some(n);
        }
        steps += 1;
        if steps > limit {
            return None;
        }
        node = parent_of.get(n).copied().flatten();
    }
    None
}

/// What a kept node contributes.
struct Visible {
    role: StoredRole,
    text: String,
    time: Option<i64>,
    model: Option<String>,
    state: MessageState,
    finish_reason: Option<String>,
}

/// The node's message if ChatGPT would show it (spec §7), else None.
fn visible(message: &Value, default_model: Option<&str>) -> Option<Visible> {
    let metadata = message.get("metadata");
    let flag = |name: &str| {
        metadata
            .and_then(|m| m.get(name))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    if flag("is_visually_hidden_from_conversation") {
        return None;
    }
    if message
        .get("weight")
        .and_then(Value::as_f64)
        .is_some_and(|w| w == 0.0)
    {
        return None;
    }
    let content = message.get("content").filter(|c| c.is_object())?;
    let content_type = content
        .get("content_type")
        .and_then(Value::as_str)
        .unwrap_or("text");
    if HIDDEN_TYPES.contains(&content_type) {
        return None;
    }
    let role = match message
        .get("author")
        .and_then(|a| a.get("role"))
        .and_then(Value::as_str)?
    {
        "system" if flag("is_user_system_message") => StoredRole::System,
        "user" => StoredRole::User,
        "assistant" => {
            let recipient = message
                .get("recipient")
                .and_then(Value::as_str)
                .unwrap_or("all");
            if recipient != "all" {
                return None;
            }
            StoredRole::Assistant
        }
        "tool"
            if matches!(
                content_type,
                "execution_output" | "tether_quote" | "multimodal_text"
            ) =>
        {
            StoredRole::Tool
        }
        _ => return None,
    };
    let text = text_of(content, content_type)?;
    if text.trim().is_empty() {
        return None;
    }
    let model = (role == StoredRole::Assistant)
        .then(|| {
            metadata
                .and_then(|m| m.get("model_slug"))
                .and_then(Value::as_str)
                .or(default_model)
                .map(str::to_string)
        })
        .flatten();
    let state = match message.get("status").and_then(Value::as_str) {
        Some("in_progress") => MessageState::Interrupted,
        _ => MessageState::Done,
    };
    let finish_reason = metadata
        .and_then(|m| m.get("finish_details"))
        .and_then(|f| f.get("type"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Some(Visible {
        role,
        text,
        time: seconds_to_ms(message.get("create_time")),
        model,
        state,
        finish_reason,
    })
}

/// The text of a `content` object: string parts joined, object parts as
/// placeholders (`[image]`), code and tool output as their `text`.
fn text_of(content: &Value, content_type: &str) -> Option<String> {
    if let Some(parts) = content.get("parts").and_then(Value::as_array) {
        let pieces: Vec<String> = parts.iter().filter_map(part_text).collect();
        return Some(pieces.join("\n"));
    }
    let text = content.get("text").and_then(Value::as_str)?;
    Some(match content_type {
        "code" => {
            let lang = content
                .get("language")
                .and_then(Value::as_str)
                .filter(|l| *l != "unknown")
                .unwrap_or("");
            format!("```{lang}\n{text}\n```")
        }
        "execution_output" => format!("```\n{text}\n```"),
        _ => text.to_string(),
    })
}

fn part_text(part: &Value) -> Option<String> {
    match part {
        Value::String(s) => Some(s.clone()),
        Value::Object(obj) => {
            let kind = obj
                .get("content_type")
                .and_then(Value::as_str)
                .unwrap_or("attachment");
            if let Some(text) = obj.get("text").and_then(Value::as_str) {
                return Some(text.to_string());
            }
            Some(match kind {
                "image_asset_pointer" => "[image]".to_string(),
                k if k.contains("audio") => "[audio]".to_string(),
                k if k.contains("video") => "[video]".to_string(),
                k => format!("[{k}]"),
            })
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::Array(_) => None,
    }
}
