//! End-to-end tests of the chat TUI: the real `kaiwa` binary in a 120×40 pseudo-terminal
//! (`support::pty`), its screen read through `vt100`, against the scriptable OpenAI mock
//! (`support::mock`). Each test asserts what a user sees and what the server received, the way
//! acceptance checks kaiwa (SPEC "How kaiwa is checked").
//!
//! Waits block on new output with a timeout (`KAIWA_TEST_WAIT_MS`, default 10 s). The only
//! sleeps separate a lone Esc from the next key (as a human typing would) and measure CPU over a
//! window (`/proc`, in the idle test); none decides an outcome by giving kaiwa "enough time".
//!
//! The harness answers cursor-position queries as a terminal does; a test marked
//! `#[ignore = "bug: …"]` documents a defect found here and passes once it is fixed.

mod support;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::files::files_under;
use support::mock::{MockServer, RecordedRequest, Reply, StreamEnd};
use support::pty::{
    TEST_KEY, Tui, TuiBuilder, contains, find, keys, messages, msg, rfind, screen_rows, start,
    status_of, wait_chat_requests, wait_timeout,
};
use support::screen::{input_rows, mini_status, transcript_rows, wait_answered};

// -------------------------------------------------------------------------------------------
// Helpers
// -------------------------------------------------------------------------------------------

/// A stream's pieces, to splice hand-made events into.
#[allow(
    clippy::panic,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn pieces_of(reply: Reply) -> Vec<Vec<u8>> {
    match reply {
        Reply::Stream { pieces, .. } => pieces,
        other @ (Reply::Raw { .. } | Reply::Hang | Reply::Repeated { .. }) => {
            panic!("not a stream: {other:?}")
        }
    }
}

// -------------------------------------------------------------------------------------------
// 1. Chat: streaming, exact cumulative counts, the whole conversation resent
// -------------------------------------------------------------------------------------------

const QUESTION: &str = "ChatGPT란 무엇입니까?";
const ANSWER: &str =
    "ChatGPT는 OpenAI가 개발한 대화형 인공지능입니다. 질문에 답하고 글쓰기를 돕습니다.";
const FOLLOW_UP: &str = "한 문장으로 줄여 주세요.";
const SHORT_ANSWER: &str = "대화형 AI 언어 모델입니다.";

#[test]
fn chat_streams_the_answer_with_exact_cumulative_counts() {
    let mock = MockServer::start_blocking();
    mock.enqueue(
        Reply::openai_stream("gpt-4o-mini", ANSWER, 3, Some((17, 188)))
            .with_delay(Duration::from_millis(5)),
    );
    mock.enqueue(
        Reply::openai_stream("gpt-4o-mini", SHORT_ANSWER, 3, Some((230, 95)))
            .with_delay(Duration::from_millis(5)),
    );
    let tui = start(&mock);

    tui.send(QUESTION);
    tui.wait_for(QUESTION);
    tui.send(keys::ENTER);
    tui.wait_for("대화형 인공지능입니다.");
    tui.wait_for("글쓰기를 돕습니다.");
    // SPEC's own example: 17 + 188 at gpt-4o-mini's price is $0.00011535.
    assert_eq!(
        mini_status(17, 188),
        "gpt-4o-mini │ prompt 17 · completion 188 · total 205 · $0.0001"
    );
    tui.wait_status(&mini_status(17, 188));

    let requests = wait_chat_requests(&mock, 1);
    assert_eq!(requests.len(), 1);
    let first = &requests[0];
    let body = first.json.as_ref().expect("a JSON body");
    assert_eq!(body["stream"], Value::Bool(true));
    assert_eq!(body["stream_options"]["include_usage"], Value::Bool(true));
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(
        first.header("authorization"),
        Some(format!("Bearer {TEST_KEY}").as_str())
    );
    assert_eq!(messages(first), [msg("user", QUESTION)]);

    // The second turn carries the whole conversation; the counts add up.
    tui.send(FOLLOW_UP);
    tui.send(keys::ENTER);
    tui.wait_for(SHORT_ANSWER);
    tui.wait_status(&mini_status(17 + 230, 188 + 95));
    assert_eq!(
        mini_status(247, 283),
        "gpt-4o-mini │ prompt 247 · completion 283 · total 530 · $0.0002"
    );
    let requests = mock.chat_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        messages(&requests[1]),
        [
            msg("user", QUESTION),
            msg("assistant", ANSWER),
            msg("user", FOLLOW_UP)
        ]
    );
    // The first question and answer are still on screen above the second.
    let text = tui.screen_text();
    assert!(text.contains(QUESTION), "{text}");
    assert!(text.contains("글쓰기를 돕습니다."), "{text}");
}

#[test]
fn ctrl_n_starts_a_new_conversation_and_the_counts_keep_counting() {
    let mock = MockServer::start_with([
        Reply::mini("first answer", (11, 22)),
        Reply::mini("second answer", (33, 44)),
    ]);
    let tui = start(&mock);
    tui.send("first question");
    tui.send(keys::ENTER);
    tui.wait_status(&mini_status(11, 22));
    tui.send(keys::CTRL_N);
    tui.wait_until("the old conversation to go", |s| {
        !screen_rows(s).join("\n").contains("first answer")
    });
    tui.send("second question");
    tui.send(keys::ENTER);
    tui.wait_for("second answer");
    tui.wait_until("the counts of both requests", |s| {
        status_of(s).starts_with(&mini_status(44, 66))
    });
    let requests = wait_chat_requests(&mock, 2);
    assert_eq!(messages(&requests[1]), [msg("user", "second question")]);
}

#[test]
fn a_long_korean_answer_wraps_without_losing_a_character() {
    let mock = MockServer::start_blocking();
    let answer = "대화형 인공지능은 사람의 말을 이해하고 자연스럽게 대답합니다. ".repeat(8);
    let answer = answer.trim_end();
    mock.enqueue(Reply::openai_stream(
        "gpt-4o-mini",
        answer,
        5,
        Some((9, 99)),
    ));
    let tui = start(&mock);
    tui.send("길게 설명해 주세요");
    tui.send(keys::ENTER);
    tui.wait_status(&mini_status(9, 99));
    let rows = tui.rows();
    let first = rows.iter().position(|r| r.contains("▍assistant")).unwrap() + 1;
    let body: Vec<&String> = rows[first..]
        .iter()
        .take_while(|r| !r.trim().is_empty())
        .collect();
    assert!(body.len() >= 3, "the answer should wrap: {rows:#?}");
    for row in &body {
        let width: usize = row.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum();
        assert!(width <= usize::from(support::pty::COLS), "{row:?}");
    }
    let shown: String = body.iter().flat_map(|r| r.split_whitespace()).collect();
    let expected: String = answer.split_whitespace().collect();
    assert_eq!(shown, expected);
}

// -------------------------------------------------------------------------------------------
// 2. The system prompt
// -------------------------------------------------------------------------------------------

#[test]
fn system_prompt_is_shown_at_the_top_and_sent_first() {
    let mock = MockServer::start_blocking();
    let tui = TuiBuilder::new(&mock.base_url())
        .arg("--system")
        .arg("be brief")
        .spawn();
    tui.wait_for("be brief");
    let rows = tui.rows();
    let at = rows.iter().position(|r| r.contains("be brief")).unwrap();
    assert!(
        at <= 2,
        "the system prompt should open the transcript:\n{rows:#?}"
    );

    tui.send("hi there");
    tui.send(keys::ENTER);
    tui.wait_for("You said: hi there");
    let requests = wait_chat_requests(&mock, 1);
    assert_eq!(
        messages(&requests[0]),
        [msg("system", "be brief"), msg("user", "hi there")]
    );
    // Still at the top, above the question.
    let rows = tui.rows();
    let system_row = rows.iter().position(|r| r.contains("be brief")).unwrap();
    let question_row = rows.iter().position(|r| r.contains("hi there")).unwrap();
    assert!(system_row < question_row, "{rows:#?}");
}

// -------------------------------------------------------------------------------------------
// 3. Esc stops a stream: the text stays, the connection closes, the counts are estimated
// -------------------------------------------------------------------------------------------

/// `w001 w002 …`: a long answer whose progress can be read off the screen.
fn numbered_words(n: usize) -> String {
    let mut out = String::new();
    for i in 1..=n {
        let _ = write!(out, "w{i:03} ");
    }
    out
}

#[test]
fn esc_stops_the_answer_keeps_the_text_and_closes_the_connection() {
    let mock = MockServer::start_blocking();
    mock.enqueue(
        Reply::openai_stream("gpt-4o-mini", &numbered_words(400), 5, Some((10, 400)))
            .with_delay(Duration::from_millis(50))
            .with_end(StreamEnd::Hang),
    );
    let tui = start(&mock);
    // kaiwa builds its tokenizer in the background at startup; an Esc before that is done
    // waits for it (see `esc_right_after_startup_closes_the_connection_at_once`).
    wait_quiet(&tui);
    tui.send("tell me a long story");
    tui.send(keys::ENTER);
    tui.wait_for("w003");
    // The bar says an answer is streaming.
    let bar = tui.status_bar();
    assert!(bar.contains("streaming"), "{bar}");
    // Enter does not send a second request while one streams; it says how to stop it.
    tui.send("and then?");
    tui.send(keys::ENTER);
    tui.wait_until("a hint to stop first", |s| {
        screen_rows(s)
            .iter()
            .any(|r| r.contains("still streaming — Esc stops it"))
    });
    assert_eq!(mock.chat_requests().len(), 1);

    let pressed = Instant::now();
    tui.send_esc();
    tui.wait_for("stopped");
    let closed = mock
        .wait_until_blocking(Duration::from_secs(2), |all| {
            all.iter().any(|r| r.is_chat() && r.closed_at.is_some())
        })
        .expect("the connection should close within 2 s of Esc");
    let request = closed.iter().find(|r| r.is_chat()).unwrap();
    assert!(
        request.closed_early,
        "kaiwa, not the mock, ended the stream"
    );
    let after = request
        .closed_at
        .unwrap()
        .saturating_duration_since(pressed);
    assert!(after < Duration::from_secs(2), "closed {after:?} after Esc");

    // The partial answer stays on screen, marked stopped; no usage arrived, so the counts
    // are estimated.
    let text = tui.screen_text();
    assert!(text.contains("w001 w002 w003"), "{text}");
    assert!(!text.contains("w400"), "{text}");
    tui.wait_until("estimated counts in the status bar", |s| {
        status_of(s).contains("prompt ~")
    });
    let bar = tui.status_bar();
    assert!(bar.starts_with("gpt-4o-mini │ prompt ~"), "{bar}");
    assert!(bar.contains("completion ~"), "{bar}");
    assert!(bar.contains("total ~"), "{bar}");
    assert!(!bar.contains("streaming"), "{bar}");

    // What was typed meanwhile is still in the input; Enter sends it, and the request carries
    // the stopped answer with exactly the text that arrived (and is shown).
    assert_eq!(input_rows(&tui.rows()), ["and then?"]);
    tui.send(keys::ENTER);
    wait_answered(&tui, "You said: and then?");
    let requests = wait_chat_requests(&mock, 2);
    let sent = messages(&requests[1]);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(sent[0], msg("user", "tell me a long story"));
    assert_eq!(sent[2], msg("user", "and then?"));
    assert_eq!(sent[1].0, "assistant");
    let partial = &sent[1].1;
    let words = partial.split_whitespace().count();
    assert!(words >= 3, "{partial:?}");
    assert_eq!(partial.trim_end(), numbered_words(words).trim_end());
    let text = tui.screen_text();
    assert!(text.contains(&format!("w{words:03}")), "{text}");
    assert!(!text.contains(&format!("w{:03}", words + 1)), "{text}");
}

#[test]
fn esc_right_after_startup_closes_the_connection_at_once() {
    let mock = MockServer::start_blocking();
    mock.enqueue(
        Reply::openai_stream("gpt-4o-mini", &numbered_words(400), 5, None)
            .with_delay(Duration::from_millis(20))
            .with_end(StreamEnd::Hang),
    );
    let tui = start(&mock);
    tui.send("quick");
    tui.send(keys::ENTER);
    tui.wait_for("w001");
    let pressed = Instant::now();
    tui.send(keys::ESC);
    let closed = mock
        .wait_until_blocking(Duration::from_secs(2), |all| {
            all.iter().any(|r| r.is_chat() && r.closed_at.is_some())
        })
        .expect("the connection should close within 2 s of Esc");
    let after = closed
        .iter()
        .find(|r| r.is_chat())
        .and_then(|r| r.closed_at)
        .unwrap()
        .saturating_duration_since(pressed);
    // Closing a socket takes microseconds; the mock notices on its next write (every 20 ms).
    // 300 ms leaves room for a loaded machine and is still well below the tokenizer's build time.
    assert!(
        after < Duration::from_millis(300),
        "closed {after:?} after Esc"
    );
}

#[test]
fn ctrl_c_stops_a_stream_and_quits_only_when_none_runs() {
    let mock = MockServer::start_blocking();
    mock.enqueue(
        Reply::openai_stream("gpt-4o-mini", &numbered_words(400), 5, None)
            .with_delay(Duration::from_millis(50))
            .with_end(StreamEnd::Hang),
    );
    let mut tui = start(&mock);
    tui.send("go on");
    tui.send(keys::ENTER);
    tui.wait_for("w002");
    tui.send(keys::CTRL_C);
    tui.wait_for("stopped");
    mock.wait_until_blocking(wait_timeout(), |all| {
        all.iter().any(|r| r.is_chat() && r.closed_early)
    })
    .expect("Ctrl+C closes the connection");
    assert_eq!(
        tui.wait_exit_for(Duration::ZERO),
        None,
        "Ctrl+C quit while streaming"
    );
    tui.send(keys::CTRL_C);
    assert_eq!(tui.wait_exit(), 0);
}

// -------------------------------------------------------------------------------------------
// 4. A stream that breaks keeps its text, marked interrupted
// -------------------------------------------------------------------------------------------

#[test]
fn a_broken_stream_is_interrupted_and_keeps_its_text() {
    let mock = MockServer::start_blocking();
    // The role chunk, then "alpha-" and "beta-g"; then the connection is reset.
    mock.enqueue(
        Reply::openai_stream("gpt-4o-mini", "alpha-beta-gamma-delta", 6, None)
            .truncated(3)
            .with_delay(Duration::from_millis(20))
            .with_end(StreamEnd::Reset),
    );
    let tui = start(&mock);
    tui.send("break please");
    tui.send(keys::ENTER);
    tui.wait_for("interrupted");
    let text = tui.screen_text();
    assert!(text.contains("alpha-beta-g"), "{text}");
    assert!(!text.contains("amma"), "{text}");
    // Not retried: body bytes had arrived.
    assert_eq!(mock.chat_requests().len(), 1);
    // The question is not put back into the input: the answer has text.
    assert!(
        !input_rows(&tui.rows()).join("\n").contains("break please"),
        "{text}"
    );
}

// -------------------------------------------------------------------------------------------
// 5. One unreadable event is skipped; the rest of the answer arrives
// -------------------------------------------------------------------------------------------

#[test]
fn an_unreadable_event_is_skipped_and_the_answer_completes() {
    let mock = MockServer::start_blocking();
    let mut pieces = pieces_of(Reply::mini("one two three four five six", (5, 6)));
    pieces.insert(3, b"data: {\"choices\": [ {oops\n\n".to_vec());
    mock.enqueue(Reply::Stream {
        pieces,
        delay: Duration::from_millis(5),
        end: StreamEnd::Close,
    });
    let tui = start(&mock);
    tui.send("count to six");
    tui.send(keys::ENTER);
    tui.wait_for("one two three four five six");
    tui.wait_for("skipped");
    tui.wait_until("the counts from the usage", |s| {
        status_of(s).starts_with(&mini_status(5, 6))
    });
    let text = tui.screen_text();
    assert!(!text.contains("interrupted"), "{text}");
}

// -------------------------------------------------------------------------------------------
// 6. An error before any text: shown, and the question goes back into the input
// -------------------------------------------------------------------------------------------

#[test]
fn a_401_is_shown_and_the_question_returns_to_the_input() {
    let mock = MockServer::start_blocking();
    mock.enqueue(Reply::error(
        401,
        "invalid_api_key",
        "Incorrect API key provided: sk-kaiwa-***. You can find your API key at \
         https://platform.openai.com/account/api-keys.",
        &[],
    ));
    let tui = start(&mock);
    let question = "첫 번째 질문입니다";
    tui.send(question);
    tui.send(keys::ENTER);
    tui.wait_for("401");
    let text = tui.screen_text();
    assert!(
        text.contains("key"),
        "the error should mention the key:\n{text}"
    );
    assert!(
        text.contains("OPENAI_API_KEY"),
        "and how to set it:\n{text}"
    );
    tui.wait_until("the question back in the input box", |s| {
        input_rows(&screen_rows(s)).join("\n") == question
    });
    // A refused request counts nothing.
    assert!(
        tui.status_bar()
            .starts_with("gpt-4o-mini │ prompt 0 · completion 0 · total 0"),
        "{}",
        tui.status_bar()
    );
    assert_eq!(mock.chat_requests().len(), 1, "a 401 is not retried");

    // Enter resends it.
    tui.send(keys::ENTER);
    tui.wait_for(&format!("You said: {question}"));
    let requests = wait_chat_requests(&mock, 2);
    assert_eq!(messages(&requests[0]), [msg("user", question)]);
    assert_eq!(messages(&requests[1]), [msg("user", question)]);
}

// -------------------------------------------------------------------------------------------
// 7. The model menu
// -------------------------------------------------------------------------------------------

const MENU_TITLE: &str = "Model · type to filter";

#[test]
fn model_menu_filters_picks_and_changes_the_next_request() {
    let mock = MockServer::start_blocking();
    mock.set_models(&["gpt-4o", "gpt-4o-mini", "o3-mini"]);
    let tui = start(&mock);

    tui.send(keys::F2);
    tui.wait_for(MENU_TITLE);
    // The server's list arrives in the background; o3-mini comes only from it.
    tui.wait_for("o3-mini");
    let text = tui.screen_text();
    assert!(
        text.contains("gpt-4o\n") || text.contains("gpt-4o "),
        "{text}"
    );

    tui.send("o3");
    tui.wait_for("filter: o3");
    tui.wait_until("only o3-mini in the menu", |s| {
        let rows = screen_rows(s);
        let menu = &rows[..rows.len() - 1];
        menu.iter().any(|r| r.contains("o3-mini")) && !menu.iter().any(|r| r.contains("gpt-4o"))
    });

    tui.send(keys::ENTER);
    tui.wait_until("o3-mini in the status bar", |s| {
        status_of(s).starts_with("o3-mini │ ")
    });
    assert!(!tui.screen_text().contains(MENU_TITLE));

    tui.send("which model?");
    tui.send(keys::ENTER);
    tui.wait_for("You said: which model?");
    let requests = wait_chat_requests(&mock, 1);
    assert_eq!(requests[0].json_str("model"), Some("o3-mini"));

    // Ctrl+O opens it too; Esc closes it.
    tui.send(keys::CTRL_O);
    tui.wait_for(MENU_TITLE);
    tui.send_esc();
    tui.wait_until("the menu to close", |s| {
        !screen_rows(s).join("\n").contains(MENU_TITLE)
    });
    assert!(tui.status_bar().starts_with("o3-mini │ "));
}

#[test]
fn model_menu_keeps_its_border_over_wide_characters() {
    let mock = MockServer::start_blocking();
    // Each line: one ASCII letter, then Hangul, so a wide character starts on every odd column,
    // the one before the menu's left edge (column 18 at 120 columns) included.
    let line = format!("x{}\n", "가".repeat(55));
    mock.enqueue(Reply::openai_stream(
        "gpt-4o-mini",
        &line.repeat(30),
        40,
        Some((1, 2)),
    ));
    let tui = start(&mock);
    tui.send("wide");
    tui.send(keys::ENTER);
    tui.wait_status(&mini_status(1, 2));
    tui.send(keys::F2);
    tui.wait_for(MENU_TITLE);
    tui.wait_for("o3-mini");
    tui.with_screen(|s| {
        let rows = screen_rows(s);
        let top = rows.iter().position(|r| r.contains(MENU_TITLE)).unwrap();
        let bottom = top + rows[top..].iter().position(|r| r.contains('┘')).unwrap();
        let (_, cols) = s.size();
        let right = (0..cols)
            .find(|&c| s.cell(u16::try_from(top).unwrap(), c).unwrap().contents() == "┐")
            .unwrap();
        let left = right + 1 - 84;
        for row in top..=bottom {
            let cell = s.cell(u16::try_from(row).unwrap(), left).unwrap();
            assert!(
                ["┌", "│", "└"].contains(&cell.contents()),
                "row {row}: no border at column {left}:\n{}",
                support::pty::dump(s)
            );
        }
    });
}

#[test]
fn model_menu_opens_and_says_why_when_the_server_list_fails() {
    let mock = MockServer::start_blocking();
    mock.set_models_reply(Reply::error(500, "", "the model list is down", &[]));
    let tui = start(&mock);
    tui.send(keys::CTRL_O);
    tui.wait_for(MENU_TITLE);
    // After kaiwa's retries (about 1.5 s), the menu says why and still offers the current model.
    tui.wait_for("unavailable");
    let text = tui.screen_text();
    assert!(text.contains("500"), "{text}");
    let rows = tui.rows();
    assert!(
        rows[..rows.len() - 1]
            .iter()
            .any(|r| r.contains("gpt-4o-mini")),
        "{text}"
    );
    tui.send(keys::ENTER);
    tui.wait_until("the menu to close", |s| {
        !screen_rows(s).join("\n").contains(MENU_TITLE)
    });
    assert!(tui.status_bar().starts_with("gpt-4o-mini │ "));
}

// -------------------------------------------------------------------------------------------
// 8. The first-run panel
// -------------------------------------------------------------------------------------------

#[test]
fn first_run_panel_without_a_key_sends_nothing() {
    // The mock stands in as the HTTP(S) proxy: any attempt to reach api.openai.com would show
    // up in its log as a CONNECT.
    let mock = MockServer::start_blocking();
    let proxy = format!("http://{}", mock.addr());
    let mut tui = TuiBuilder::bare()
        .env("HTTPS_PROXY", &proxy)
        .env("https_proxy", &proxy)
        .env("HTTP_PROXY", &proxy)
        .env("ALL_PROXY", &proxy)
        .spawn();
    tui.wait_for("OPENAI_API_KEY");
    tui.send("hello?");
    tui.wait_until("the question in the input", |s| {
        input_rows(&screen_rows(s)) == ["hello?"]
    });
    tui.send(keys::ENTER);
    // Enter cannot send without a key: the panel stays, and so does the question.
    tui.send(keys::F1);
    tui.wait_for("Keys");
    tui.send_esc();
    tui.wait_until("the panel and the unsent question", |s| {
        let rows = screen_rows(s);
        rows.join("\n").contains("OPENAI_API_KEY") && input_rows(&rows) == ["hello?"]
    });
    tui.send(keys::F2);
    tui.wait_for(MENU_TITLE);
    tui.send_esc();
    tui.send(keys::CTRL_Q);
    assert_eq!(tui.wait_exit(), 0);
    assert!(
        mock.requests().is_empty(),
        "nothing may be sent without a key: {:#?}",
        mock.requests()
    );
}

#[test]
fn first_run_finds_a_local_server_and_chats_with_it() {
    // A keyless server where Ollama would be (OLLAMA_HOST moves the probe's 11434 there). (A
    // port that accepts and never answers is `discover`'s unit tests' business: a test cannot
    // hold the other well-known ports.)
    let mock = MockServer::start_blocking();
    mock.set_models(&["llama3.2:3b"]);
    let port = mock.addr().port();
    let address = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let mut tui = TuiBuilder::bare().env("OLLAMA_HOST", &address).spawn();
    tui.wait_for(&format!("{address} (local)"));
    let found_in = started.elapsed();
    tui.wait_until("the model and the key's explanation", |s| {
        let text = screen_rows(s).join("\n");
        text.contains("▸ llama3.2:3b") && text.contains("OPENAI_API_KEY")
    });
    assert!(
        found_in < Duration::from_secs(5),
        "found after {found_in:?}"
    );
    tui.send(keys::ENTER);
    tui.wait_until("the local model in the status bar", |s| {
        status_of(s).starts_with("local:llama3.2:3b │ ")
    });
    tui.send("hello there");
    tui.send(keys::ENTER);
    let requests = mock
        .wait_until_blocking(Duration::from_secs(10), |all| {
            all.iter().any(RecordedRequest::is_chat)
        })
        .expect("a chat request");
    let chat = requests.iter().find(|r| r.is_chat()).unwrap();
    assert_eq!(chat.json_str("model"), Some("llama3.2:3b"));
    assert_eq!(chat.header("authorization"), None);
    tui.wait_until("the answer, priced at nothing", |s| {
        let status = status_of(s);
        status.starts_with("local:llama3.2:3b │ prompt ") && !status.contains('$')
    });
    tui.send(keys::CTRL_Q);
    assert_eq!(tui.wait_exit(), 0);
    // This run only: nothing was written to the config file.
    assert!(!tui.home().join(".config/kaiwa/config.toml").exists());
}

#[test]
fn first_run_s_saves_the_server_to_the_config_file() {
    let mock = MockServer::start_blocking();
    mock.set_models(&["qwen3:8b"]);
    let address = mock.addr().to_string();
    let mut tui = TuiBuilder::bare().env("OLLAMA_HOST", &address).spawn();
    tui.wait_for("▸ qwen3:8b");
    tui.send("s");
    tui.wait_for("saved to");
    tui.send(keys::CTRL_Q);
    assert_eq!(tui.wait_exit(), 0);
    let path = tui.home().join(".config/kaiwa/config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let value: toml::Table = text.parse().unwrap();
    assert_eq!(value["model"].as_str(), Some("local:qwen3:8b"));
    let table = &value["providers"]["local"];
    assert_eq!(
        table["base_url"].as_str(),
        Some(format!("http://{address}/v1").as_str())
    );
    assert_eq!(table["auth"].as_str(), Some("none"));
    assert_eq!(table["local"].as_bool(), Some(true));
    // The next start uses it without asking.
    let config_home = tui.home().join(".config");
    let again = TuiBuilder::bare()
        .env("XDG_CONFIG_HOME", config_home.to_str().unwrap())
        .spawn();
    again.wait_until("the saved model", |s| {
        status_of(s).starts_with("local:qwen3:8b │ ")
    });
}

// -------------------------------------------------------------------------------------------
// 9. Composing several lines, pastes
// -------------------------------------------------------------------------------------------

#[test]
fn alt_enter_ctrl_j_and_paste_insert_new_lines_without_sending() {
    let mock = MockServer::start_blocking();
    let tui = start(&mock);

    tui.send("line one");
    tui.send(keys::ALT_ENTER);
    tui.send("line two");
    tui.send(keys::CTRL_J);
    tui.send("line three");
    tui.wait_until("three lines in the input", |s| {
        input_rows(&screen_rows(s)) == ["line one", "line two", "line three"]
    });
    assert!(mock.chat_requests().is_empty());
    tui.send(keys::ENTER);
    let requests = wait_chat_requests(&mock, 1);
    assert_eq!(
        messages(&requests[0]),
        [msg("user", "line one\nline two\nline three")]
    );
    wait_answered(&tui, "You said: line one");

    // A paste with newlines is inserted as-is; only Enter sends.
    tui.paste("para one\npara two\n");
    tui.send("X");
    tui.wait_until("the paste and the X in the input", |s| {
        input_rows(&screen_rows(s)) == ["para one", "para two", "X"]
    });
    assert_eq!(mock.chat_requests().len(), 1, "the paste must not send");
    tui.send(keys::ENTER);
    let requests = wait_chat_requests(&mock, 2);
    assert_eq!(
        messages(&requests[1]).last().unwrap(),
        &msg("user", "para one\npara two\nX")
    );
}

/// 4 KB of keys typed in one write (as `tmux send-keys -l` does, not a bracketed paste),
/// then Enter in the same write: every character arrives, in order, and the Enter sends it.
/// crossterm's reader took 1,024 bytes and waited for the next key before reading the rest
/// (an edge-triggered poll), so the end of the text and the Enter stayed unread.
#[test]
fn a_burst_of_typed_keys_arrives_whole_and_the_enter_after_it_sends() {
    let mock = MockServer::start_blocking();
    mock.enqueue(Reply::openai_stream(
        "gpt-4o-mini",
        "burst-received",
        2,
        Some((1200, 3)),
    ));
    let tui = start(&mock);
    let mut text = String::new();
    let mut i = 0;
    while text.chars().count() < 3990 {
        i += 1;
        // ASCII with some Korean, so reads also split multi-byte characters.
        let _ = write!(text, "w{i:04}{} ", if i % 7 == 0 { "한글" } else { "" });
    }
    text.push_str("THE-END");
    let mut bytes = text.clone().into_bytes();
    bytes.push(b'\r');
    assert!(bytes.len() > 4096);
    let writer = tui.send_in_background(bytes);
    let requests = wait_chat_requests(&mock, 1);
    writer.join().unwrap().unwrap();
    assert_eq!(messages(&requests[0]), [msg("user", &text)]);
    wait_answered(&tui, "burst-received");
    // The input is empty again: nothing of the burst was left behind in it.
    let input = input_rows(&tui.rows());
    assert!(input.iter().all(|r| !r.contains("w0")), "{input:?}");
}

#[test]
fn a_one_megabyte_paste_stays_responsive() {
    let mock = MockServer::start_blocking();
    let mut tui = start(&mock);
    let line = "0123456789 abcdefghij 한국어 텍스트 0123456789 abcdefghij\n";
    let mut text = line.repeat((1 << 20) / line.len() + 1);
    text.push_str("END-OF-PASTE");
    assert!(text.len() > 1 << 20);
    let mut bytes = keys::PASTE_START.as_bytes().to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(keys::PASTE_END.as_bytes());

    let started = Instant::now();
    let writer = tui.send_in_background(bytes);
    tui.wait_for("END-OF-PASTE");
    writer.join().unwrap().unwrap();
    let pasted_in = started.elapsed();
    // Still responsive: a key shows at once, and Ctrl+Q quits.
    tui.send("Z");
    tui.wait_for("END-OF-PASTEZ");
    let quit = Instant::now();
    tui.send(keys::CTRL_Q);
    let code = tui.wait_exit_for(Duration::from_secs(5));
    assert_eq!(code, Some(0), "Ctrl+Q after a 1 MB paste");
    assert!(
        quit.elapsed() < Duration::from_secs(5),
        "quit took {:?}",
        quit.elapsed()
    );
    assert!(
        pasted_in < wait_timeout(),
        "the paste took {pasted_in:?} to show"
    );
    assert!(mock.chat_requests().is_empty(), "a paste never sends");
}

// -------------------------------------------------------------------------------------------
// 10. Scrolling: a scrolled-up view stays put; Ctrl+End follows again
// -------------------------------------------------------------------------------------------

fn numbered_lines(prefix: &str, n: usize) -> String {
    let mut out = String::new();
    for i in 1..=n {
        let _ = writeln!(out, "{prefix} {i:03}");
    }
    out
}

#[test]
fn scrolled_up_view_stays_put_while_text_streams_and_ctrl_end_follows() {
    let mock = MockServer::start_blocking();
    // A long first answer, so the transcript is taller than the screen.
    mock.enqueue(Reply::openai_stream(
        "gpt-4o-mini",
        &numbered_lines("early", 60),
        40,
        Some((10, 300)),
    ));
    // Then a slow one: 60 lines, one every 40 ms.
    mock.enqueue(
        Reply::openai_stream(
            "gpt-4o-mini",
            &numbered_lines("late", 60),
            9,
            Some((20, 300)),
        )
        .with_delay(Duration::from_millis(40)),
    );
    let tui = start(&mock);
    tui.send("first");
    tui.send(keys::ENTER);
    tui.wait_status(&mini_status(10, 300));
    assert!(tui.screen_text().contains("early 060"));

    tui.send("second");
    tui.send(keys::ENTER);
    tui.wait_for("late 003");
    tui.send(keys::PAGE_UP);
    tui.wait_for("more below");
    let held = transcript_rows(&tui.rows());
    assert!(!held.join("\n").contains("late 060"), "{}", held.join("\n"));

    // Let the whole answer arrive (the usage comes last): the view must not have moved.
    tui.wait_status(&mini_status(30, 600));
    let rows = tui.rows();
    assert_eq!(
        transcript_rows(&rows),
        held,
        "new text moved a scrolled-up view"
    );
    assert!(rows.join("\n").contains("more below"));

    tui.send(keys::CTRL_END);
    tui.wait_for("late 060");
    tui.wait_until("the indicator to go", |s| {
        !screen_rows(s).join("\n").contains("more below")
    });
}

// -------------------------------------------------------------------------------------------
// 11. Small terminals
// -------------------------------------------------------------------------------------------

#[test]
fn small_terminals_show_the_regions_or_say_too_small() {
    let mock = MockServer::start_blocking();
    let tui = start(&mock);
    tui.send("hello small world");
    tui.send(keys::ENTER);
    wait_answered(&tui, "You said: hello small world");
    let normal_status = tui.status_bar();
    let normal_rows = tui.rows();

    tui.resize(20, 5);
    // Three regions: the transcript (rows 0–1), the input box (its border on row 2, the
    // placeholder on row 3), the status bar (row 4).
    tui.wait_until("the three regions at 20×5", |s| {
        let rows = screen_rows(s);
        rows.len() == 5 && rows[3].trim_start().starts_with("Type a message") && !rows[4].is_empty()
    });
    let rows = tui.rows();
    assert!(rows[2].contains('─'), "the input's border: {rows:#?}");
    assert!(!rows[0].is_empty() || !rows[1].is_empty(), "{rows:#?}");
    assert!(!rows.join("\n").contains("too small"), "{rows:#?}");

    tui.resize(19, 4);
    tui.wait_for("terminal too small");

    tui.resize(COLS_NORMAL, ROWS_NORMAL);
    tui.wait_until("the normal screen again", |s| {
        let text = screen_rows(s).join("\n");
        status_of(s) == normal_status && !text.contains("too small")
    });
    // No garbage: the screen is exactly what it was before the resizes.
    tui.wait_until("the same screen as before", |s| {
        screen_rows(s) == normal_rows
    });
}

#[test]
fn status_bar_keeps_the_model_at_20_columns() {
    let mock = MockServer::start_blocking();
    let tui = start(&mock);
    tui.send("hello small world");
    tui.send(keys::ENTER);
    wait_answered(&tui, "You said: hello small world");
    tui.resize(20, 5);
    tui.wait_until("the model in the status bar at 20×5", |s| {
        let rows = screen_rows(s);
        rows.len() == 5 && rows[4].starts_with("gpt-4o-mini")
    });
}

const COLS_NORMAL: u16 = support::pty::COLS;
const ROWS_NORMAL: u16 = support::pty::ROWS;

// -------------------------------------------------------------------------------------------
// 12. Quitting restores the terminal
// -------------------------------------------------------------------------------------------

/// Asserts that `tail` leaves the alternate screen and turns bracketed paste and mouse
/// reporting off, each after the last time it was turned on.
#[allow(
    clippy::panic,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn assert_restored(raw: &[u8]) {
    for (on, off, what) in [
        (
            &b"\x1b[?1049h"[..],
            &b"\x1b[?1049l"[..],
            "the alternate screen",
        ),
        (b"\x1b[?2004h", b"\x1b[?2004l", "bracketed paste"),
        (b"\x1b[?1000h", b"\x1b[?1000l", "mouse reporting"),
    ] {
        let last_on = rfind(raw, on).unwrap_or_else(|| panic!("{what} was never turned on"));
        let last_off = rfind(raw, off).unwrap_or_else(|| panic!("{what} was not restored"));
        assert!(last_off > last_on, "{what} is still on at exit");
    }
}

/// The PTY is back in cooked mode: line editing and echo on.
fn assert_cooked(tui: &Tui) {
    if let Some(flags) = tui.local_flags() {
        assert!(
            flags.iter().any(|f| f == "ICANON") && flags.iter().any(|f| f == "ECHO"),
            "still in raw mode: {flags:?}"
        );
    }
}

#[test]
fn ctrl_q_exits_zero_and_restores_the_terminal() {
    let mock = MockServer::start_blocking();
    let mut tui = start(&mock);
    if let Some(flags) = tui.local_flags() {
        assert!(
            !flags.iter().any(|f| f == "ICANON" || f == "ECHO"),
            "kaiwa runs in raw mode: {flags:?}"
        );
    }
    tui.send(keys::CTRL_Q);
    assert_eq!(tui.wait_exit(), 0);
    assert_restored(&tui.raw());
    tui.with_screen(|s| {
        assert!(!s.alternate_screen(), "still on the alternate screen");
        assert!(!s.bracketed_paste(), "bracketed paste still on");
        assert_eq!(s.mouse_protocol_mode(), vt100::MouseProtocolMode::None);
        assert!(!s.hide_cursor(), "the cursor is still hidden");
    });
    assert_cooked(&tui);
}

#[test]
fn ctrl_c_quits_when_nothing_streams() {
    let mock = MockServer::start_blocking();
    let mut tui = start(&mock);
    tui.send(keys::CTRL_C);
    assert_eq!(tui.wait_exit(), 0);
    assert_restored(&tui.raw());
}

// -------------------------------------------------------------------------------------------
// 13. A panic restores the terminal before the message is printed
// -------------------------------------------------------------------------------------------

#[test]
fn a_panic_restores_the_terminal_before_printing() {
    let mock = MockServer::start_blocking();
    let mut tui = TuiBuilder::new(&mock.base_url())
        .env("KAIWA_TEST_PANIC", "1")
        .spawn();
    let mark = tui.raw_len();
    tui.send(keys::F11);
    let code = tui.wait_exit();
    assert_ne!(code, 0, "a panic must not exit 0");
    let after = tui.raw_since(mark);
    let message = find(&after, b"test panic requested with F11").unwrap_or_else(|| {
        panic!(
            "no panic message in the output: {:?}",
            String::from_utf8_lossy(&after)
        )
    });
    let restored = find(&after, b"\x1b[?1049l").expect("the alternate screen was not left");
    assert!(
        restored < message,
        "the panic message was printed before the terminal was restored"
    );
    assert_restored(&tui.raw());
    tui.with_screen(|s| assert!(!s.alternate_screen()));
    assert_cooked(&tui);
}

// -------------------------------------------------------------------------------------------
// 14. Hostile text from the network never reaches the terminal; the key never reaches disk
// -------------------------------------------------------------------------------------------

const SECRET: &str = "sk-kaiwa-secret-12345";

#[test]
fn hostile_answers_are_inert_and_the_key_is_never_written() {
    let mock = MockServer::start_blocking();
    let hostile = "safe start \x1b]52;c;aGk=\x07 then \x1b]0;pwned\x07 and \x1b[2J end-marker";
    mock.enqueue(
        Reply::openai_stream("gpt-4o-mini", hostile, 7, Some((12, 34)))
            .with_delay(Duration::from_millis(5)),
    );
    let mut tui = TuiBuilder::new(&mock.base_url())
        .env("OPENAI_API_KEY", SECRET)
        .env("KAIWA_LOG", "trace")
        .spawn();
    tui.send("say something nasty");
    tui.send(keys::ENTER);
    tui.wait_for("end-marker");
    tui.wait_status(&mini_status(12, 34));

    let raw = tui.raw();
    assert!(!contains(&raw, b"\x1b]52"), "OSC 52 reached the terminal");
    assert!(!contains(&raw, b"\x1b]0;"), "OSC 0 reached the terminal");
    assert!(!contains(&raw, b"\x07"), "a BEL reached the terminal");
    let text = tui.screen_text();
    assert!(text.contains("␛]52;c;aGk="), "{text}");
    assert!(text.contains("␛]0;pwned"), "{text}");
    assert!(text.contains("␛[2J"), "{text}");
    // `ESC [2J` did not clear the screen: the question is still there.
    assert!(text.contains("say something nasty"), "{text}");
    assert_eq!(
        mock.chat_requests()[0].header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );

    tui.send(keys::CTRL_Q);
    assert_eq!(tui.wait_exit(), 0);
    assert!(
        !contains(&tui.raw(), SECRET.as_bytes()),
        "the key was shown"
    );
    let log = tui.log_path();
    let log_text = std::fs::read_to_string(&log).expect("kaiwa.log under XDG_STATE_HOME");
    assert!(!log_text.is_empty(), "KAIWA_LOG=trace wrote nothing");
    let files = files_under(tui.home());
    assert!(files.contains(&log));
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !contains(&bytes, SECRET.as_bytes()),
            "the API key was written to {}",
            file.display()
        );
    }
}

// -------------------------------------------------------------------------------------------
// 15. Idle means idle
// -------------------------------------------------------------------------------------------

/// utime + stime of every thread of `pid`, in clock ticks (USER_HZ, 100 per second on Linux).
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let (_, rest) = stat.rsplit_once(')').unwrap();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Context switches of every thread of `pid`: each wake-up of any thread counts one.
#[allow(
    clippy::unwrap_used,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn context_switches(pid: u32) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if line.starts_with("voluntary_ctxt_switches:")
                || line.starts_with("nonvoluntary_ctxt_switches:")
            {
                total += line
                    .split_whitespace()
                    .last()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    total
}

/// Waits (at most the usual timeout) until kaiwa has been quiet for 200 ms: no CPU tick and no
/// context switch in any thread. Startup work such as the tokenizer warm-up is then done.
/// A no-op where `/proc` is missing.
fn wait_quiet(tui: &Tui) {
    if !std::path::Path::new("/proc/self/stat").exists() {
        return;
    }
    let deadline = Instant::now() + wait_timeout();
    loop {
        let before = (cpu_ticks(tui.pid), context_switches(tui.pid));
        std::thread::sleep(Duration::from_millis(200));
        let after = (cpu_ticks(tui.pid), context_switches(tui.pid));
        if before == after || Instant::now() > deadline {
            return;
        }
    }
}

#[test]
fn idle_after_an_answer_uses_no_cpu() {
    if !std::path::Path::new("/proc/self/stat").exists() {
        return; // Not Linux: nothing to sample.
    }
    let mock = MockServer::start_blocking();
    let tui = start(&mock);
    tui.send("hello idle");
    tui.send(keys::ENTER);
    tui.wait_for("You said: hello idle");
    tui.wait_until("the answer to finish", |s| {
        let bar = status_of(s);
        bar.contains("total") && !bar.contains("total 0") && !bar.contains("streaming")
    });
    // Let the last frame and the tokenizer warm-up (a blocking task) settle.
    wait_quiet(&tui);

    let ticks_before = cpu_ticks(tui.pid);
    let switches_before = context_switches(tui.pid);
    let output_before = tui.raw_len();
    std::thread::sleep(Duration::from_secs(1));
    let ticks = cpu_ticks(tui.pid) - ticks_before;
    let switches = context_switches(tui.pid) - switches_before;
    let output = tui.raw_len() - output_before;
    // An idle kaiwa arms no timer, so it should not run at all: 0 ticks. The bound of 5 ticks
    // (50 ms of CPU in 1 s, at USER_HZ = 100) leaves room for tick-granularity rounding and a
    // stray wake-up on a loaded CI machine, and still catches a busy loop or a redraw at frame
    // rate (~100 ticks).
    assert!(ticks < 5, "idle kaiwa used {ticks} CPU ticks in 1 s");
    // A periodic timer shows up as wake-ups: a 10 Hz tick is at least 10 per second, a 60 fps
    // redraw 60. Allow a few for stray events.
    assert!(switches < 10, "idle kaiwa woke up {switches} times in 1 s");
    assert_eq!(output, 0, "idle kaiwa drew {output} bytes");
}

// -------------------------------------------------------------------------------------------
// Extras: F12, and a terminal that never answers queries
// -------------------------------------------------------------------------------------------

#[test]
fn f12_toggles_mouse_capture() {
    let mock = MockServer::start_blocking();
    let tui = start(&mock);
    tui.with_screen(|s| {
        assert_eq!(
            s.mouse_protocol_mode(),
            vt100::MouseProtocolMode::PressRelease
        );
    });
    tui.send(keys::F12);
    tui.wait_until("mouse reporting off", |s| {
        s.mouse_protocol_mode() == vt100::MouseProtocolMode::None
    });
    tui.wait_until("a notice", |s| {
        screen_rows(s)
            .iter()
            .any(|r| r.contains("mouse capture off"))
    });
    tui.send(keys::F12);
    tui.wait_until("mouse reporting on again", |s| {
        s.mouse_protocol_mode() == vt100::MouseProtocolMode::PressRelease
    });
    tui.wait_until("a notice", |s| {
        screen_rows(s)
            .iter()
            .any(|r| r.contains("mouse capture on"))
    });
}

#[test]
fn works_on_a_terminal_that_never_answers_queries() {
    let mock = MockServer::start_blocking();
    let mut tui = TuiBuilder::new(&mock.base_url())
        .answer_cursor_queries(false)
        .spawn();
    tui.send(keys::F12);
    tui.wait_until("a notice", |s| {
        screen_rows(s)
            .iter()
            .any(|r| r.contains("mouse capture off"))
    });
    tui.send("still here?");
    tui.send(keys::ENTER);
    wait_answered(&tui, "You said: still here?");
    tui.send(keys::CTRL_Q);
    assert_eq!(tui.wait_exit(), 0);
}
