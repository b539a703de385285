//! Wire types of the Chat Completions API, parsed leniently.
//!
//! Every field a server might omit is optional, unknown fields are ignored,
//! `choices` may be empty, `delta` may be missing, `content` may be null and
//! `error.code` may be a string, an integer or null (WIRE-NOTES §0.3). A
//! chunk that cannot be read at all is reported, never fatal.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// One message of the conversation as it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// The parameters of one chat request; the client turns it into JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
}

impl ChatRequest {
    /// The JSON body. `stream_options` goes out only with `stream: true`
    /// (servers answer 400 otherwise); `max_tokens` is sent as
    /// `max_completion_tokens` to OpenAI's o-series and gpt-5, which reject
    /// the old name (WIRE-NOTES §1.8).
    pub fn to_json(&self, stream: bool, include_usage: bool) -> Value {
        let mut body = serde_json::Map::new();
        body.insert("model".into(), Value::String(self.model.clone()));
        body.insert(
            "messages".into(),
            serde_json::to_value(&self.messages).unwrap_or(Value::Array(Vec::new())),
        );
        body.insert("stream".into(), Value::Bool(stream));
        if stream && include_usage {
            body.insert(
                "stream_options".into(),
                serde_json::json!({"include_usage": true}),
            );
        }
        if let Some(t) = self.temperature {
            body.insert("temperature".into(), serde_json::json!(t));
        }
        if let Some(max) = self.max_tokens {
            let key = if uses_max_completion_tokens(&self.model) {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            body.insert(key.into(), Value::from(max));
        }
        Value::Object(body)
    }
}

/// OpenAI's o-series and gpt-5 family take `max_completion_tokens`.
pub fn uses_max_completion_tokens(model: &str) -> bool {
    let m = model.strip_prefix("openai/").unwrap_or(model);
    m.starts_with("gpt-5")
        || ["o1", "o3", "o4"]
            .iter()
            .any(|p| m == *p || m.strip_prefix(p).is_some_and(|rest| rest.starts_with('-')))
}

/// The largest token count read from a server's `usage` (2^40, about a
/// trillion tokens): a larger one means nothing a model did, and summing
/// such counts (the total, the session's totals, the ledger's `sum()`)
/// would overflow. One above it is read as missing.
pub const MAX_TOKEN_COUNT: u64 = 1 << 40;

/// Token usage as the server reported it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// Cached prompt tokens (included in `prompt_tokens`).
    pub cached_tokens: u64,
    /// Reasoning tokens (`completion_tokens_details.reasoning_tokens`,
    /// included in `completion_tokens`); 0 when not reported.
    pub reasoning_tokens: u64,
    /// The server's own price for the request (LiteLLM, OpenRouter), USD.
    pub cost: Option<f64>,
}

impl Usage {
    /// Read a `usage` object leniently: missing numbers are 0, `total` is
    /// recomputed when absent, DeepSeek's `prompt_cache_hit_tokens` counts as
    /// cached, a count over [`MAX_TOKEN_COUNT`] is missing. Returns None when
    /// it is not an object with any token count.
    pub fn from_json(value: &Value) -> Option<Self> {
        let obj = value.as_object()?;
        let num = |v: Option<&Value>| v.and_then(Value::as_u64).filter(|n| *n <= MAX_TOKEN_COUNT);
        let prompt = num(obj.get("prompt_tokens"));
        let completion = num(obj.get("completion_tokens"));
        if prompt.is_none() && completion.is_none() {
            return None;
        }
        let prompt_tokens = prompt.unwrap_or(0);
        let completion_tokens = completion.unwrap_or(0);
        let cached_tokens = obj
            .get("prompt_tokens_details")
            .and_then(|d| num(d.get("cached_tokens")))
            .or_else(|| num(obj.get("prompt_cache_hit_tokens")))
            .unwrap_or(0);
        let reasoning_tokens = obj
            .get("completion_tokens_details")
            .and_then(|d| num(d.get("reasoning_tokens")))
            .unwrap_or(0);
        Some(Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: num(obj.get("total_tokens")).unwrap_or(prompt_tokens + completion_tokens),
            cached_tokens,
            reasoning_tokens,
            cost: obj.get("cost").and_then(Value::as_f64),
        })
    }
}

/// What one `data:` payload of a chat stream means.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChunkInfo {
    pub id: Option<String>,
    pub model: Option<String>,
    pub created: Option<i64>,
    pub system_fingerprint: Option<String>,
    /// Answer text of choice 0 (empty when none).
    pub content: String,
    /// Reasoning text (`reasoning` or `reasoning_content`), kept apart.
    pub reasoning: String,
    pub role: Option<String>,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    /// The raw `usage` object, for the assembled raw view.
    pub usage_raw: Option<Value>,
}

/// A payload classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// `[DONE]`.
    Done,
    /// A chunk (possibly with no content at all).
    Chunk(Box<ChunkInfo>),
    /// An error object inside the stream.
    Error(ServerError),
    /// Not JSON, or not an object: skipped and counted.
    Unreadable,
}

/// An error body from the server, in any of the shapes seen on the wire.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerError {
    pub message: String,
    pub kind: Option<String>,
    /// `error.code`: a string, or an integer shown as a string.
    pub code: Option<String>,
    pub param: Option<String>,
    /// llama.cpp's `n_ctx` beside an overflow error: the window.
    pub n_ctx: Option<u64>,
}

impl ServerError {
    /// Parse an error body: OpenAI `{"error":{…}}`, `{"error":"text"}`,
    /// flat `{"object":"error","message":…}`, FastAPI `{"detail":…}`.
    pub fn from_json(value: &Value) -> Option<Self> {
        let obj = value.as_object()?;
        let text = |v: Option<&Value>| -> Option<String> {
            match v? {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Null
                | Value::Bool(_)
                | Value::Array(_)
                | Value::Object(_)
                | Value::String(_) => None,
            }
        };
        if let Some(err) = obj.get("error") {
            return Some(match err {
                Value::Object(e) => Self {
                    message: text(e.get("message")).unwrap_or_else(|| err.to_string()),
                    kind: text(e.get("type")),
                    code: text(e.get("code")),
                    param: text(e.get("param")),
                    n_ctx: e.get("n_ctx").and_then(Value::as_u64),
                },
                Value::String(s) => Self {
                    message: s.clone(),
                    kind: text(obj.get("error_type")),
                    ..Self::default()
                },
                Value::Null | Value::Bool(_) | Value::Number(_) | Value::Array(_) => Self {
                    message: err.to_string(),
                    ..Self::default()
                },
            });
        }
        if obj.get("object").and_then(Value::as_str) == Some("error") {
            return Some(Self {
                message: text(obj.get("message")).unwrap_or_default(),
                kind: text(obj.get("type")),
                code: text(obj.get("code")),
                param: None,
                n_ctx: obj.get("n_ctx").and_then(Value::as_u64),
            });
        }
        if let Some(detail) = obj.get("detail") {
            return Some(Self {
                message: detail
                    .as_str()
                    .map_or_else(|| detail.to_string(), str::to_string),
                ..Self::default()
            });
        }
        None
    }
}

/// Classify one `data:` payload of a chat stream.
pub fn parse_payload(data: &str) -> Payload {
    let trimmed = data.trim();
    if trimmed.starts_with("[DONE]") {
        return Payload::Done;
    }
    match fast::chunk(trimmed) {
        Some(info) => Payload::Chunk(Box::new(info)),
        None => generic_payload(trimmed),
    }
}

/// A payload (not `[DONE]`) read as a generic `Value`: what `fast` gives
/// up on (errors, odd types, duplicate keys).
fn generic_payload(trimmed: &str) -> Payload {
    let Ok(value) = serde_json::from_str::<Value>(trimmed) else {
        return Payload::Unreadable;
    };
    if !value.is_object() {
        return Payload::Unreadable;
    }
    if let Some(err) = ServerError::from_json(&value) {
        return Payload::Error(err);
    }
    Payload::Chunk(Box::new(chunk_info(&value)))
}

/// The common chunk read straight into borrowed fields: a generic `Value`
/// per chunk (an ordered map per object, every field allocated) was most of
/// the time a 20,000-chunk answer spent in its request task. Anything
/// unusual — an error, a field of an unexpected type, a duplicate key — makes
/// it give up (None), and `chunk_info` reads the `Value` as before, so both
/// always agree (`tests::fast_and_generic_chunk_readers_agree`).
mod fast {
    use std::borrow::Cow;

    use serde::de::IgnoredAny;
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    use super::{ChunkInfo, Usage};

    /// A key that may be there as `null`: serde's `Option` cannot tell
    /// that from a missing key, and the generic reader's `get` can.
    #[derive(Default)]
    enum Field<T> {
        #[default]
        Absent,
        Present(Option<T>),
    }

    fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Field<T>, D::Error> {
        Option::<T>::deserialize(d).map(Field::Present)
    }

    #[derive(Deserialize)]
    struct Chunk<'a> {
        #[serde(borrow, default)]
        id: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        model: Option<Cow<'a, str>>,
        #[serde(default)]
        created: Option<i64>,
        #[serde(borrow, default)]
        system_fingerprint: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        object: Option<Cow<'a, str>>,
        #[serde(default, deserialize_with = "present")]
        error: Field<IgnoredAny>,
        #[serde(default, deserialize_with = "present")]
        detail: Field<IgnoredAny>,
        #[serde(default)]
        usage: Option<Value>,
        #[serde(default)]
        x_groq: Option<Value>,
        #[serde(borrow, default)]
        choices: Option<Vec<Choice<'a>>>,
    }

    #[derive(Deserialize)]
    struct Choice<'a> {
        #[serde(default)]
        index: Option<u64>,
        #[serde(borrow, default, deserialize_with = "present")]
        delta: Field<Delta<'a>>,
        #[serde(borrow, default, deserialize_with = "present")]
        message: Field<Delta<'a>>,
        #[serde(borrow, default)]
        finish_reason: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    struct Delta<'a> {
        #[serde(borrow, default)]
        content: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        reasoning: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        reasoning_content: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        role: Option<Cow<'a, str>>,
    }

    pub(super) fn chunk(data: &str) -> Option<ChunkInfo> {
        // An array would fill the struct field by field; only objects are chunks.
        if !data.starts_with('{') {
            return None;
        }
        let chunk: Chunk<'_> = serde_json::from_str(data).ok()?;
        let is_error = matches!(chunk.error, Field::Present(_))
            || matches!(chunk.detail, Field::Present(_))
            || chunk.object.as_deref() == Some("error");
        if is_error {
            return None;
        }
        let owned = |s: Option<Cow<'_, str>>| s.map(Cow::into_owned);
        let mut info = ChunkInfo {
            id: owned(chunk.id).filter(|id| !id.is_empty()),
            model: owned(chunk.model).filter(|m| !m.is_empty()),
            created: chunk.created.filter(|c| *c != 0),
            system_fingerprint: owned(chunk.system_fingerprint),
            ..ChunkInfo::default()
        };
        let usage = chunk.usage.or_else(|| {
            chunk
                .x_groq
                .and_then(|mut x| x.get_mut("usage").map(Value::take))
        });
        if let Some(u) = usage {
            info.usage = Usage::from_json(&u);
            if info.usage.is_some() {
                info.usage_raw = Some(u);
            }
        }
        let choice = chunk
            .choices
            .unwrap_or_default()
            .into_iter()
            .find(|choice| choice.index.unwrap_or(0) == 0);
        if let Some(choice) = choice {
            // `"delta": null` counts as a delta (with nothing in it), as
            // the generic reader's `get("delta")` has it.
            let delta = match (choice.delta, choice.message) {
                (Field::Present(delta), _) | (Field::Absent, Field::Present(delta)) => delta,
                (Field::Absent, Field::Absent) => None,
            };
            if let Some(delta) = delta {
                if let Some(text) = delta.content {
                    info.content = text.into_owned();
                }
                for text in [delta.reasoning, delta.reasoning_content]
                    .into_iter()
                    .flatten()
                {
                    info.reasoning.push_str(&text);
                }
                info.role = owned(delta.role);
            }
            info.finish_reason = owned(choice.finish_reason);
        }
        Some(info)
    }
}

fn chunk_info(value: &Value) -> ChunkInfo {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let mut info = ChunkInfo {
        id: s(value.get("id")).filter(|id| !id.is_empty()),
        model: s(value.get("model")).filter(|m| !m.is_empty()),
        created: value
            .get("created")
            .and_then(Value::as_i64)
            .filter(|c| *c != 0),
        system_fingerprint: s(value.get("system_fingerprint")),
        ..ChunkInfo::default()
    };
    // The last non-null usage anywhere wins: top level or Groq's `x_groq.usage`.
    let usage_value = value
        .get("usage")
        .filter(|u| !u.is_null())
        .or_else(|| value.get("x_groq").and_then(|x| x.get("usage")));
    if let Some(u) = usage_value {
        info.usage = Usage::from_json(u);
        if info.usage.is_some() {
            info.usage_raw = Some(u.clone());
        }
    }
    let choice = value
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| {
            c.iter()
                .find(|ch| ch.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
        });
    if let Some(choice) = choice {
        if let Some(delta) = choice.get("delta").or_else(|| choice.get("message")) {
            if let Some(text) = delta.get("content").and_then(Value::as_str) {
                text.clone_into(&mut info.content);
            }
            for key in ["reasoning", "reasoning_content"] {
                if let Some(text) = delta.get(key).and_then(Value::as_str) {
                    info.reasoning.push_str(text);
                }
            }
            info.role = s(delta.get("role"));
        }
        info.finish_reason = s(choice.get("finish_reason"));
    }
    info
}

/// One entry of `GET /models`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub id: String,
    /// The server's object for this model as it came (a JSON object with
    /// at least `id`), for `kaiwa models --json` and the fields some servers
    /// add (context length, owner).
    pub raw: Value,
}

impl ModelInfo {
    /// The price the server lists for this model, per 1M tokens:
    /// OpenRouter's `pricing.prompt`/`pricing.completion` (USD per token, as
    /// strings).
    pub fn price(&self) -> Option<crate::chat::pricing::Price> {
        let pricing = self.raw.get("pricing")?;
        let per_million = |key: &str| {
            let value = pricing.get(key)?;
            let per_token = match value {
                Value::String(text) => text.trim().parse::<f64>().ok()?,
                Value::Number(number) => number.as_f64()?,
                Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => return None,
            };
            (per_token.is_finite() && per_token >= 0.0).then_some(per_token * 1_000_000.0)
        };
        Some(crate::chat::pricing::Price {
            prompt: per_million("prompt")?,
            completion: per_million("completion")?,
            cached: per_million("input_cache_read"),
        })
    }

    /// The context window the server reports for this model, from the
    /// fields servers use: llama.cpp `meta.n_ctx`, vLLM `max_model_len`,
    /// LiteLLM `max_input_tokens`, LM Studio `loaded_context_length` (else
    /// `max_context_length`), OpenRouter `context_length`, Groq
    /// `context_window`.
    pub fn context(&self) -> Option<u64> {
        let raw = &self.raw;
        let positive = |value: Option<&Value>| value.and_then(Value::as_u64).filter(|n| *n > 0);
        positive(raw.get("meta").and_then(|meta| meta.get("n_ctx"))).or_else(|| {
            [
                "max_model_len",
                "max_input_tokens",
                "loaded_context_length",
                "max_context_length",
                "context_length",
                "context_window",
            ]
            .iter()
            .find_map(|key| positive(raw.get(*key)))
        })
    }
}

/// Parse a models list: `{"data":[{"id":…}]}` (OpenAI), also `{"models":[…]}`
/// with `id` or `name`/`model` (llama-server's extra list) and a bare array.
/// Sorted by id; of duplicates the first is kept.
pub fn parse_models(value: &Value) -> Option<Vec<ModelInfo>> {
    let list = value
        .get("data")
        .and_then(Value::as_array)
        .or_else(|| value.get("models").and_then(Value::as_array))
        .or_else(|| value.as_array())?;
    let mut models: Vec<ModelInfo> = list
        .iter()
        .filter_map(|m| {
            let id = ["id", "model", "name"]
                .iter()
                .find_map(|k| m.get(*k).and_then(Value::as_str))
                .or_else(|| m.as_str())?
                .to_string();
            let mut fields = m.as_object().cloned().unwrap_or_default();
            fields
                .entry("id")
                .or_insert_with(|| Value::String(id.clone()));
            let raw = Value::Object(fields);
            Some(ModelInfo { id, raw })
        })
        .collect();
    models.sort_by(|a, b| a.id.cmp(&b.id));
    models.dedup_by(|later, first| later.id == first.id);
    Some(models)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The generic reader's answer for a payload (what `parse_payload`
    /// gave before the fast reader existed).
    fn generic(data: &str) -> Payload {
        let trimmed = data.trim();
        if trimmed.starts_with("[DONE]") {
            return Payload::Done;
        }
        generic_payload(trimmed)
    }

    #[test]
    fn fast_and_generic_chunk_readers_agree() {
        let mut payloads: Vec<String> = Vec::new();
        // Every `data:` line of every recorded stream.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sse");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
            payloads.extend(
                text.lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(|d| d.trim().to_string()),
            );
        }
        assert!(payloads.len() > 100, "{}", payloads.len());
        // And the odd ones: nulls, wrong types, errors, arrays, duplicates.
        for odd in [
            r#"{"choices":[{"index":0,"delta":null,"message":{"content":"m"}}]}"#,
            r#"{"choices":[{"index":0,"message":{"content":"m","role":"assistant"}}]}"#,
            r#"{"choices":[{"index":1,"delta":{"content":"one"}},{"delta":{"content":"zero"}}]}"#,
            r#"{"choices":[{"index":-1,"delta":{"content":"neg"}}]}"#,
            r#"{"choices":[{"index":0.0,"delta":{"content":"float"}}]}"#,
            r#"{"choices":[7,{"delta":{"content":"x"}}]}"#,
            r#"{"choices":[{"delta":{"content":["a","b"]}}]}"#,
            r#"{"choices":[{"delta":{"content":"a","content":"b"}}]}"#,
            r#"{"choices":null,"usage":null,"x_groq":{"usage":{"prompt_tokens":3,"completion_tokens":4}}}"#,
            r#"{"usage":{"prompt_tokens":12345678901234567890123,"completion_tokens":1}}"#,
            r#"{"usage":7,"id":"","model":"","created":0}"#,
            r#"{"id":5,"created":1.5e9,"choices":[]}"#,
            r#"{"created":18446744073709551615}"#,
            r#"{"error":null}"#,
            r#"{"error":"boom","error_type":"x"}"#,
            r#"{"object":"error","message":"bad"}"#,
            r#"{"detail":"Not Found"}"#,
            r#"{"choices":[{"delta":{"reasoning":"r1","reasoning_content":"r2","content":"c"}}]}"#,
            r#"{"choices":[{"delta":{"content":"esc\"aped \u00e9 \ud83d\ude00"},"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":7}]}"#,
            r#"[{"id":"x"}]"#,
            "[]",
            "{}",
            r#"{"a":1} trailing"#,
            "[DONE]",
            "not json",
        ] {
            payloads.push(odd.to_string());
        }
        for payload in &payloads {
            assert_eq!(parse_payload(payload), generic(payload), "{payload}");
        }
        // The fast reader really reads the common chunk (or this test would
        // compare the generic reader with itself).
        let common = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" tok"},"finish_reason":null}]}"#;
        assert!(fast::chunk(common).is_some_and(|info| info.content == " tok"));
    }

    #[test]
    fn what_servers_say_of_a_model_window_and_price() {
        let info = |raw: Value| ModelInfo {
            id: "m".into(),
            raw,
        };
        // llama.cpp, vLLM, LiteLLM, LM Studio (loaded first), OpenRouter, Groq.
        assert_eq!(info(json!({"meta": {"n_ctx": 8192}})).context(), Some(8192));
        assert_eq!(info(json!({"max_model_len": 16384})).context(), Some(16384));
        assert_eq!(
            info(json!({"max_input_tokens": 128_000})).context(),
            Some(128_000)
        );
        assert_eq!(
            info(json!({"loaded_context_length": 4096, "max_context_length": 32768})).context(),
            Some(4096)
        );
        assert_eq!(
            info(json!({"context_length": 200_000})).context(),
            Some(200_000)
        );
        assert_eq!(
            info(json!({"context_window": 131_072})).context(),
            Some(131_072)
        );
        assert_eq!(info(json!({"context_length": 0})).context(), None);
        let openrouter = info(json!({"pricing": {"prompt": "0.000003", "completion": "0.000015"}}));
        let price = openrouter.price().unwrap();
        assert!((price.prompt - 3.0).abs() < 1e-9 && (price.completion - 15.0).abs() < 1e-9);
        assert_eq!(info(json!({"pricing": {"prompt": "x"}})).price(), None);
        assert_eq!(info(json!({})).price(), None);
    }

    #[test]
    fn request_body_shape() {
        let req = ChatRequest {
            model: "gpt-4o-mini".into(),
            messages: vec![
                ChatMessage::new(Role::System, "be brief"),
                ChatMessage::new(Role::User, "ChatGPT란 무엇입니까?"),
            ],
            temperature: None,
            max_tokens: Some(100),
        };
        let body = req.to_json(true, true);
        assert_eq!(
            body,
            json!({"model":"gpt-4o-mini","messages":[{"role":"system","content":"be brief"},
                {"role":"user","content":"ChatGPT란 무엇입니까?"}],"stream":true,
                "stream_options":{"include_usage":true},"max_tokens":100})
        );
        assert!(req.to_json(false, true).get("stream_options").is_none());
        let o = ChatRequest {
            model: "o3-mini".into(),
            ..req.clone()
        };
        assert!(o.to_json(true, true).get("max_completion_tokens").is_some());
        let g = ChatRequest {
            model: "gpt-5.2".into(),
            ..req
        };
        assert!(g.to_json(true, true).get("max_tokens").is_none());
        assert!(!uses_max_completion_tokens("o1x"));
        assert!(uses_max_completion_tokens("o4-mini"));
    }

    #[test]
    fn chunk_variants() {
        let Payload::Chunk(c) = parse_payload(
            r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1,"id":"x","model":"tiny","object":"chat.completion.chunk"}"#,
        ) else {
            panic!()
        };
        assert_eq!(c.content, "");
        assert_eq!(c.role.as_deref(), Some("assistant"));
        // usage chunk with one choice and an empty delta (LiteLLM)
        let Payload::Chunk(c) = parse_payload(
            r#"{"choices":[{"index":0,"delta":{}}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12,"cost":0.0001}}"#,
        ) else {
            panic!()
        };
        let u = c.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (5, 7, 12)
        );
        assert_eq!(u.cost, Some(0.0001));
        // Azure: no delta at all
        let Payload::Chunk(c) = parse_payload(
            r#"{"id":"","object":"","created":0,"model":"","choices":[{"index":0,"content_filter_results":{}}],"prompt_filter_results":[]}"#,
        ) else {
            panic!()
        };
        assert!(c.id.is_none() && c.content.is_empty());
        // Groq
        let Payload::Chunk(c) = parse_payload(
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"id":"r","usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}}"#,
        ) else {
            panic!()
        };
        assert_eq!(c.usage.unwrap().total_tokens, 7);
        assert_eq!(c.finish_reason.as_deref(), Some("stop"));
        // usage:null is not usage
        let Payload::Chunk(c) =
            parse_payload(r#"{"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}"#)
        else {
            panic!()
        };
        assert!(c.usage.is_none());
        assert_eq!(c.content, "hi");
    }

    /// Found by `fuzz/fuzz_targets/sse.rs`: `prompt_tokens` near `u64::MAX`
    /// overflowed the recomputed total (a panic in debug builds, a wrapped
    /// count in release, and further sums downstream). A count no server
    /// can mean is read as missing.
    #[test]
    fn absurd_token_counts_are_read_as_missing() {
        let Payload::Chunk(c) = parse_payload(
            r#"{"choices":[],"usage":{"prompt_tokens":18446744073709551615,"completion_tokens":1}}"#,
        ) else {
            panic!()
        };
        let u = c.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (0, 1, 1)
        );
        let Payload::Chunk(c) = parse_payload(
            r#"{"choices":[],"usage":{"prompt_tokens":18446744073709551615,"completion_tokens":18446744073709551615,"total_tokens":18446744073709551615}}"#,
        ) else {
            panic!()
        };
        assert!(c.usage.is_none());
        // The largest count kept, and the recomputed total of two of them.
        let big = MAX_TOKEN_COUNT;
        let Payload::Chunk(c) = parse_payload(&format!(
            r#"{{"choices":[],"usage":{{"prompt_tokens":{big},"completion_tokens":{big},"prompt_tokens_details":{{"cached_tokens":{}}}}}}}"#,
            big + 1
        )) else {
            panic!()
        };
        let u = c.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.total_tokens, u.cached_tokens),
            (big, 2 * big, 0)
        );
    }

    #[test]
    fn errors_in_all_shapes() {
        let Payload::Error(e) = parse_payload(
            r#"{"error":{"code":400,"message":"'messages' is required","type":"invalid_request_error"}}"#,
        ) else {
            panic!()
        };
        assert_eq!(e.code.as_deref(), Some("400"));
        assert_eq!(e.message, "'messages' is required");
        let Payload::Error(e) = parse_payload(r#"{"error":"boom","error_type":"x"}"#) else {
            panic!()
        };
        assert_eq!(e.message, "boom");
        let Payload::Error(e) = parse_payload(r#"{"object":"error","message":"flat"}"#) else {
            panic!()
        };
        assert_eq!(e.message, "flat");
        assert_eq!(parse_payload("{not json"), Payload::Unreadable);
        assert_eq!(parse_payload("[DONE]"), Payload::Done);
        assert_eq!(parse_payload("42"), Payload::Unreadable);
    }

    #[test]
    fn models_lists() {
        let v = json!({"object":"list","data":[{"id":"b"},{"id":"a"},{"id":"a"}]});
        let ids: Vec<_> = parse_models(&v)
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, vec!["a", "b"]);
        assert!(parse_models(&json!({"x":1})).is_none());
    }

    #[test]
    fn deepseek_cache_fields() {
        let u = Usage::from_json(
            &json!({"prompt_tokens":10,"completion_tokens":2,"prompt_cache_hit_tokens":4}),
        )
        .unwrap();
        assert_eq!((u.cached_tokens, u.total_tokens), (4, 12));
    }

    #[test]
    fn reasoning_tokens_are_read_leniently() {
        let u = Usage::from_json(&json!({
            "prompt_tokens": 10,
            "completion_tokens": 50,
            "completion_tokens_details": {"reasoning_tokens": 40}
        }))
        .unwrap();
        assert_eq!((u.reasoning_tokens, u.completion_tokens), (40, 50));
        for odd in [
            json!({"prompt_tokens": 1, "completion_tokens": 2}),
            json!({"prompt_tokens": 1, "completion_tokens": 2, "completion_tokens_details": null}),
            json!({"prompt_tokens": 1, "completion_tokens": 2,
                   "completion_tokens_details": {"reasoning_tokens": "many"}}),
        ] {
            assert_eq!(Usage::from_json(&odd).unwrap().reasoning_tokens, 0, "{odd}");
        }
    }
}
