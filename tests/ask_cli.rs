//! `kaiwa ask` and `kaiwa models` end to end: the built binary, a clean environment with a
//! temporary HOME, and the mock OpenAI server. What is checked is what a user sees (stdout,
//! stderr, exit code) and what the server receives.

mod support;

use std::io::Read as _;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kaiwa::api::types::{ChatMessage, Role};
use kaiwa::chat::estimate;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use support::cli::{KAIWA, KEY, RUN_LIMIT, Sandbox, code, run, stderr, stdout};
use support::mock::{MockServer, Reply, StreamEnd};

/// The JSON body of the one chat request the mock received.
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "checked just before: one request, and chat requests are JSON"
)]
fn only_request(mock: &MockServer) -> Value {
    let requests = mock.chat_requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    requests[0].json.clone().unwrap()
}

const ANSWER: &str = "ChatGPT는 OpenAI가 만든 대화형 AI입니다. 😀";

// ---------------------------------------------------------------------------------------------
// Asking
// ---------------------------------------------------------------------------------------------

#[test]
fn ask_streams_the_answer_and_sends_the_right_request() {
    let mock = MockServer::start_blocking();
    mock.enqueue(Reply::openai_stream_split(
        "gpt-4o-mini",
        ANSWER,
        Some((14, 21)),
        7,
    ));
    let sandbox = Sandbox::new();
    let out = run(
        sandbox.against(&mock, &["ask", "ChatGPT란 무엇입니까?"]),
        None,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{ANSWER}\n"));
    assert_eq!(stderr(&out), "");
    assert_eq!(
        only_request(&mock),
        json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "ChatGPT란 무엇입니까?"}],
            "stream": true,
            "stream_options": {"include_usage": true}
        })
    );
    let r = &mock.chat_requests()[0];
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.header("authorization"), Some(&*format!("Bearer {KEY}")));
}

#[test]
fn prompt_words_are_joined_and_options_may_follow_them() {
    let mock = MockServer::start_blocking();
    let sandbox = Sandbox::new();
    let out = run(
        sandbox.against(
            &mock,
            &["ask", "what", "is", "-5", "squared?", "--model", "gpt-4o"],
        ),
        None,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let body = only_request(&mock);
    assert_eq!(body["model"], json!("gpt-4o"));
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "what is -5 squared?"}])
    );
    assert_eq!(stdout(&out), "You said: what is -5 squared?\n");
}

#[test]
fn a_newline_ending_answer_gets_no_extra_newline() {
    let mock = MockServer::start_blocking();
    mock.enqueue(Reply::openai_stream(
        "gpt-4o-mini",
        "line one\nline two\n",
        3,
        None,
    ));
    let out = run(Sandbox::new().against(&mock, &["ask", "hi"]), None);
    assert_eq!(code(&out), 0);
    assert_eq!(stdout(&out), "line one\nline two\n");
}

#[test]
fn piped_stdin_is_appended_after_the_arguments() {
    let mock = MockServer::start_blocking();
    let sandbox = Sandbox::new();
    let out = run(
        sandbox.against(&mock, &["ask", "review this"]),
        Some(b"diff\n"),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let body = only_request(&mock);
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "review this\n\ndiff"}])
    );
    // The mock echoes the prompt back.
    assert_eq!(stdout(&out), "You said: review this\n\ndiff\n");
}

#[test]
fn dash_or_no_argument_reads_the_prompt_from_stdin() {
    for args in [&["ask", "-"][..], &["ask"][..]] {
        let mock = MockServer::start_blocking();
        let input = "여러 줄의\n질문입니다\n";
        let out = run(Sandbox::new().against(&mock, args), Some(input.as_bytes()));
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert_eq!(
            only_request(&mock)["messages"],
            json!([{"role": "user", "content": "여러 줄의\n질문입니다"}]),
            "{args:?}"
        );
    }
}

#[test]
fn an_empty_prompt_is_a_usage_error() {
    let mock = MockServer::start_blocking();
    let out = run(Sandbox::new().against(&mock, &["ask"]), Some(b"\n"));
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    assert!(mock.requests().is_empty());
}

#[test]
fn system_goes_first_and_model_is_used() {
    let mock = MockServer::start_blocking();
    let out = run(
        Sandbox::new().against(
            &mock,
            &[
                "ask",
                "--system",
                "한국어로 짧게 답하세요.",
                "--model",
                "o3-mini",
                "hello",
            ],
        ),
        None,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let body = only_request(&mock);
    assert_eq!(body["model"], json!("o3-mini"));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "한국어로 짧게 답하세요."},
            {"role": "user", "content": "hello"}
        ])
    );
}

#[test]
fn model_from_the_environment_and_the_config_file() {
    let mock = MockServer::start_blocking();
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.path("config/kaiwa")).unwrap();
    std::fs::write(
        sandbox.path("config/kaiwa/config.toml"),
        "model = \"from-file\"\nsystem = \"file system prompt\"\n",
    )
    .unwrap();
    let out = run(sandbox.against(&mock, &["ask", "hi"]), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut cmd = sandbox.against(&mock, &["ask", "hi"]);
    cmd.env("KAIWA_MODEL", "from-env");
    let out = run(cmd, None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let requests = mock.chat_requests();
    assert_eq!(requests[0].json_str("model"), Some("from-file"));
    assert_eq!(requests[1].json_str("model"), Some("from-env"));
    assert_eq!(
        requests[0].messages()[0],
        json!({"role": "system", "content": "file system prompt"})
    );
}

// ---------------------------------------------------------------------------------------------
// --raw and --usage
// ---------------------------------------------------------------------------------------------

/// A completion whose keys are not in alphabetical order and whose text is Korean, with
/// the server's own (compact) formatting.
const RAW_BODY: &str = r#"{"model":"gpt-4o-mini-2024-07-18","id":"chatcmpl-raw","object":"chat.completion","created":1753357673,"choices":[{"message":{"role":"assistant","content":"안녕하세요! 😀","refusal":null},"index":0,"logprobs":null,"finish_reason":"stop"}],"usage":{"total_tokens":12,"prompt_tokens":5,"completion_tokens":7},"system_fingerprint":"fp_x","zeta":[],"alpha":{}}"#;

const RAW_PRETTY: &str = r#"{
  "model": "gpt-4o-mini-2024-07-18",
  "id": "chatcmpl-raw",
  "object": "chat.completion",
  "created": 1753357673,
  "choices": [
    {
      "message": {
        "role": "assistant",
        "content": "안녕하세요! 😀",
        "refusal": null
      },
      "index": 0,
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "total_tokens": 12,
    "prompt_tokens": 5,
    "completion_tokens": 7
  },
  "system_fingerprint": "fp_x",
  "zeta": [],
  "alpha": {}
}
"#;

fn raw_reply(body: &str) -> Reply {
    Reply::Raw {
        status: 200,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn raw_prints_the_servers_json_in_its_order() {
    let mock = MockServer::start_blocking();
    mock.enqueue(raw_reply(RAW_BODY));
    let out = run(
        Sandbox::new().against(&mock, &["ask", "--raw", "안녕?"]),
        None,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), RAW_PRETTY);
    // What serde_json with preserve_order prints, too.
    let value: Value = serde_json::from_str(RAW_BODY).unwrap();
    assert_eq!(
        stdout(&out),
        format!("{}\n", serde_json::to_string_pretty(&value).unwrap())
    );
    assert_eq!(stderr(&out), "");
    let body = only_request(&mock);
    assert_eq!(body["stream"], json!(false));
    assert!(body.get("stream_options").is_none());
}

#[test]
fn raw_output_keeps_escape_characters_json_escaped() {
    // Escape sequences inside JSON strings are escaped by JSON itself (\u001b).
    let mock = MockServer::start_blocking();
    mock.enqueue(raw_reply(
        r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"a\u001b[2Jb"},"finish_reason":"stop"}]}"#,
    ));
    let out = run(Sandbox::new().against(&mock, &["ask", "--raw", "x"]), None);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).contains(r#""content": "a\u001b[2Jb""#),
        "{}",
        stdout(&out)
    );
    assert!(!out.stdout.contains(&0x1b));
}

#[test]
fn usage_prints_the_servers_numbers_to_stderr() {
    let mock = MockServer::start_blocking();
    mock.enqueue(Reply::openai_stream(
        "gpt-4o-mini",
        ANSWER,
        4,
        Some((1234, 56)),
    ));
    let out = run(
        Sandbox::new().against(&mock, &["ask", "--usage", "question"]),
        None,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{ANSWER}\n"));
    assert_eq!(stderr(&out), "prompt 1234 · completion 56 · total 1290\n");
}

#[test]
fn usage_with_raw_reads_the_json_usage() {
    let mock = MockServer::start_blocking();
    mock.enqueue(raw_reply(RAW_BODY));
    let out = run(
        Sandbox::new().against(&mock, &["ask", "--raw", "--usage", "x"]),
        None,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), RAW_PRETTY);
    assert_eq!(stderr(&out), "prompt 5 · completion 7 · total 12\n");
}

#[test]
fn usage_is_estimated_with_a_tilde_when_the_server_sends_none() {
    let mock = MockServer::start_blocking();
    let answer = "Hello there, friend.";
    mock.enqueue(Reply::openai_stream("gpt-4o-mini", answer, 4, None));
    let out = run(
        Sandbox::new().against(&mock, &["ask", "--usage", "Hello!"]),
        None,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Cookbook counting: 3 priming + 3 per message + "user" (1) + "Hello!" (2) = 9;
    // the answer is 5 o200k tokens.
    let prompt = estimate::prompt_tokens("gpt-4o-mini", &[ChatMessage::new(Role::User, "Hello!")]);
    let completion = estimate::text_tokens("gpt-4o-mini", answer);
    assert_eq!((prompt, completion), (9, 5));
    assert_eq!(stderr(&out), "prompt ~9 · completion ~5 · total ~14\n");

    // --raw without usage in the body: estimated too.
    mock.enqueue(raw_reply(
        r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, friend."},"finish_reason":"stop"}]}"#,
    ));
    let out = run(
        Sandbox::new().against(&mock, &["ask", "--raw", "--usage", "Hello!"]),
        None,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "prompt ~9 · completion ~5 · total ~14\n");
}

#[test]
fn no_usage_line_without_the_flag() {
    let mock = MockServer::start_blocking();
    mock.enqueue(Reply::openai_stream("gpt-4o-mini", "ok", 4, Some((1, 1))));
    let out = run(Sandbox::new().against(&mock, &["ask", "x"]), None);
    assert_eq!((code(&out), stderr(&out).as_str()), (0, ""));
}

// ---------------------------------------------------------------------------------------------
// Errors and exit codes
// ---------------------------------------------------------------------------------------------

#[test]
fn rejected_key_is_one_line_and_exit_1() {
    let mock = MockServer::start_blocking();
    mock.enqueue(Reply::error(
        401,
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        &[],
    ));
    let out = run(
        Sandbox::new().against(&mock, &["ask", "--usage", "hi"]),
        None,
    );
    assert_eq!(code(&out), 1);
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: the server rejected the API key (401 invalid_api_key)"),
        "{err}"
    );
    assert!(err.contains("OPENAI_API_KEY"), "{err}");
    assert_eq!(mock.chat_requests().len(), 1);
}

#[test]
fn a_dead_server_is_one_line_naming_the_base_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let base = format!("http://127.0.0.1:{port}/v1");
    for args in [&["ask", "hello"][..], &["models"][..]] {
        let mut cmd = Sandbox::new().kaiwa(args);
        cmd.env("OPENAI_BASE_URL", &base).env("OPENAI_API_KEY", KEY);
        let started = Instant::now();
        let out = run(cmd, None);
        assert_eq!(code(&out), 1, "{args:?}");
        assert_eq!(stdout(&out), "", "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: cannot connect to "), "{err}");
        assert!(err.contains(&base), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

#[test]
fn a_missing_key_for_openai_is_exit_2_naming_openai_api_key() {
    for args in [&["ask", "hi"][..], &["models"][..]] {
        let started = Instant::now();
        let out = run(Sandbox::new().kaiwa(args), None);
        assert_eq!(code(&out), 2, "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("OPENAI_API_KEY"), "{err}");
        assert_eq!(stdout(&out), "");
        // Decided before any network access.
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn a_local_server_needs_no_key() {
    let mock = MockServer::start_blocking();
    let mut cmd = Sandbox::new().kaiwa(&["ask", "hi"]);
    cmd.env("OPENAI_BASE_URL", format!("{}/", mock.base_url()));
    let out = run(cmd, None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(mock.chat_requests()[0].header("authorization"), None);
    // A trailing slash on the base URL is ignored.
    assert_eq!(mock.chat_requests()[0].path, "/v1/chat/completions");
}

#[test]
fn a_malformed_config_names_the_file_and_line() {
    let sandbox = Sandbox::new();
    let file = sandbox.path("config/kaiwa/config.toml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "model = \"gpt-4o\"\nbase_url = \"http://x\n").unwrap();
    let mock = MockServer::start_blocking();
    let out = run(sandbox.against(&mock, &["ask", "hi"]), None);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("error: {}:2: ", file.display())),
        "{err}"
    );
    assert!(mock.requests().is_empty());

    std::fs::write(&file, "model = \"gpt-4o\"\n\ncolour = \"blue\"\n").unwrap();
    let out = run(sandbox.against(&mock, &["models"]), None);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!("error: {}:3: ", file.display())),
        "{err}"
    );
    assert!(err.contains("colour"), "{err}");
    assert!(mock.requests().is_empty());
}

#[test]
fn an_interrupted_stream_keeps_the_partial_text() {
    let mock = MockServer::start_blocking();
    mock.enqueue(
        Reply::openai_stream("gpt-4o-mini", ANSWER, 4, Some((1, 1)))
            .truncated(4)
            .with_delay(Duration::from_millis(10))
            .with_end(StreamEnd::Reset),
    );
    let out = run(Sandbox::new().against(&mock, &["ask", "hi"]), None);
    assert_eq!(code(&out), 1);
    let partial: String = ANSWER.chars().take(12).collect();
    assert_eq!(stdout(&out), format!("{partial}\n"));
    let err = stderr(&out);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_stream_that_ends_without_finish_reason_is_an_error() {
    let mock = MockServer::start_blocking();
    mock.enqueue(Reply::fixture("llmock_fault_truncate.sse", 50));
    let out = run(Sandbox::new().against(&mock, &["ask", "hi"]), None);
    assert_eq!(code(&out), 1);
    assert_eq!(stdout(&out), "Mock response \n");
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
}

/// The text of every line `message_lines` gives a message, joined.
fn lines_text(message: &kaiwa::chat::conversation::Message) -> String {
    kaiwa::ui::transcript::message_lines(message, 80)
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// SPEC: one unreadable event does not end the answer; it is skipped,
/// counted and said, with the warning that text may be missing (exit 0: the
/// answer finished). The answer is saved with the count, and a resumed
/// conversation shows the mark again.
#[test]
fn an_unreadable_event_is_reported_and_the_answer_completes() {
    let mock = MockServer::start_blocking();
    mock.enqueue(Reply::fixture("llmock_fault_malformed.sse", 100));
    let sandbox = Sandbox::new();
    let out = run(sandbox.against(&mock, &["ask", "hi"]), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let answer = "Mock response gpt-4o-mini: everything is working as expected.";
    assert_eq!(stdout(&out), format!("{answer}\n"));
    assert_eq!(
        stderr(&out),
        "kaiwa: 1 unreadable event skipped — text may be missing\n"
    );

    // Saved, marked.
    let list = run(sandbox.kaiwa(&["history", "list", "--json"]), None);
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    let uid = list[0]["uid"].as_str().unwrap().to_owned();
    let export = run(
        sandbox.kaiwa(&["history", "export", &uid, "--format", "json"]),
        None,
    );
    assert_eq!(code(&export), 0, "{}", stderr(&export));
    let export: Value = serde_json::from_slice(&export.stdout).unwrap();
    let messages = export["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{export:#}");
    assert_eq!(messages[1]["content"], answer);
    assert_eq!(messages[1]["state"], "done");
    assert_eq!(messages[1]["skipped"], 1, "{export:#}");

    // Resumed: the mark is shown again under the answer.
    let (mut history, notice) =
        kaiwa::history::History::start_at(&sandbox.db(), &sandbox.path("state/kaiwa/spool"));
    assert_eq!(notice, None);
    let resumed = history.resume(&uid).unwrap();
    let shown = resumed.conversation.messages();
    assert_eq!(shown.len(), 2);
    assert_eq!(shown[1].skipped, 1);
    let text = lines_text(&shown[1]);
    assert!(
        text.contains("⚠ 1 unreadable event skipped — text may be missing"),
        "{text}"
    );
}

#[test]
fn a_mid_stream_error_keeps_the_text_and_exits_1() {
    let mock = MockServer::start_blocking();
    mock.enqueue(Reply::sse(concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"부분 \"}}]}\n\n",
        "data: {\"error\":{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\"}}\n\n",
    )));
    let out = run(Sandbox::new().against(&mock, &["ask", "hi"]), None);
    assert_eq!(code(&out), 1);
    assert_eq!(stdout(&out), "부분 \n");
    let err = stderr(&out);
    assert!(
        err.contains("The server had an error while processing your request."),
        "{err}"
    );
}

#[test]
fn version_help_and_unknown_flags() {
    let sandbox = Sandbox::new();
    let out = run(sandbox.kaiwa(&["--version"]), None);
    assert_eq!(code(&out), 0);
    assert_eq!(
        stdout(&out),
        format!("kaiwa {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = run(sandbox.kaiwa(&["ask", "--help"]), None);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("--raw"));
    for args in [
        &["--frobnicate"][..],
        &["ask", "--frobnicate", "hi"][..],
        &["ask", "hi", "--frobnicate"][..],
        &["models", "--frobnicate"][..],
    ] {
        let mock = MockServer::start_blocking();
        let out = run(sandbox.against(&mock, args), None);
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(stderr(&out).contains("--frobnicate"), "{args:?}");
        assert!(mock.requests().is_empty(), "{args:?}: a request was sent");
    }
}

#[test]
fn a_prompt_starting_with_a_dash_goes_after_double_dash() {
    let mock = MockServer::start_blocking();
    let out = run(
        Sandbox::new().against(&mock, &["ask", "--usage", "--", "--verbose", "flag?"]),
        None,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        only_request(&mock)["messages"],
        json!([{"role": "user", "content": "--verbose flag?"}])
    );
    assert!(stderr(&out).starts_with("prompt "), "{}", stderr(&out));
}

#[test]
fn models_are_listed_sorted_one_per_line() {
    let mock = MockServer::start_blocking();
    mock.set_models(&["zeta", "gpt-4o-mini", "alpha", "gpt-4o"]);
    let out = run(Sandbox::new().against(&mock, &["models"]), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "alpha\ngpt-4o\ngpt-4o-mini\nzeta\n");
    assert_eq!(stderr(&out), "");
    let r = &mock.requests()[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/v1/models"));
}

// ---------------------------------------------------------------------------------------------
// Terminal safety and secrecy
// ---------------------------------------------------------------------------------------------

const HOSTILE: &str =
    "ANSWER: clip\u{1b}]52;c;aGk=\u{7} clear\u{1b}[2J title\u{1b}]0;pwned\u{7} end";

#[test]
fn hostile_text_goes_unchanged_into_a_pipe() {
    let mock = MockServer::start_blocking();
    mock.enqueue(Reply::openai_stream("gpt-4o-mini", HOSTILE, 3, None));
    let out = run(Sandbox::new().against(&mock, &["ask", "hi"]), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(out.stdout, format!("{HOSTILE}\n").into_bytes());
}

#[test]
fn hostile_text_is_made_visible_on_a_terminal() {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};

    let mock = MockServer::start_blocking();
    mock.enqueue(Reply::openai_stream("gpt-4o-mini", HOSTILE, 3, None));
    let sandbox = Sandbox::new();
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 24,
            cols: 120,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(KAIWA);
    cmd.args(["ask", "hi"]);
    cmd.env_clear();
    for (key, value) in sandbox.env() {
        cmd.env(key, value);
    }
    cmd.env("TERM", "xterm-256color");
    cmd.env("OPENAI_BASE_URL", mock.base_url());
    cmd.env("OPENAI_API_KEY", KEY);
    cmd.cwd(sandbox.home());
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    let mut reader = pty.master.try_clone_reader().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break, // EOF, or EIO once the child is gone
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
            }
        }
        let _ = tx.send(bytes);
    });
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kaiwa ask on a pty did not finish");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let bytes = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    drop(pty.master);
    assert!(
        status.success(),
        "{status:?}: {}",
        String::from_utf8_lossy(&bytes)
    );

    let start = bytes
        .windows(b"ANSWER:".len())
        .position(|w| w == b"ANSWER:")
        .unwrap_or_else(|| panic!("no answer in {:?}", String::from_utf8_lossy(&bytes)));
    let answer = &bytes[start..];
    assert!(
        !answer.contains(&0x1b),
        "a raw ESC reached the terminal: {:?}",
        String::from_utf8_lossy(answer)
    );
    assert!(!answer.contains(&0x07), "a raw BEL reached the terminal");
    let text = String::from_utf8_lossy(answer);
    assert!(
        text.contains("clip␛]52;c;aGk=␇ clear␛[2J title␛]0;pwned␇ end"),
        "{text}"
    );

    // And the screen shows it as text, on one row, nothing cleared.
    let mut parser = vt100::Parser::new(24, 120, 0);
    parser.process(&bytes);
    let screen = parser.screen().contents();
    assert!(
        screen.contains("ANSWER: clip␛]52;c;aGk=␇ clear␛[2J title␛]0;pwned␇ end"),
        "{screen}"
    );
}

#[test]
fn the_key_never_appears_in_output_or_files() {
    let mock = MockServer::start_blocking();
    let sandbox = Sandbox::new();
    let with_trace = |args: &[&str]| {
        let mut cmd = sandbox.against(&mock, args);
        cmd.env("KAIWA_LOG", "trace");
        cmd
    };
    // A success, a rejected key, a raw call, a models list, a server error with retries.
    mock.enqueue(Reply::openai_stream("gpt-4o-mini", ANSWER, 4, Some((3, 4))));
    let mut outputs = vec![run(with_trace(&["ask", "--usage", "hi"]), None)];
    mock.enqueue(Reply::error(
        401,
        "invalid_api_key",
        "Incorrect API key provided.",
        &[],
    ));
    outputs.push(run(with_trace(&["ask", "hi"]), None));
    mock.enqueue(raw_reply(RAW_BODY));
    outputs.push(run(with_trace(&["ask", "--raw", "hi"]), None));
    outputs.push(run(with_trace(&["models"]), None));
    for _ in 0..3 {
        mock.enqueue(Reply::error(500, "", "boom", &[("retry-after-ms", "10")]));
    }
    outputs.push(run(with_trace(&["ask", "hi"]), None));
    let codes: Vec<i32> = outputs.iter().map(code).collect();
    assert_eq!(codes, [0, 1, 0, 0, 1]);
    // The key did go to the server.
    assert!(
        mock.requests()
            .iter()
            .all(|r| r.header("authorization") == Some(&*format!("Bearer {KEY}")))
    );

    for out in &outputs {
        for stream in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(!text.contains(KEY), "the key was printed: {text}");
            assert!(
                !text.contains("secret-12345"),
                "part of the key was printed: {text}"
            );
        }
    }
    let log = sandbox.path("state/kaiwa/kaiwa.log");
    let log_text = std::fs::read_to_string(&log)
        .unwrap_or_else(|e| panic!("no log at {}: {e}", log.display()));
    assert!(
        log_text.lines().count() > 5,
        "trace logging wrote little: {log_text}"
    );
    let files = sandbox.files();
    assert!(files.iter().any(|(path, _)| path == &log));
    for (path, bytes) in files {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(KEY), "the key is in {}", path.display());
        assert!(
            !text.contains("secret-12345"),
            "part of the key is in {}",
            path.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Prices in the ledger
// ---------------------------------------------------------------------------------------------

/// `gpt-5-pro` costs about 12× `gpt-5`: it must not be priced as `gpt-5` (which would also
/// defeat the budget guard). A dated id still takes its undated price.
#[test]
fn no_model_borrows_another_models_price_in_the_ledger() {
    let mock = MockServer::start_blocking();
    let sandbox = Sandbox::new();
    for model in ["gpt-5-pro", "gpt-4o-mini-2024-07-18"] {
        mock.enqueue(Reply::openai_stream(
            model,
            ANSWER,
            4,
            Some((1_000_000, 1_000_000)),
        ));
        let out = run(sandbox.against(&mock, &["ask", "-m", model, "hi"]), None);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let out = run(sandbox.kaiwa(&["usage", "--json"]), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let usage: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rows = usage["rows"].as_array().unwrap();
    let row = |model: &str| {
        rows.iter()
            .find(|r| r["model"].as_str().is_some_and(|m| m.ends_with(model)))
            .unwrap_or_else(|| panic!("no row for {model}: {usage:#}"))
    };
    let pro = row("gpt-5-pro");
    assert_eq!(pro["unpriced_requests"], 1, "{pro:#}");
    assert_eq!(pro["cost_usd"].as_f64(), Some(0.0), "{pro:#}");
    // gpt-4o-mini: $0.15 + $0.60 for a million tokens each.
    let mini = row("gpt-4o-mini-2024-07-18");
    assert_eq!(mini["unpriced_requests"], 0, "{mini:#}");
    assert!(
        (mini["cost_usd"].as_f64().unwrap() - 0.75).abs() < 1e-9,
        "{mini:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// CLI conventions: -m/-s, help with examples, completions, config, models --json, no terminal
// ---------------------------------------------------------------------------------------------

#[test]
fn short_model_and_system_flags() {
    let mock = MockServer::start_blocking();
    let out = run(
        Sandbox::new().against(&mock, &["ask", "-m", "gpt-4o", "-s", "Be brief.", "hi"]),
        None,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let request = only_request(&mock);
    assert_eq!(request["model"], "gpt-4o");
    assert_eq!(
        request["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])
    );
    // Before the command too, as global options.
    let out = run(
        Sandbox::new().against(&mock, &["-m", "llama3.2:3b", "ask", "hi"]),
        None,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        mock.chat_requests()[1].json_str("model"),
        Some("llama3.2:3b")
    );
}

#[test]
fn help_ends_with_examples() {
    let sandbox = Sandbox::new();
    for args in [
        &["--help"][..],
        &["-h"][..],
        &["ask", "--help"][..],
        &["models", "--help"][..],
    ] {
        let out = run(sandbox.kaiwa(args), None);
        assert_eq!(code(&out), 0, "{args:?}");
        let help = stdout(&out);
        let (_, examples) = help
            .rsplit_once("Examples:")
            .unwrap_or_else(|| panic!("{args:?}: no examples\n{help}"));
        // Nothing but example lines after the heading.
        assert!(
            examples
                .lines()
                .skip(1)
                .all(|l| l.starts_with("  ") || l.is_empty()),
            "{args:?}\n{help}"
        );
        assert!(examples.contains("kaiwa"), "{args:?}");
    }
    let help = stdout(&run(sandbox.kaiwa(&["--help"]), None));
    for option in [
        "-m, --model",
        "-s, --system",
        "--base-url",
        "--config",
        "-V, --version",
    ] {
        assert!(help.contains(option), "{option} missing:\n{help}");
    }
    for command in ["ask", "models", "config", "completions", "history", "usage"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "{command} missing:\n{help}"
        );
    }
}

#[test]
fn completions_for_every_shell_and_a_man_page() {
    let sandbox = Sandbox::new();
    // A broken config does not keep anyone from completions.
    std::fs::create_dir_all(sandbox.path("config/kaiwa")).unwrap();
    std::fs::write(sandbox.path("config/kaiwa/config.toml"), "model = \n").unwrap();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef kaiwa"),
        ("fish", "complete -c kaiwa"),
        ("elvish", "edit:completion:arg-completer[kaiwa]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = run(sandbox.kaiwa(&["completions", shell]), None);
        assert_eq!(code(&out), 0, "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}:\n{script}");
        assert!(script.contains("history"), "{shell}: subcommands missing");
    }
    let out = run(sandbox.kaiwa(&["completions", "tcsh"]), None);
    assert_eq!(code(&out), 2);
    let out = run(sandbox.kaiwa(&["man"]), None);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).starts_with(".ie \\n(.g .ds Aq"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains(".TH kaiwa 1"));
}

#[test]
fn config_shows_the_path_and_each_settings_origin_with_the_key_hidden() {
    let sandbox = Sandbox::new();
    let config = sandbox.path("config/kaiwa/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        "model = \"gpt-4.1\"\nsystem = \"Be terse.\"\nmouse = false\napi_key = \"sk-file-secret-777\"\n",
    )
    .unwrap();
    let mut cmd = sandbox.kaiwa(&["config", "-m", "gpt-4o"]);
    cmd.env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1");
    let out = run(cmd, None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} line:\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        text.starts_with(&format!(
            "# config file: {} (found; the default path)",
            config.display()
        )),
        "{text}"
    );
    assert_eq!(line("model"), "model = \"gpt-4o\" # flag --model");
    assert_eq!(
        line("base_url"),
        "base_url = \"http://127.0.0.1:9/v1\" # env OPENAI_BASE_URL"
    );
    assert_eq!(line("system"), "system = \"Be terse.\" # config file");
    assert_eq!(line("mouse"), "mouse = false # config file");
    assert_eq!(line("api_key"), "api_key = \"***\" # config file");
    assert_eq!(
        line("stream_idle_timeout"),
        "stream_idle_timeout = 120 # default"
    );
    assert!(!text.contains("sk-file-secret-777"), "{text}");
    assert_eq!(stderr(&out), "");
}

#[test]
fn commands_that_need_no_key_never_run_api_key_cmd() {
    let sandbox = Sandbox::new();
    let trace = sandbox.path("key-cmd-ran");
    let config = sandbox.path("config/kaiwa/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        format!(
            "api_key_cmd = \"touch '{}'; printf sk-from-cmd\"\n",
            trace.display()
        ),
    )
    .unwrap();
    for args in [
        &["history", "path"][..],
        &["history", "list"][..],
        &["history", "list", "--json"][..],
        &["history", "search", "x"][..],
        &["usage"][..],
        &["usage", "--json"][..],
        &["config"][..],
        &["completions", "bash"][..],
    ] {
        let out = run(sandbox.kaiwa(args), None);
        assert!(
            !trace.exists(),
            "{args:?} ran api_key_cmd: {}",
            stderr(&out)
        );
    }
    let text = stdout(&run(sandbox.kaiwa(&["config"]), None));
    assert!(text.contains("api_key_cmd = \"touch"), "{text}");
    // A request does run it, and sends what it printed.
    let mock = MockServer::start_blocking();
    let mut cmd = sandbox.kaiwa(&["ask", "hi"]);
    cmd.env("OPENAI_BASE_URL", mock.base_url());
    let out = run(cmd, None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(trace.exists());
    assert_eq!(
        mock.chat_requests()[0].header("authorization"),
        Some("Bearer sk-from-cmd")
    );
}

#[test]
fn models_json_gives_ids_providers_windows_and_prices() {
    let mock = MockServer::start_blocking();
    mock.set_models_reply(Reply::json(
        200,
        &json!({"object": "list", "data": [
            {"id": "zeta", "object": "model", "owned_by": "me", "meta": {"n_ctx": 8192}},
            {"id": "gpt-4o-mini", "object": "model"},
            {"id": "alpha", "object": "model", "created": 1}
        ]}),
        &[],
    ));
    let out = run(Sandbox::new().against(&mock, &["models", "--json"]), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let unknown = |id: &str, context: Value| {
        json!({"id": id, "provider": "default", "context": context,
               "prompt_price": null, "completion_price": null})
    };
    assert_eq!(
        list,
        json!([
            unknown("alpha", Value::Null),
            // The built-in table (LiteLLM's input limit and prices).
            {"id": "gpt-4o-mini", "provider": "default", "context": 128_000,
             "prompt_price": 0.15, "completion_price": 0.6},
            // The server's own window (llama.cpp's meta.n_ctx).
            unknown("zeta", json!(8192)),
        ])
    );
}

#[test]
fn the_chat_without_a_terminal_says_so_and_exits_2() {
    let sandbox = Sandbox::new();
    for args in [&[][..], &["-c"][..], &["-m", "gpt-4o"][..]] {
        let out = run(sandbox.kaiwa(args), None);
        assert_eq!(code(&out), 2, "{args:?}");
        let err = stderr(&out);
        assert!(err.contains("needs a terminal"), "{err}");
        assert!(err.contains("kaiwa ask"), "{err}");
        assert!(!err.contains("os error"), "{err}");
        assert_eq!(stdout(&out), "", "nothing is drawn into a pipe");
    }
    assert!(!sandbox.path("data/kaiwa/history.db").exists());
}
