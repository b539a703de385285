//! Checks the mock OpenAI server of `tests/support/mock.rs` itself.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions fail loudly on purpose"
)]

mod support;

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde_json::{Value, json};
use support::mock::{Echo, MockServer, RecordedRequest, Reply, StreamEnd};

const WAIT: Duration = Duration::from_secs(5);

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn post_chat(mock: &MockServer, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/chat/completions", mock.base_url()))
        .bearer_auth("sk-test")
        .json(body)
        .send()
        .await
        .unwrap()
}

fn chat_body(text: &str, stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": text}
        ],
        "stream": stream,
        "stream_options": {"include_usage": true}
    })
}

/// Every body chunk as the client read it.
async fn read_chunks(response: reqwest::Response) -> (Vec<Vec<u8>>, Option<reqwest::Error>) {
    let mut chunks = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(item) = stream.next().await {
        match item {
            Ok(bytes) => chunks.push(bytes.to_vec()),
            Err(e) => return (chunks, Some(e)),
        }
    }
    (chunks, None)
}

/// Waits until the one request the mock received is closed (by either side); that request.
async fn closed_request(mock: &MockServer) -> RecordedRequest {
    let requests = mock
        .wait_until(WAIT, |r| r.len() == 1 && r[0].closed_at.is_some())
        .await
        .unwrap_or_else(|| panic!("the mock never saw the one request closed"));
    requests[0].clone()
}

fn pieces_of(reply: &Reply) -> Vec<Vec<u8>> {
    match reply {
        Reply::Stream { pieces, .. } => pieces.clone(),
        other @ (Reply::Raw { .. } | Reply::Hang | Reply::Repeated { .. }) => {
            panic!("not a stream: {other:?}")
        }
    }
}

/// The `data:` payloads of an SSE text (simple: one `data:` line per event).
fn data_lines(sse: &str) -> Vec<String> {
    sse.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

/// The text and usage carried by an OpenAI stream.
fn stream_text_and_usage(sse: &str) -> (String, Option<Value>, Vec<String>) {
    let mut text = String::new();
    let mut usage = None;
    let mut finish = Vec::new();
    for data in data_lines(sse) {
        if data == "[DONE]" {
            continue;
        }
        let chunk: Value = serde_json::from_str(&data).unwrap();
        if let Some(c) = chunk["choices"][0]["delta"]["content"].as_str() {
            text.push_str(c);
        }
        if let Some(f) = chunk["choices"][0]["finish_reason"].as_str() {
            finish.push(f.to_owned());
        }
        if !chunk["usage"].is_null() {
            usage = Some(chunk["usage"].clone());
        }
    }
    (text, usage, finish)
}

#[tokio::test]
async fn streamed_reply_arrives_in_separate_pieces_byte_exact() {
    let mock = MockServer::start().await;
    let reply = Reply::openai_stream("gpt-4o-mini", "Hello, wörld! 日本語 🎉", 5, Some((11, 6)))
        .with_delay(Duration::from_millis(30));
    let pieces = pieces_of(&reply);
    mock.enqueue(reply);

    let response = post_chat(&mock, &chat_body("hi", true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream; charset=utf-8"
    );
    let (chunks, error) = read_chunks(response).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(chunks, pieces, "each piece is its own read");

    let sse = String::from_utf8(chunks.concat()).unwrap();
    let first: Value = serde_json::from_str(&data_lines(&sse)[0]).unwrap();
    assert_eq!(
        first["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    assert_eq!(first["usage"], Value::Null);
    assert_eq!(first["id"], "chatcmpl-mock");
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["model"], "gpt-4o-mini");
    let (text, usage, finish) = stream_text_and_usage(&sse);
    assert_eq!(text, "Hello, wörld! 日本語 🎉");
    assert_eq!(finish, ["stop"]);
    let usage = usage.unwrap();
    assert_eq!(
        (
            usage["prompt_tokens"].as_u64(),
            usage["completion_tokens"].as_u64()
        ),
        (Some(11), Some(6))
    );
    assert_eq!(usage["total_tokens"], 17);
    let lines = data_lines(&sse);
    let usage_chunk: Value = serde_json::from_str(&lines[lines.len() - 2]).unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert!(sse.ends_with("data: [DONE]\n\n"));
    // Role chunk, 4 content chunks of ≤ 5 chars, finish, usage, [DONE].
    assert_eq!(pieces.len(), 1 + 4 + 1 + 1 + 1);

    let request = closed_request(&mock).await;
    assert!(
        !request.closed_early,
        "a stream read to its end is not closed early"
    );
}

#[tokio::test]
async fn stream_without_usage_has_no_usage_key() {
    let reply = Reply::openai_stream("m", "abc", 1, None);
    let sse = String::from_utf8(pieces_of(&reply).concat()).unwrap();
    assert!(!sse.contains("usage"), "{sse}");
    let (text, usage, finish) = stream_text_and_usage(&sse);
    assert_eq!(
        (text.as_str(), usage, finish),
        ("abc", None, vec!["stop".to_owned()])
    );
}

#[tokio::test]
async fn split_stream_is_the_same_bytes_cut_small() {
    let mock = MockServer::start().await;
    let text = "Grüße 🎉 and more";
    let whole = pieces_of(&Reply::openai_stream("m", text, 4, Some((1, 2)))).concat();
    let split = Reply::openai_stream_split("m", text, Some((1, 2)), 3);
    let pieces = pieces_of(&split);
    assert!(pieces.iter().all(|p| p.len() <= 3));
    assert_eq!(pieces.concat(), whole);
    assert!(
        pieces.iter().any(|p| std::str::from_utf8(p).is_err()),
        "UTF-8 is split somewhere"
    );
    mock.enqueue(split);

    let response = post_chat(&mock, &chat_body("x", true)).await;
    let (chunks, error) = read_chunks(response).await;
    assert!(error.is_none());
    assert_eq!(chunks.concat(), whole);
    assert!(
        chunks.len() > 10,
        "the client sees many small reads, got {}",
        chunks.len()
    );
}

#[tokio::test]
async fn requests_are_recorded_with_headers_and_json() {
    let mock = MockServer::start().await;
    let body = chat_body("record me", true);
    let response = post_chat(&mock, &body).await;
    let _ = response.bytes().await.unwrap();
    let _ = client()
        .get(format!("{}/models?x=1", mock.base_url()))
        .send()
        .await
        .unwrap();

    let all = mock.wait_for_requests(2, WAIT).await;
    assert_eq!(all.len(), 2);
    let chat = &all[0];
    assert_eq!(
        (chat.method.as_str(), chat.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(chat.header("Authorization"), Some("Bearer sk-test"));
    assert_eq!(chat.header("content-type"), Some("application/json"));
    assert!(
        chat.headers
            .iter()
            .all(|(k, _)| k == &k.to_ascii_lowercase())
    );
    assert_eq!(chat.json.as_ref(), Some(&body));
    assert_eq!(serde_json::from_str::<Value>(&chat.body).unwrap(), body);
    assert_eq!(chat.json_str("model"), Some("gpt-4o-mini"));
    assert_eq!(chat.messages().len(), 2);
    assert!(chat.is_chat());
    assert_eq!(
        (all[1].method.as_str(), all[1].path.as_str()),
        ("GET", "/v1/models")
    );
    assert_eq!(all[1].json, None);
    assert!(all[0].received_at <= all[1].received_at);
    assert_eq!(mock.chat_requests().len(), 1);
}

#[tokio::test]
async fn enqueued_replies_in_order_then_the_echo_default() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::sse("data: first\n\n"));
    mock.enqueue(Reply::error(503, "", "busy", &[]));

    let one = post_chat(&mock, &chat_body("a", true)).await;
    assert_eq!(one.text().await.unwrap(), "data: first\n\n");
    let two = post_chat(&mock, &chat_body("b", true)).await;
    assert_eq!(two.status(), 503);
    let _ = two.bytes().await;

    // Echo, streaming: words "Be brief." + "hello there world" = 5, + 7.
    let start = Instant::now();
    let three = post_chat(&mock, &chat_body("hello there world", true)).await;
    assert_eq!(three.status(), 200);
    let (chunks, _) = read_chunks(three).await;
    let (text, usage, finish) = stream_text_and_usage(&String::from_utf8(chunks.concat()).unwrap());
    assert_eq!(text, "You said: hello there world");
    assert_eq!(finish, ["stop"]);
    let usage = usage.unwrap();
    assert_eq!(usage["prompt_tokens"], 12);
    assert_eq!(usage["completion_tokens"], 7); // 27 chars / 4, rounded up
    assert!(
        start.elapsed() >= Duration::from_millis(15 * 8),
        "the echo streams with 15 ms steps"
    );

    // Echo, not streaming: a chat.completion with the same text and usage.
    let four = post_chat(&mock, &chat_body("hello there world", false)).await;
    assert_eq!(four.headers()["content-type"], "application/json");
    let completion: Value = four.json().await.unwrap();
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(completion["model"], "gpt-4o-mini");
    assert_eq!(
        completion["choices"][0]["message"]["content"],
        "You said: hello there world"
    );
    assert_eq!(completion["choices"][0]["message"]["role"], "assistant");
    assert_eq!(completion["choices"][0]["finish_reason"], "stop");
    assert_eq!(completion["usage"]["total_tokens"], 19);

    // A fixed default replaces the echo; set_echo brings it back without usage.
    mock.set_default(Reply::sse("data: fixed\n\n"));
    assert_eq!(
        post_chat(&mock, &chat_body("c", true))
            .await
            .text()
            .await
            .unwrap(),
        "data: fixed\n\n"
    );
    mock.set_echo(Echo {
        delay: Duration::ZERO,
        usage: false,
    });
    let sse = post_chat(&mock, &chat_body("c", true))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(stream_text_and_usage(&sse).1, None);
    assert_eq!(mock.chat_requests().len(), 6);
}

#[tokio::test]
async fn error_replies_carry_status_headers_and_body() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::error(
        429,
        "rate_limit_exceeded",
        "Rate limit reached. Please try again in 644ms.",
        &[("retry-after-ms", "644"), ("x-should-retry", "true")],
    ));
    mock.enqueue(Reply::Raw {
        status: 500,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: b"Internal Server Error".to_vec(),
    });
    mock.enqueue(Reply::empty("text/event-stream"));

    let response = post_chat(&mock, &chat_body("x", true)).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after-ms"], "644");
    assert_eq!(response.headers()["x-should-retry"], "true");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {
            "message": "Rate limit reached. Please try again in 644ms.",
            "type": "requests",
            "param": null,
            "code": "rate_limit_exceeded"
        }})
    );

    let response = post_chat(&mock, &chat_body("x", true)).await;
    assert_eq!(response.status(), 500);
    assert_eq!(response.headers()["content-length"], "21");
    assert_eq!(response.text().await.unwrap(), "Internal Server Error");

    let response = post_chat(&mock, &chat_body("x", true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().len(), 0);

    let requests = mock
        .wait_until(WAIT, |r| {
            r.len() == 3 && r.iter().all(|r| r.closed_at.is_some())
        })
        .await;
    assert!(requests.unwrap().iter().all(|r| !r.closed_early));
}

#[tokio::test]
async fn reset_ends_with_a_client_side_error_after_the_pieces() {
    let mock = MockServer::start().await;
    let reply = Reply::openai_stream("m", "partial answer", 4, None)
        .truncated(3)
        .with_end(StreamEnd::Reset);
    let pieces = pieces_of(&reply);
    mock.enqueue(reply.with_delay(Duration::from_millis(10)));

    let response = post_chat(&mock, &chat_body("x", true)).await;
    assert_eq!(response.status(), 200);
    let (chunks, error) = read_chunks(response).await;
    assert_eq!(
        chunks.concat(),
        pieces.concat(),
        "everything before the reset arrives"
    );
    assert!(error.is_some(), "the client sees an error at the reset");

    let request = closed_request(&mock).await;
    assert!(!request.closed_early, "the server ended it, not the client");
}

#[tokio::test]
async fn dropping_a_slow_stream_is_seen_as_closed_early() {
    let mock = MockServer::start().await;
    mock.enqueue(
        Reply::openai_stream("m", &"word ".repeat(100), 4, None)
            .with_delay(Duration::from_millis(50)),
    );

    let response = post_chat(&mock, &chat_body("x", true)).await;
    let mut stream = response.bytes_stream();
    let _ = stream.next().await.unwrap().unwrap();
    let _ = stream.next().await.unwrap().unwrap();
    let dropped_at = Instant::now();
    drop(stream);

    let request = closed_request(&mock).await;
    assert!(request.closed_early);
    assert!(request.closed_at.unwrap() >= dropped_at);
}

#[tokio::test]
async fn dropping_a_hanging_stream_is_seen_as_closed_early() {
    let mock = MockServer::start().await;
    mock.enqueue(
        Reply::openai_stream("m", "ab", 1, None)
            .truncated(2)
            .with_end(StreamEnd::Hang),
    );

    let response = post_chat(&mock, &chat_body("x", true)).await;
    let mut stream = response.bytes_stream();
    let mut got = 0;
    while got < 2 {
        let _ = stream.next().await.unwrap().unwrap();
        got += 1;
    }
    // Nothing more comes.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), stream.next())
            .await
            .is_err()
    );
    assert!(mock.requests()[0].closed_at.is_none());
    drop(stream);

    let request = closed_request(&mock).await;
    assert!(request.closed_early);
}

#[tokio::test]
async fn hang_never_answers_and_sees_the_client_leave() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::Hang);
    let result = client()
        .post(format!("{}/chat/completions", mock.base_url()))
        .json(&chat_body("x", true))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(result.unwrap_err().is_timeout());
    let request = closed_request(&mock).await;
    assert!(request.closed_early);
}

#[tokio::test]
async fn dropping_the_mock_closes_hanging_connections() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::Hang);
    let url = format!("{}/chat/completions", mock.base_url());
    let pending =
        tokio::spawn(async move { client().post(url).json(&chat_body("x", true)).send().await });
    mock.wait_for_requests(1, WAIT).await;
    drop(mock);
    let result = tokio::time::timeout(WAIT, pending)
        .await
        .expect("the client is released")
        .unwrap();
    assert!(result.is_err());
}

#[tokio::test]
async fn models_list_and_failure() {
    let mock = MockServer::start().await;
    let models: Value = client()
        .get(format!("{}/models", mock.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "gpt-4o-mini");

    mock.set_models(&["alpha", "beta"]);
    let base = mock.base_url();
    let root = base.trim_end_matches("/v1");
    for url in [format!("{base}/models"), format!("{root}/models")] {
        let models: Value = client()
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let data = models["data"].as_array().unwrap();
        let ids: Vec<&str> = data.iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["alpha", "beta"]);
        assert_eq!(data[0]["object"], "model");
        assert_eq!(data[0]["owned_by"], "mock");
        assert!(data[0]["created"].is_u64());
    }

    mock.set_models_reply(Reply::error(500, "", "boom", &[]));
    let response = client().get(format!("{base}/models")).send().await.unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["type"],
        "server_error"
    );

    // Chat without the /v1 prefix, and an unknown path.
    let response = client()
        .post(format!("{root}/chat/completions"))
        .json(&chat_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = client().get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(mock.requests().len(), 6);
    assert_eq!(mock.chat_requests().len(), 1);
}

#[tokio::test]
async fn fixture_is_streamed_byte_exact() {
    let mock = MockServer::start().await;
    let name = "llmock_stream_usage.sse";
    let expected = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sse/llmock_stream_usage.sse"
    ))
    .unwrap();
    let reply = Reply::fixture(name, 7);
    assert!(pieces_of(&reply).iter().all(|p| p.len() <= 7));
    mock.enqueue(reply);
    let response = post_chat(&mock, &chat_body("x", true)).await;
    assert_eq!(response.bytes().await.unwrap().to_vec(), expected);
}

#[test]
fn blocking_server_serves_synchronous_clients() {
    let mock = MockServer::start_blocking();
    mock.set_models(&["sync-model"]);
    let mut socket = std::net::TcpStream::connect(mock.addr()).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    socket
        .write_all(b"GET /v1/models HTTP/1.1\r\nHost: mock\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"sync-model\""), "{answer}");
    let requests = mock.wait_for_requests_blocking(1, WAIT);
    assert_eq!(requests[0].header("host"), Some("mock"));
    assert!(mock.base_url().starts_with("http://127.0.0.1:"));
    let addr = mock.addr();
    drop(mock);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the port is closed after drop"
    );
}

#[test]
fn token_stream_sends_one_event_per_token_grouped_per_write() {
    let tokens: Vec<String> = ["Hel", "lo", ", ", "世界", "!"].map(str::to_owned).to_vec();
    let reply = Reply::openai_token_stream("gpt-4o-mini", tokens, 2, Some((3, 5)));
    let pieces = pieces_of(&reply);
    // role, 5 tokens, finish, usage, [DONE]: 9 events, 2 a write.
    assert_eq!(pieces.len(), 5);
    let sse = String::from_utf8(pieces.concat()).unwrap();
    assert_eq!(data_lines(&sse).len(), 9);
    let (text, usage, finish) = stream_text_and_usage(&sse);
    assert_eq!(text, "Hello, 世界!");
    assert_eq!(usage.unwrap()["completion_tokens"], 5);
    assert_eq!(finish, ["stop"]);
    // The same events as the char-chunked builder gives for one-token chunks.
    let same = Reply::openai_stream("gpt-4o-mini", "abc", 1, Some((3, 5)));
    let by_tokens = Reply::openai_token_stream(
        "gpt-4o-mini",
        vec!["a".into(), "b".into(), "c".into()],
        1,
        Some((3, 5)),
    );
    assert_eq!(pieces_of(&same), pieces_of(&by_tokens));
}

#[tokio::test]
async fn held_stream_ends_wait_for_release() {
    let mock = MockServer::start().await;
    mock.enqueue(Reply::openai_stream("gpt-4o-mini", "held", 2, Some((1, 1))));
    mock.hold_stream_ends(3);
    let response = post_chat(&mock, &chat_body("hi", true)).await;
    let mut stream = response.bytes_stream();
    let mut body = Vec::new();
    // role + two content events arrive; the finish, usage and [DONE] wait.
    while data_lines(&String::from_utf8_lossy(&body)).len() < 3 {
        body.extend_from_slice(&stream.next().await.unwrap().unwrap());
    }
    let more = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
    assert!(more.is_err(), "the held end was sent: {more:?}");
    assert!(mock.requests()[0].closed_at.is_none());
    mock.release_streams();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.unwrap());
    }
    let sse = String::from_utf8(body).unwrap();
    let (text, usage, finish) = stream_text_and_usage(&sse);
    assert_eq!(text, "held");
    assert!(usage.is_some());
    assert_eq!(finish, ["stop"]);
    assert!(sse.ends_with("data: [DONE]\n\n"));
}
