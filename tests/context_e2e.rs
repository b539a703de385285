//! The context window end to end (SPEC, Context): the real `kaiwa` against
//! a mock that acts like llama.cpp (its model list carries `meta.n_ctx`;
//! longer prompts get `exceed_context_size_error`) and like OpenAI
//! (`context_length_exceeded`): the status bar's `ctx N%`, the overflow
//! dialog before a send and after a server's refusal, trimming, the
//! learned window, `context_overflow = "trim"`, and `kaiwa ask`.

mod support;

use serde_json::json;
use support::cli::{KEY, Sandbox, code, run, stderr};
use support::mock::{MockServer, RecordedRequest, Reply};
use support::pty::{Tui, TuiBuilder, keys, screen_rows, status_of};

const MODEL: &str = "local-llama";
const N_CTX: u64 = 2048;

/// A llama.cpp-like server: one model with its `n_ctx`.
fn llama_mock() -> MockServer {
    let mock = MockServer::start_blocking();
    mock.set_models_reply(Reply::json(
        200,
        &json!({"object": "list", "data": [
            {"id": MODEL, "object": "model", "owned_by": "llamacpp",
             "meta": {"n_ctx": N_CTX, "n_ctx_train": 131_072}}
        ]}),
        &[],
    ));
    mock
}

fn start(mock: &MockServer, config: &str) -> Tui {
    let tui = TuiBuilder::new(&mock.base_url())
        .env("KAIWA_MODEL", MODEL)
        .spawn_with_config(config);
    // The model list (and so the window) has arrived once the meter shows.
    tui.wait_until("the meter", |s| status_of(s).contains(" · ctx "));
    tui
}

/// Sends `question` and waits for `answer` to be shown.
fn exchange(tui: &Tui, mock: &MockServer, question: &str, answer: &str, usage: (u64, u64)) {
    mock.enqueue(Reply::openai_stream(MODEL, answer, 8, Some(usage)));
    tui.send(question);
    tui.send(keys::ENTER);
    tui.wait_until("the answer", |s| {
        screen_rows(s).iter().any(|row| row.contains(answer)) && !status_of(s).contains("streaming")
    });
}

/// Pastes `text` (bracketed, as a terminal does) and waits until the input
/// holds all of it, so that the Enter that follows is a key, not part of
/// the burst.
fn paste(tui: &Tui, text: &str) {
    let last = text.split_whitespace().last().unwrap_or_default();
    tui.send(&format!("{}{text}{}", keys::PASTE_START, keys::PASTE_END));
    tui.wait_until("the whole paste in the input", |s| {
        support::screen::input_rows(&screen_rows(s))
            .last()
            .is_some_and(|row| row.trim_end().ends_with(last))
    });
}

fn chats(mock: &MockServer) -> Vec<RecordedRequest> {
    mock.chat_requests()
}

fn contents(request: &RecordedRequest) -> Vec<String> {
    request
        .messages()
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_meter_reads_the_servers_count_over_its_window() {
    let mock = llama_mock();
    let tui = start(&mock, "");
    exchange(&tui, &mock, "hello", "a short answer", (300, 212));
    // (300 + 212) / 2048 = 25 %.
    tui.wait_until("ctx 25%", |s| {
        status_of(s).contains("prompt 300 · completion 212 · total 512 · ctx 25%")
    });
    // A draft is estimated on top, and marked.
    tui.send(&"words ".repeat(200));
    tui.wait_until("an estimated meter", |s| status_of(s).contains("ctx ~"));
}

#[test]
fn a_message_that_will_not_fit_asks_first_and_t_sends_only_what_fits() {
    let mock = llama_mock();
    let tui = start(&mock, "system = \"Be brief.\"\n");
    exchange(&tui, &mock, "first question", "first answer", (900, 100));
    exchange(&tui, &mock, "second question", "second answer", (1000, 100));
    assert_eq!(chats(&mock).len(), 2);
    // About 1,500 tokens more: past 2,048.
    let long = format!("{}the end", "lorem ipsum dolor sit amet ".repeat(250));
    paste(&tui, &long);
    tui.send(keys::ENTER);
    tui.wait_until("the dialog", |s| {
        let text = screen_rows(s).join("\n");
        text.contains("Too long for the model") && text.contains("trim")
    });
    assert_eq!(chats(&mock).len(), 2, "nothing was sent");
    mock.enqueue(Reply::openai_stream(
        MODEL,
        "trimmed answer",
        8,
        Some((1200, 20)),
    ));
    tui.send("t");
    tui.wait_for("trimmed answer");
    // The left-out turns are still there, above, marked.
    tui.send(keys::PAGE_UP);
    tui.send(keys::PAGE_UP);
    tui.wait_until("the left-out turns marked", |s| {
        let text = screen_rows(s).join("\n");
        text.contains("first question") && text.contains("not sent")
    });
    let last = chats(&mock).pop().unwrap();
    let sent = contents(&last);
    assert_eq!(sent.first().map(String::as_str), Some("Be brief."));
    assert_eq!(sent.last(), Some(&long));
    assert!(!sent.iter().any(|c| c == "first question"), "{sent:?}");
}

#[test]
fn a_servers_overflow_opens_the_dialog_esc_keeps_the_message_and_the_window_is_learned() {
    // An OpenAI-like server whose model no table knows: no meter at first.
    let mock = MockServer::start_blocking();
    mock.set_models(&["mystery-model"]);
    let tui = TuiBuilder::new(&mock.base_url())
        .env("KAIWA_MODEL", "mystery-model")
        .spawn();
    mock.enqueue(Reply::error(
        400,
        "context_length_exceeded",
        "This model's maximum context length is 4097 tokens. However, your messages resulted in 5000 tokens.",
        &[],
    ));
    tui.send("a question the server refuses");
    tui.send(keys::ENTER);
    tui.wait_until("the dialog", |s| {
        screen_rows(s).join("\n").contains("Too long for the model")
    });
    tui.send_esc();
    tui.wait_until(
        "the message back in the input, and the learned window",
        |s| {
            let text = screen_rows(s).join("\n");
            !text.contains("Too long for the model")
                && text.contains("a question the server refuses")
                && status_of(s).contains(" · ctx ~")
        },
    );
}

#[test]
fn context_overflow_trim_trims_without_asking() {
    let mock = llama_mock();
    let tui = start(&mock, "context_overflow = \"trim\"\n");
    exchange(&tui, &mock, "first question", "first answer", (900, 100));
    exchange(&tui, &mock, "second question", "second answer", (1000, 100));
    mock.enqueue(Reply::openai_stream(
        MODEL,
        "trimmed answer",
        8,
        Some((1200, 20)),
    ));
    paste(
        &tui,
        &format!("{}the end", "lorem ipsum dolor sit amet ".repeat(250)),
    );
    tui.send(keys::ENTER);
    tui.wait_until("the answer after a trim, without a dialog", |s| {
        let text = screen_rows(s).join("\n");
        text.contains("trimmed answer") && !text.contains("too long")
    });
    let sent = contents(&chats(&mock).pop().unwrap());
    assert!(!sent.iter().any(|c| c == "first question"), "{sent:?}");
}

#[test]
fn kaiwa_ask_names_the_model_its_window_and_the_setting() {
    let mock = MockServer::start_blocking();
    let sandbox = Sandbox::new();
    mock.enqueue(Reply::json(
        400,
        &json!({"error": {"code": 400, "message": "the request exceeds the available context size, try increasing it",
                           "type": "exceed_context_size_error", "n_prompt_tokens": 3000, "n_ctx": 2048}}),
        &[],
    ));
    let ask = |args: &[&str]| {
        let mut cmd = sandbox.kaiwa(args);
        cmd.env("OPENAI_BASE_URL", mock.base_url())
            .env("OPENAI_API_KEY", KEY);
        run(cmd, None)
    };
    let out = ask(&["ask", "-m", MODEL, "hello"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    for words in [MODEL, "2048", "context_overflow = ask"] {
        assert!(err.contains(words), "{words}: {err}");
    }
    // The window was remembered: a prompt far past it is refused before
    // anything is sent.
    let before = mock.chat_requests().len();
    let long = "lorem ipsum dolor sit amet ".repeat(2000);
    let out = ask(&["ask", "-m", MODEL, &long]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("window of 2048 tokens"),
        "{}",
        stderr(&out)
    );
    assert_eq!(mock.chat_requests().len(), before);
}

#[test]
fn kaiwa_ask_reads_an_empty_answer_near_the_window_as_too_long() {
    // llama-cpp-python answers a streamed overflow with 200 and no body.
    let mock = MockServer::start_blocking();
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.path("config/kaiwa")).unwrap();
    std::fs::write(
        sandbox.path("config/kaiwa/config.toml"),
        format!("[context]\n\"{MODEL}\" = 1000\n"),
    )
    .unwrap();
    mock.enqueue(Reply::empty("text/event-stream"));
    let mut cmd = sandbox.kaiwa(&["ask", "-m", MODEL, &"word ".repeat(760)]);
    cmd.env("OPENAI_BASE_URL", mock.base_url())
        .env("OPENAI_API_KEY", KEY);
    let out = run(cmd, None);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(err.contains("probably too long for local-llama"), "{err}");
}
