//! The model's thinking through the built binary against the mock server
//! (SPEC "Thinking"): `kaiwa ask` keeps stdout the answer alone and prints
//! the reasoning to stderr only with `--thinking`; the saved answer carries
//! its reasoning into the JSON and Markdown exports, and `kaiwa usage
//! --json` counts the reasoning tokens.

mod support;

use serde_json::{Value, json};
use support::cli::{Sandbox, code, run, stderr, stdout};
use support::mock::{MockServer, Reply};

fn chunk(delta: &Value) -> String {
    let body = json!({
        "id": "chatcmpl-think",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "deepseek-reasoner",
        "choices": [{"index": 0, "delta": delta, "finish_reason": null}]
    });
    format!("data: {body}\n\n")
}

fn finish_and_usage(reasoning_tokens: u64) -> String {
    let stop = json!({
        "id": "chatcmpl-think", "object": "chat.completion.chunk", "created": 1,
        "model": "deepseek-reasoner",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    });
    let usage = json!({
        "id": "chatcmpl-think", "object": "chat.completion.chunk", "created": 1,
        "model": "deepseek-reasoner", "choices": [],
        "usage": {
            "prompt_tokens": 10, "completion_tokens": 52, "total_tokens": 62,
            "completion_tokens_details": {"reasoning_tokens": reasoning_tokens}
        }
    });
    format!("data: {stop}\n\ndata: {usage}\n\ndata: [DONE]\n\n")
}

/// `reasoning_content` deltas, then the answer, then usage with 40
/// reasoning tokens.
fn reasoning_stream() -> Reply {
    let mut body = String::new();
    for piece in ["Maguro is ", "in season, ", "so recommend it."] {
        body.push_str(&chunk(&json!({"reasoning_content": piece})));
    }
    for piece in ["Today ", "it is maguro."] {
        body.push_str(&chunk(&json!({"content": piece})));
    }
    body.push_str(&finish_and_usage(40));
    Reply::sse(&body)
}

/// An inline `<think>` block split across deltas at awkward places.
fn inline_stream() -> Reply {
    let mut body = String::new();
    for piece in ["\n<th", "ink>adding two", " and two</thi", "nk>\n\n", "4"] {
        body.push_str(&chunk(&json!({"content": piece})));
    }
    body.push_str(&finish_and_usage(0));
    Reply::sse(&body)
}

#[test]
fn ask_prints_the_answer_alone_and_thinking_only_when_asked() {
    let mock = MockServer::start_with([reasoning_stream(), reasoning_stream()]);
    let sandbox = Sandbox::new();
    let out = run(sandbox.against(&mock, &["ask", "おすすめは？"]), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "Today it is maguro.\n");
    assert_eq!(stderr(&out), "");

    let out = run(
        sandbox.against(&mock, &["ask", "--thinking", "おすすめは？"]),
        None,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "Today it is maguro.\n");
    // Not a terminal: plain text, no escapes.
    assert_eq!(
        stderr(&out),
        "Maguro is in season, so recommend it.\n",
        "the reasoning, on its own line"
    );
}

#[test]
fn inline_think_tags_never_reach_stdout() {
    let mock = MockServer::start_with([inline_stream(), inline_stream()]);
    let sandbox = Sandbox::new();
    let out = run(sandbox.against(&mock, &["ask", "2+2?"]), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "4\n");
    assert_eq!(stderr(&out), "");
    let out = run(sandbox.against(&mock, &["ask", "--thinking", "2+2?"]), None);
    assert_eq!(stdout(&out), "4\n");
    assert_eq!(stderr(&out), "adding two and two\n");
}

#[test]
fn a_closing_tag_alone_makes_what_came_before_thinking() {
    let mut body = String::new();
    for piece in ["distilled ", "musing</", "think>\n", "42"] {
        body.push_str(&chunk(&json!({"content": piece})));
    }
    body.push_str(&finish_and_usage(0));
    let mock = MockServer::start_with([Reply::sse(&body)]);
    let sandbox = Sandbox::new();
    let out = run(sandbox.against(&mock, &["ask", "--thinking", "?"]), None);
    assert_eq!(stdout(&out), "42\n");
    assert_eq!(stderr(&out), "distilled musing\n");
}

#[test]
fn the_reasoning_is_saved_exported_and_counted() {
    let mock = MockServer::start_with([reasoning_stream()]);
    let sandbox = Sandbox::new();
    let out = run(sandbox.against(&mock, &["ask", "おすすめは？"]), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let usage: Value = serde_json::from_str(&stdout(&sandbox.run(&["usage", "--json"]))).unwrap();
    assert_eq!(usage["total"]["reasoning_tokens"], 40, "{usage}");
    assert_eq!(usage["rows"][0]["reasoning_tokens"], 40, "{usage}");
    assert_eq!(usage["total"]["completion_tokens"], 52, "{usage}");

    let list: Value =
        serde_json::from_str(&stdout(&sandbox.run(&["history", "list", "--json"]))).unwrap();
    let uid = list[0]["uid"].as_str().unwrap().to_string();
    let doc: Value = serde_json::from_str(&stdout(
        &sandbox.run(&["history", "export", &uid, "--format", "json"]),
    ))
    .unwrap();
    let answer = doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "assistant")
        .unwrap();
    assert_eq!(answer["content"], "Today it is maguro.");
    assert_eq!(answer["reasoning"], "Maguro is in season, so recommend it.");
    let question = &doc["messages"][0];
    assert!(question.get("reasoning").is_none(), "{question}");

    let md = stdout(&sandbox.run(&["history", "export", &uid, "--format", "md"]));
    assert!(
        md.contains(
            "<details><summary>thinking</summary>\n\nMaguro is in season, so recommend it.\n\n\
             </details>\n\nToday it is maguro."
        ),
        "{md}"
    );
}
