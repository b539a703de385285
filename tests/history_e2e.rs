//! History end to end: the real `kaiwa` binary in a pseudo-terminal (`support::pty`) and
//! through its command line, against the scriptable OpenAI mock (`support::mock`), over one
//! `HOME` (with its `XDG_*` folders) that outlives each run — so what one kaiwa saved, the next
//! one finds. What is checked is what a user sees (the screen, the status bar, `kaiwa history`
//! output), what the server received, and the files on disk.
//!
//! Waits block on new output with a timeout (`KAIWA_TEST_WAIT_MS`, default 10 s; longer where
//! the history file's lock timing is involved) instead of sleeping; polls of `kaiwa history`
//! retry until a deadline. A test marked `#[ignore = "bug: …"]` documents a defect and passes
//! once it is fixed.
#![allow(
    clippy::unwrap_used,
    reason = "test helper outside #[test] functions: a failure should panic"
)]

mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::files::{files_under, mode};
use support::mock::{MockServer, Reply, StreamEnd};
use support::pty::{
    TEST_KEY, Tui, TuiBuilder, keys, messages, msg, screen_rows, status_of, wait_chat_requests,
    wait_timeout,
};
use support::screen::{input_rows, transcript_rows, wait_answered, wait_idle};
use tempfile::TempDir;

const KAIWA: &str = env!("CARGO_BIN_EXE_kaiwa");

const QUESTION: &str = "ChatGPT란 무엇입니까?";
const ANSWER: &str =
    "ChatGPT는 OpenAI가 개발한 대화형 인공지능입니다. 질문에 답하고 글쓰기를 돕습니다.";
const FOLLOW_UP: &str = "한 문장으로 줄여 주세요.";
const SHORT_ANSWER: &str = "대화형 AI 언어 모델입니다.";

/// The header of the history browser (its border title).
const BROWSER: &str = " History · Enter opens";
const ARCHIVED_BROWSER: &str = " Archived conversations";

// -------------------------------------------------------------------------------------------
// Helpers
// -------------------------------------------------------------------------------------------

/// One user's `HOME`, with the `XDG_*` folders under it, shared by every kaiwa a test starts.
struct Home {
    dir: TempDir,
    base_url: String,
}

impl Home {
    fn new(mock: &MockServer) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            base_url: mock.base_url(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn xdg(&self) -> [(&'static str, PathBuf); 4] {
        let h = self.path();
        [
            ("HOME", h.to_path_buf()),
            ("XDG_CONFIG_HOME", h.join(".config")),
            ("XDG_STATE_HOME", h.join(".local/state")),
            ("XDG_DATA_HOME", h.join(".local/share")),
        ]
    }

    fn data_dir(&self) -> PathBuf {
        self.path().join(".local/share/kaiwa")
    }

    fn db(&self) -> PathBuf {
        self.data_dir().join("history.db")
    }

    fn spool_dir(&self) -> PathBuf {
        self.path().join(".local/state/kaiwa/spool")
    }

    fn write_config(&self, text: &str) {
        let dir = self.path().join(".config/kaiwa");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), text).unwrap();
    }

    /// The TUI with these arguments, in this `HOME`, ready for keys.
    fn tui(&self, args: &[&str]) -> Tui {
        let mut builder = TuiBuilder::new(&self.base_url);
        for (key, path) in self.xdg() {
            builder = builder.env(key, path.to_str().unwrap());
        }
        for arg in args {
            builder = builder.arg(arg);
        }
        builder.spawn()
    }

    /// `kaiwa ARGS` through pipes (stdin empty), in this `HOME`.
    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(KAIWA);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LANG", "C.UTF-8")
            .env("OPENAI_BASE_URL", &self.base_url)
            .env("OPENAI_API_KEY", TEST_KEY)
            .current_dir(self.path())
            .stdin(Stdio::null());
        for (key, path) in self.xdg() {
            cmd.env(key, path);
        }
        cmd.output().unwrap()
    }

    /// `kaiwa ARGS`, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kaiwa {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `kaiwa history list [--archived] --json`.
    #[allow(
        clippy::panic,
        reason = "test helper outside #[test] functions: a failure should panic"
    )]
    fn list(&self, archived: bool) -> Vec<Value> {
        let mut args = vec!["history", "list", "--json"];
        if archived {
            args.push("--archived");
        }
        let text = self.ok(&args);
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("history list --json is not JSON ({e}): {text}"));
        value.as_array().cloned().unwrap_or_default()
    }

    /// Polls `kaiwa history list` until `done(active, archived)` holds (the TUI's writer
    /// commits on its own thread); panics with the last lists after `timeout`.
    fn wait_lists(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&[Value], &[Value]) -> bool,
    ) -> (Vec<Value>, Vec<Value>) {
        let deadline = Instant::now() + timeout;
        loop {
            let (active, archived) = (self.list(false), self.list(true));
            if done(&active, &archived) {
                return (active, archived);
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {what} in `kaiwa history list` failed after {timeout:?}:\n\
                 active: {active:#?}\narchived: {archived:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn uid_of(row: &Value) -> String {
    row["uid"].as_str().unwrap().to_owned()
}

fn has_uid(rows: &[Value], uid: &str) -> bool {
    rows.iter().any(|r| r["uid"] == uid)
}

/// Ctrl+Q, and kaiwa exits 0.
fn quit(mut tui: Tui) {
    tui.send(keys::CTRL_Q);
    assert_eq!(tui.wait_exit(), 0, "kaiwa should exit 0 on Ctrl+Q");
}

fn screen_has(s: &vt100::Screen, text: &str) -> bool {
    screen_rows(s).join("\n").contains(text)
}

/// Whether `text` is on screen above the status bar (which may quote a title in a notice).
#[allow(
    clippy::indexing_slicing,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn above_status_has(s: &vt100::Screen, text: &str) -> bool {
    let rows = screen_rows(s);
    let status = rows.iter().rposition(|r| !r.trim().is_empty()).unwrap_or(0);
    rows[..status].iter().any(|r| r.contains(text))
}

/// `a001 a002 …`: a long answer whose progress can be read off the screen, one word (one
/// 5-character stream chunk) at a time.
fn numbered_words(prefix: char, n: usize) -> String {
    let mut out = String::new();
    for i in 1..=n {
        let _ = write!(out, "{prefix}{i:03} ");
    }
    out
}

/// The highest `prefixNNN` word in `text` (0 when none).
fn last_word(text: &str, prefix: char) -> usize {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter_map(|w| w.strip_prefix(prefix))
        .filter(|n| n.len() == 3)
        .filter_map(|n| n.parse::<usize>().ok())
        .max()
        .unwrap_or(0)
}

/// SIGKILL, as `kill -9` does: no handler runs, nothing is flushed.
#[allow(
    clippy::expect_used,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn kill_9(tui: &mut Tui) {
    let status = Command::new("kill")
        .args(["-9", &tui.pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -9 {} failed", tui.pid);
    // Reaped, and its output read to the end: the screen is the last frame it drew.
    assert!(
        tui.wait_exit_for(wait_timeout()).is_some(),
        "kaiwa did not die"
    );
}

// -------------------------------------------------------------------------------------------
// 1. Resume: chat, quit, `kaiwa -c` and `kaiwa --resume ID` bring it back and continue it
// -------------------------------------------------------------------------------------------

#[test]
fn continue_reopens_the_last_conversation_and_sends_all_of_it() {
    let mock = MockServer::start_blocking();
    mock.enqueue(Reply::openai_stream("gpt-4o", ANSWER, 3, Some((17, 188))));
    mock.enqueue(Reply::openai_stream(
        "gpt-4o",
        SHORT_ANSWER,
        3,
        Some((230, 95)),
    ));
    let home = Home::new(&mock);

    // A conversation of two turns, held with gpt-4o.
    let tui = home.tui(&["--model", "gpt-4o"]);
    tui.send(QUESTION);
    tui.send(keys::ENTER);
    wait_answered(&tui, "글쓰기를 돕습니다.");
    tui.send(FOLLOW_UP);
    tui.send(keys::ENTER);
    wait_answered(&tui, SHORT_ANSWER);
    quit(tui);

    // `kaiwa -c` (no --model): the transcript is back, and the model it was held with.
    let tui = home.tui(&["-c"]);
    for text in [QUESTION, "글쓰기를 돕습니다.", FOLLOW_UP, SHORT_ANSWER] {
        tui.wait_for(text);
    }
    tui.wait_until("the conversation's model in the status bar", |s| {
        status_of(s).starts_with("gpt-4o │ prompt ")
    });
    // In order, as they were said.
    let rows = transcript_rows(&tui.rows());
    let at = |needle: &str| {
        rows.iter()
            .position(|r| r.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} not in the transcript:\n{}", rows.join("\n")))
    };
    assert!(at(QUESTION) < at("글쓰기를 돕습니다."));
    assert!(at("글쓰기를 돕습니다.") < at(FOLLOW_UP));
    assert!(at(FOLLOW_UP) < at(SHORT_ANSWER));

    // It continues exactly where it was: the next request carries all of it.
    tui.send("세 번째 질문");
    tui.send(keys::ENTER);
    wait_answered(&tui, "You said: 세 번째 질문");
    let requests = wait_chat_requests(&mock, 3);
    assert_eq!(requests[2].json_str("model"), Some("gpt-4o"));
    assert_eq!(
        messages(&requests[2]),
        [
            msg("user", QUESTION),
            msg("assistant", ANSWER),
            msg("user", FOLLOW_UP),
            msg("assistant", SHORT_ANSWER),
            msg("user", "세 번째 질문"),
        ]
    );
    quit(tui);

    // Still one conversation (continued, not copied), now of six messages.
    let list = home.list(false);
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["messages"], 6, "{list:#?}");
    assert_eq!(list[0]["model"], "gpt-4o", "{list:#?}");
    assert_eq!(list[0]["preview"], QUESTION, "{list:#?}");

    // `kaiwa --resume <unique prefix of the uid>` opens it too.
    let uid = uid_of(&list[0]);
    let tui = home.tui(&["--resume", uid.get(..12).unwrap()]);
    for text in [QUESTION, SHORT_ANSWER, "You said: 세 번째 질문"] {
        tui.wait_for(text);
    }
    quit(tui);
}

// -------------------------------------------------------------------------------------------
// 2. The history browser: list, Korean search with a snippet, open, rename, archive, delete
// -------------------------------------------------------------------------------------------

const TIDES_Q: &str = "How do ocean tides work?";
const TIDES_A: &str = "Tides come from the pull of the moon and the sun.";

/// The screen row (index) holding `text`, if any.
fn row_of(s: &vt100::Screen, text: &str) -> Option<usize> {
    screen_rows(s).iter().position(|r| r.contains(text))
}

/// The Korean conversation (older), Ctrl+N, one about tides, Ctrl+N: a blank screen, so
/// anything shown afterwards comes from the browser.
fn two_conversations(home: &Home, mock: &MockServer) -> Tui {
    mock.enqueue(Reply::openai_stream(
        "gpt-4o-mini",
        ANSWER,
        3,
        Some((17, 188)),
    ));
    mock.enqueue(Reply::mini(TIDES_A, (9, 12)));
    let tui = home.tui(&[]);
    // Two conversations: the Korean one first (older), then Ctrl+N and one about tides.
    tui.send(QUESTION);
    tui.send(keys::ENTER);
    wait_answered(&tui, "글쓰기를 돕습니다.");
    tui.send(keys::CTRL_N);
    tui.wait_until("the old conversation to go", |s| !screen_has(s, QUESTION));
    tui.send(TIDES_Q);
    tui.send(keys::ENTER);
    wait_answered(&tui, TIDES_A);
    // A blank conversation, so anything shown below comes from the browser.
    tui.send(keys::CTRL_N);
    tui.wait_until("the tides conversation to go", |s| !screen_has(s, TIDES_A));
    tui
}

#[test]
fn history_browser_lists_searches_opens_renames_archives_and_deletes() {
    let mock = MockServer::start_blocking();
    let home = Home::new(&mock);
    let tui = two_conversations(&home, &mock);

    // F3: both, most recently active first.
    tui.send(keys::F3);
    tui.wait_until("both conversations in the browser", |s| {
        screen_has(s, BROWSER) && screen_has(s, QUESTION) && screen_has(s, TIDES_Q)
    });
    tui.with_screen(|s| {
        let tides = row_of(s, TIDES_Q).unwrap();
        let korean = row_of(s, QUESTION).unwrap();
        assert!(
            tides < korean,
            "the most recent first:\n{}",
            support::pty::dump(s)
        );
        assert!(
            screen_rows(s)[tides].contains("gpt-4o-mini"),
            "the model is listed:\n{}",
            support::pty::dump(s)
        );
    });

    // Typing a Korean word of two characters from the older one finds it, with a snippet.
    tui.send("무엇");
    tui.wait_until("the search to keep only the Korean conversation", |s| {
        screen_has(s, "search: 무엇") && screen_has(s, QUESTION) && !screen_has(s, TIDES_Q)
    });
    tui.with_screen(|s| {
        // The title row and the snippet row under it both hold the word.
        let rows = screen_rows(s);
        let hits: Vec<&String> = rows
            .iter()
            .filter(|r| r.contains("무엇") && !r.contains("search:"))
            .collect();
        assert!(
            hits.len() >= 2,
            "a title and a snippet:\n{}",
            support::pty::dump(s)
        );
        let title = row_of(s, QUESTION).unwrap();
        assert!(
            rows[title + 1].contains("무엇"),
            "the snippet is under its title:\n{}",
            support::pty::dump(s)
        );
    });

    // Enter opens it.
    tui.send(keys::ENTER);
    tui.wait_until("the Korean conversation to open", |s| {
        !screen_has(s, BROWSER) && screen_has(s, "글쓰기를 돕습니다.") && screen_has(s, QUESTION)
    });

    // Ctrl+P opens the browser too; Esc closes it.
    tui.send(keys::CTRL_P);
    tui.wait_until("the browser (Ctrl+P)", |s| {
        screen_has(s, BROWSER) && screen_has(s, TIDES_Q)
    });
    tui.send_esc();
    tui.wait_until("the browser to close", |s| {
        !screen_has(s, BROWSER) && screen_has(s, "글쓰기를 돕습니다.")
    });

    rename_archive_delete(&home, &tui);
    quit(tui);
}

/// From the browser: rename the tides conversation, archive it, find it under Tab, delete it.
#[allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn rename_archive_delete(home: &Home, tui: &Tui) {
    let list = home.list(false);
    assert_eq!(list.len(), 2, "{list:#?}");
    let tides_uid = list
        .iter()
        .find(|r| r["preview"] == TIDES_Q)
        .map(uid_of)
        .expect("the tides conversation is saved");

    // Rename: select the tides one by searching, Ctrl+R, a new title, Enter.
    tui.send(keys::CTRL_P);
    tui.wait_for(BROWSER);
    tui.send("tides");
    tui.wait_until("the tides conversation alone", |s| {
        screen_has(s, "search: tides") && screen_has(s, TIDES_Q) && !above_status_has(s, "무엇")
    });
    tui.send(keys::CTRL_R);
    tui.wait_for("new title:");
    tui.send(&keys::BACKSPACE.repeat(TIDES_Q.chars().count() + 4));
    tui.send("Tidal notes");
    tui.wait_for("new title: Tidal notes");
    tui.send(keys::ENTER);
    tui.wait_until("the new title in the list", |s| {
        screen_has(s, "search: tides") && screen_has(s, "Tidal notes")
    });
    home.wait_lists("the new title", wait_timeout(), |active, _| {
        active
            .iter()
            .any(|r| r["uid"] == tides_uid.as_str() && r["title"] == "Tidal notes")
    });
    let plain = home.ok(&["history", "list"]);
    assert!(plain.contains("Tidal notes"), "{plain}");

    // Ctrl+A archives it: gone from the list, listed with --archived.
    tui.send(keys::CTRL_A);
    tui.wait_until("the archived one to leave the list", |s| {
        !screen_has(s, "Tidal notes")
    });
    home.wait_lists("the archived conversation", wait_timeout(), |a, b| {
        !has_uid(a, &tides_uid) && has_uid(b, &tides_uid)
    });

    // Tab shows archived ones.
    tui.send(keys::TAB);
    tui.wait_until("the archived conversation under Tab", |s| {
        screen_has(s, ARCHIVED_BROWSER) && screen_has(s, "Tidal notes")
    });

    // Ctrl+D asks; y deletes it for good (search index included).
    tui.send(keys::CTRL_D);
    tui.wait_for("for good?");
    tui.send("y");
    tui.wait_until("the deleted one to leave the list", |s| {
        screen_has(s, ARCHIVED_BROWSER) && !screen_has(s, "Tidal notes")
    });
    home.wait_lists("the deletion", wait_timeout(), |a, b| {
        !has_uid(a, &tides_uid) && !has_uid(b, &tides_uid)
    });
    let found = home.ok(&["history", "search", "tides", "--json"]);
    let found: Value = serde_json::from_str(&found).unwrap();
    assert_eq!(found, Value::Array(Vec::new()), "deleted text is not found");
    // The other one is untouched.
    let list = home.list(false);
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["preview"], QUESTION);

    tui.send_esc();
    tui.wait_until("the browser to close", |s| !screen_has(s, ARCHIVED_BROWSER));
}

// -------------------------------------------------------------------------------------------
// 3. Crash: SIGKILL mid-answer; the next start shows every word drawn, marked interrupted
// -------------------------------------------------------------------------------------------

/// A slow answer of numbered words: one word per chunk, a chunk every 40 ms; the stream never
/// ends by itself.
fn slow_story(prefix: char) -> Reply {
    Reply::openai_stream(
        "gpt-4o-mini",
        &numbered_words(prefix, 400),
        5,
        Some((10, 400)),
    )
    .with_delay(Duration::from_millis(40))
    .with_end(StreamEnd::Hang)
}

/// Asks for a story, kills kaiwa once word `at` of it is on screen, and returns the highest
/// word the screen showed when it died.
fn kill_mid_answer(tui: Tui, question: &str, prefix: char, at: usize) -> usize {
    ask_story(&tui, question, prefix, at);
    let shown = kill_at(tui, prefix, at);
    assert!(shown >= at, "the screen showed {prefix}{at:03}");
    shown
}

/// Every word `prefix001 … prefixNNN` up to `shown` is in `text`, in order.
#[allow(
    clippy::panic,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn assert_words_kept(text: &str, prefix: char, shown: usize) {
    let mut from = 0;
    for i in 1..=shown {
        let word = format!("{prefix}{i:03}");
        match text.get(from..).unwrap_or_default().find(&word) {
            Some(at) => from += at + word.len(),
            None => panic!("{word} was on screen before the kill but is lost:\n{text}"),
        }
    }
}

#[test]
fn sigkill_mid_answer_loses_nothing_that_was_drawn() {
    let mock = MockServer::start_blocking();
    for prefix in ['a', 'b', 'c'] {
        mock.enqueue(slow_story(prefix));
    }
    let home = Home::new(&mock);
    let mut drawn: Vec<(char, usize)> = Vec::new();

    // Three kills at different depths: in a fresh conversation, then twice more in the
    // reopened one (each answer has its own words: a…, b…, c…).
    for (round, (prefix, at)) in [('a', 5), ('b', 20), ('c', 40)].into_iter().enumerate() {
        let tui = if round == 0 {
            home.tui(&[])
        } else {
            home.tui(&["-c"])
        };
        if round > 0 {
            // What was drawn before the last kill is back, marked interrupted.
            let (last, shown) = drawn[round - 1];
            tui.wait_for(&format!("{last}{shown:03}"));
            tui.wait_for("interrupted");
        }
        let shown = kill_mid_answer(tui, &format!("story {prefix}"), prefix, at);
        drawn.push((prefix, shown));
    }

    let tui = home.tui(&["-c"]);
    let (c, c_shown) = drawn[2];
    tui.wait_for(&format!("{c}{c_shown:03}"));
    tui.wait_until("every answer marked interrupted", |s| {
        let rows = screen_rows(s);
        transcript_rows(&rows)
            .iter()
            .filter(|r| r.contains("interrupted"))
            .count()
            >= 3
    });
    let text = transcript_rows(&tui.rows()).join("\n");
    for (prefix, shown) in &drawn {
        assert_words_kept(&text, *prefix, *shown);
    }

    // The requests made after each restart carried the rebuilt answers: at least what was
    // drawn, and exactly what the server had sent up to some point.
    let requests = wait_chat_requests(&mock, 3);
    let third = messages(&requests[2]);
    assert_eq!(third.len(), 5, "{third:?}");
    assert_eq!(third[0], msg("user", "story a"));
    assert_eq!(third[2], msg("user", "story b"));
    assert_eq!(third[4], msg("user", "story c"));
    for (i, (prefix, shown)) in [(1, drawn[0]), (3, drawn[1])] {
        let (role, content) = &third[i];
        assert_eq!(role, "assistant");
        let words = content.split_whitespace().count();
        assert!(
            words >= shown,
            "{content:?} has fewer words than were drawn"
        );
        assert_eq!(
            content.trim_end(),
            numbered_words(prefix, words).trim_end(),
            "the rebuilt answer is what the server sent"
        );
    }
    quit(tui);

    // The export says so too.
    let list = home.list(false);
    assert_eq!(list.len(), 1, "{list:#?}");
    let uid = uid_of(&list[0]);
    let json: Value =
        serde_json::from_str(&home.ok(&["history", "export", &uid, "--format", "json"])).unwrap();
    let answers: Vec<&Value> = json["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .collect();
    assert_eq!(answers.len(), 3, "{json:#}");
    for (answer, (prefix, shown)) in answers.iter().zip(&drawn) {
        assert_eq!(answer["state"], "interrupted", "{json:#}");
        assert_words_kept(answer["content"].as_str().unwrap(), *prefix, *shown);
    }
}

/// Asks for a story in `tui` and waits until word `at` is on screen.
fn ask_story(tui: &Tui, question: &str, prefix: char, at: usize) {
    tui.send(question);
    tui.send(keys::ENTER);
    tui.wait_for(&format!("{prefix}{at:03}"));
}

/// Kills `tui` once word `at` is on screen; the highest word it had drawn.
fn kill_at(mut tui: Tui, prefix: char, at: usize) -> usize {
    tui.wait_for(&format!("{prefix}{at:03}"));
    kill_9(&mut tui);
    tui.with_screen(|s| last_word(&screen_rows(s).join("\n"), prefix))
}

#[test]
fn a_second_kaiwa_does_not_cut_short_an_answer_streaming_in_the_first() {
    let mock = MockServer::start_blocking();
    mock.enqueue(slow_story('a'));
    let home = Home::new(&mock);
    let first = home.tui(&[]);
    ask_story(&first, "story a", 'a', 5);
    // Another kaiwa starts (another terminal) and goes, while the first streams on.
    quit(home.tui(&[]));
    let shown = kill_at(first, 'a', 20);

    let tui = home.tui(&["-c"]);
    tui.wait_for("interrupted");
    tui.wait_for(&format!("a{shown:03}"));
    assert_words_kept(&transcript_rows(&tui.rows()).join("\n"), 'a', shown);
    quit(tui);
}

#[test]
fn export_right_after_a_crash_has_the_drawn_text() {
    let mock = MockServer::start_blocking();
    mock.enqueue(slow_story('a'));
    let home = Home::new(&mock);
    let tui = home.tui(&[]);
    ask_story(&tui, "story a", 'a', 10);
    let shown = kill_at(tui, 'a', 10);

    let list = home.list(false);
    assert_eq!(list.len(), 1, "{list:#?}");
    let uid = uid_of(&list[0]);
    let json: Value =
        serde_json::from_str(&home.ok(&["history", "export", &uid, "--format", "json"])).unwrap();
    let answer = &json["messages"][1];
    assert_eq!(answer["role"], "assistant", "{json:#}");
    assert_words_kept(answer["content"].as_str().unwrap(), 'a', shown);
    assert_eq!(answer["state"], "interrupted", "{json:#}");
    let found: Value =
        serde_json::from_str(&home.ok(&["history", "search", "a003", "--json"])).unwrap();
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found:#}");
}

// -------------------------------------------------------------------------------------------
// 4. `kaiwa ask` is saved (unless --no-history) and its usage is in the ledger
// -------------------------------------------------------------------------------------------

#[test]
fn ask_exchanges_are_saved_and_counted_unless_no_history() {
    let mock = MockServer::start_with([
        Reply::mini("saved answer", (12, 34)),
        Reply::mini("unsaved answer", (56, 78)),
    ]);
    let home = Home::new(&mock);

    assert_eq!(home.ok(&["ask", "hello history"]), "saved answer\n");
    let list = home.list(false);
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["preview"], "hello history");
    assert_eq!(list[0]["messages"], 2);
    assert_eq!(list[0]["model"], "gpt-4o-mini");
    let uid = uid_of(&list[0]);
    let json: Value =
        serde_json::from_str(&home.ok(&["history", "export", &uid, "--format", "json"])).unwrap();
    let saved: Vec<(String, String, String)> = json["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap().to_owned(),
                m["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        saved,
        [
            ("user".into(), "hello history".into(), "done".into()),
            ("assistant".into(), "saved answer".into(), "done".into()),
        ]
    );

    // --no-history: answered, and nothing saved (no conversation, no ledger row).
    assert_eq!(
        home.ok(&["--no-history", "ask", "secret question"]),
        "unsaved answer\n"
    );
    assert_eq!(wait_chat_requests(&mock, 2).len(), 2);
    let list = home.list(false);
    assert_eq!(list.len(), 1, "{list:#?}");
    let found: Value =
        serde_json::from_str(&home.ok(&["history", "search", "secret", "--json"])).unwrap();
    assert_eq!(found, Value::Array(Vec::new()));

    // The ledger: one request of the mock's numbers, priced as gpt-4o-mini.
    let usage: Value = serde_json::from_str(&home.ok(&["usage", "--json"])).unwrap();
    let rows = usage["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{usage:#}");
    let row = &rows[0];
    assert_eq!(row["model"], "gpt-4o-mini", "{usage:#}");
    assert_eq!(row["requests"], 1, "{usage:#}");
    assert_eq!(row["prompt_tokens"], 12, "{usage:#}");
    assert_eq!(row["completion_tokens"], 34, "{usage:#}");
    assert_eq!(row["estimated"], false, "{usage:#}");
    let cost = row["cost_usd"].as_f64().unwrap();
    let expected = (12.0 * 0.15 + 34.0 * 0.60) / 1_000_000.0;
    assert!((cost - expected).abs() < 1e-9, "{cost} vs {expected}");
}

// -------------------------------------------------------------------------------------------
// 5. Budget: past it, the TUI warns and asks before sending
// -------------------------------------------------------------------------------------------

#[test]
fn past_the_monthly_budget_the_tui_asks_before_sending() {
    let mock = MockServer::start_with([Reply::mini("spent", (12, 34))]);
    let home = Home::new(&mock);
    home.write_config("budget_monthly_usd = 0.000001\n");
    // Spend something (far more than the budget).
    assert_eq!(home.ok(&["ask", "spend a little"]), "spent\n");
    assert_eq!(wait_chat_requests(&mock, 1).len(), 1);

    let tui = home.tui(&[]);
    tui.wait_until("the budget warning in the status bar", |s| {
        status_of(s).contains("budget")
    });
    tui.send("over budget?");
    tui.send(keys::ENTER);
    tui.wait_for("Send this request anyway?");
    // n: nothing is sent; the question stays in the input.
    tui.send("n");
    tui.wait_until("the question to close", |s| {
        !screen_has(s, "Send this request anyway?")
    });
    tui.wait_until("the question still in the input", |s| {
        input_rows(&screen_rows(s))
            .join("\n")
            .contains("over budget?")
    });
    assert_eq!(mock.chat_requests().len(), 1, "nothing sent after n");
    // Enter asks again; y sends.
    tui.send(keys::ENTER);
    tui.wait_for("Send this request anyway?");
    tui.send("y");
    wait_answered(&tui, "You said: over budget?");
    let requests = wait_chat_requests(&mock, 2);
    assert_eq!(messages(&requests[1]), [msg("user", "over budget?")]);
    assert!(!input_rows(&tui.rows()).join("\n").contains("over budget?"));
    quit(tui);
}

// -------------------------------------------------------------------------------------------
// 6. The history file and its folder are private
// -------------------------------------------------------------------------------------------

#[test]
fn history_file_is_0600_in_a_0700_folder() {
    let mock = MockServer::start_blocking();
    let home = Home::new(&mock);
    let tui = home.tui(&[]);
    tui.send("private please");
    tui.send(keys::ENTER);
    wait_answered(&tui, "You said: private please");
    quit(tui);

    assert_eq!(mode(&home.data_dir()), 0o700, "the data folder");
    assert_eq!(mode(&home.db()), 0o600, "history.db");
    for side in ["history.db-wal", "history.db-shm"] {
        let path = home.data_dir().join(side);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{side}");
        }
    }
    assert_eq!(home.list(false).len(), 1);
}

/// The first frame does not wait for the history file to open, so what opening it says comes
/// later: it must still reach the screen, before any key is pressed.
#[test]
fn a_damaged_history_file_is_reported_on_screen_after_the_first_frame() {
    let mock = MockServer::start_blocking();
    let home = Home::new(&mock);
    std::fs::create_dir_all(home.data_dir()).unwrap();
    std::fs::write(
        home.db(),
        b"this is not a SQLite file, but it is not empty either",
    )
    .unwrap();
    let tui = home.tui(&[]);
    tui.wait_for("a new one was started");
    tui.send("still saved?");
    tui.send(keys::ENTER);
    wait_answered(&tui, "You said: still saved?");
    quit(tui);
    let rows = home.list(false);
    assert_eq!(
        rows.len(),
        1,
        "the new file holds the new conversation: {rows:?}"
    );
    let aside = std::fs::read_dir(home.data_dir())
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().contains(".corrupt-"));
    assert!(aside, "the damaged file was kept beside the new one");
}

// -------------------------------------------------------------------------------------------
// 7. Locked: another process holds the write lock; the turn is spooled, then merged
// -------------------------------------------------------------------------------------------

/// Creates the history file (one `kaiwa ask`), then takes its write lock as another kaiwa
/// writing would.
fn lock_history(home: &Home, mock: &MockServer) -> rusqlite::Connection {
    mock.enqueue(Reply::mini("first", (3, 1)));
    assert_eq!(home.ok(&["ask", "make the file"]), "first\n");
    let conn = rusqlite::Connection::open(home.db()).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    conn
}

const LOCKED_Q: &str = "while locked";
const LOCKED_A: &str = "answered while the history file was locked by someone else, all of it, \
                        every word, without waiting for the lock at all";

/// kaiwa in `home` asks [`LOCKED_Q`] while `lock_history` holds the file; returns once the
/// answer, [`LOCKED_A`], is drawn and done. It streams one character every 40 ms (~5 s):
/// longer than the writer's lock waits (1 s at open, 1 s for the question), so the status bar
/// says the history waits (checked) while the turn is spooled.
fn ask_while_locked(home: &Home, mock: &MockServer) -> Tui {
    mock.enqueue(
        Reply::openai_stream("gpt-4o-mini", LOCKED_A, 1, Some((5, 50)))
            .with_delay(Duration::from_millis(40)),
    );
    let tui = home.tui(&[]);
    tui.send(LOCKED_Q);
    tui.send(keys::ENTER);
    tui.wait_until_for(
        "the status bar to say history waits",
        Duration::from_secs(20),
        |s| status_of(s).contains("history: waiting for lock"),
    );
    tui.wait_for("without waiting for the lock at all");
    wait_idle(&tui);
    tui
}

/// `kaiwa -c` in `home` reopens the locked turn, answer and all.
fn continue_shows_the_locked_turn(home: &Home) {
    let tui = home.tui(&["-c"]);
    tui.wait_for(LOCKED_Q);
    tui.wait_for("without waiting for the lock at all");
    quit(tui);
}

#[test]
fn a_locked_history_file_spools_the_turn_and_merges_it_later() {
    let mock = MockServer::start_blocking();
    let home = Home::new(&mock);
    let lock = lock_history(&home, &mock);

    // Chatting works: the request goes out and the answer is drawn, while the status bar
    // says the history waits.
    let tui = ask_while_locked(&home, &mock);
    let requests = wait_chat_requests(&mock, 2);
    assert_eq!(messages(&requests[1]), [msg("user", LOCKED_Q)]);
    // Kept in the spool meanwhile, not in the file.
    assert_eq!(home.list(false).len(), 1);

    // The other writer goes; the running kaiwa merges the turn by itself.
    drop(lock);
    let (active, _) = home.wait_lists("the spooled turn", Duration::from_secs(20), |a, _| {
        a.iter().any(|r| r["preview"] == LOCKED_Q)
    });
    let row = active.iter().find(|r| r["preview"] == LOCKED_Q).unwrap();
    assert_eq!(row["messages"], 2, "{row:#}");
    // The status bar stops saying so (at the next thing drawn: a key).
    tui.send("x");
    tui.wait_until("the lock notice to go", |s| {
        !status_of(s).contains("waiting for lock")
    });
    tui.send(keys::BACKSPACE);
    quit(tui);

    // The next start reopens it, answer and all.
    continue_shows_the_locked_turn(&home);
    let spooled =
        std::fs::read_dir(home.spool_dir()).map_or(0, |d| d.filter_map(Result::ok).count());
    assert_eq!(spooled, 0, "the spool is empty once merged");
}

#[test]
fn a_turn_spooled_until_quit_is_there_for_the_next_continue() {
    let mock = MockServer::start_blocking();
    let home = Home::new(&mock);
    let lock = lock_history(&home, &mock);
    let tui = ask_while_locked(&home, &mock);
    // Quit while the file is still locked: the turn stays in the spool.
    quit(tui);
    drop(lock);

    // The next `kaiwa -c` reopens that turn (the spool merged first), not the older `ask`.
    continue_shows_the_locked_turn(&home);
    let list = home.list(false);
    assert_eq!(list.len(), 2, "{list:#?}");
    assert!(list.iter().any(|r| r["preview"] == LOCKED_Q), "{list:#?}");
}

// -------------------------------------------------------------------------------------------
// --no-history keeps the conversation off disk; the prompt file stays capped
// -------------------------------------------------------------------------------------------

#[test]
fn no_history_writes_neither_the_question_nor_the_answer_anywhere() {
    let mock = MockServer::start_blocking();
    let question = "zq-private-question-7731";
    let answer = "zq-private-answer-4410";
    mock.enqueue(Reply::openai_stream("gpt-4o-mini", answer, 3, Some((9, 4))));
    let home = Home::new(&mock);
    let tui = home.tui(&["--no-history"]);
    tui.send(question);
    tui.send(keys::ENTER);
    wait_answered(&tui, answer);
    // Up still recalls it within the session (memory only).
    tui.send(keys::UP);
    tui.wait_until("Up to recall the prompt", |s| {
        input_rows(&screen_rows(s))
            .iter()
            .any(|r| r.contains(question))
    });
    quit(tui);
    let files = files_under(home.path());
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_default();
        for secret in [question, answer] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} was written to {}",
                file.display()
            );
        }
    }
    assert!(!home.db().exists(), "a history file was created: {files:?}");
}

#[test]
fn the_prompt_file_keeps_the_last_thousand_prompts() {
    let mock = MockServer::start_blocking();
    let home = Home::new(&mock);
    let state = home.path().join(".local/state/kaiwa");
    std::fs::create_dir_all(&state).unwrap();
    let file = state.join("prompt_history.jsonl");
    let mut old = String::new();
    for i in 0..1500 {
        writeln!(old, "\"old prompt {i}\"").unwrap();
    }
    std::fs::write(&file, old).unwrap();
    let tui = home.tui(&[]);
    // Up recalls an old prompt, so the file was read. (It is read off the loop: an Up
    // that comes first finds nothing to recall, so Up is pressed until one shows.)
    let recalled = |s: &vt100::Screen| {
        input_rows(&screen_rows(s))
            .iter()
            .any(|r| r.contains("old prompt 14"))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tui.send(keys::UP);
        if tui
            .try_wait_until(Duration::from_millis(200), recalled)
            .is_ok()
        {
            break;
        }
        assert!(Instant::now() < deadline, "Up never recalled an old prompt");
    }
    // Down past the newest prompt gives the (empty) draft back.
    let empty = |s: &vt100::Screen| {
        input_rows(&screen_rows(s))
            .iter()
            .all(|r| !r.contains("old prompt"))
    };
    for _ in 0..20 {
        tui.send(keys::DOWN);
        if tui
            .try_wait_until(Duration::from_millis(200), empty)
            .is_ok()
        {
            break;
        }
    }
    tui.wait_until("the input to empty again", empty);
    tui.send("a new prompt");
    tui.send(keys::ENTER);
    wait_answered(&tui, "a new prompt");
    quit(tui);
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 1001, "the last 1000 old ones and the new one");
    assert_eq!(lines[0], "\"old prompt 500\"");
    assert_eq!(lines[999], "\"old prompt 1499\"");
    assert_eq!(lines[1000], "\"a new prompt\"");
    assert_eq!(mode(&file) & 0o777, 0o600);
}

// -------------------------------------------------------------------------------------------
// Signals: SIGTERM and SIGHUP save and restore; Ctrl+Z suspends and `fg` redraws
// -------------------------------------------------------------------------------------------

#[allow(
    clippy::expect_used,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid} failed");
}

/// The terminal is as kaiwa found it: main screen, no mouse reporting, no bracketed paste,
/// the cursor shown.
fn assert_screen_restored(tui: &Tui) {
    tui.with_screen(|s| {
        assert!(!s.alternate_screen(), "still on the alternate screen");
        assert_eq!(s.mouse_protocol_mode(), vt100::MouseProtocolMode::None);
        assert!(!s.bracketed_paste(), "bracketed paste still on");
        assert!(!s.hide_cursor(), "the cursor is still hidden");
    });
}

#[test]
fn sigterm_or_sighup_mid_answer_saves_it_as_interrupted_and_restores_the_terminal() {
    for (signal, name, code) in [("-TERM", "SIGTERM", 143), ("-HUP", "SIGHUP", 129)] {
        let mock = MockServer::start_blocking();
        mock.enqueue(Reply::openai_stream(
            "gpt-4o-mini",
            ANSWER,
            3,
            Some((17, 188)),
        ));
        mock.enqueue(slow_story('t'));
        let home = Home::new(&mock);
        let mut tui = home.tui(&[]);
        tui.send(QUESTION);
        tui.send(keys::ENTER);
        wait_answered(&tui, ANSWER);
        ask_story(&tui, "story t", 't', 10);
        let shown = tui.with_screen(|s| last_word(&screen_rows(s).join("\n"), 't'));
        kill(signal, tui.pid);
        assert_eq!(tui.wait_exit(), code, "{name}: exit code 128 + signal");
        assert_screen_restored(&tui);

        let list = home.list(false);
        assert_eq!(list.len(), 1, "{list:#?}");
        let json: Value = serde_json::from_str(&home.ok(&[
            "history",
            "export",
            &uid_of(&list[0]),
            "--format",
            "json",
        ]))
        .unwrap();
        let messages = json["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 4, "{json:#}");
        // The finished TUI answer keeps its finish_reason.
        assert_eq!(messages[1]["content"], ANSWER, "{json:#}");
        assert_eq!(messages[1]["state"], "done", "{json:#}");
        assert_eq!(messages[1]["finish_reason"], "stop", "{json:#}");
        // The one cut short is interrupted, with every word that was drawn.
        let cut = &messages[3];
        assert_eq!(cut["state"], "interrupted", "{name}: {json:#}");
        assert_eq!(cut["finish_reason"], Value::Null, "{json:#}");
        assert_eq!(
            cut["error"],
            format!("kaiwa was ended by {name}"),
            "{json:#}"
        );
        assert_words_kept(cut["content"].as_str().unwrap(), 't', shown);
        // Both requests are in the ledger.
        let usage: Value = serde_json::from_str(&home.ok(&["usage", "--json"])).unwrap();
        assert_eq!(usage["total"]["requests"], 2, "{usage:#}");
    }
}

#[test]
fn ctrl_z_suspends_to_the_shell_and_fg_redraws() {
    let mock = MockServer::start_blocking();
    mock.enqueue(Reply::openai_stream(
        "gpt-4o-mini",
        ANSWER,
        3,
        Some((17, 188)),
    ));
    let home = Home::new(&mock);
    let mut builder = TuiBuilder::new(&home.base_url).via_shell(
        "set -m; \"$KAIWA\"; echo \"[shell: kaiwa stopped $?]\"; read -r _; fg; \
         echo \"[shell: kaiwa exited $?]\"",
    );
    for (key, path) in home.xdg() {
        builder = builder.env(key, path.to_str().unwrap());
    }
    let mut tui = builder.spawn();
    let kaiwa = Tui::children_of(tui.pid);
    let [kaiwa] = kaiwa.as_slice() else {
        panic!("kaiwa is not the shell's one child: {kaiwa:?}");
    };
    tui.send(QUESTION);
    tui.send(keys::ENTER);
    wait_answered(&tui, ANSWER);

    tui.send(keys::CTRL_Z);
    tui.wait_for("[shell: kaiwa stopped");
    assert_eq!(
        Tui::process_state(*kaiwa),
        Some('T'),
        "kaiwa is not stopped"
    );
    assert_screen_restored(&tui);

    // `fg`: SIGCONT, and kaiwa takes the screen again and draws it whole.
    tui.send(keys::ENTER);
    tui.wait_until("kaiwa to redraw after fg", |s| {
        s.alternate_screen() && screen_has(s, ANSWER) && status_of(s).contains("gpt-4o-mini")
    });
    // It still works: a key reaches the input.
    tui.send("after fg");
    tui.wait_until("typing after fg", |s| {
        input_rows(&screen_rows(s))
            .iter()
            .any(|r| r.contains("after fg"))
    });
    tui.send(keys::CTRL_Q);
    tui.wait_for("[shell: kaiwa exited 0]");
    assert_eq!(tui.wait_exit(), 0);
    assert_screen_restored(&tui);
}
