//! `ApiClient`: streaming and non-streaming chat completions and the models
//! list over reqwest, with the SDKs' retry policy and an idle timeout.
//!
//! Invariants: the key is read (`ApiKey::expose`) only here, to build the
//! `Authorization` header; retries happen only before the first body byte;
//! a stream is complete only if a `finish_reason` arrived, and everything
//! that arrived before a failure is handed out before the failure itself.
//! Dropping the future of a request drops the connection (that is how a
//! stream is cancelled).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use serde_json::Value;

use super::error::ApiError;
use super::retry::{self, RetryDecision};
use super::sse::{MAX_LINE_BYTES, SseDecoder, SseItem};
use super::types::{ChatRequest, ModelInfo, Payload, Usage, parse_models, parse_payload};
use crate::config::KeySource;
use crate::provider::{Auth, Provider};
use crate::secret::ApiKey;

/// Connect timeout (SPEC: 10 s).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Total timeout for non-streaming calls (the SDKs' 10 minutes).
pub const NON_STREAM_TIMEOUT: Duration = Duration::from_secs(600);

/// What a streaming request reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// An attempt failed before any body byte; waiting, then trying again.
    Retrying {
        attempt: u32,
        wait: Duration,
        cause: ApiError,
    },
    /// Headers arrived with status 200; the body follows.
    Started,
    /// Answer text, exactly as the server sent it (unsanitised).
    Delta(String),
    /// Reasoning text (`reasoning`/`reasoning_content`), kept apart.
    Reasoning(String),
    /// A usage object (the last one seen wins).
    Usage(Usage),
    /// The end: always the last event.
    End(StreamEnd),
}

/// How a stream ended, with what is needed for the raw view.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamEnd {
    /// Set if and only if the answer is complete.
    pub finish_reason: Option<String>,
    /// Why the stream failed, if it did (text that arrived is kept).
    pub error: Option<ApiError>,
    /// Events that could not be read and were skipped.
    pub skipped: u32,
    /// `data:` events received (chunks).
    pub chunks: u32,
    /// The assembled `chat.completion` object (None if nothing arrived).
    pub assembled: Option<Value>,
}

/// The HTTP client for one provider: its URLs, its key (resolved once,
/// when the first request needs it), its auth, headers and query.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: SharedHttp,
    provider: Arc<Provider>,
    /// Where errors say the request went.
    base_url: String,
    key: Arc<tokio::sync::OnceCell<Option<ApiKey>>>,
    idle_timeout: Duration,
    /// Learned from a 400 naming `stream_options`: this server rejects it.
    no_stream_options: Arc<AtomicBool>,
}

/// The HTTP client every provider's requests share (one connection pool),
/// built when the first request needs it: building it loads the system's
/// root certificates (~2 ms, hundreds of files), which the first frame
/// need not wait for; requests run on the runtime's worker, off the loop.
#[derive(Debug, Clone, Default)]
pub struct SharedHttp(Arc<std::sync::OnceLock<reqwest::Client>>);

impl SharedHttp {
    /// The client, built on first use.
    pub fn get(&self) -> Result<&reqwest::Client, ApiError> {
        if let Some(client) = self.0.get() {
            return Ok(client);
        }
        let built = http_client()?;
        Ok(self.0.get_or_init(|| built))
    }
}

/// A new HTTP client (most callers want [`SharedHttp`]).
pub fn http_client() -> Result<reqwest::Client, ApiError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("kaiwa/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ApiError::Request(format!("cannot set up HTTP: {e}")))
}

impl ApiClient {
    /// A client for a plain OpenAI-compatible server with this key.
    /// `base_url` must already be validated and have no trailing `/`.
    pub fn new(
        base_url: &str,
        key: Option<ApiKey>,
        idle_timeout: Duration,
    ) -> Result<Self, ApiError> {
        let source = key.map_or(KeySource::None, KeySource::Value);
        let provider = Provider::default_from(
            base_url.trim_end_matches('/').to_string(),
            source,
            Vec::new(),
        );
        Ok(Self::for_provider(
            &SharedHttp::default(),
            provider,
            idle_timeout,
        ))
    }

    /// A client for `provider`, sharing `http`'s connections. Its key is
    /// resolved at the first request (`api_key_cmd` runs then, once).
    pub fn for_provider(http: &SharedHttp, provider: Provider, idle_timeout: Duration) -> Self {
        let key = match &provider.key {
            KeySource::None => tokio::sync::OnceCell::new_with(Some(None)),
            KeySource::Value(key) => tokio::sync::OnceCell::new_with(Some(Some(key.clone()))),
            KeySource::Command(_) => tokio::sync::OnceCell::new(),
        };
        Self {
            http: http.clone(),
            base_url: provider.display_url(),
            provider: Arc::new(provider),
            key: Arc::new(key),
            idle_timeout,
            no_stream_options: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Gives the key already resolved (the chat resolves the first
    /// provider's before the screen changes, so a password manager can ask).
    #[must_use]
    pub fn with_key(mut self, key: Option<ApiKey>) -> Self {
        self.key = Arc::new(tokio::sync::OnceCell::new_with(Some(key)));
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// The id this provider's server knows a full model id by: without the
    /// `NAME:` prefix (`corp:beta-2` → `beta-2`; `default:mistral:7b` →
    /// `mistral:7b`; `llama3.2:3b` on `default` stays whole).
    pub fn wire_model<'a>(&self, id: &'a str) -> &'a str {
        id.strip_prefix(self.provider.name.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .unwrap_or(id)
    }

    /// `request` as this provider's server must receive it.
    fn wire(&self, request: &ChatRequest) -> ChatRequest {
        ChatRequest {
            model: self.wire_model(&request.model).to_string(),
            ..request.clone()
        }
    }

    /// The key, running `api_key_cmd` (off the async threads) the first
    /// time. A provider that must have a key and has none is an error that
    /// says how to set it.
    async fn key(&self) -> Result<Option<ApiKey>, ApiError> {
        if let Some(problem) = self.provider.missing_key() {
            return Err(ApiError::Request(problem));
        }
        let provider = Arc::clone(&self.provider);
        self.key
            .get_or_try_init(|| async move {
                let KeySource::Command(command) = &provider.key else {
                    return Ok(None);
                };
                let command = command.clone();
                let name = provider.name.clone();
                tokio::task::spawn_blocking(move || crate::config::run_key_command(&command))
                    .await
                    .map_err(|e| ApiError::Request(format!("api_key_cmd did not finish: {e}")))?
                    .map(Some)
                    .map_err(|e| ApiError::Request(format!("provider {name}: {e}")))
            })
            .await
            .cloned()
    }

    fn authorize(
        &self,
        builder: reqwest::RequestBuilder,
        key: Option<&ApiKey>,
    ) -> reqwest::RequestBuilder {
        let mut builder = builder;
        for (name, value) in &self.provider.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        match (key, self.provider.auth) {
            (Some(key), Auth::Bearer) => builder.bearer_auth(key.expose()),
            (Some(key), Auth::ApiKey) => builder.header("api-key", key.expose()),
            (None, _) | (Some(_), Auth::None) => builder,
        }
    }

    fn send_error(&self, e: &reqwest::Error) -> ApiError {
        if e.is_timeout() && e.is_connect() {
            ApiError::ConnectTimeout {
                base_url: self.base_url.clone(),
            }
        } else if e.is_timeout() {
            // A whole-request timeout (non-streaming calls): not retried, it
            // already waited long.
            ApiError::Broken(format!("no complete answer from {} in time", self.base_url))
        } else if e.is_connect() {
            ApiError::Connect {
                base_url: self.base_url.clone(),
                detail: root_cause(e),
            }
        } else if e.is_builder() {
            ApiError::Request(format!(
                "invalid request URL {}: {}",
                self.base_url,
                root_cause(e)
            ))
        } else {
            // A reset or protocol error before the headers: retried like a connect error.
            ApiError::Connect {
                base_url: self.base_url.clone(),
                detail: root_cause(e),
            }
        }
    }

    /// Send with retries; returns a 200 response whose body is unread.
    /// `body` is rebuilt per attempt so `stream_options` can be dropped.
    /// `header_timeout`: the longest wait for the response headers (streams
    /// use the idle timeout, so a server that accepts the request and then
    /// says nothing is an `Idle` error, not an endless wait; non-streaming
    /// calls have their own total timeout on the request instead).
    async fn send_with_retries<R: FnMut(u32, Duration, &ApiError)>(
        &self,
        build: &(dyn Fn(bool) -> reqwest::RequestBuilder + Sync),
        header_timeout: Option<Duration>,
        on_retry: &mut R,
    ) -> Result<reqwest::Response, ApiError> {
        let mut retries_done = 0;
        let mut dropped_stream_options = false;
        loop {
            let with_options = !self.no_stream_options.load(Ordering::Relaxed);
            let sent = build(with_options).send();
            let result = match header_timeout {
                Some(limit) => tokio::time::timeout(limit, sent)
                    .await
                    .map_err(|_| ApiError::Idle(limit)),
                None => Ok(sent.await),
            };
            let error = match result {
                Err(idle) => idle,
                Ok(Ok(resp)) if resp.status().is_success() => return Ok(resp),
                Ok(Ok(resp)) => {
                    let error = self.status_error(resp).await;
                    if with_options && !dropped_stream_options && names_stream_options(&error) {
                        // WIRE-NOTES §0.7: resend once without it, remember per client.
                        self.no_stream_options.store(true, Ordering::Relaxed);
                        dropped_stream_options = true;
                        continue;
                    }
                    error
                }
                Ok(Err(e)) => self.send_error(&e),
            };
            let cause = error.clone();
            match retry::decide(error, retries_done, fastrand::f64()) {
                RetryDecision::RetryAfter(wait) => {
                    retries_done += 1;
                    tracing::warn!(attempt = retries_done, ?wait, %cause, "retrying request");
                    on_retry(retries_done, wait, &cause);
                    tokio::time::sleep(wait).await;
                }
                RetryDecision::GiveUp(error) => return Err(error),
            }
        }
    }

    async fn status_error(&self, resp: reqwest::Response) -> ApiError {
        let status = resp.status().as_u16();
        let headers = resp.headers();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let retry_after = retry::parse_retry_after(
            header("retry-after-ms"),
            header("retry-after"),
            SystemTime::now(),
        );
        let should_retry = match header("x-should-retry") {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        };
        let body = match tokio::time::timeout(self.idle_timeout, resp.bytes()).await {
            Ok(Ok(b)) => b.to_vec(),
            Ok(Err(_)) | Err(_) => Vec::new(),
        };
        let mut error =
            ApiError::from_status(status, &body, retry_after, should_retry, &self.base_url);
        if let ApiError::Status { key_hint, .. } = &mut error {
            *key_hint = Some(self.provider.key_hint());
        }
        tracing::warn!(status, %error, "request failed");
        error
    }

    /// Stream a chat completion; every event goes to `sink`, the last one is
    /// always `StreamEvent::End`.
    pub async fn stream_chat<F: FnMut(StreamEvent)>(&self, request: &ChatRequest, sink: &mut F) {
        let request = &self.wire(request);
        let url = self.provider.chat_url(&request.model);
        let http_and_key = match self.http.get() {
            Ok(http) => self.key().await.map(|key| (http, key)),
            Err(error) => Err(error),
        };
        let (http, key) = match http_and_key {
            Ok(both) => both,
            Err(error) => {
                sink(StreamEvent::End(StreamEnd {
                    error: Some(error),
                    ..StreamEnd::default()
                }));
                return;
            }
        };
        let build = |with_options: bool| {
            self.authorize(http.post(&url), key.as_ref())
                .json(&request.to_json(true, with_options))
        };
        let response = {
            let mut on_retry = |attempt: u32, wait: Duration, cause: &ApiError| {
                sink(StreamEvent::Retrying {
                    attempt,
                    wait,
                    cause: cause.clone(),
                });
            };
            self.send_with_retries(&build, Some(self.idle_timeout), &mut on_retry)
                .await
        };
        let response = match response {
            Ok(r) => r,
            Err(error) => {
                sink(StreamEvent::End(StreamEnd {
                    error: Some(error),
                    ..StreamEnd::default()
                }));
                return;
            }
        };
        sink(StreamEvent::Started);
        let end = self.read_stream(response, request, sink).await;
        sink(StreamEvent::End(end));
    }

    async fn read_stream<F: FnMut(StreamEvent)>(
        &self,
        response: reqwest::Response,
        request: &ChatRequest,
        sink: &mut F,
    ) -> StreamEnd {
        let mut body = response.bytes_stream();
        let mut decoder = SseDecoder::new();
        let mut items = Vec::new();
        let mut acc = Assembler::new(&request.model);
        let mut end = StreamEnd::default();
        loop {
            let next = tokio::time::timeout(self.idle_timeout, body.next()).await;
            let bytes = match next {
                Err(_) => {
                    end.error = Some(ApiError::Idle(self.idle_timeout));
                    break;
                }
                Ok(None) => {
                    decoder.finish(&mut items);
                    self.handle_items(&mut items, &mut acc, &mut end, sink);
                    break;
                }
                Ok(Some(Err(e))) => {
                    decoder.finish(&mut items);
                    self.handle_items(&mut items, &mut acc, &mut end, sink);
                    if end.error.is_none() && end.finish_reason.is_none() {
                        end.error = Some(ApiError::Broken(root_cause(&e)));
                    }
                    break;
                }
                Ok(Some(Ok(bytes))) => bytes,
            };
            decoder.feed(&bytes, &mut items);
            if self.handle_items(&mut items, &mut acc, &mut end, sink) {
                break;
            }
            if decoder.overflowed() {
                // An endless line: stop reading (dropping the body hangs up).
                tracing::warn!("a line or event over the cap; the stream was cut off");
                end.error = Some(ApiError::LineTooLong(MAX_LINE_BYTES));
                break;
            }
        }
        if end.error.is_none() && end.finish_reason.is_none() {
            end.error = Some(ApiError::EndedEarly);
        }
        end.assembled = acc.finish(end.finish_reason.as_deref());
        end
    }

    /// Returns true when the stream must stop (an error object arrived).
    #[allow(
        clippy::unused_self,
        reason = "kept a method for symmetry with read_stream"
    )]
    fn handle_items<F: FnMut(StreamEvent)>(
        &self,
        items: &mut Vec<SseItem>,
        acc: &mut Assembler,
        end: &mut StreamEnd,
        sink: &mut F,
    ) -> bool {
        for item in items.drain(..) {
            let SseItem::Event(event) = item else {
                continue;
            };
            if let Some(field) = event.error_field {
                end.error = Some(ApiError::InStream(stream_error(&field)));
                return true;
            }
            if event.event == "error" {
                end.error = Some(ApiError::InStream(stream_error(&event.data)));
                return true;
            }
            match parse_payload(&event.data) {
                Payload::Done => {}
                Payload::Unreadable => {
                    end.skipped += 1;
                    end.chunks += 1;
                    tracing::warn!(bytes = event.data.len(), "skipped an unreadable event");
                }
                Payload::Error(err) => {
                    end.error = Some(ApiError::InStream(err));
                    return true;
                }
                Payload::Chunk(chunk) => {
                    end.chunks += 1;
                    acc.absorb(&chunk);
                    if !chunk.reasoning.is_empty() {
                        sink(StreamEvent::Reasoning(chunk.reasoning.clone()));
                    }
                    if !chunk.content.is_empty() {
                        sink(StreamEvent::Delta(chunk.content.clone()));
                    }
                    if let Some(reason) = &chunk.finish_reason {
                        end.finish_reason = Some(reason.clone());
                    }
                    if let Some(usage) = chunk.usage {
                        sink(StreamEvent::Usage(usage));
                    }
                }
            }
        }
        false
    }

    /// A non-streaming chat completion. Returns the body text exactly as
    /// received (for `--raw`) and its parsed JSON.
    pub async fn complete_raw<R: FnMut(u32, Duration)>(
        &self,
        request: &ChatRequest,
        on_retry: &mut R,
    ) -> Result<(String, Value), ApiError> {
        let request = &self.wire(request);
        let url = self.provider.chat_url(&request.model);
        let http = self.http.get()?;
        let key = self.key().await?;
        let build = |_: bool| {
            self.authorize(http.post(&url), key.as_ref())
                .timeout(NON_STREAM_TIMEOUT)
                .json(&request.to_json(false, false))
        };
        let mut cb = |attempt: u32, wait: Duration, _: &ApiError| on_retry(attempt, wait);
        let response = self.send_with_retries(&build, None, &mut cb).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ApiError::Broken(root_cause(&e)))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let value: Value = serde_json::from_str(text.trim_start())
            .map_err(|e| ApiError::Decode(format!("not JSON ({e})")))?;
        if let Some(err) = super::types::ServerError::from_json(&value) {
            return Err(ApiError::InStream(err));
        }
        Ok((text, value))
    }

    /// `GET /models`, ids sorted and without duplicates, with the
    /// provider's configured `models` added (Azure: only those, since it
    /// does not list its deployments). `timeout` bounds each attempt.
    pub async fn list_models(&self, timeout: Duration) -> Result<Vec<ModelInfo>, ApiError> {
        let Some(url) = self.provider.models_url() else {
            return Ok(configured(&self.provider.models));
        };
        let http = self.http.get()?;
        let key = self.key().await?;
        let build = |_: bool| {
            self.authorize(http.get(&url), key.as_ref())
                .timeout(timeout)
        };
        let mut ignore = |_: u32, _: Duration, _: &ApiError| {};
        let response = self.send_with_retries(&build, None, &mut ignore).await?;
        let value: Value = response.json().await.map_err(|e| {
            ApiError::Decode(format!("models list is not JSON ({})", root_cause(&e)))
        })?;
        let mut models = parse_models(&value)
            .ok_or_else(|| ApiError::Decode("models list has no `data` array".to_string()))?;
        models.extend(configured(&self.provider.models));
        models.sort_by(|a, b| a.id.cmp(&b.id));
        models.dedup_by(|later, first| later.id == first.id);
        Ok(models)
    }
}

/// Configured ids as list entries.
fn configured(ids: &[String]) -> Vec<ModelInfo> {
    let mut models: Vec<ModelInfo> = ids
        .iter()
        .map(|id| ModelInfo {
            id: id.clone(),
            raw: serde_json::json!({ "id": id }),
        })
        .collect();
    models.sort_by(|a, b| a.id.cmp(&b.id));
    models.dedup_by(|later, first| later.id == first.id);
    models
}

fn names_stream_options(error: &ApiError) -> bool {
    matches!(error, ApiError::Status { status: 400, error, .. }
        if error.message.contains("stream_options") || error.param.as_deref() == Some("stream_options"))
}

/// The server error an SSE `error:` field or `event: error` carries.
///
/// `pub` (and hidden) only so that the fuzz target `fuzz/fuzz_targets/sse.rs`
/// can run the whole in-stream error path on arbitrary payloads.
#[doc(hidden)]
pub fn stream_error(text: &str) -> super::types::ServerError {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| {
            super::types::ServerError::from_json(&v).or_else(|| {
                // `error: {"code":…}` — the field's value is the error object itself.
                super::types::ServerError::from_json(&serde_json::json!({ "error": v }))
            })
        })
        .unwrap_or_else(|| super::types::ServerError {
            message: crate::text::wrap::first_chars(text, super::error::SERVER_MESSAGE_CHARS)
                .0
                .to_string(),
            ..super::types::ServerError::default()
        })
}

/// The innermost cause of a reqwest error, which is the readable part
/// ("Connection refused (os error 111)").
fn root_cause(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// Builds the `chat.completion` object a non-streaming call would have
/// returned, from the chunks of a stream (the raw view shows it).
#[derive(Debug)]
struct Assembler {
    id: Option<String>,
    model: String,
    created: Option<i64>,
    fingerprint: Option<String>,
    content: String,
    reasoning: String,
    usage: Option<Value>,
    any: bool,
}

impl Assembler {
    fn new(model: &str) -> Self {
        Self {
            id: None,
            model: model.to_string(),
            created: None,
            fingerprint: None,
            content: String::new(),
            reasoning: String::new(),
            usage: None,
            any: false,
        }
    }

    fn absorb(&mut self, chunk: &super::types::ChunkInfo) {
        self.any = true;
        if self.id.is_none() {
            self.id.clone_from(&chunk.id);
        }
        if let Some(model) = &chunk.model {
            model.clone_into(&mut self.model);
        }
        if self.created.is_none() {
            self.created = chunk.created;
        }
        if chunk.system_fingerprint.is_some() {
            self.fingerprint.clone_from(&chunk.system_fingerprint);
        }
        self.content.push_str(&chunk.content);
        self.reasoning.push_str(&chunk.reasoning);
        if chunk.usage_raw.is_some() {
            self.usage.clone_from(&chunk.usage_raw);
        }
    }

    fn finish(self, finish_reason: Option<&str>) -> Option<Value> {
        if !self.any {
            return None;
        }
        let mut message = serde_json::Map::new();
        message.insert("role".into(), "assistant".into());
        message.insert("content".into(), self.content.into());
        if !self.reasoning.is_empty() {
            message.insert("reasoning_content".into(), self.reasoning.into());
        }
        Some(serde_json::json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": self.usage,
            "system_fingerprint": self.fingerprint,
        }))
    }
}
