//! A scriptable mock of an OpenAI-compatible server, for tests and for trying kaiwa by hand.
//!
//! It serves `POST /v1/chat/completions` and `GET /v1/models` (also without the `/v1`
//! prefix) on `127.0.0.1`, records every request it receives, and answers chat requests with
//! scripted [`Reply`] values (FIFO), falling back to a default reply (an "echo" stream unless
//! changed with [`MockServer::set_default`]).
//!
//! Every response body is wrapped so that the server notices when it is dropped: the recorded
//! request then gets `closed_at`, and `closed_early` when the client went away before the
//! scripted reply ended.

use std::collections::{HashMap, VecDeque};
use std::future::IntoFuture as _;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener as StdTcpListener, TcpStream as StdTcpStream};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, oneshot};

/// The id of every chunk and completion the builders produce.
pub const MOCK_ID: &str = "chatcmpl-mock";
/// The `created` timestamp of every chunk and completion the builders produce.
pub const MOCK_CREATED: u64 = 1_753_357_673;
/// The models `GET /v1/models` lists until [`MockServer::set_models`] is called.
pub const DEFAULT_MODELS: &[&str] = &["gpt-4o-mini", "gpt-4o", "o3-mini"];

// ---------------------------------------------------------------------------------------------
// Scripted replies
// ---------------------------------------------------------------------------------------------

/// One scripted answer to a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A streamed `200 text/event-stream` reply: the pieces are written one by one, each as a
    /// separate write and flush, with `delay` between them (with a zero delay the server still
    /// yields between pieces so each is flushed on its own), then the stream ends as `end` says.
    Stream {
        pieces: Vec<Vec<u8>>,
        delay: Duration,
        end: StreamEnd,
    },
    /// Any status with exactly these headers (plus `content-length`, `date`) and this body.
    Raw {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Accept the request and never answer, until the client goes away (or the mock is dropped,
    /// which closes the connection).
    Hang,
    /// A `200 text/event-stream` reply made as it is sent: `head`, then `piece` written `times`
    /// times, then `tail`, then the body ends. Nothing is held but one copy of each part, so a
    /// test can stream hundreds of MB (an endless SSE line) and stay small.
    Repeated {
        head: Vec<u8>,
        piece: Vec<u8>,
        times: usize,
        tail: Vec<u8>,
    },
}

/// How a [`Reply::Stream`] ends after its last piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// End the chunked body normally.
    Close,
    /// Keep the connection open and send nothing more, until the client goes away.
    Hang,
    /// After `delay`, abort the connection without the final empty chunk: the client sees an
    /// error (incomplete body / unexpected EOF) after the bytes that were sent.
    Reset,
}

impl Reply {
    /// The usual end-to-end answer: a `gpt-4o-mini` stream of `text` in 4-character chunks
    /// with `usage` (prompt, completion tokens).
    pub fn mini(text: &str, usage: (u64, u64)) -> Self {
        Self::openai_stream("gpt-4o-mini", text, 4, Some(usage))
    }

    /// The OpenAI-exact stream for `text`: a role chunk
    /// (`"delta":{"role":"assistant","content":"","refusal":null}`), the text as content chunks
    /// of `chunk_chars` characters each, a finish chunk (`finish_reason: "stop"`), then, with
    /// `usage = Some((prompt, completion))`, a usage chunk with `choices: []` (earlier chunks
    /// carry `"usage":null`; without usage the key is absent), then `data: [DONE]`.
    /// Each SSE event is one piece; no delay between pieces.
    pub fn openai_stream(
        model: &str,
        text: &str,
        chunk_chars: usize,
        usage: Option<(u64, u64)>,
    ) -> Self {
        Self::Stream {
            pieces: openai_events(model, text, chunk_chars, usage),
            delay: Duration::ZERO,
            end: StreamEnd::Close,
        }
    }

    /// The events of [`Reply::openai_stream`] (content in 4-character chunks) as one byte
    /// stream re-cut into pieces of `n` bytes, splitting UTF-8 sequences and lines.
    pub fn openai_stream_split(
        model: &str,
        text: &str,
        usage: Option<(u64, u64)>,
        n: usize,
    ) -> Self {
        let bytes = openai_events(model, text, 4, usage).concat();
        Self::Stream {
            pieces: split_bytes(&bytes, n),
            delay: Duration::ZERO,
            end: StreamEnd::Close,
        }
    }

    /// The OpenAI-exact stream of [`Reply::openai_stream`] with one content chunk per token
    /// (as a model streams them), its events written `per_write` at a time (as a fast server's
    /// writes hold many events). No delay between writes.
    pub fn openai_token_stream(
        model: &str,
        tokens: Vec<String>,
        per_write: usize,
        usage: Option<(u64, u64)>,
    ) -> Self {
        let per_write = per_write.max(1);
        let mut pieces = Vec::new();
        let mut piece = Vec::new();
        for (i, event) in openai_events_of(model, tokens, usage).enumerate() {
            piece.extend_from_slice(&event);
            if (i + 1) % per_write == 0 {
                pieces.push(std::mem::take(&mut piece));
            }
        }
        if !piece.is_empty() {
            pieces.push(piece);
        }
        Self::Stream {
            pieces,
            delay: Duration::ZERO,
            end: StreamEnd::Close,
        }
    }

    /// A non-streaming `chat.completion` (pretty-printed JSON, as OpenAI sends it) with
    /// `finish_reason: "stop"` and usage, as a `200 application/json` [`Reply::Raw`].
    pub fn completion_json(model: &str, text: &str, prompt: u64, completion: u64) -> Self {
        let body = json!({
            "id": MOCK_ID,
            "object": "chat.completion",
            "created": MOCK_CREATED,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": text,
                    "refusal": null,
                    "annotations": []
                },
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": usage_json(prompt, completion),
            "service_tier": "default",
            "system_fingerprint": "fp_mock"
        });
        Self::json(200, &body, &[])
    }

    /// An OpenAI-shaped error, `{"error":{"message","type","param":null,"code"}}`, with this
    /// status and extra headers. `type` follows the status (`invalid_request_error`,
    /// `requests` or `insufficient_quota` for 429, `server_error` for ≥ 500); an empty `code`
    /// is sent as `null`.
    pub fn error(status: u16, code: &str, message: &str, headers: &[(&str, &str)]) -> Self {
        let kind = match status {
            429 if code == "insufficient_quota" => "insufficient_quota",
            429 => "requests",
            500.. => "server_error",
            _ => "invalid_request_error",
        };
        let code = if code.is_empty() {
            Value::Null
        } else {
            Value::from(code)
        };
        let body = json!({
            "error": { "message": message, "type": kind, "param": null, "code": code }
        });
        Self::json(status, &body, headers)
    }

    /// A JSON body (pretty-printed) with `content-type: application/json` and extra headers.
    pub fn json(status: u16, body: &Value, headers: &[(&str, &str)]) -> Self {
        let mut all = vec![("content-type".to_owned(), "application/json".to_owned())];
        all.extend(headers.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())));
        Self::Raw {
            status,
            headers: all,
            body: format!("{body:#}").into_bytes(),
        }
    }

    /// A fixture file from `tests/fixtures/sse/`, streamed as `200 text/event-stream` in
    /// pieces of `n` bytes. An unreadable file becomes a 500 whose body names it.
    pub fn fixture(name: &str, n: usize) -> Self {
        let path = format!(
            "{}{name}",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sse/")
        );
        match std::fs::read(&path) {
            Ok(bytes) => Self::Stream {
                pieces: split_bytes(&bytes, n),
                delay: Duration::ZERO,
                end: StreamEnd::Close,
            },
            Err(e) => Self::Raw {
                status: 500,
                headers: vec![("content-type".to_owned(), "text/plain".to_owned())],
                body: format!("mock: cannot read fixture {path}: {e}").into_bytes(),
            },
        }
    }

    /// Raw SSE text as one piece of a `200 text/event-stream` reply.
    pub fn sse(body: &str) -> Self {
        Self::Stream {
            pieces: vec![body.as_bytes().to_vec()],
            delay: Duration::ZERO,
            end: StreamEnd::Close,
        }
    }

    /// Pieces of raw SSE text, one write each.
    pub fn sse_pieces(pieces: &[&str], delay: Duration) -> Self {
        Self::Stream {
            pieces: pieces.iter().map(|p| p.as_bytes().to_vec()).collect(),
            delay,
            end: StreamEnd::Close,
        }
    }

    /// A plain `200` with an empty body and the given content type.
    pub fn empty(content_type: &str) -> Self {
        Self::Raw {
            status: 200,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body: Vec::new(),
        }
    }

    /// The same stream with this delay between pieces (no effect on other replies).
    #[must_use]
    pub fn with_delay(mut self, new_delay: Duration) -> Self {
        if let Self::Stream { delay, .. } = &mut self {
            *delay = new_delay;
        }
        self
    }

    /// The same stream with this ending (no effect on other replies).
    #[must_use]
    pub fn with_end(mut self, new_end: StreamEnd) -> Self {
        if let Self::Stream { end, .. } = &mut self {
            *end = new_end;
        }
        self
    }

    /// The same stream cut short: only its first `n` pieces (no effect on other replies).
    #[must_use]
    pub fn truncated(mut self, n: usize) -> Self {
        if let Self::Stream { pieces, .. } = &mut self {
            pieces.truncate(n);
        }
        self
    }
}

/// `usage` as OpenAI reports it.
pub fn usage_json(prompt: u64, completion: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

/// One OpenAI `chat.completion.chunk` with these choices, as a `data: …\n\n` event.
fn chunk_event(model: &str, choices: &Value, usage: Option<Value>) -> Vec<u8> {
    let mut chunk = json!({
        "id": MOCK_ID,
        "object": "chat.completion.chunk",
        "created": MOCK_CREATED,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_mock",
        "choices": choices,
    });
    if let (Some(usage), Some(map)) = (usage, chunk.as_object_mut()) {
        map.insert("usage".to_owned(), usage);
    }
    if let Some(map) = chunk.as_object_mut() {
        map.insert("obfuscation".to_owned(), Value::from("m0ck"));
    }
    format!("data: {chunk}\n\n").into_bytes()
}

fn choice(delta: &Value, finish_reason: Option<&str>) -> Value {
    json!([{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason }])
}

fn openai_events(
    model: &str,
    text: &str,
    chunk_chars: usize,
    usage: Option<(u64, u64)>,
) -> Vec<Vec<u8>> {
    let chars: Vec<char> = text.chars().collect();
    let contents = chars
        .chunks(chunk_chars.max(1))
        .map(|part| part.iter().collect::<String>())
        .collect::<Vec<_>>();
    openai_events_of(model, contents, usage).collect()
}

/// The events of an OpenAI stream whose content chunks are `contents`, one event each: the
/// role chunk, the content chunks, the finish chunk, the usage chunk (with `usage`), `[DONE]`.
/// Lazy, so that a stream of 300,000 chunks is never held twice.
fn openai_events_of<'a>(
    model: &'a str,
    contents: impl IntoIterator<Item = String> + 'a,
    usage: Option<(u64, u64)>,
) -> impl Iterator<Item = Vec<u8>> + 'a {
    let null_usage = move || usage.map(|_| Value::Null);
    let role = std::iter::once_with(move || {
        chunk_event(
            model,
            &choice(
                &json!({ "role": "assistant", "content": "", "refusal": null }),
                None,
            ),
            null_usage(),
        )
    });
    let content = contents.into_iter().map(move |content| {
        chunk_event(
            model,
            &choice(&json!({ "content": content }), None),
            null_usage(),
        )
    });
    let finish = std::iter::once_with(move || {
        chunk_event(model, &choice(&json!({}), Some("stop")), null_usage())
    });
    let usage_chunk = usage.map(move |(prompt, completion)| {
        chunk_event(model, &json!([]), Some(usage_json(prompt, completion)))
    });
    role.chain(content)
        .chain(finish)
        .chain(usage_chunk)
        .chain(std::iter::once(b"data: [DONE]\n\n".to_vec()))
}

fn split_bytes(bytes: &[u8], n: usize) -> Vec<Vec<u8>> {
    bytes.chunks(n.max(1)).map(<[u8]>::to_vec).collect()
}

/// The default reply: echoes the last user message back.
#[derive(Debug, Clone, Copy)]
pub struct Echo {
    /// Delay between the stream's pieces.
    pub delay: Duration,
    /// Whether the stream ends with a usage chunk (and the completion carries usage).
    pub usage: bool,
}

impl Default for Echo {
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(15),
            usage: true,
        }
    }
}

impl Echo {
    /// The answer to one chat request: `"You said: <last user message>"` in 4-character
    /// chunks, usage prompt = words in all messages + 7, completion = ⌈chars / 4⌉, model = the
    /// request's. A request without `"stream": true` gets a `chat.completion` instead.
    pub fn reply(self, request: Option<&Value>) -> Reply {
        let Some(request) = request else {
            return Reply::error(
                400,
                "",
                "We could not parse the JSON body of your request. (HINT: This likely means you \
                 aren't using your HTTP library correctly.)",
                &[],
            );
        };
        let model = request
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("mock-model");
        let messages = request
            .get("messages")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let last_user = messages
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .map(|m| content_text(m.get("content")))
            .unwrap_or_default();
        let words: usize = messages
            .iter()
            .map(|m| content_text(m.get("content")).split_whitespace().count())
            .sum();
        let answer = format!("You said: {last_user}");
        let prompt = u64::try_from(words).unwrap_or(u64::MAX).saturating_add(7);
        let completion = u64::try_from(answer.chars().count().div_ceil(4)).unwrap_or(u64::MAX);
        if request.get("stream").and_then(Value::as_bool) == Some(true) {
            let usage = self.usage.then_some((prompt, completion));
            Reply::openai_stream(model, &answer, 4, usage).with_delay(self.delay)
        } else {
            let mut reply = Reply::completion_json(model, &answer, prompt, completion);
            if !self.usage {
                reply = strip_usage(reply);
            }
            reply
        }
    }
}

fn strip_usage(reply: Reply) -> Reply {
    let Reply::Raw {
        status,
        headers,
        body,
    } = reply
    else {
        return reply;
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&body) else {
        return Reply::Raw {
            status,
            headers,
            body,
        };
    };
    if let Some(map) = value.as_object_mut() {
        map.remove("usage");
    }
    Reply::Raw {
        status,
        headers,
        body: format!("{value:#}").into_bytes(),
    }
}

/// The text of a message's `content`: a string, or the `text` of its parts.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Recorded requests
// ---------------------------------------------------------------------------------------------

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// The URL path, without the query.
    pub path: String,
    /// The URL's query, without the `?` (empty when there is none).
    pub query: String,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub json: Option<Value>,
    /// When the request's headers arrived.
    pub received_at: Instant,
    /// When the response body was dropped: sent completely, or abandoned because the client
    /// closed the connection.
    pub closed_at: Option<Instant>,
    /// The client went away before the scripted reply ended (always true for a closed
    /// [`Reply::Hang`] or [`StreamEnd::Hang`]; false for a scripted [`StreamEnd::Reset`]).
    pub closed_early: bool,
}

impl RecordedRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is a `POST …/chat/completions`.
    pub fn is_chat(&self) -> bool {
        self.method == "POST" && is_chat_path(&self.path)
    }

    /// The request's `messages` array (empty when there is none).
    pub fn messages(&self) -> Vec<Value> {
        self.json
            .as_ref()
            .and_then(|j| j.get("messages"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// A top-level string field of the JSON body, e.g. `model`.
    pub fn json_str(&self, key: &str) -> Option<&str> {
        self.json.as_ref()?.get(key)?.as_str()
    }
}

/// `…/chat/completions` under any prefix: `/v1`, none, Azure's `/openai/v1` and
/// `/openai/deployments/NAME` (a gateway's own prefix too).
fn is_chat_path(path: &str) -> bool {
    path == "/chat/completions" || path.ends_with("/chat/completions")
}

fn is_models_path(path: &str) -> bool {
    matches!(path, "/v1/models" | "/models")
}

// ---------------------------------------------------------------------------------------------
// Server state
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum DefaultReply {
    Echo(Echo),
    Fixed(Reply),
}

#[derive(Debug, Clone)]
enum ModelsReply {
    List(Vec<String>),
    Fixed(Reply),
}

struct Inner {
    queue: VecDeque<Reply>,
    default: DefaultReply,
    models: ModelsReply,
    requests: Vec<RecordedRequest>,
    /// A duplicate handle of every open connection, to close them all when the mock is dropped.
    conns: HashMap<u64, StdTcpStream>,
    next_conn: u64,
    /// Streams hold back their last `hold_last` pieces until released (0: none held).
    hold_last: usize,
    released: bool,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Woken whenever a request is recorded or a response body is dropped.
    changed: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns once [`MockServer::release_streams`] was called.
    async fn released(&self) {
        loop {
            let mut changed = pin!(self.changed.notified());
            changed.as_mut().enable();
            if self.lock().released {
                return;
            }
            changed.await;
        }
    }
}

/// Records `closed_at` / `closed_early` of one request when the response (body) is dropped.
struct CloseGuard {
    shared: Arc<Shared>,
    index: usize,
    finished: bool,
}

impl CloseGuard {
    /// The scripted reply has ended (from the server's side).
    fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for CloseGuard {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        if let Some(request) = inner.requests.get_mut(self.index) {
            request.closed_at = Some(Instant::now());
            request.closed_early = !self.finished;
        }
        drop(inner);
        self.shared.changed.notify_waiters();
    }
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/// A running mock server; it stops (closing every open connection) when dropped.
pub struct MockServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Starts the mock on `127.0.0.1:0` as a task of the current tokio runtime.
    #[allow(
        clippy::expect_used,
        reason = "a test cannot go on without its mock server"
    )]
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("mock: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("mock: local_addr");
        let shared = new_shared();
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(serve(listener, Arc::clone(&shared), stopped));
        Self {
            shared,
            addr,
            stop: Some(stop),
            thread: None,
        }
    }

    /// Starts the mock on `127.0.0.1:0` on its own thread with its own runtime (for tests that
    /// run kaiwa synchronously). It serves until dropped.
    #[allow(
        clippy::expect_used,
        reason = "a test cannot go on without its mock server"
    )]
    pub fn start_blocking() -> Self {
        Self::start_blocking_on(0).expect("mock: start on 127.0.0.1:0")
    }

    /// [`MockServer::start_blocking`] with `replies` queued, in order.
    pub fn start_with(replies: impl IntoIterator<Item = Reply>) -> Self {
        let mock = Self::start_blocking();
        for reply in replies {
            mock.enqueue(reply);
        }
        mock
    }

    /// [`MockServer::start_blocking`] on a given port (0: any free port).
    pub fn start_blocking_on(port: u16) -> io::Result<Self> {
        let std_listener = StdTcpListener::bind(("127.0.0.1", port))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mock-server")
            .enable_all()
            .build()?;
        let shared = new_shared();
        let (stop, stopped) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let task_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("mock-server".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(listener) => {
                            let _ = ready_tx.send(Ok(()));
                            serve(listener, task_shared, stopped).await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
                // Dropping the runtime here ends every connection task.
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                shared,
                addr,
                stop: Some(stop),
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other(
                "mock: server thread ended before it started",
            )),
        }
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The address the mock listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues a reply for the next chat request that finds the queue non-empty (FIFO).
    pub fn enqueue(&self, reply: Reply) {
        self.shared.lock().queue.push_back(reply);
    }

    /// The reply for chat requests when the queue is empty (instead of the echo).
    pub fn set_default(&self, reply: Reply) {
        self.shared.lock().default = DefaultReply::Fixed(reply);
    }

    /// Makes the default reply the echo again, with these settings.
    pub fn set_echo(&self, echo: Echo) {
        self.shared.lock().default = DefaultReply::Echo(echo);
    }

    /// The ids `GET /v1/models` lists.
    pub fn set_models(&self, ids: &[&str]) {
        self.shared.lock().models = ModelsReply::List(ids.iter().map(|&s| s.to_owned()).collect());
    }

    /// A fixed reply for `GET /v1/models` (e.g. an error).
    pub fn set_models_reply(&self, reply: Reply) {
        self.shared.lock().models = ModelsReply::Fixed(reply);
    }

    /// From now on every streamed reply sends all but its last `last` pieces, then waits for
    /// [`MockServer::release_streams`] before sending those: the answer stays in flight, its
    /// end (finish, usage, `[DONE]` for `last = 3` with usage) held back, for as long as a test
    /// needs.
    pub fn hold_stream_ends(&self, last: usize) {
        let mut inner = self.shared.lock();
        inner.hold_last = last;
        inner.released = last == 0;
    }

    /// Lets the streams held by [`MockServer::hold_stream_ends`] end (and later ones run
    /// through).
    pub fn release_streams(&self) {
        self.shared.lock().released = true;
        self.shared.changed.notify_waiters();
    }

    /// Every request received so far, in order (any path).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Only the `POST …/chat/completions` requests.
    pub fn chat_requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.is_chat())
            .cloned()
            .collect()
    }

    /// Waits until at least `n` requests (any path) arrived and returns all of them.
    /// Panics, listing what did arrive, if they do not within `timeout`.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        let arrived = self.wait_until(timeout, |r| r.len() >= n).await;
        self.expect_requests(arrived, n, timeout)
    }

    /// What a wait for `n` requests found, or a panic listing what did arrive.
    #[allow(
        clippy::panic,
        reason = "a failed wait is a failed test; the message says why"
    )]
    fn expect_requests(
        &self,
        arrived: Option<Vec<RecordedRequest>>,
        n: usize,
        timeout: Duration,
    ) -> Vec<RecordedRequest> {
        arrived.unwrap_or_else(|| {
            panic!(
                "mock: expected {n} requests within {timeout:?}, got {:#?}",
                self.requests()
            )
        })
    }

    /// Waits until `done(all requests)` holds and returns the requests; `None` after `timeout`.
    /// Re-checked whenever a request arrives or a response body is dropped.
    pub async fn wait_until<F>(
        &self,
        timeout: Duration,
        mut done: F,
    ) -> Option<Vec<RecordedRequest>>
    where
        F: FnMut(&[RecordedRequest]) -> bool,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut changed = pin!(self.shared.changed.notified());
            changed.as_mut().enable();
            let requests = self.requests();
            if done(&requests) {
                return Some(requests);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                let requests = self.requests();
                return done(&requests).then_some(requests);
            }
        }
    }

    /// [`MockServer::wait_for_requests`] for synchronous tests.
    pub fn wait_for_requests_blocking(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        let arrived = self.wait_until_blocking(timeout, |r| r.len() >= n);
        self.expect_requests(arrived, n, timeout)
    }

    /// [`MockServer::wait_until`] for synchronous tests (on a runtime of its own: not from
    /// inside one).
    #[allow(
        clippy::expect_used,
        reason = "a test cannot wait without a runtime to wait on"
    )]
    pub fn wait_until_blocking(
        &self,
        timeout: Duration,
        done: impl FnMut(&[RecordedRequest]) -> bool,
    ) -> Option<Vec<RecordedRequest>> {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("mock: a runtime to wait on")
            .block_on(self.wait_until(timeout, done))
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let conns: Vec<StdTcpStream> = self.shared.lock().conns.drain().map(|(_, s)| s).collect();
        for conn in conns {
            let _ = conn.shutdown(Shutdown::Both);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn new_shared() -> Arc<Shared> {
    Arc::new(Shared {
        inner: Mutex::new(Inner {
            queue: VecDeque::new(),
            default: DefaultReply::Echo(Echo::default()),
            models: ModelsReply::List(DEFAULT_MODELS.iter().map(|&s| s.to_owned()).collect()),
            requests: Vec::new(),
            conns: HashMap::new(),
            next_conn: 0,
            hold_last: 0,
            released: true,
        }),
        changed: Notify::new(),
    })
}

async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    stopped: oneshot::Receiver<()>,
) {
    let app = Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&shared));
    let listener = MockListener {
        inner: listener,
        shared,
    };
    tokio::select! {
        _ = axum::serve(listener, app).into_future() => {}
        _ = stopped => {}
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let received_at = Instant::now();
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let json = serde_json::from_slice::<Value>(&bytes).ok();
    let (index, reply, hold_last) = {
        let mut inner = shared.lock();
        let reply = if parts.method == Method::POST && is_chat_path(&path) {
            match inner.queue.pop_front() {
                Some(reply) => reply,
                None => match &inner.default {
                    DefaultReply::Echo(echo) => echo.reply(json.as_ref()),
                    DefaultReply::Fixed(reply) => reply.clone(),
                },
            }
        } else if parts.method == Method::GET && is_models_path(&path) {
            match &inner.models {
                ModelsReply::List(ids) => models_reply(ids),
                ModelsReply::Fixed(reply) => reply.clone(),
            }
        } else {
            Reply::error(404, "", &format!("Invalid URL ({method} {path})"), &[])
        };
        inner.requests.push(RecordedRequest {
            method,
            path,
            query,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            json,
            received_at,
            closed_at: None,
            closed_early: false,
        });
        (inner.requests.len() - 1, reply, inner.hold_last)
    };
    shared.changed.notify_waiters();
    let guard = CloseGuard {
        shared,
        index,
        finished: false,
    };
    respond(reply, guard, hold_last).await
}

fn models_reply(ids: &[String]) -> Reply {
    let data: Vec<Value> = ids
        .iter()
        .zip(0_u64..)
        .map(|(id, i)| json!({ "id": id, "object": "model", "created": 1_700_000_000 + i, "owned_by": "mock" }))
        .collect();
    Reply::json(200, &json!({ "object": "list", "data": data }), &[])
}

async fn respond(reply: Reply, mut guard: CloseGuard, hold_last: usize) -> Response {
    match reply {
        Reply::Stream { pieces, delay, end } => {
            let hold_at = (hold_last > 0).then(|| pieces.len().saturating_sub(hold_last));
            let body = script(pieces, delay, end, guard, hold_at);
            let mut response = Response::new(Body::from_stream(body));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream; charset=utf-8"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        Reply::Raw {
            status,
            headers,
            body,
        } => {
            let len = body.len();
            if body.is_empty() {
                guard.finish();
            }
            let body = (!body.is_empty()).then_some(body);
            // The guard stays in the stream's state: it is dropped when hyper is done with it.
            let body =
                futures_util::stream::unfold((body, guard), |(body, mut guard)| async move {
                    let body = body?;
                    guard.finish();
                    Some((Ok::<_, io::Error>(Bytes::from(body)), (None, guard)))
                });
            let mut response = Response::new(Body::from_stream(body));
            *response.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let map = response.headers_mut();
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) =
                    (HeaderName::try_from(name), HeaderValue::try_from(value))
                {
                    map.append(name, value);
                }
            }
            if !map.contains_key(header::CONTENT_LENGTH)
                && !map.contains_key(header::TRANSFER_ENCODING)
            {
                map.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            }
            response
        }
        Reply::Hang => {
            let _guard = guard;
            std::future::pending().await
        }
        Reply::Repeated {
            head,
            piece,
            times,
            tail,
        } => {
            let mut response =
                Response::new(Body::from_stream(repeated(head, piece, times, tail, guard)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream; charset=utf-8"),
            );
            response
        }
    }
}

/// The body of a [`Reply::Repeated`]: each write shares the one copy of `piece`.
fn repeated(
    head: Vec<u8>,
    piece: Vec<u8>,
    times: usize,
    tail: Vec<u8>,
    guard: CloseGuard,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
    let parts = [Bytes::from(head), Bytes::from(piece), Bytes::from(tail)];
    // Step 0 is the head, 1..=times the pieces, times + 1 the tail.
    futures_util::stream::unfold((0usize, guard), move |(step, mut guard)| {
        let [head, piece, tail] = parts.clone();
        async move {
            let bytes = match step {
                0 => head,
                n if n <= times => piece,
                n if n == times + 1 => {
                    guard.finish();
                    tail
                }
                _ => return None,
            };
            Some((Ok(bytes), (step + 1, guard)))
        }
    })
}

/// The body of a [`Reply::Stream`]; with `hold_at`, the piece of that index (and those after
/// it) waits for [`MockServer::release_streams`].
fn script(
    pieces: Vec<Vec<u8>>,
    delay: Duration,
    end: StreamEnd,
    guard: CloseGuard,
    hold_at: Option<usize>,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
    struct Script {
        pieces: std::vec::IntoIter<Vec<u8>>,
        sent: usize,
        end: StreamEnd,
        guard: CloseGuard,
        done: bool,
        hold_at: Option<usize>,
    }
    let state = Script {
        pieces: pieces.into_iter(),
        sent: 0,
        end,
        guard,
        done: false,
        hold_at,
    };
    futures_util::stream::unfold(state, move |mut st| async move {
        if st.done {
            return None;
        }
        if st.hold_at == Some(st.sent) {
            st.guard.shared.released().await;
        }
        if let Some(piece) = st.pieces.next() {
            if st.sent > 0 {
                pause(delay).await;
            }
            st.sent += 1;
            if st.pieces.len() == 0 && st.end == StreamEnd::Close {
                st.guard.finish();
            }
            return Some((Ok(Bytes::from(piece)), st));
        }
        match st.end {
            StreamEnd::Close => {
                st.guard.finish();
                None
            }
            StreamEnd::Hang => std::future::pending().await,
            StreamEnd::Reset => {
                if st.sent > 0 {
                    pause(delay).await;
                }
                st.guard.finish();
                st.done = true;
                Some((
                    Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "mock: scripted reset",
                    )),
                    st,
                ))
            }
        }
    })
}

/// Waits `delay`, or with no delay yields once so the previous piece is flushed on its own.
async fn pause(delay: Duration) {
    if delay.is_zero() {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(delay).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Connections: a listener that keeps a handle on each socket so `Drop` can close them all
// ---------------------------------------------------------------------------------------------

struct MockListener {
    inner: tokio::net::TcpListener,
    shared: Arc<Shared>,
}

impl axum::serve::Listener for MockListener {
    type Io = MockIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (MockIo, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    // A socket that cannot be registered is dropped (closed).
                    if let Ok(io) = register(&self.shared, stream) {
                        return (io, addr);
                    }
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

fn register(shared: &Arc<Shared>, stream: tokio::net::TcpStream) -> io::Result<MockIo> {
    let std_stream = stream.into_std()?;
    let duplicate = std_stream.try_clone()?;
    let stream = tokio::net::TcpStream::from_std(std_stream)?;
    let mut inner = shared.lock();
    let id = inner.next_conn;
    inner.next_conn += 1;
    inner.conns.insert(id, duplicate);
    Ok(MockIo {
        stream,
        shared: Arc::clone(shared),
        id,
    })
}

/// A connection; forgets its duplicate handle when dropped so the socket really closes.
struct MockIo {
    stream: tokio::net::TcpStream,
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for MockIo {
    fn drop(&mut self) {
        let duplicate = self.shared.lock().conns.remove(&self.id);
        drop(duplicate);
    }
}

impl AsyncRead for MockIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for MockIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
