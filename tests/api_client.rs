//! `ApiClient` against the mock OpenAI server: what goes on the wire, what comes back as
//! events, how errors are typed and when requests are retried.
#![allow(
    clippy::wildcard_enum_match_arm,
    reason = "tests pick the one event or error they expect out of a stream"
)]

mod support;

use std::time::{Duration, Instant};

use kaiwa::api::client::{ApiClient, StreamEnd, StreamEvent};
use kaiwa::api::error::ApiError;
use kaiwa::api::types::{ChatMessage, ChatRequest, Role, Usage};
use kaiwa::secret::ApiKey;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use support::mock::{self, MockServer, Reply};

const WAIT: Duration = Duration::from_secs(5);
const KEY: &str = "sk-test-kaiwa-0123456789";
const TEXT: &str = "ChatGPT는 OpenAI가 만든 대화형 AI입니다. 😀👩‍🔬 끝!";

#[allow(
    clippy::unwrap_used,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn client(mock: &MockServer) -> ApiClient {
    ApiClient::new(&mock.base_url(), Some(ApiKey::new(KEY.to_owned())), WAIT).unwrap()
}

fn request(model: &str) -> ChatRequest {
    ChatRequest {
        model: model.to_owned(),
        messages: vec![
            ChatMessage::new(Role::System, "Be brief."),
            ChatMessage::new(Role::User, "ChatGPT란 무엇입니까?"),
            ChatMessage::new(Role::Assistant, "대화형 AI입니다."),
            ChatMessage::new(Role::User, "더 자세히"),
        ],
        temperature: None,
        max_tokens: None,
    }
}

/// What one `stream_chat` produced.
#[derive(Debug)]
struct Run {
    events: Vec<StreamEvent>,
    elapsed: Duration,
}

impl Run {
    fn text(&self) -> String {
        self.events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Delta(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    #[allow(
        clippy::panic,
        reason = "test helper outside #[test] functions: a failure should panic"
    )]
    fn end(&self) -> &StreamEnd {
        match self.events.last() {
            Some(StreamEvent::End(end)) => end,
            other => panic!("the last event is not End: {other:?}"),
        }
    }

    #[allow(
        clippy::panic,
        reason = "test helper outside #[test] functions: a failure should panic"
    )]
    fn error(&self) -> &ApiError {
        self.end()
            .error
            .as_ref()
            .unwrap_or_else(|| panic!("expected an error, got {:?}", self.end()))
    }

    fn usages(&self) -> Vec<Usage> {
        self.events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Usage(u) => Some(*u),
                _ => None,
            })
            .collect()
    }

    /// `(attempt, wait)` of every `Retrying` event.
    fn retries(&self) -> Vec<(u32, Duration)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Retrying { attempt, wait, .. } => Some((*attempt, *wait)),
                _ => None,
            })
            .collect()
    }

    fn ends(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, StreamEvent::End(_)))
            .count()
    }
}

/// The usual request (`gpt-4o-mini`) streamed by a fresh client of `mock`.
async fn ask(mock: &MockServer) -> Run {
    stream(&client(mock), &request("gpt-4o-mini")).await
}

/// No retry was announced, and none reaches the server even a little later.
async fn assert_not_retried(mock: &MockServer, run: &Run) {
    assert!(run.retries().is_empty());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(mock.chat_requests().len(), 1);
}

async fn stream(client: &ApiClient, request: &ChatRequest) -> Run {
    let mut events = Vec::new();
    let started = Instant::now();
    client
        .stream_chat(request, &mut |event| events.push(event))
        .await;
    let run = Run {
        events,
        elapsed: started.elapsed(),
    };
    assert_eq!(run.ends(), 1, "exactly one End: {:?}", run.events);
    run
}

#[allow(
    clippy::panic,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn assert_status(error: &ApiError, status: u16, code: Option<&str>, message: &str) {
    match error {
        ApiError::Status {
            status: got, error, ..
        } => {
            assert_eq!(*got, status);
            assert_eq!(error.code.as_deref(), code);
            assert_eq!(error.message, message);
        }
        other => panic!("expected a {status} status error, got {other:?}"),
    }
}

/// An SSE `data:` event of one chunk with these choices (and optional usage).
#[allow(
    clippy::indexing_slicing,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn chunk(choices: &Value, usage: Option<&Value>) -> String {
    let mut value = json!({
        "id": "chatcmpl-x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": choices,
    });
    if let Some(u) = usage {
        value["usage"] = u.clone();
    }
    format!("data: {value}\n\n")
}

fn content(text: &str) -> String {
    chunk(&json!([{"index": 0, "delta": {"content": text}}]), None)
}

fn finish(reason: &str) -> String {
    chunk(
        &json!([{"index": 0, "delta": {}, "finish_reason": reason}]),
        None,
    )
}

// ---------------------------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn request_body_and_headers_are_exact() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::mini("ok", (5, 1)));
    let run = ask(&mock).await;
    assert_eq!(run.text(), "ok");
    let requests = mock.chat_requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        r.json.as_ref().unwrap(),
        &json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "ChatGPT란 무엇입니까?"},
                {"role": "assistant", "content": "대화형 AI입니다."},
                {"role": "user", "content": "더 자세히"}
            ],
            "stream": true,
            "stream_options": {"include_usage": true}
        })
    );
    // System first, as sent; nothing the user did not set.
    let body = r.json.as_ref().unwrap();
    for absent in ["temperature", "max_tokens", "max_completion_tokens"] {
        assert!(body.get(absent).is_none(), "{absent} must not be sent");
    }
    assert_eq!(r.header("authorization"), Some(&*format!("Bearer {KEY}")));
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
}

#[tokio::test]
async fn sampling_settings_are_sent_only_when_set_with_the_right_name() {
    let mock = MockServer::start().await;
    let client = client(&mock);
    let cases = [
        ("gpt-4o-mini", "max_tokens", "max_completion_tokens"),
        ("o3", "max_completion_tokens", "max_tokens"),
        ("o3-mini", "max_completion_tokens", "max_tokens"),
        ("gpt-5", "max_completion_tokens", "max_tokens"),
        ("gpt-5-mini", "max_completion_tokens", "max_tokens"),
        ("llama3", "max_tokens", "max_completion_tokens"),
    ];
    for (model, sent, not_sent) in cases {
        let req = ChatRequest {
            temperature: Some(0.25),
            max_tokens: Some(123),
            ..request(model)
        };
        let run = stream(&client, &req).await;
        assert_eq!(run.end().error, None, "{model}");
        let r = mock.chat_requests().pop().unwrap();
        let body = r.json.unwrap();
        assert_eq!(body["model"], json!(model));
        assert_eq!(body[sent], json!(123), "{model}");
        assert!(body.get(not_sent).is_none(), "{model}: {not_sent}");
        assert_eq!(body["temperature"], json!(0.25), "{model}");
    }
}

#[tokio::test]
async fn no_authorization_header_without_a_key() {
    let mock = MockServer::start().await;
    let client = ApiClient::new(&mock.base_url(), None, WAIT).unwrap();
    let run = stream(&client, &request("gpt-4o-mini")).await;
    assert_eq!(run.end().error, None);
    assert!(
        client
            .list_models(std::time::Duration::from_secs(5))
            .await
            .is_ok()
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.header("authorization"), None, "{} {}", r.method, r.path);
    }
}

#[tokio::test]
async fn trailing_slash_on_the_base_url_is_ignored() {
    let mock = MockServer::start().await;
    let client = ApiClient::new(&format!("{}/", mock.base_url()), None, WAIT).unwrap();
    let run = stream(&client, &request("gpt-4o-mini")).await;
    assert_eq!(run.end().error, None);
    assert_eq!(mock.chat_requests()[0].path, "/v1/chat/completions");
}

// ---------------------------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn text_is_assembled_exactly_across_tiny_reads() {
    let mock = MockServer::start().await;
    let client = client(&mock);
    for n in 1..=3 {
        mock.enqueue(Reply::openai_stream_split(
            "gpt-4o-mini",
            TEXT,
            Some((21, 17)),
            n,
        ));
        let run = stream(&client, &request("gpt-4o-mini")).await;
        assert_eq!(run.text(), TEXT, "{n}-byte reads");
        let end = run.end();
        assert_eq!(end.error, None);
        assert_eq!(end.finish_reason.as_deref(), Some("stop"));
        assert_eq!(end.skipped, 0);
        let usages = run.usages();
        assert_eq!(usages.len(), 1);
        assert_eq!(
            (
                usages[0].prompt_tokens,
                usages[0].completion_tokens,
                usages[0].total_tokens
            ),
            (21, 17, 38)
        );
        assert!(matches!(run.events[0], StreamEvent::Started));
    }
}

#[tokio::test]
async fn usage_comes_from_the_server() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::openai_stream(
        "gpt-4o-mini",
        TEXT,
        3,
        Some((1234, 567)),
    ));
    let run = ask(&mock).await;
    assert_eq!(run.text(), TEXT);
    let usage = run.usages();
    assert_eq!(usage.len(), 1);
    assert_eq!(
        (
            usage[0].prompt_tokens,
            usage[0].completion_tokens,
            usage[0].total_tokens
        ),
        (1234, 567, 1801)
    );
    // Usage arrives after the finish reason and before End.
    let usage_at = run
        .events
        .iter()
        .position(|e| matches!(e, StreamEvent::Usage(_)))
        .unwrap();
    assert_eq!(usage_at, run.events.len() - 2);
    let assembled = run.end().assembled.as_ref().unwrap();
    assert_eq!(assembled["choices"][0]["message"]["content"], json!(TEXT));
    assert_eq!(assembled["usage"]["total_tokens"], json!(1801));
}

#[tokio::test]
async fn usage_chunk_with_one_choice_and_empty_delta() {
    let mock = MockServer::start().await;
    let usage = json!({"prompt_tokens": 17, "completion_tokens": 15, "total_tokens": 32, "cost": 0.000_011_55});
    let body = [
        chunk(
            &json!([{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]),
            None,
        ),
        content("lo 세계"),
        finish("stop"),
        chunk(&json!([{"index": 0, "delta": {}}]), Some(&usage)),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    mock.enqueue(Reply::sse(&body));
    let run = ask(&mock).await;
    assert_eq!(run.text(), "Hello 세계");
    let end = run.end();
    assert_eq!(
        (end.error.as_ref(), end.finish_reason.as_deref()),
        (None, Some("stop"))
    );
    let usages = run.usages();
    assert_eq!(usages.len(), 1);
    assert_eq!(
        (
            usages[0].prompt_tokens,
            usages[0].completion_tokens,
            usages[0].total_tokens
        ),
        (17, 15, 32)
    );
    assert_eq!(usages[0].cost, Some(0.000_011_55));
}

#[tokio::test]
async fn no_usage_from_the_server_means_no_usage_event() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::openai_stream("gpt-4o-mini", TEXT, 4, None));
    let run = ask(&mock).await;
    assert_eq!(run.text(), TEXT);
    assert_eq!(run.end().error, None);
    assert_eq!(run.end().finish_reason.as_deref(), Some("stop"));
    assert!(
        run.usages().is_empty(),
        "the caller estimates: {:?}",
        run.events
    );
}

#[tokio::test]
async fn recorded_llamaserver_stream_through_the_client() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::fixture("llamaserver_stream_usage.sse", 5));
    let run = stream(&client(&mock), &request("tiny")).await;
    assert_eq!(
        run.text(),
        "Hello! I am a tiny test model. Nice to meet you 😀"
    );
    assert_eq!(run.end().error, None);
    let usage = run.usages();
    assert_eq!(
        (
            usage[0].prompt_tokens,
            usage[0].completion_tokens,
            usage[0].cached_tokens
        ),
        (52, 19, 51)
    );
}

#[tokio::test]
async fn comments_and_crlf_are_handled() {
    let mock = MockServer::start().await;
    let body = [
        ": ping - 2026-11-24 21:15:04\r\n\r\n".to_owned(),
        content("안녕").replace('\n', "\r\n"),
        ": keep-alive\r\n\r\n".to_owned(),
        content("하세요").replace('\n', "\r\n"),
        finish("stop").replace('\n', "\r\n"),
        "data: [DONE]\r\n\r\n".to_owned(),
    ];
    let pieces: Vec<&str> = body.iter().map(String::as_str).collect();
    mock.enqueue(Reply::sse_pieces(&pieces, Duration::from_millis(5)));
    let run = ask(&mock).await;
    assert_eq!(run.text(), "안녕하세요");
    assert_eq!(run.end().error, None);
    assert_eq!(run.end().finish_reason.as_deref(), Some("stop"));
}

// ---------------------------------------------------------------------------------------------
// Error statuses
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn status_401_is_typed_and_not_retried() {
    let mock = MockServer::start().await;
    let message = "Incorrect API key provided: sk-te***6789. You can find your API key at https://platform.openai.com/account/api-keys.";
    mock.enqueue(Reply::error(401, "invalid_api_key", message, &[]));
    let run = ask(&mock).await;
    assert_status(run.error(), 401, Some("invalid_api_key"), message);
    assert_eq!(run.error().status(), Some(401));
    let shown = run.error().to_string();
    assert!(
        shown.starts_with("the server rejected the API key (401 invalid_api_key)"),
        "{shown}"
    );
    assert!(shown.contains("OPENAI_API_KEY"), "{shown}");
    assert!(run.retries().is_empty());
    assert_eq!(run.text(), "");
    assert!(!run.events.contains(&StreamEvent::Started));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(mock.chat_requests().len(), 1);
}

#[tokio::test]
async fn status_404_model_not_found_is_not_retried() {
    let mock = MockServer::start().await;
    let message = "The model `gpt-9` does not exist or you do not have access to it.";
    mock.enqueue(Reply::error(404, "model_not_found", message, &[]));
    let run = stream(&client(&mock), &request("gpt-9")).await;
    assert_status(run.error(), 404, Some("model_not_found"), message);
    assert!(
        run.error()
            .to_string()
            .starts_with("model not found (404 model_not_found)")
    );
    assert_not_retried(&mock, &run).await;
}

#[tokio::test]
async fn status_429_with_retry_after_is_retried_then_succeeds() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::error(
        429,
        "rate_limit_exceeded",
        "Rate limit reached for gpt-4o-mini. Please try again in 100ms.",
        &[("retry-after", "0.1")],
    ));
    mock.enqueue(Reply::mini(TEXT, (3, 4)));
    let run = ask(&mock).await;
    assert_eq!(run.end().error, None);
    assert_eq!(run.text(), TEXT);
    assert_eq!(run.retries(), [(1, Duration::from_millis(100))]);
    match &run.events[0] {
        StreamEvent::Retrying { cause, .. } => assert_eq!(cause.status(), Some(429)),
        other => panic!("{other:?}"),
    }
    let requests = mock.chat_requests();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].received_at - requests[0].received_at;
    assert!(gap >= Duration::from_millis(100), "waited only {gap:?}");
    assert!(
        gap < Duration::from_millis(450),
        "ignored retry-after: {gap:?}"
    );
}

#[tokio::test]
async fn retry_after_ms_wins_over_retry_after() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::error(
        429,
        "rate_limit_exceeded",
        "slow down",
        &[("retry-after-ms", "150"), ("retry-after", "30")],
    ));
    mock.enqueue(Reply::openai_stream("gpt-4o-mini", "ok", 4, None));
    let run = ask(&mock).await;
    assert_eq!(run.end().error, None);
    assert_eq!(run.retries(), [(1, Duration::from_millis(150))]);
    assert!(run.elapsed < Duration::from_secs(2), "{:?}", run.elapsed);
    assert_eq!(mock.chat_requests().len(), 2);
}

#[tokio::test]
async fn status_500_twice_then_success() {
    let mock = MockServer::start().await;
    let message = "The server had an error while processing your request. Sorry about that!";
    mock.enqueue(Reply::error(500, "", message, &[]));
    mock.enqueue(Reply::error(
        503,
        "",
        "The engine is currently overloaded",
        &[],
    ));
    mock.enqueue(Reply::mini(TEXT, (3, 4)));
    let run = ask(&mock).await;
    assert_eq!(run.end().error, None);
    assert_eq!(run.text(), TEXT);
    let retries = run.retries();
    assert_eq!(retries.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2]);
    // Backoff: 0.5 s then 1 s, each less up to 25 % jitter.
    assert!(
        (Duration::from_millis(375)..=Duration::from_millis(500)).contains(&retries[0].1),
        "{retries:?}"
    );
    assert!(
        (Duration::from_millis(750)..=Duration::from_secs(1)).contains(&retries[1].1),
        "{retries:?}"
    );
    assert_eq!(mock.chat_requests().len(), 3);
    // The causes are the server's statuses.
    let causes: Vec<Option<u16>> = run
        .events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Retrying { cause, .. } => Some(cause.status()),
            _ => None,
        })
        .collect();
    assert_eq!(causes, [Some(500), Some(503)]);
}

#[tokio::test]
async fn three_500s_give_up_after_three_requests() {
    let mock = MockServer::start().await;
    for _ in 0..4 {
        mock.enqueue(Reply::error(500, "", "boom", &[]));
    }
    let run = ask(&mock).await;
    assert_status(run.error(), 500, None, "boom");
    assert_eq!(
        run.error().to_string(),
        "the server failed (500 server_error): boom"
    );
    assert_eq!(run.retries().len(), 2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(mock.chat_requests().len(), 3);
}

#[tokio::test]
async fn status_429_insufficient_quota_is_not_retried() {
    let mock = MockServer::start().await;
    let message = "You exceeded your current quota, please check your plan and billing details.";
    mock.enqueue(Reply::error(
        429,
        "insufficient_quota",
        message,
        &[("retry-after", "0")],
    ));
    let run = ask(&mock).await;
    assert_status(run.error(), 429, Some("insufficient_quota"), message);
    assert!(run.error().to_string().starts_with("out of quota"));
    assert_not_retried(&mock, &run).await;
}

#[tokio::test]
async fn x_should_retry_false_forbids_retrying_a_500() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::error(
        500,
        "",
        "do not retry",
        &[("x-should-retry", "false")],
    ));
    mock.enqueue(Reply::openai_stream("gpt-4o-mini", "too late", 4, None));
    let run = ask(&mock).await;
    assert_status(run.error(), 500, None, "do not retry");
    assert_not_retried(&mock, &run).await;
}

#[tokio::test]
async fn x_should_retry_true_retries_a_400() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::error(
        400,
        "",
        "try again",
        &[("x-should-retry", "true"), ("retry-after-ms", "10")],
    ));
    mock.enqueue(Reply::openai_stream("gpt-4o-mini", "ok", 4, None));
    let run = ask(&mock).await;
    assert_eq!(run.end().error, None);
    assert_eq!(run.text(), "ok");
    assert_eq!(mock.chat_requests().len(), 2);
}

#[tokio::test]
async fn a_long_retry_after_is_left_to_the_user() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::error(
        429,
        "rate_limit_exceeded",
        "Rate limit reached",
        &[("retry-after", "120")],
    ));
    mock.enqueue(Reply::openai_stream("gpt-4o-mini", "too late", 4, None));
    let run = ask(&mock).await;
    match run.error() {
        ApiError::WaitTooLong { wait, cause } => {
            assert_eq!(*wait, Duration::from_secs(120));
            assert_eq!(cause.status(), Some(429));
        }
        other => panic!("expected WaitTooLong, got {other:?}"),
    }
    assert!(run.error().to_string().contains("120s"), "{}", run.error());
    assert!(run.retries().is_empty());
    assert!(run.elapsed < Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(mock.chat_requests().len(), 1);
}

#[tokio::test]
async fn a_400_naming_stream_options_is_resent_once_without_it() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::error(
        400,
        "",
        "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        &[],
    ));
    mock.enqueue(Reply::openai_stream("gpt-4o-mini", TEXT, 4, None));
    let client = client(&mock);
    let run = stream(&client, &request("gpt-4o-mini")).await;
    assert_eq!(run.end().error, None);
    assert_eq!(run.text(), TEXT);
    assert!(run.retries().is_empty(), "not a retry: {:?}", run.retries());
    let requests = mock.chat_requests();
    assert_eq!(requests.len(), 2);
    let first = requests[0].json.as_ref().unwrap();
    let second = requests[1].json.as_ref().unwrap();
    assert_eq!(first["stream_options"], json!({"include_usage": true}));
    assert!(second.get("stream_options").is_none(), "{second}");
    assert_eq!(second["stream"], json!(true));
    assert_eq!(first["messages"], second["messages"]);

    // Remembered for this client: the next request goes without it at once.
    let run2 = stream(&client, &request("gpt-4o-mini")).await;
    assert_eq!(run2.end().error, None);
    let third = mock.chat_requests()[2].json.clone().unwrap();
    assert!(third.get("stream_options").is_none());
}

#[tokio::test]
async fn a_second_stream_options_400_is_not_resent_again() {
    let mock = MockServer::start().await;
    let message = "Unknown parameter: 'stream_options'.";
    mock.enqueue(Reply::error(400, "unknown_parameter", message, &[]));
    mock.enqueue(Reply::error(400, "unknown_parameter", message, &[]));
    mock.enqueue(Reply::openai_stream("gpt-4o-mini", "no", 4, None));
    let run = ask(&mock).await;
    assert_status(run.error(), 400, Some("unknown_parameter"), message);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(mock.chat_requests().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Broken streams
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_reset_after_some_text_keeps_the_text_and_ends_with_an_error() {
    let mock = MockServer::start().await;
    // Role chunk + 3 content chunks of 4 characters, then the connection is reset.
    mock.enqueue(
        Reply::mini(TEXT, (1, 2))
            .truncated(4)
            .with_delay(Duration::from_millis(10))
            .with_end(mock::StreamEnd::Reset),
    );
    let run = ask(&mock).await;
    let expected: String = TEXT.chars().take(12).collect();
    assert_eq!(run.text(), expected);
    let end = run.end();
    assert_eq!(end.finish_reason, None);
    assert!(
        matches!(run.error(), ApiError::Broken(_)),
        "{:?}",
        run.error()
    );
    assert!(run.usages().is_empty());
    // The partial answer is in the assembled object too.
    let assembled = end.assembled.as_ref().unwrap();
    assert_eq!(
        assembled["choices"][0]["message"]["content"],
        json!(expected)
    );
    // Never retried once the body started.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(mock.chat_requests().len(), 1);
}

#[tokio::test]
async fn an_error_object_mid_stream_keeps_earlier_text() {
    let mock = MockServer::start().await;
    let body = [
        content("The"),
        content(" answer"),
        "data: {\"error\": {\"message\": \"The server had an error while processing your request. Sorry about that!\", \"type\": \"server_error\"}}\n\n".to_owned(),
        content(" never shown"),
    ];
    let pieces: Vec<&str> = body.iter().map(String::as_str).collect();
    mock.enqueue(Reply::sse_pieces(&pieces, Duration::ZERO));
    let run = ask(&mock).await;
    assert_eq!(run.text(), "The answer");
    match run.error() {
        ApiError::InStream(e) => {
            assert_eq!(
                e.message,
                "The server had an error while processing your request. Sorry about that!"
            );
            assert_eq!(e.kind.as_deref(), Some("server_error"));
        }
        other => panic!("expected InStream, got {other:?}"),
    }
    assert_eq!(run.end().finish_reason, None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(mock.chat_requests().len(), 1);
}

#[tokio::test]
async fn an_unreadable_event_is_skipped_and_counted() {
    let mock = MockServer::start().await;
    let body = [
        content("before "),
        "data: {\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\",\"choi\n\n".to_owned(),
        content("after"),
        finish("stop"),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    mock.enqueue(Reply::sse(&body));
    let run = ask(&mock).await;
    assert_eq!(run.text(), "before after");
    let end = run.end();
    assert_eq!(end.error, None);
    assert_eq!(end.skipped, 1);
    assert_eq!(end.finish_reason.as_deref(), Some("stop"));
}

#[tokio::test]
async fn the_recorded_malformed_stream_skips_one_event() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::fixture("llmock_fault_malformed.sse", 64));
    let run = ask(&mock).await;
    assert_eq!(
        run.text(),
        "Mock response gpt-4o-mini: everything is working as expected."
    );
    assert_eq!(run.end().skipped, 1);
    assert_eq!(run.end().error, None);
    assert_eq!(run.usages().last().unwrap().total_tokens, 17);
}

#[tokio::test]
async fn a_stream_without_finish_reason_ended_early() {
    let mock = MockServer::start().await;
    // Role chunk + 2 content chunks, then a clean end of body: no finish, no [DONE].
    mock.enqueue(Reply::openai_stream("gpt-4o-mini", TEXT, 4, None).truncated(3));
    let run = ask(&mock).await;
    assert_eq!(run.text(), TEXT.chars().take(8).collect::<String>());
    assert_eq!(run.error(), &ApiError::EndedEarly);
    assert_eq!(run.end().finish_reason, None);

    // The recorded llmock truncation, and `[DONE]` without a finish reason.
    mock.enqueue(Reply::fixture("llmock_fault_truncate.sse", 100));
    let run2 = ask(&mock).await;
    assert_eq!(run2.text(), "Mock response ");
    assert_eq!(run2.error(), &ApiError::EndedEarly);
    mock.enqueue(Reply::sse(
        &[content("x"), "data: [DONE]\n\n".to_owned()].concat(),
    ));
    let run3 = ask(&mock).await;
    assert_eq!(run3.error(), &ApiError::EndedEarly);
}

#[tokio::test]
async fn an_empty_200_body_ended_early() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::fixture("llamacpp-py_stream_overflow.sse", 1));
    let run = ask(&mock).await;
    assert_eq!(run.text(), "");
    assert_eq!(run.error(), &ApiError::EndedEarly);
}

#[tokio::test]
async fn a_silent_stream_hits_the_idle_timeout_and_keeps_its_text() {
    let mock = MockServer::start().await;
    mock.enqueue(
        Reply::openai_stream("gpt-4o-mini", TEXT, 4, None)
            .truncated(3)
            .with_end(mock::StreamEnd::Hang),
    );
    let client = ApiClient::new(&mock.base_url(), None, Duration::from_millis(300)).unwrap();
    let run = stream(&client, &request("gpt-4o-mini")).await;
    assert_eq!(run.text(), TEXT.chars().take(8).collect::<String>());
    assert_eq!(run.error(), &ApiError::Idle(Duration::from_millis(300)));
    assert!(
        run.elapsed >= Duration::from_millis(300),
        "{:?}",
        run.elapsed
    );
    assert!(run.elapsed < Duration::from_secs(3), "{:?}", run.elapsed);
    // The connection is closed once kaiwa gives up.
    let closed = mock
        .wait_until(Duration::from_secs(1), |r| {
            r.first().is_some_and(|r| r.closed_early)
        })
        .await;
    assert!(closed.is_some(), "{:#?}", mock.requests());
    assert_eq!(mock.chat_requests().len(), 1);
}

#[tokio::test]
async fn a_slow_but_steady_stream_is_not_timed_out() {
    let mock = MockServer::start().await;
    // 10 pieces 150 ms apart: 1.5 s in all, each gap well inside a 400 ms idle timeout.
    mock.enqueue(
        Reply::openai_stream("gpt-4o-mini", "0123456789012345678901234567", 4, None)
            .with_delay(Duration::from_millis(150)),
    );
    let client = ApiClient::new(&mock.base_url(), None, Duration::from_millis(400)).unwrap();
    let run = stream(&client, &request("gpt-4o-mini")).await;
    assert_eq!(run.end().error, None);
    assert_eq!(run.text(), "0123456789012345678901234567");
    assert!(run.elapsed > Duration::from_secs(1));
}

#[tokio::test]
async fn connection_refused_names_the_base_url_and_is_retried() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let base = format!("http://127.0.0.1:{port}/v1");
    let client = ApiClient::new(&base, None, WAIT).unwrap();
    let run = stream(&client, &request("gpt-4o-mini")).await;
    match run.error() {
        ApiError::Connect { base_url, .. } => assert_eq!(base_url, &base),
        other => panic!("expected Connect, got {other:?}"),
    }
    assert!(run.error().to_string().contains(&base), "{}", run.error());
    assert_eq!(
        run.retries().iter().map(|r| r.0).collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
    assert_eq!(run.text(), "");
}

#[tokio::test]
async fn dropping_the_request_closes_the_connection() {
    let mock = MockServer::start().await;
    mock.enqueue(
        Reply::openai_stream("gpt-4o-mini", &"가".repeat(400), 4, None)
            .with_delay(Duration::from_millis(20)),
    );
    let client = client(&mock);
    let req = request("gpt-4o-mini");
    let mut events = Vec::new();
    let result = tokio::time::timeout(
        Duration::from_millis(300),
        client.stream_chat(&req, &mut |e| events.push(e)),
    )
    .await;
    assert!(result.is_err(), "the stream should still be running");
    let dropped_at = Instant::now();
    assert!(
        events.iter().any(|e| matches!(e, StreamEvent::Delta(_))),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| matches!(e, StreamEvent::End(_))));
    let closed = mock
        .wait_until(Duration::from_secs(1), |r| {
            r.first().is_some_and(|r| r.closed_early)
        })
        .await
        .unwrap_or_else(|| panic!("not closed within 1 s: {:#?}", mock.requests()));
    let closed_at = closed[0].closed_at.unwrap();
    assert!(closed_at.duration_since(dropped_at) < Duration::from_secs(1));
}

#[tokio::test]
async fn aborting_a_spawned_request_closes_the_connection() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::openai_stream("gpt-4o-mini", "x", 4, None).with_end(mock::StreamEnd::Hang));
    let client = client(&mock);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let req = request("gpt-4o-mini");
        client
            .stream_chat(&req, &mut |e| {
                let _ = tx.send(e);
            })
            .await;
    });
    // Wait for the text, then abort.
    loop {
        match tokio::time::timeout(WAIT, rx.recv()).await.unwrap() {
            Some(StreamEvent::Delta(_)) => break,
            Some(_) => {}
            None => panic!("the stream ended"),
        }
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let closed = mock
        .wait_until(Duration::from_secs(1), |r| {
            r.first().is_some_and(|r| r.closed_early)
        })
        .await;
    assert!(closed.is_some(), "{:#?}", mock.requests());
}

// ---------------------------------------------------------------------------------------------
// Non-streaming and models
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn list_models_is_sorted() {
    let mock = MockServer::start().await;
    mock.set_models(&["zeta-1", "gpt-4o", "alpha", "gpt-4o-mini", "Beta"]);
    let models = client(&mock)
        .list_models(std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let ids: Vec<String> = models.into_iter().map(|m| m.id).collect();
    assert_eq!(ids, ["Beta", "alpha", "gpt-4o", "gpt-4o-mini", "zeta-1"]);
    let r = &mock.requests()[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/v1/models"));
    assert_eq!(r.header("authorization"), Some(&*format!("Bearer {KEY}")));
}

#[tokio::test]
async fn list_models_error_is_typed() {
    let mock = MockServer::start().await;
    mock.set_models_reply(Reply::error(401, "invalid_api_key", "bad key", &[]));
    let error = client(&mock)
        .list_models(std::time::Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_status(&error, 401, Some("invalid_api_key"), "bad key");
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn complete_raw_returns_the_body_as_received() {
    let mock = MockServer::start().await;
    let body = "{\n  \"model\": \"gpt-4o-mini\",\n  \"id\": \"c\",\n  \"choices\": [{\"index\": 0, \"message\": {\"role\": \"assistant\", \"content\": \"안녕\"}, \"finish_reason\": \"stop\"}]\n}";
    mock.enqueue(Reply::Raw {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
    });
    let (text, value) = client(&mock)
        .complete_raw(&request("gpt-4o-mini"), &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(text, body);
    assert_eq!(value["choices"][0]["message"]["content"], json!("안녕"));
    let sent = mock.chat_requests()[0].json.clone().unwrap();
    assert_eq!(sent["stream"], json!(false));
    assert!(sent.get("stream_options").is_none());
}

#[tokio::test]
async fn a_server_that_never_answers_hits_the_idle_timeout() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::Hang);
    let client = ApiClient::new(&mock.base_url(), None, Duration::from_millis(300)).unwrap();
    let run = tokio::time::timeout(
        Duration::from_secs(10),
        stream(&client, &request("gpt-4o-mini")),
    )
    .await
    .expect("stream_chat waited forever for the response headers");
    assert_eq!(run.error(), &ApiError::Idle(Duration::from_millis(300)));
    assert_eq!(run.text(), "");
    assert!(run.elapsed < Duration::from_secs(3), "{:?}", run.elapsed);
    assert_eq!(mock.chat_requests().len(), 1, "not retried");
    let closed = mock
        .wait_until(Duration::from_secs(1), |r| {
            r.first().is_some_and(|r| r.closed_early)
        })
        .await;
    assert!(closed.is_some(), "{:#?}", mock.requests());
}

/// A recorded error body (`tests/fixtures/sse/*_badreq.json`, `*.sse` overflow recordings):
/// the JSON object, without the recorder's ` [HTTP n]` note or the HTTP head.
#[allow(
    clippy::unwrap_used,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn recorded_error_body(name: &str) -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sse/");
    let text = std::fs::read_to_string(format!("{path}{name}")).unwrap();
    let json = text.get(text.find('{').unwrap()..=text.rfind('}').unwrap());
    serde_json::from_str(json.unwrap()).unwrap()
}

/// A 4xx is the server refusing the request, a 5xx the server failing: each says which,
/// with the server's own message, whatever shape its error has (real servers' bodies).
#[tokio::test]
async fn refused_and_failed_requests_say_which_with_the_servers_message() {
    let cases = [
        (
            "litellm_badreq.json",
            400,
            "the server refused the request (400 invalid_request_error): /chat/completions: \
             Missing required parameter: 'messages'.",
        ),
        (
            "llamaserver_badreq.json",
            400,
            "the server refused the request (400 invalid_request_error): 'messages' is required",
        ),
        (
            "llmock_badreq.json",
            422,
            "the server refused the request (422 unprocessable_entity): body → messages: Field required",
        ),
        (
            "llamaserver_stream_overflow.sse",
            400,
            "the conversation is too long for the model's context window (400 exceed_context_size_error): \
             request (3028 tokens) exceeds the available context size (2048 tokens), try increasing it",
        ),
    ];
    for (fixture, status, shown) in cases {
        let mock = MockServer::start().await;
        mock.enqueue(Reply::json(status, &recorded_error_body(fixture), &[]));
        let run = ask(&mock).await;
        assert_eq!(run.error().to_string(), shown, "{fixture}");
        assert!(
            !shown.contains("Ctrl+"),
            "no TUI keys in {fixture}'s message"
        );
    }
    // A 5xx (retried, then shown as the server failing).
    let mock = MockServer::start().await;
    for _ in 0..3 {
        mock.enqueue(Reply::error(
            503,
            "overloaded",
            "try later",
            &[("retry-after-ms", "1")],
        ));
    }
    let run = ask(&mock).await;
    assert_eq!(
        run.error().to_string(),
        "the server failed (503 overloaded): try later"
    );
}
