//! Typed API errors whose `Display` is written for the user.
//!
//! Invariant: no variant can hold the API key (it exists only as
//! `secret::ApiKey`), so formatting an error can never reveal it. Server
//! messages are kept as they arrived; the UI sanitises them for display.

use std::time::Duration;

use super::types::ServerError;
use crate::text::wrap::first_chars;

/// Everything that can go wrong talking to the server.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ApiError {
    /// The server answered with an error status.
    #[error("{}", status_message(*.status, .error, .base_url, .key_hint.as_deref()))]
    Status {
        status: u16,
        error: ServerError,
        /// The wait the server asked for, if any.
        retry_after: Option<Duration>,
        /// `x-should-retry`, if sent.
        should_retry: Option<bool>,
        base_url: String,
        /// How to set this provider's key, said on a 401 (default: the
        /// `OpenAI` variable).
        key_hint: Option<String>,
    },
    /// No TCP connection (refused, DNS, TLS).
    #[error("cannot connect to {base_url}: {detail}")]
    Connect { base_url: String, detail: String },
    /// Connecting took longer than the connect timeout.
    #[error("timed out connecting to {base_url}")]
    ConnectTimeout { base_url: String },
    /// The stream sent nothing for the idle timeout.
    #[error("the server sent nothing for {} (stream_idle_timeout)", seconds(*.0))]
    Idle(Duration),
    /// The connection broke while the body was being read.
    #[error("the connection broke: {0}")]
    Broken(String),
    /// A line (or one event) of the stream went past the decoder's cap of
    /// this many bytes: reading stopped there, so an endless line can
    /// neither fill memory nor hold the answer open.
    #[error(
        "the server sent a line longer than {} MiB; the stream was cut off there",
        .0 / (1024 * 1024)
    )]
    LineTooLong(usize),
    /// The stream ended without a finish reason.
    #[error("the connection ended before the answer was finished")]
    EndedEarly,
    /// An error object arrived inside a 200 stream.
    #[error("the server reported an error mid-stream: {}", describe(.0))]
    InStream(ServerError),
    /// The response could not be understood.
    #[error("unreadable response from the server: {0}")]
    Decode(String),
    /// A wait longer than kaiwa retries by itself (> 60 s).
    #[error("{cause} — the server asks to wait {}s; not retried automatically", .wait.as_secs())]
    WaitTooLong { wait: Duration, cause: Box<Self> },
    /// The request could not be built (bad URL and the like).
    #[error("{0}")]
    Request(String),
}

/// `120s`, or `0.3s` below a second.
fn seconds(d: Duration) -> String {
    if d.as_secs() >= 1 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

fn describe(error: &ServerError) -> String {
    let mut tags = Vec::new();
    if let Some(code) = &error.code {
        tags.push(code.clone());
    } else if let Some(kind) = &error.kind {
        tags.push(kind.clone());
    }
    let message = first_lines(&error.message);
    if tags.is_empty() {
        message
    } else {
        format!("{message} ({})", tags.join(", "))
    }
}

/// A server message cut to something that fits a status line or stderr.
fn first_lines(message: &str) -> String {
    let (kept, cut) = first_chars(message.trim(), SERVER_MESSAGE_CHARS);
    if cut {
        format!("{kept}…")
    } else {
        kept.to_string()
    }
}

/// The most of a server's message (or body) kept in an error.
pub const SERVER_MESSAGE_CHARS: usize = 400;

/// The word that names the error: its `code`, unless that is only a number
/// (llama.cpp and LiteLLM repeat the HTTP status there), else its `type`.
fn error_code(error: &ServerError) -> Option<&str> {
    error
        .code
        .as_deref()
        .filter(|code| !code.bytes().all(|b| b.is_ascii_digit()))
        .or(error.kind.as_deref())
}

fn status_message(
    status: u16,
    error: &ServerError,
    base_url: &str,
    key_hint: Option<&str>,
) -> String {
    let code = error_code(error);
    let tag = match code {
        Some(code) if code != status.to_string() => format!("{status} {code}"),
        _ => status.to_string(),
    };
    let msg = first_lines(&error.message);
    let with_msg = |what: &str| {
        if msg.is_empty() {
            format!("{what} (HTTP {tag})")
        } else {
            format!("{what} ({tag}): {msg}")
        }
    };
    // Words for any front end: the TUI adds its own key hints (`tui_hint`).
    match (status, code) {
        (401, _) => format!(
            "the server rejected the API key ({tag}) — {}: {msg}",
            key_hint.unwrap_or("set OPENAI_API_KEY or api_key_cmd")
        ),
        // Azure: the model's name where the deployment's belongs (mods#138).
        (404, Some("DeploymentNotFound")) => format!(
            "deployment not found ({tag}) — use the deployment name from the Azure portal, not \
             the model's name: {msg}"
        ),
        _ if super::overflow::detect(error).is_some() => {
            with_msg("the conversation is too long for the model's context window")
        }
        (404, _) if error.code.as_deref() == Some("model_not_found") || msg.contains("model") => {
            format!("model not found ({tag}): {msg}")
        }
        (404, _) => format!("not found ({tag}) at {base_url} — is the base URL right? {msg}"),
        (429, Some("insufficient_quota")) => format!("out of quota ({tag}): {msg}"),
        (429, _) => format!("rate limited ({tag}): {msg}"),
        // A 4xx is the server refusing this request; a 5xx is the server failing.
        (400..=499, _) => with_msg("the server refused the request"),
        (500..=599, _) => with_msg("the server failed"),
        _ => with_msg("the server answered"),
    }
}

impl ApiError {
    /// What the chat TUI adds after the message: the key that helps.
    /// (`kaiwa ask` prints the message alone.)
    pub fn tui_hint(&self) -> Option<&'static str> {
        self.overflow()
            .map(|_| "start a new conversation with Ctrl+N")
    }

    /// The prompt did not fit the model's window, as the server said it
    /// (any shape: `api::overflow`).
    pub fn overflow(&self) -> Option<super::overflow::Overflow> {
        self.server_error().and_then(super::overflow::detect)
    }

    /// The server's error object, when it sent one (with a status or in
    /// the stream), also behind a wait too long to retry.
    fn server_error(&self) -> Option<&ServerError> {
        if let Self::WaitTooLong { cause, .. } = self {
            return cause.server_error();
        }
        if let Self::Status { error, .. } | Self::InStream(error) = self {
            return Some(error);
        }
        None
    }

    /// The HTTP status, when there was one.
    pub fn status(&self) -> Option<u16> {
        if let Self::WaitTooLong { cause, .. } = self {
            return cause.status();
        }
        if let Self::Status { status, .. } = self {
            return Some(*status);
        }
        None
    }

    /// Build a status error from a body, taking the server's message in any
    /// shape or, failing that, the body text itself (truncated).
    pub fn from_status(
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
        should_retry: Option<bool>,
        base_url: &str,
    ) -> Self {
        let parsed = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| ServerError::from_json(&v));
        let error = parsed.unwrap_or_else(|| ServerError {
            message: first_chars(String::from_utf8_lossy(body).trim(), SERVER_MESSAGE_CHARS)
                .0
                .to_string(),
            ..ServerError::default()
        });
        Self::Status {
            status,
            error,
            retry_after,
            should_retry,
            base_url: base_url.to_string(),
            key_hint: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_well() {
        let e = ApiError::from_status(
            401,
            br#"{"error":{"message":"Incorrect API key provided: sk-VKMIs***wjh3.","type":"invalid_request_error","code":"invalid_api_key"}}"#,
            None,
            None,
            "https://api.openai.com/v1",
        );
        let s = e.to_string();
        assert!(s.starts_with("the server rejected the API key (401 invalid_api_key) — set OPENAI_API_KEY or api_key_cmd"), "{s}");
        let e = ApiError::from_status(500, b"Internal Server Error", None, None, "http://x/v1");
        assert_eq!(
            e.to_string(),
            "the server failed (500): Internal Server Error"
        );
        let e = ApiError::from_status(503, b"", None, None, "http://x/v1");
        assert_eq!(e.to_string(), "the server failed (HTTP 503)");
        let e = ApiError::from_status(
            400,
            br#"{"error":{"message":"too long","code":"context_length_exceeded"}}"#,
            None,
            None,
            "u",
        );
        assert_eq!(
            e.to_string(),
            "the conversation is too long for the model's context window (400 context_length_exceeded): too long"
        );
        assert!(
            !e.to_string().contains("Ctrl+"),
            "no TUI keys in the message"
        );
        assert_eq!(e.tui_hint(), Some("start a new conversation with Ctrl+N"));
        assert_eq!(
            ApiError::from_status(500, b"x", None, None, "u").tui_hint(),
            None
        );
        let e = ApiError::from_status(
            404,
            br#"{"error":{"message":"The model `x` does not exist","code":"model_not_found"}}"#,
            None,
            None,
            "u",
        );
        assert!(
            e.to_string()
                .starts_with("model not found (404 model_not_found)")
        );
        let e = ApiError::from_status(
            400,
            br#"{"error":{"code":400,"message":"bad"}}"#,
            None,
            None,
            "u",
        );
        assert_eq!(e.to_string(), "the server refused the request (400): bad");
    }
}
