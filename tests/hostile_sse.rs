//! Issue 15, a hostile stream: one SSE line that never ends (hundreds of MB
//! and no newline) through the real client, against the mock, which makes
//! it as it sends it. The decoder keeps at most `MAX_LINE_BYTES` of a line;
//! past that the client stops reading, hangs up, and ends the answer with an
//! error that says why, keeping the text that came before.
//!
//! The test measures the process's peak resident memory, so this file holds
//! nothing else that allocates much.

mod support;

use std::time::Duration;

use kaiwa::api::client::{ApiClient, StreamEvent};
use kaiwa::api::error::ApiError;
use kaiwa::api::sse::MAX_LINE_BYTES;
use kaiwa::api::types::{ChatMessage, ChatRequest, Role};
use kaiwa::secret::ApiKey;
use support::cli::{Sandbox, code, run, stderr, stdout};
use support::mock::{MockServer, Reply};
use support::peak_resident_kib;

/// How much the endless line would be if it were read to its end.
const LINE_MIB: usize = 512;

/// A chunk whose content is `text`, then the start of one whose content
/// never ends, `LINE_MIB` MiB of `x` without a newline.
fn endless_line() -> Reply {
    Reply::Repeated {
        head: concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"before the flood\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\""
        )
        .as_bytes()
        .to_vec(),
        piece: vec![b'x'; 1024 * 1024],
        times: LINE_MIB,
        tail: b"\"}}]}\n\ndata: [DONE]\n\n".to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_line_is_cut_off_with_an_error_in_bounded_memory() {
    let mock = MockServer::start().await;
    mock.enqueue(endless_line());
    let client = ApiClient::new(
        &mock.base_url(),
        Some(ApiKey::new("sk-test".to_owned())),
        Duration::from_secs(10),
    )
    .unwrap();
    let request = ChatRequest {
        model: "gpt-4o-mini".to_owned(),
        messages: vec![ChatMessage::new(Role::User, "flood me")],
        temperature: None,
        max_tokens: None,
    };
    let peak_before = peak_resident_kib();
    let mut text = String::new();
    let mut end = None;
    client
        .stream_chat(&request, &mut |event| match event {
            StreamEvent::Delta(t) => text.push_str(&t),
            StreamEvent::End(e) => end = Some(e),
            StreamEvent::Started
            | StreamEvent::Reasoning(_)
            | StreamEvent::Usage(_)
            | StreamEvent::Retrying { .. } => {}
        })
        .await;
    let peak_after = peak_resident_kib();
    let end = end.unwrap();
    if let (Some(before), Some(after)) = (peak_before, peak_after) {
        // The decoder's 8 MiB and the transport's buffers; reading the line
        // whole would add its 512 MiB.
        assert!(
            after.saturating_sub(before) < 64 * 1024,
            "the endless line raised peak memory by {} KiB",
            after - before
        );
    }
    assert!(
        text == "before the flood",
        "the text before it, and only that: {} bytes",
        text.len()
    );

    assert_eq!(end.error, Some(ApiError::LineTooLong(MAX_LINE_BYTES)));
    let said = end.error.as_ref().unwrap().to_string();
    assert!(said.contains("8 MiB"), "{said}");
    assert_eq!(end.finish_reason, None);
    // It stopped reading: the connection was closed before the line ended.
    let closed = mock
        .wait_until(Duration::from_secs(10), |r| {
            r.first().is_some_and(|r| r.closed_at.is_some())
        })
        .await
        .unwrap();
    assert!(closed[0].closed_early, "read to the end: {closed:#?}");
}

/// The same through `kaiwa ask`: the text that came before on stdout, one
/// line on stderr that says what happened, exit 1 (an API error).
#[test]
fn kaiwa_ask_says_the_line_was_too_long_and_exits_1() {
    let mock = MockServer::start_blocking();
    mock.enqueue(endless_line());
    let sandbox = Sandbox::new();
    let out = run(sandbox.against(&mock, &["ask", "flood me"]), None);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let answer = stdout(&out);
    assert!(
        answer == "before the flood\n",
        "the text before it, and only that: {} bytes",
        answer.len()
    );
    let err = stderr(&out);
    assert!(
        err.starts_with("error: ") && err.contains("8 MiB") && err.contains("interrupted"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}
