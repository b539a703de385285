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
pub(crate) fn parse(value: &Value) -> Result<Option<Incoming>, String> {
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

    let mut nearest = Nearest {
        kept: &kept,
        parent_of: &parent_of,
        found: HashMap::new(),
    };

    let conv_ms = create
        .or_else(|| kept.values().filter_map(|v| v.time).min())
        .or(update)
        .unwrap_or(0);
    let uid_of = |node: &str, ms: i64| derived_uid(ms, &format!("chatgpt:{id}:{node}"));

    let times = fill_times(&order, &mut nearest, conv_ms);

    let mut messages = Vec::new();
    let mut seen = HashSet::new();
    for key in order {
        let Some(v) = kept.get(key) else { continue };
        let time = times.get(key).copied().unwrap_or(conv_ms);
        let parent = nearest.of(parent_of.get(key).copied().flatten());
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
        .and_then(|n| nearest.of(Some(n)))
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
/// conversation's (ChatGPT exports may have null times). Each node is
/// settled once, walking up to the first ancestor whose time is known, so
/// a 50,000-deep chain listed leaf first costs linear time; a loop of kept
/// nodes without times takes the conversation's.
fn fill_times<'a>(
    order: &[&'a str],
    nearest: &mut Nearest<'a, '_>,
    conv_ms: i64,
) -> HashMap<&'a str, i64> {
    let mut times: HashMap<&str, i64> = HashMap::new();
    for &start in order {
        if times.contains_key(start) || !nearest.kept.contains_key(start) {
            continue;
        }
        // The kept nodes from `start` up to one with a time, none with one.
        let mut chain: Vec<&str> = Vec::new();
        let mut on_chain: HashSet<&str> = HashSet::new();
        let mut node = Some(start);
        let time = loop {
            let Some(n) = node else { break conv_ms };
            if let Some(t) = times.get(n) {
                break *t;
            }
            if let Some(t) = nearest.kept.get(n).and_then(|v| v.time) {
                times.insert(n, t);
                break t;
            }
            if !on_chain.insert(n) {
                break conv_ms; // a loop
            }
            chain.push(n);
            node = nearest.of(nearest.parent_of.get(n).copied().flatten());
        };
        for n in chain {
            times.insert(n, time);
        }
    }
    times
}

/// The nearest kept node at or above a node. What a walk up through hidden
/// nodes found is remembered for each of them, so any shape of file costs
/// linear time; a loop of hidden nodes ends the walk (cycle-safe).
struct Nearest<'a, 'm> {
    kept: &'m HashMap<&'a str, Visible>,
    parent_of: &'m HashMap<&'a str, Option<&'a str>>,
    found: HashMap<&'a str, Option<&'a str>>,
}

impl<'a> Nearest<'a, '_> {
    fn of(&mut self, start: Option<&'a str>) -> Option<&'a str> {
        let mut walked: Vec<&'a str> = Vec::new();
        let mut seen: HashSet<&'a str> = HashSet::new();
        let mut node = start;
        let answer = loop {
            let Some(n) = node else { break None };
            if self.kept.contains_key(n) {
                break Some(n);
            }
            if let Some(known) = self.found.get(n) {
                break *known;
            }
            if !seen.insert(n) {
                break None; // a loop of hidden nodes
            }
            walked.push(n);
            node = self.parent_of.get(n).copied().flatten();
        };
        for n in walked {
            self.found.insert(n, answer);
        }
        answer
    }
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::{Value, json};

    use super::*;

    fn node(id: &str, parent: Option<&str>, role: &str, hidden: bool, time: Option<f64>) -> Value {
        json!({
            "id": id,
            "parent": parent,
            "message": {
                "author": {"role": role},
                "create_time": time,
                "content": {"content_type": "text", "parts": [id]},
                "metadata": {"is_visually_hidden_from_conversation": hidden}
            }
        })
    }

    fn conversation(nodes: Vec<(String, Value)>) -> Value {
        let mapping: serde_json::Map<String, Value> = nodes.into_iter().collect();
        json!({"conversation_id": "c", "mapping": mapping})
    }

    /// Each message's parent's text, by its own text.
    fn parents(incoming: &Incoming) -> HashMap<String, Option<String>> {
        let text: HashMap<&str, &str> = incoming
            .messages
            .iter()
            .map(|m| (m.uid.as_str(), m.content.as_str()))
            .collect();
        incoming
            .messages
            .iter()
            .map(|m| {
                let parent = m.parent_uid.as_deref().and_then(|p| text.get(p));
                (m.content.clone(), parent.map(|p| (*p).to_string()))
            })
            .collect()
    }

    /// Linear in the size of the tree whatever its shape: a 20,000-deep
    /// chain listed leaf first whose times are all null but the root's (a
    /// pass per level took minutes), and 20,000 answers under a 20,000-long
    /// chain of hidden nodes (a walk up per answer took as long).
    #[test]
    fn a_deep_chain_and_a_long_hidden_chain_take_one_pass() {
        let nodes = (0..20_000)
            .rev()
            .map(|i: usize| {
                let parent = (i > 0).then(|| format!("n{}", i - 1));
                let time = (i == 0).then_some(1_000.0);
                let role = if i.is_multiple_of(2) {
                    "user"
                } else {
                    "assistant"
                };
                let id = format!("n{i}");
                let value = node(&id, parent.as_deref(), role, false, time);
                (id, value)
            })
            .collect();
        let chain = parse(&conversation(nodes)).unwrap().unwrap();
        assert_eq!(chain.messages.len(), 20_000);
        assert!(chain.messages.iter().all(|m| m.created_at_ms == 1_000_000));
        let up = parents(&chain);
        assert_eq!(up.get("n0"), Some(&None));
        assert_eq!(up.get("n19999"), Some(&Some("n19998".to_string())));

        let mut nodes = vec![("r".to_string(), node("r", None, "user", false, Some(5.0)))];
        for i in 0..20_000 {
            let parent = if i == 0 {
                "r".to_string()
            } else {
                format!("h{}", i - 1)
            };
            let id = format!("h{i}");
            nodes.push((id.clone(), node(&id, Some(&parent), "user", true, None)));
        }
        for i in 0..20_000 {
            let id = format!("l{i}");
            nodes.push((
                id.clone(),
                node(&id, Some("h19999"), "assistant", false, None),
            ));
        }
        let star = parse(&conversation(nodes)).unwrap().unwrap();
        assert_eq!(star.messages.len(), 20_001);
        let up = parents(&star);
        assert!((0..20_000).all(|i| up.get(&format!("l{i}")) == Some(&Some("r".to_string()))));
        assert!(star.messages.iter().all(|m| m.created_at_ms == 5_000));
    }

    /// Loops end: kept messages in a loop without times take the
    /// conversation's time (the store refuses the loop itself), and the
    /// children of a loop of hidden nodes become roots.
    #[test]
    fn loops_of_kept_or_hidden_nodes_end() {
        let nodes = vec![
            ("a".to_string(), node("a", Some("c"), "user", false, None)),
            (
                "b".to_string(),
                node("b", Some("a"), "assistant", false, None),
            ),
            ("c".to_string(), node("c", Some("b"), "user", false, None)),
            ("x".to_string(), node("x", Some("y"), "user", true, None)),
            ("y".to_string(), node("y", Some("x"), "user", true, None)),
            (
                "k".to_string(),
                node("k", Some("x"), "assistant", false, Some(7.0)),
            ),
        ];
        let mut value = conversation(nodes);
        value["create_time"] = json!(3.0);
        let parsed = parse(&value).unwrap().unwrap();
        assert_eq!(parsed.messages.len(), 4);
        let up = parents(&parsed);
        assert_eq!(up.get("a"), Some(&Some("c".to_string())));
        assert_eq!(up.get("k"), Some(&None));
        let time: HashMap<&str, i64> = parsed
            .messages
            .iter()
            .map(|m| (m.content.as_str(), m.created_at_ms))
            .collect();
        assert_eq!((time["a"], time["b"], time["k"]), (3_000, 3_000, 7_000));
    }
}
