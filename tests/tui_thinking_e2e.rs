//! The model's thinking end to end: the real `kaiwa` binary in a pseudo-terminal
//! (`support::pty`) against the mock server streaming `reasoning_content` (or an inline
//! `<think>` block). What is asserted is the screen and what the server received: the answer
//! ends folded as `thinking · 40 tokens` with none of its text on screen, the next request
//! carries no reasoning, and `t` on the selected answer opens it.

mod support;

use serde_json::{Value, json};
use support::mock::{MockServer, Reply};
use support::pty::{keys, messages, msg, start, wait_chat_requests};
use support::screen::wait_answered;

fn chunk(delta: &Value) -> String {
    let body = json!({
        "id": "chatcmpl-think", "object": "chat.completion.chunk", "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": null}]
    });
    format!("data: {body}\n\n")
}

fn finish_and_usage(reasoning_tokens: u64) -> String {
    let stop = json!({
        "id": "chatcmpl-think", "object": "chat.completion.chunk", "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    });
    let usage = json!({
        "id": "chatcmpl-think", "object": "chat.completion.chunk", "created": 1,
        "model": "gpt-4o-mini", "choices": [],
        "usage": {
            "prompt_tokens": 10, "completion_tokens": 52, "total_tokens": 62,
            "completion_tokens_details": {"reasoning_tokens": reasoning_tokens}
        }
    });
    format!("data: {stop}\n\ndata: {usage}\n\ndata: [DONE]\n\n")
}

const REASONING: [&str; 3] = ["Maguro is ", "in season, ", "so recommend it."];

#[test]
fn a_reasoning_answer_ends_folded_is_never_sent_and_t_opens_it() {
    let mut body = String::new();
    for piece in REASONING {
        body.push_str(&chunk(&json!({"reasoning_content": piece})));
    }
    for piece in ["Today ", "it is maguro."] {
        body.push_str(&chunk(&json!({"content": piece})));
    }
    body.push_str(&finish_and_usage(40));
    let mock = MockServer::start_with([Reply::sse(&body)]);
    let tui = start(&mock);

    tui.send("おすすめは？");
    tui.send(keys::ENTER);
    wait_answered(&tui, "Today it is maguro.");
    tui.wait_for("▸ thinking · 40 tokens");
    let screen = tui.screen_text();
    for word in ["Maguro is", "in season", "recommend"] {
        assert!(!screen.contains(word), "{word:?} on screen:\n{screen}");
    }

    // The next question: the request carries the answer, not its thinking.
    tui.send("next");
    tui.send(keys::ENTER);
    wait_answered(&tui, "You said: next");
    let requests = wait_chat_requests(&mock, 2);
    assert_eq!(
        messages(&requests[1]),
        [
            msg("user", "おすすめは？"),
            msg("assistant", "Today it is maguro."),
            msg("user", "next"),
        ]
    );
    let raw = &requests[1].body;
    assert!(
        !raw.contains("Maguro is") && !raw.contains("reasoning"),
        "{raw}"
    );

    // Tab selects the last answer; two up is the reasoning one; `t` opens it.
    tui.send(keys::TAB);
    tui.send("k");
    tui.send("k");
    tui.send("t");
    tui.wait_for("▾ thinking · 40 tokens");
    tui.wait_for("so recommend it.");
    tui.send("t");
    tui.wait_until("the thinking to fold again", |s| {
        !s.contents().contains("recommend")
    });
}

#[test]
fn an_inline_think_answer_is_folded_too() {
    let mut body = String::new();
    for piece in ["<th", "ink>adding two", " and two</thi", "nk>\n\n", "four"] {
        body.push_str(&chunk(&json!({"content": piece})));
    }
    body.push_str(&finish_and_usage(0));
    let mock = MockServer::start_with([Reply::sse(&body)]);
    let tui = start(&mock);
    tui.send("2+2?");
    tui.send(keys::ENTER);
    wait_answered(&tui, "four");
    tui.wait_for("▸ thinking · ~");
    let screen = tui.screen_text();
    assert!(!screen.contains("adding two"), "{screen}");
    assert!(!screen.contains("think>"), "{screen}");

    tui.send("next");
    tui.send(keys::ENTER);
    wait_answered(&tui, "You said: next");
    let requests = wait_chat_requests(&mock, 2);
    assert_eq!(
        messages(&requests[1]),
        [
            msg("user", "2+2?"),
            msg("assistant", "four"),
            msg("user", "next"),
        ]
    );
}
