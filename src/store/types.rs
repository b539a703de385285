//! The plain data the store takes and returns: roles and states as stored,
//! new and stored messages, conversation summaries, search hits, ledger
//! rows, usage figures and import reports.
//!
//! Invariant: these are values only (no connection, no I/O); their text
//! forms (`as_str`) are exactly what the schema's CHECK constraints and the
//! JSON export use.

use std::ops::Range;
use std::path::PathBuf;

/// A message's role as stored. `Tool` exists only in imports (ChatGPT's code
/// output); kaiwa itself writes the other three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoredRole {
    System,
    User,
    Assistant,
    Tool,
}

impl StoredRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Tool => "tool",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "system" => Some(Self::System),
            "user" => Some(Self::User),
            "assistant" => Some(Self::Assistant),
            "tool" => Some(Self::Tool),
            _ => None,
        }
    }
}

/// Where a stored message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageState {
    /// Text is arriving; what arrived is in `stream_chunks` (not searchable yet).
    Streaming,
    /// Written by the user, or an answer that finished.
    Done,
    /// The user stopped it; the text that arrived is kept.
    Stopped,
    /// The stream broke, or kaiwa died while it streamed.
    Interrupted,
    /// Failed with no text; `error` says why.
    Error,
}

impl MessageState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Streaming => "streaming",
            Self::Done => "done",
            Self::Stopped => "stopped",
            Self::Interrupted => "interrupted",
            Self::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "streaming" => Some(Self::Streaming),
            "done" => Some(Self::Done),
            "stopped" => Some(Self::Stopped),
            "interrupted" => Some(Self::Interrupted),
            "error" => Some(Self::Error),
            _ => None,
        }
    }
}

/// A conversation's two ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRow {
    pub id: i64,
    pub uid: String,
}

/// A message to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// The public id; None makes a new one. Inserting a uid that exists
    /// returns the existing row (so a replayed spool is harmless).
    pub uid: Option<String>,
    pub parent: Option<i64>,
    pub role: StoredRole,
    pub content: String,
    pub state: MessageState,
    pub model: Option<String>,
    pub finish_reason: Option<String>,
    pub error: Option<String>,
    /// Unreadable events skipped while it streamed.
    pub skipped: u32,
    pub created_at_ms: i64,
    /// The model's reasoning, kept apart from its answer (never sent).
    pub reasoning: Option<String>,
}

impl NewMessage {
    /// A settled message with only a role and text.
    pub fn new(parent: Option<i64>, role: StoredRole, content: &str, created_at_ms: i64) -> Self {
        Self {
            uid: None,
            parent,
            role,
            content: content.to_string(),
            state: MessageState::Done,
            model: None,
            finish_reason: None,
            error: None,
            skipped: 0,
            created_at_ms,
            reasoning: None,
        }
    }
}

/// How an answer ended, written in one transaction with its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    pub content: String,
    pub state: MessageState,
    pub finish_reason: Option<String>,
    pub error: Option<String>,
    pub skipped: u32,
    /// The reasoning; None leaves what is stored.
    pub reasoning: Option<String>,
}

/// A message as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub id: i64,
    pub uid: String,
    pub parent: Option<i64>,
    pub role: StoredRole,
    pub content: String,
    pub state: MessageState,
    pub model: Option<String>,
    pub finish_reason: Option<String>,
    pub error: Option<String>,
    pub skipped: u32,
    pub created_at_ms: i64,
    /// The model's reasoning, when it sent any.
    pub reasoning: Option<String>,
    /// Its reasoning tokens as the server reported them (from the ledger).
    pub reasoning_tokens: Option<u64>,
    /// Left out of requests to fit the model's window (`meta_json`).
    pub not_sent: bool,
    /// A summary of earlier turns, sent in their place (`meta_json`).
    pub summary: bool,
}

/// One line of the history list.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationSummary {
    pub id: i64,
    pub uid: String,
    /// None = untitled: show `preview`.
    pub title: Option<String>,
    /// The first line of the first question, at most 120 characters.
    pub preview: String,
    pub model: Option<String>,
    pub created_at_ms: i64,
    pub last_active_at_ms: i64,
    /// `YYYY-MM-DD HH:MM` in local time (SQLite's `localtime`).
    pub last_active_local: String,
    pub archived: bool,
    pub message_count: u64,
}

impl ConversationSummary {
    /// The title, else the first question, else `(untitled)`.
    pub fn display_title(&self) -> &str {
        match self.title.as_deref() {
            Some(title) if !title.trim().is_empty() => title,
            _ if !self.preview.is_empty() => &self.preview,
            _ => "(untitled)",
        }
    }

    /// The keyset cursor for the next page of `Store::list`.
    pub fn cursor(&self) -> (i64, i64) {
        (self.last_active_at_ms, self.id)
    }
}

/// A conversation with every message of its tree.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedConversation {
    pub summary: ConversationSummary,
    pub base_url: Option<String>,
    /// `kaiwa`, or where it was imported from (`chatgpt`).
    pub source: String,
    pub source_id: Option<String>,
    /// Row id of the current path's last message.
    pub head: Option<i64>,
    /// Every message, parents before children, siblings oldest first.
    pub messages: Vec<StoredMessage>,
}

impl LoadedConversation {
    /// The current path, root first: from `head` up through the parents.
    /// With no head (or a dangling one), the path to the newest message
    /// (by time, then list order).
    pub fn path(&self) -> Vec<&StoredMessage> {
        let by_id: std::collections::HashMap<i64, &StoredMessage> =
            self.messages.iter().map(|m| (m.id, m)).collect();
        let start = self.head.filter(|h| by_id.contains_key(h)).or_else(|| {
            self.messages
                .iter()
                .enumerate()
                .max_by_key(|(i, m)| (m.created_at_ms, *i))
                .map(|(_, m)| m.id)
        });
        let mut path = Vec::new();
        let mut next = start;
        while let Some(id) = next {
            let Some(message) = by_id.get(&id) else { break };
            if path.len() > self.messages.len() {
                break; // a cycle: never loop
            }
            path.push(*message);
            next = message.parent;
        }
        path.reverse();
        path
    }
}

/// How `Store::resolve` read a user's `ID`.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    Found(ConversationSummary),
    /// Several match: the candidates, most recently active first.
    Ambiguous(Vec<ConversationSummary>),
    NotFound,
}

/// One conversation that matched a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub conversation: ConversationSummary,
    /// The best matching message.
    pub message_uid: String,
    /// Text around the match, on one line.
    pub snippet: String,
    /// Byte ranges of `snippet` that matched.
    pub highlights: Vec<Range<usize>>,
    /// Messages of this conversation that matched.
    pub matches: u64,
}

/// Where a request's token counts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageSource {
    /// The server's `usage`.
    Reported,
    /// kaiwa's tokenizer estimate.
    Estimated,
    /// Nothing counted (refused before the server billed it).
    None,
}

impl UsageSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reported => "reported",
            Self::Estimated => "estimated",
            Self::None => "none",
        }
    }
}

/// One request in the usage ledger.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LedgerRow {
    /// The answer it produced, when saved.
    pub message_id: Option<i64>,
    pub started_at_ms: i64,
    pub duration_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
    pub base_url: Option<String>,
    pub model: String,
    pub prompt_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// Reasoning tokens (included in `completion_tokens`), when reported.
    pub reasoning_tokens: Option<u64>,
    pub usage_source: UsageSource,
    /// USD; None = unpriced (never stored as 0).
    pub cost_usd: Option<f64>,
    /// `builtin`, `config` or `server`.
    pub price_source: Option<String>,
    /// `done`, `stopped`, `interrupted` or `error`.
    pub status: String,
    pub usage_json: Option<String>,
}

impl LedgerRow {
    /// A row from what the app counted for one request (`None`: nothing
    /// counted).
    pub fn from_usage(
        model: &str,
        base_url: Option<&str>,
        usage: Option<&crate::chat::usage::RequestUsage>,
        status: &str,
        started_at_ms: i64,
    ) -> Self {
        use crate::chat::pricing::PriceSource;
        let price_source = usage.and_then(|u| match (u.cost, u.price_source) {
            (Some(_), Some(PriceSource::BuiltIn)) => Some("builtin".to_string()),
            (Some(_), Some(PriceSource::Config)) => Some("config".to_string()),
            (Some(_), Some(PriceSource::Local)) => Some("local".to_string()),
            (Some(_), None) => Some("server".to_string()),
            (None, _) => None,
        });
        Self {
            message_id: None,
            started_at_ms,
            duration_ms: None,
            ttft_ms: None,
            base_url: base_url.map(str::to_string),
            model: model.to_string(),
            prompt_tokens: usage.map(|u| u.prompt),
            cached_tokens: usage.map(|u| u.cached),
            completion_tokens: usage.map(|u| u.completion),
            reasoning_tokens: usage.map(|u| u.reasoning).filter(|n| *n > 0),
            usage_source: match usage {
                Some(u) if u.estimated => UsageSource::Estimated,
                Some(_) => UsageSource::Reported,
                None => UsageSource::None,
            },
            cost_usd: usage.and_then(|u| u.cost),
            price_source,
            status: status.to_string(),
            usage_json: None,
        }
    }
}

/// Tokens and cost of one local day and model.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageDay {
    /// `YYYY-MM-DD`, local time.
    pub day: String,
    pub model: String,
    pub requests: u64,
    pub prompt: u64,
    pub cached: u64,
    pub completion: u64,
    /// Reasoning tokens (included in `completion`).
    pub reasoning: u64,
    /// Sum of the priced requests' costs, USD.
    pub cost_usd: f64,
    /// Requests that counted tokens but had no known price (not in `cost_usd`).
    pub unpriced: u64,
    /// Whether any figure is a local estimate.
    pub estimated: bool,
}

/// What to import.
#[derive(Debug, Clone)]
pub enum ImportSource {
    /// A file: kaiwa JSON/JSONL, ChatGPT's `conversations.json`,
    /// `conversations-NNN.json` or its data-export `.zip`.
    File(PathBuf),
    /// The same, already in memory; `name` is used for the format and in reports.
    Bytes { name: String, data: Vec<u8> },
}

/// One item of an import report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportNote {
    /// Which conversation: `file #N "title"`.
    pub item: String,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// New conversations.
    pub imported: usize,
    /// Known conversations that gained messages.
    pub updated: usize,
    /// Conversations left as they were (already imported, nothing to add).
    pub skipped: Vec<ImportNote>,
    /// Conversations (or whole files) that could not be imported, and why.
    pub failed: Vec<ImportNote>,
}

impl ImportReport {
    /// `imported 3 · updated 1 · skipped 2 · failed 0`
    pub fn summary(&self) -> String {
        format!(
            "imported {} · updated {} · skipped {} · failed {}",
            self.imported,
            self.updated,
            self.skipped.len(),
            self.failed.len()
        )
    }
}
