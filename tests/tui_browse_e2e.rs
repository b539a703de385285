//! End-to-end tests of browsing past turns and composing: the real `kaiwa` binary in a 120×40
//! pseudo-terminal (`support::pty`) against the scriptable OpenAI mock (`support::mock`).
//! Each test asserts what reached the terminal (OSC 52 bytes, the screen) and what the server
//! received (the mock's request log): copy, raw view, edit & resend, regenerate, the sushi
//! conversation built with the role switch, `$EDITOR`, and the prompt history across restarts.
//!
//! Waits block on new output with a timeout (`KAIWA_TEST_WAIT_MS`, default 10 s); the only
//! sleep separates a lone Esc from the next key, as a human typing would.

mod support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use support::mock::{MockServer, Reply};
use support::pty::{
    TEST_KEY, Tui, TuiBuilder, find, keys, messages, msg, screen_rows, start, status_of,
    wait_chat_requests, wait_timeout,
};
use support::screen::{input_border, input_text, transcript_text, wait_answered};

// -------------------------------------------------------------------------------------------
// Helpers
// -------------------------------------------------------------------------------------------

/// Waits until the input box holds exactly `text`.
fn wait_input(tui: &Tui, text: &str) {
    tui.wait_until(&format!("the input box to hold {text:?}"), |s| {
        input_text(&screen_rows(s)) == text
    });
}

/// Waits until the input's border (or the status bar) says `text`.
#[allow(
    clippy::indexing_slicing,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn wait_border(tui: &Tui, text: &str) {
    tui.wait_until(&format!("the input border to say {text:?}"), |s| {
        let rows = screen_rows(s);
        input_border(&rows).is_some_and(|i| rows[i].contains(text))
    });
}

/// Send a question and wait for its echo to finish.
fn ask_echo(tui: &Tui, question: &str) {
    tui.send(question);
    tui.send(keys::ENTER);
    wait_answered(tui, &format!("You said: {question}"));
}

const OSC52: &[u8] = b"\x1b]52;c;";

/// Waits for the first OSC 52 sequence written after `mark`; returns the text it carries.
#[allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn wait_osc52(tui: &Tui, mark: usize) -> String {
    let complete = |raw: &[u8]| find(raw, OSC52).is_some_and(|at| raw[at..].contains(&0x07));
    tui.wait_raw("an OSC 52 sequence", mark, complete);
    let raw = tui.raw_since(mark);
    let at = find(&raw, OSC52).unwrap() + OSC52.len();
    let len = raw[at..].iter().position(|b| *b == 0x07).unwrap();
    // Never wrapped for tmux's passthrough, which tmux ≥ 3.3 drops by default.
    assert!(
        find(&raw, b"\x1bPtmux;").is_none(),
        "OSC 52 wrapped in a tmux passthrough"
    );
    let payload = &raw[at..at + len];
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .unwrap_or_else(|e| panic!("not base64 ({e}): {:?}", String::from_utf8_lossy(payload)));
    String::from_utf8(bytes).expect("UTF-8 text")
}

/// Polls `done` until it holds (for files written off kaiwa's loop).
fn wait_fs(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + wait_timeout();
    while !done() {
        assert!(Instant::now() < deadline, "waiting for {what} timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// -------------------------------------------------------------------------------------------
// Copy: OSC 52 with the right base64 text
// -------------------------------------------------------------------------------------------

#[test]
fn y_copies_the_selected_message_as_osc52() {
    let mock = MockServer::start_blocking();
    let tui = start(&mock);
    ask_echo(&tui, "복사해 주세요 copy me");

    let mark = tui.raw_len();
    tui.send(keys::TAB);
    tui.send("y");
    let text = wait_osc52(&tui, mark);
    assert_eq!(text, "You said: 복사해 주세요 copy me");
    let n = text.chars().count();
    tui.wait_until("the status bar to say what was copied", |s| {
        // What just happened is said on the input's border.
        screen_rows(s)
            .iter()
            .any(|r| r.contains(&format!("copied {n} chars")))
    });

    // The question, one up.
    let mark = tui.raw_len();
    tui.send("k");
    tui.send("y");
    assert_eq!(wait_osc52(&tui, mark), "복사해 주세요 copy me");
}

/// Inside tmux ($TMUX set) the sequence is the plain OSC 52 that tmux takes with
/// `set-clipboard on`: a DCS passthrough is dropped unless `allow-passthrough` is on.
#[test]
fn inside_tmux_y_copies_with_a_plain_osc52() {
    let mock = MockServer::start_blocking();
    let tui = TuiBuilder::new(&mock.base_url())
        .env("TMUX", "/tmp/tmux-1000/default,4242,0")
        .env("TMUX_PANE", "%0")
        .spawn();
    ask_echo(&tui, "tmux copy");
    let mark = tui.raw_len();
    tui.send(keys::TAB);
    tui.send("y");
    assert_eq!(wait_osc52(&tui, mark), "You said: tmux copy");
    let raw = tui.raw_since(mark);
    let at = find(&raw, OSC52).unwrap();
    assert!(
        at == 0 || raw[at - 1] != 0x1b,
        "the ESC of OSC 52 is doubled, as inside a passthrough"
    );
}

#[test]
fn c_copies_a_numbered_code_block_as_osc52() {
    let mock = MockServer::start_blocking();
    let answer = "Two ways:\n\n```sh\necho hi\n```\n\nor\n\n```python\nprint(\"안녕\")\n```\n";
    mock.enqueue(Reply::openai_stream(
        "gpt-4o-mini",
        answer,
        5,
        Some((10, 20)),
    ));
    let tui = start(&mock);
    tui.send("code please");
    tui.send(keys::ENTER);
    wait_answered(&tui, "print(\"안녕\")");
    let screen = tui.screen_text();
    assert!(screen.contains("╭─ sh · 1 ─"), "{screen}");
    assert!(screen.contains("╭─ python · 2 ─"), "{screen}");

    tui.send(keys::TAB);
    tui.send("c");
    tui.wait_until("the question which block", |s| {
        screen_rows(s)
            .iter()
            .any(|r| r.contains("copy which code block? press 1–2"))
    });
    let mark = tui.raw_len();
    tui.send("2");
    assert_eq!(wait_osc52(&tui, mark), "print(\"안녕\")\n");
    tui.wait_until("the status bar to say which block", |s| {
        screen_rows(s)
            .iter()
            .any(|r| r.contains("copied code block 2"))
    });
}

// -------------------------------------------------------------------------------------------
// Raw view: the exact request body that was sent, the assembled response, copyable
// -------------------------------------------------------------------------------------------

/// The JSON after the line starting with `header` in the raw view's text, up to a blank line.
#[allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn json_after(text: &str, header: &str) -> Value {
    let (_, rest) = text
        .split_once(header)
        .unwrap_or_else(|| panic!("{header:?} not in {text}"));
    let (_, body) = rest.split_once('\n').expect("a line after the header");
    let json = body.split("\n\n").next().unwrap_or(body);
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

#[test]
fn raw_view_shows_the_request_that_was_sent_and_y_copies_it() {
    let mock = MockServer::start_blocking();
    let tui = TuiBuilder::new(&mock.base_url())
        .arg("--system")
        .arg("be brief")
        .spawn();
    ask_echo(&tui, "raw please");
    let sent = wait_chat_requests(&mock, 1)[0].json.clone().unwrap();

    tui.send(keys::TAB);
    tui.send("v");
    tui.wait_for("raw view · y copies · Esc closes");
    tui.wait_for("Authorization: Bearer ***");
    let mark = tui.raw_len();
    tui.send("y");
    let text = wait_osc52(&tui, mark);
    assert!(!text.contains(TEST_KEY), "the key is never shown");
    assert!(
        text.starts_with(&format!(
            "── request: POST {}/chat/completions (Authorization: Bearer ***) ──\n",
            mock.base_url()
        )),
        "{text}"
    );
    assert_eq!(
        json_after(&text, "── request:"),
        sent,
        "exactly what was sent"
    );
    let response = json_after(&text, "── response: assembled from ");
    assert_eq!(response["object"], "chat.completion");
    assert_eq!(response["id"], "chatcmpl-mock");
    assert_eq!(response["created"], 1_753_357_673);
    assert_eq!(response["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        response["choices"][0]["message"]["content"],
        "You said: raw please"
    );
    // Echo usage: prompt = words + 7, completion = ⌈chars / 4⌉.
    assert_eq!(response["usage"]["prompt_tokens"], 11);
    assert_eq!(response["usage"]["completion_tokens"], 5);
    // 1 role chunk + 5 content chunks + finish + usage.
    assert!(
        text.contains("── response: assembled from 8 chunks ──"),
        "{text}"
    );
    tui.send_esc();
    tui.wait_until("the raw view to close", |s| {
        !screen_rows(s).join("\n").contains("raw view · y copies")
    });
}

// -------------------------------------------------------------------------------------------
// Edit & resend, regenerate: the right messages are sent, the new answer and `2/2` show
// -------------------------------------------------------------------------------------------

#[test]
fn edit_and_resend_sends_the_path_up_to_the_new_question() {
    let mock = MockServer::start_blocking();
    let tui = start(&mock);
    ask_echo(&tui, "first question");
    ask_echo(&tui, "second question");
    ask_echo(&tui, "third question");

    // Select the second question (last is the third answer) and edit it.
    tui.send(keys::TAB);
    tui.send("kkk");
    tui.send("e");
    wait_border(&tui, "editing your question");
    wait_input(&tui, "second question");
    tui.send(" (edited)");
    wait_input(&tui, "second question (edited)");
    tui.send(keys::ENTER);
    wait_answered(&tui, "You said: second question (edited)");

    let requests = wait_chat_requests(&mock, 4);
    assert_eq!(requests.len(), 4);
    assert_eq!(
        messages(&requests[3]),
        [
            msg("user", "first question"),
            msg("assistant", "You said: first question"),
            msg("user", "second question (edited)"),
        ],
        "the later turns are not sent"
    );
    let rows = tui.rows();
    let transcript = transcript_text(&rows);
    assert!(transcript.contains("▍you · 2/2"), "{transcript}");
    assert!(!transcript.contains("third question"), "{transcript}");
    assert!(
        !transcript.contains("You said: second question\n"),
        "{transcript}"
    );

    // Left on the question brings the old branch back, whole.
    tui.send(keys::TAB);
    tui.send("k");
    tui.send(keys::LEFT);
    tui.wait_for("You said: third question");
    let transcript = transcript_text(&tui.rows());
    assert!(transcript.contains("▍you · 1/2"), "{transcript}");
    assert!(!transcript.contains("(edited)"), "{transcript}");
}

#[test]
fn regenerate_sends_the_messages_before_the_answer_and_keeps_both() {
    let mock = MockServer::start_with([
        Reply::mini("Tuna is the classic.", (9, 6)),
        Reply::mini("Try mackerel instead.", (9, 6)),
    ]);
    let tui = start(&mock);
    tui.send("Which fish?");
    tui.send(keys::ENTER);
    wait_answered(&tui, "Tuna is the classic.");

    tui.send(keys::TAB);
    tui.send("r");
    wait_answered(&tui, "Try mackerel instead.");
    let requests = wait_chat_requests(&mock, 2);
    assert_eq!(messages(&requests[1]), [msg("user", "Which fish?")]);
    assert_eq!(messages(&requests[0]), messages(&requests[1]));
    let transcript = transcript_text(&tui.rows());
    assert!(
        transcript.contains("▍assistant · gpt-4o-mini · 2/2"),
        "{transcript}"
    );
    assert!(!transcript.contains("Tuna is the classic."), "{transcript}");

    // The earlier answer is an alternative, and the next question follows the one shown.
    tui.send(keys::LEFT);
    tui.wait_for("Tuna is the classic.");
    tui.wait_for("· 1/2");
    tui.send("i");
    ask_echo(&tui, "why?");
    let requests = wait_chat_requests(&mock, 3);
    assert_eq!(
        messages(&requests[2]),
        [
            msg("user", "Which fish?"),
            msg("assistant", "Tuna is the classic."),
            msg("user", "why?"),
        ]
    );
}

// -------------------------------------------------------------------------------------------
// The sushi conversation: system, user, a hand-written assistant answer, user — in order
// -------------------------------------------------------------------------------------------

#[test]
fn the_sushi_conversation_is_sent_in_order() {
    let mock = MockServer::start_blocking();
    // The first question's own answer never comes; it is stopped and deleted.
    mock.enqueue(Reply::Hang);
    let tui = start(&mock);

    tui.send(keys::CTRL_R);
    tui.send(keys::CTRL_R);
    wait_border(&tui, "system (Ctrl+R)");
    tui.send("あなたは寿司職人です。");
    tui.send(keys::ENTER);
    tui.wait_for("system message added");
    wait_border(&tui, "you");

    tui.send("おすすめは何ですか？");
    tui.send(keys::ENTER);
    wait_chat_requests(&mock, 1);
    tui.send_esc();
    tui.wait_for("(no text arrived)");
    tui.send(keys::TAB);
    tui.send("d");
    tui.wait_until("the empty answer to go", |s| {
        !screen_rows(s).join("\n").contains("(no text arrived)")
    });
    tui.send(keys::TAB);

    tui.send(keys::CTRL_R);
    wait_border(&tui, "assistant (Ctrl+R)");
    tui.send("今日はマグロがおすすめです。");
    tui.send(keys::ENTER);
    tui.wait_for("assistant message added");

    tui.send("じゃあそれをください。");
    tui.send(keys::ENTER);
    wait_answered(&tui, "You said: じゃあそれをください。");
    let requests = wait_chat_requests(&mock, 2);
    assert_eq!(requests.len(), 2, "the hand-written messages sent nothing");
    assert_eq!(
        messages(&requests[1]),
        [
            msg("system", "あなたは寿司職人です。"),
            msg("user", "おすすめは何ですか？"),
            msg("assistant", "今日はマグロがおすすめです。"),
            msg("user", "じゃあそれをください。"),
        ]
    );
}

// -------------------------------------------------------------------------------------------
// $EDITOR
// -------------------------------------------------------------------------------------------

#[test]
fn editor_script_changes_the_input_and_enter_sends_it() {
    let mock = MockServer::start_blocking();
    let tui = TuiBuilder::new(&mock.base_url())
        .env("EDITOR", "sh -c 'printf \"edited by script\" > \"$1\"' sh")
        .spawn();
    tui.send("typed first");
    wait_input(&tui, "typed first");
    tui.send(keys::CTRL_E);
    wait_input(&tui, "edited by script");
    // The screen came back whole: the status bar and the border are drawn again.
    tui.wait_until("the TUI to be back", |s| {
        s.alternate_screen() && status_of(s).starts_with("gpt-4o-mini │")
    });
    tui.send(keys::ENTER);
    wait_answered(&tui, "You said: edited by script");
    let requests = wait_chat_requests(&mock, 1);
    assert_eq!(messages(&requests[0]), [msg("user", "edited by script")]);
}

#[test]
fn a_failing_editor_keeps_the_input_and_says_why() {
    let mock = MockServer::start_blocking();
    let tui = TuiBuilder::new(&mock.base_url())
        .env("VISUAL", "false")
        .env("EDITOR", "sh -c 'printf \"not used\" > \"$1\"' sh")
        .spawn();
    tui.send("keep me");
    wait_input(&tui, "keep me");
    tui.send(keys::CTRL_E);
    tui.wait_until("the editor's failure in the status bar", |s| {
        status_of(s).contains("the editor 'false' exited")
    });
    assert_eq!(input_text(&tui.rows()), "keep me");
}

// -------------------------------------------------------------------------------------------
// Prompt history: a private file, recalled after a restart
// -------------------------------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn prompt_history_is_private_and_recalled_after_a_restart() {
    use std::os::unix::fs::PermissionsExt as _;

    let mock = MockServer::start_blocking();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let builder = || {
        TuiBuilder::new(&mock.base_url())
            .env("HOME", h.to_str().unwrap())
            .env("XDG_CONFIG_HOME", h.join(".config").to_str().unwrap())
            .env("XDG_STATE_HOME", h.join(".local/state").to_str().unwrap())
            .env("XDG_DATA_HOME", h.join(".local/share").to_str().unwrap())
    };
    let file = h.join(".local/state/kaiwa/prompt_history.jsonl");

    let mut tui = builder().spawn();
    ask_echo(&tui, "첫 번째 질문");
    ask_echo(&tui, "second prompt");
    // The same prompt again: wait for its own (second) answer.
    tui.send("second prompt");
    tui.send(keys::ENTER);
    tui.wait_until("the repeated prompt's answer", |s| {
        screen_rows(s)
            .join("\n")
            .matches("You said: second prompt")
            .count()
            == 2
    });
    wait_answered(&tui, "You said: second prompt");
    // Up recalls within the session too.
    tui.send(keys::UP);
    wait_input(&tui, "second prompt");
    tui.send(keys::UP);
    wait_input(&tui, "첫 번째 질문");
    tui.send(keys::CTRL_Q);
    assert_eq!(tui.wait_exit(), 0);

    wait_fs("the prompt history file", || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.lines().count() >= 2)
    });
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        text, "\"첫 번째 질문\"\n\"second prompt\"\n",
        "one line per prompt, a repeat not saved again"
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    let dir_mode = std::fs::metadata(file.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700, "{dir_mode:o}");

    // A new kaiwa: Up recalls the previous prompt (the history loads in the background, so
    // Up is pressed until it has arrived; with it, Up stays on the oldest line it reached).
    let tui = builder().spawn();
    let deadline = Instant::now() + wait_timeout();
    loop {
        tui.send(keys::UP);
        let recalled = tui.try_wait_until(Duration::from_millis(300), |s| {
            input_text(&screen_rows(s)) == "second prompt"
        });
        if recalled.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Up did not recall the prompt: {}",
            tui.screen_text()
        );
    }
    tui.send(keys::ENTER);
    wait_answered(&tui, "You said: second prompt");
    let last = wait_chat_requests(&mock, 4).pop().unwrap();
    assert_eq!(messages(&last), [msg("user", "second prompt")]);
}
