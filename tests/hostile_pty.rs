//! The hostile cases of issue 15 that need a terminal, as a user meets them: the real `kaiwa`
//! binary in a pseudo-terminal (`support::pty`) against the scriptable OpenAI mock
//! (`support::mock`).
//!
//! - a storm of over a thousand resizes while an answer streams: the answer is saved byte-exact
//!   and its end is on screen after a last, normal resize;
//! - a 300,000-token answer (one token per event): keys typed all through it are echoed while
//!   it still streams, and the status bar ends with the completion count;
//! - a 2 MB bracketed paste holding Korean, CR/CRLF line ends, tabs, control bytes and escape
//!   sequences: no escape sequence takes effect, a key typed after it echoes, and the server
//!   receives every byte of it (CR and CRLF become LF, as the composer promises);
//! - after each, a key still echoes.
//!
//! Waits end when their condition holds, or fail after a generous deadline
//! (`KAIWA_TEST_WAIT_MS`, else 10 s; 90 s where a debug build has megabytes to work through).
//! "Responsive" is asserted by order: a key typed during the stream is shown in a frame that
//! still says `streaming`. The one clock bound is loose (2 s a key, where issue 15's checker
//! allows 0.3 s) and applies to the heavy test in a release build only. The one sleep spreads
//! the resizes over the stream; it decides nothing.
//!
//! The 300,000-token answer takes a debug build half a minute, so it is `#[ignore]`d;
//! `scripts/hostile-tests.sh` runs it in a release build.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions: a failure should panic, saying why"
)]

mod support;

use std::fmt::Write as _;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use support::mock::{MockServer, Reply};
use support::pty::{
    Tui, TuiBuilder, contains, find, keys, messages, msg, screen_rows, status_of,
    wait_chat_requests, wait_timeout, without_meter,
};
use support::screen::{input_text, mini_status, transcript_text, wait_answered};

// -------------------------------------------------------------------------------------------
// Helpers
// -------------------------------------------------------------------------------------------

/// A longer deadline for waits behind megabytes of work in a debug build on a loaded machine.
fn long_wait() -> Duration {
    wait_timeout().max(Duration::from_secs(90))
}

/// Types `text` one character at a time, each echoed in the input box before the next is
/// typed (the input box ends with what was typed so far). The input box must end with
/// `before` when this starts.
fn type_echoed(tui: &Tui, before: &str, text: &str) {
    let mut typed = before.to_owned();
    for c in text.chars() {
        typed.push(c);
        tui.send(&c.to_string());
        tui.wait_until(&format!("{c:?} echoed in the input box"), |s| {
            input_text(&screen_rows(s)).ends_with(&typed)
        });
    }
}

/// Waits until the answer streams (text has arrived): the status bar says so for as long as it
/// does, so this wait cannot miss a passing frame.
fn wait_streaming(tui: &Tui) {
    tui.wait_until("the answer to stream", |s| {
        status_of(s).contains("streaming")
    });
}

/// Whether the input box holds exactly `text` (the placeholder stands for an empty one).
fn input_is(rows: &[String], text: &str) -> bool {
    let shown = input_text(rows);
    shown == text || (text.is_empty() && shown.starts_with("Type a message"))
}

/// After a hostile case: a key typed now is echoed (issue 15's checker types one and expects
/// it within 0.3 s; this asserts only that it comes), then erased again. The input box holds
/// `before` (one short line) when this starts.
fn a_key_echoes(tui: &Tui, before: &str) {
    let with_key = format!("{before}k");
    tui.send("k");
    tui.wait_until("a key echoed", |s| input_is(&screen_rows(s), &with_key));
    tui.send(keys::BACKSPACE);
    tui.wait_until("the key erased again", |s| {
        input_is(&screen_rows(s), before)
    });
}

/// Quits with Ctrl+Q and checks kaiwa exited 0 (everything it had to save is saved by then).
fn quit(tui: &mut Tui) {
    tui.send(keys::CTRL_Q);
    assert_eq!(tui.wait_exit_for(long_wait()), Some(0), "Ctrl+Q");
}

/// Every saved answer of the history file under `home`, oldest first:
/// (content, state, finish_reason), and how many stream chunks are left over.
fn saved_answers(home: &Path) -> (Vec<(String, String, Option<String>)>, i64) {
    let db = home.join(".local/share/kaiwa/history.db");
    let conn = rusqlite::Connection::open_with_flags(
        &db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", db.display()));
    let mut stmt = conn
        .prepare("SELECT content, state, finish_reason FROM messages WHERE role = 'assistant' ORDER BY id")
        .unwrap();
    let answers = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let chunks = conn
        .query_row("SELECT count(*) FROM stream_chunks", [], |row| row.get(0))
        .unwrap();
    (answers, chunks)
}

/// Compares two long texts, naming the first byte where they differ instead of printing
/// megabytes.
#[track_caller]
fn assert_same_text(what: &str, got: &str, want: &str) {
    if got == want {
        return;
    }
    let at = got
        .bytes()
        .zip(want.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let around = |s: &str| {
        let bytes = s.as_bytes();
        let from = at.saturating_sub(40);
        let to = (at + 40).min(bytes.len());
        String::from_utf8_lossy(bytes.get(from..to).unwrap_or_default()).into_owned()
    };
    panic!(
        "{what}: {} bytes, expected {}; first difference at byte {at}: got …{:?}…, expected …{:?}…",
        got.len(),
        want.len(),
        around(got),
        around(want)
    );
}

// -------------------------------------------------------------------------------------------
// 1. A resize storm while an answer streams
// -------------------------------------------------------------------------------------------

/// About 3,000 chunks of Markdown with wide characters, emoji, long words, a table and code:
/// everything whose wrapping depends on the width. Its last line is `STORM-END`.
fn storm_answer() -> String {
    let mut text = String::new();
    for i in 0..420 {
        match i % 42 {
            0 => {
                let _ = write!(text, "## 구역 {} · section {}\n\n", i / 42, i / 42);
            }
            14 => text.push_str(
                "| 열 | column | 値 |\n|---|---|---|\n| 한국어 텍스트 | wide 😀 | 日本語 |\n\n",
            ),
            28 => {
                let _ = write!(
                    text,
                    "```rust\nfn main() {{ println!(\"바람 {i}\"); }}\n```\n\n"
                );
            }
            _ => {
                let _ = writeln!(
                    text,
                    "- {i:03} 바람이 분다 the wind rises 風が吹く \
                     supercalifragilistic{i}expialidocious 🎐"
                );
            }
        }
    }
    text.push_str("\n마지막 줄 STORM-END");
    text
}

/// The sizes of the storm, endless: widths 20–200 and heights 5–60 in a scrambled order, and
/// every seventh one tiny (below the 20×5 that shows the three regions, down to 2×2: a single
/// row or column is left out because the emulator, vt100, panics on a wide character that a
/// frame drawn for a larger screen puts there).
fn storm_sizes() -> impl Iterator<Item = (u16, u16)> {
    let mut seed: u32 = 0x2545_f491;
    let mut next = move |m: u32| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        u16::try_from(seed % m).unwrap_or(0)
    };
    (0_usize..).map(move |i| {
        if i % 7 == 3 {
            (2 + next(18), 2 + next(3))
        } else {
            (20 + next(181), 5 + next(56))
        }
    })
}

#[test]
fn a_resize_storm_mid_stream_keeps_the_answer_byte_exact() {
    const RESIZES: usize = 1_200;
    let answer = storm_answer();
    let mock = MockServer::start_blocking();
    // ~3,000 content chunks, a millisecond or more apart: seconds of streaming. The finish,
    // usage and [DONE] are held back until the storm is over, so every resize lands while the
    // answer streams, however slow the machine.
    mock.enqueue(
        Reply::openai_stream("gpt-4o-mini", &answer, 8, Some((21, 6_543)))
            .with_delay(Duration::from_millis(1)),
    );
    mock.hold_stream_ends(3);
    let mut tui = TuiBuilder::new(&mock.base_url()).spawn();
    tui.send("폭풍 속에서 답해 주세요");
    tui.send(keys::ENTER);
    wait_streaming(&tui);

    // Resizes until at least RESIZES were made and kaiwa has drawn the answer's last words
    // (at some size): the storm lasts as long as the text flows.
    let mut resizes = 0;
    let mut end_drawn = false;
    let mut scanned = tui.raw_len();
    let deadline = Instant::now() + long_wait();
    for (cols, rows) in storm_sizes() {
        if resizes >= RESIZES && end_drawn {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the answer's end was not drawn within {:?} of resizing",
            long_wait()
        );
        tui.resize(cols, rows);
        resizes += 1;
        // Spreads the storm over the stream (kaiwa sees most sizes, not only the last).
        thread::sleep(Duration::from_millis(2));
        if resizes % 25 == 0 && !end_drawn {
            let from = scanned.saturating_sub(b"STORM-END".len());
            let tail = tui.raw_since(from);
            scanned = from + tail.len();
            end_drawn = contains(&tail, b"STORM-END");
        }
    }
    assert!(
        mock.chat_requests()
            .first()
            .is_some_and(|r| r.closed_at.is_none()),
        "the answer must still be streaming when the storm ends"
    );
    // A last, normal resize; then the answer ends.
    tui.resize(support::pty::COLS, support::pty::ROWS);
    mock.release_streams();
    tui.wait_until_for("the counts of the answer", long_wait(), |s| {
        without_meter(&status_of(s)) == mini_status(21, 6_543)
    });
    wait_answered(&tui, "STORM-END");
    // The view still follows the answer: its last line is the transcript's last text.
    let rows = tui.rows();
    let end = rows.iter().rposition(|r| r.contains("STORM-END")).unwrap();
    assert!(
        rows[..end]
            .iter()
            .rev()
            .find(|r| !r.trim().is_empty())
            .is_some_and(|r| r.contains("supercalifragilistic419")),
        "the end of the answer should be on screen:\n{}",
        rows.join("\n")
    );
    a_key_echoes(&tui, "");

    // What kaiwa holds is byte-exact too: it sends the answer back with the next question.
    tui.send("after the storm");
    tui.send(keys::ENTER);
    let requests = wait_chat_requests(&mock, 2);
    let sent = messages(&requests[1]);
    assert_eq!(sent.len(), 3, "{:?}", sent.first());
    assert_same_text("the answer sent back", &sent[1].1, &answer);
    assert_eq!(sent[2], msg("user", "after the storm"));
    wait_answered(&tui, "You said: after the storm");
    a_key_echoes(&tui, "");
    quit(&mut tui);

    let (saved, chunks) = saved_answers(tui.home());
    assert_eq!(saved.len(), 2, "two answers saved");
    assert_same_text("the saved answer", &saved[0].0, &answer);
    assert_eq!(
        (saved[0].1.as_str(), saved[0].2.as_deref()),
        ("done", Some("stop"))
    );
    assert_eq!(chunks, 0, "no stream chunks left over");
}

// -------------------------------------------------------------------------------------------
// 2. A 300,000-token answer
// -------------------------------------------------------------------------------------------

const TOKENS: usize = 300_000;

/// How long a key typed while the 300,000-token answer streams may take to show. Loose (issue
/// 15's checker allows 0.3 s; a release build takes 20–50 ms here), so that only a UI busy
/// with the stream instead of the keys fails it. The test is meant for a release build
/// (`scripts/hostile-tests.sh`); a debug build on a loaded machine took up to 1.5 s, so there
/// the bound is the harness's wait.
const KEY_BOUND: Duration = if cfg!(debug_assertions) {
    Duration::from_secs(10)
} else {
    Duration::from_secs(2)
};

/// 300,000 tokens of a few characters each (words, Korean syllables, punctuation), with a
/// numbered paragraph every 97 tokens (`¶00042`); the last three are `TOKENS-` `END-` `MARK`.
fn many_tokens() -> Vec<String> {
    const WORDS: [&str; 12] = [
        " the", " wind", " rises", ",", " 바람", "이", " 분다", " 風", "が", " token", "s", ".",
    ];
    let mut tokens: Vec<String> = (0..TOKENS - 3)
        .map(|i| {
            if i % 97 == 96 {
                format!("\n\n¶{:05}", i / 97)
            } else {
                WORDS[i % WORDS.len()].to_owned()
            }
        })
        .collect();
    tokens.extend(["\n\nTOKENS-", "END-", "MARK"].map(str::to_owned));
    tokens
}

/// Types `key` while the answer streams and waits at most [`KEY_BOUND`] for the input box to
/// hold `after`; whether that frame still said the answer streams, and its transcript.
fn key_within(tui: &Tui, key: &str, after: &str) -> (bool, String) {
    tui.send(key);
    let mut streaming = false;
    let mut transcript = String::new();
    let echoed = tui.try_wait_until(KEY_BOUND, |s| {
        let rows = screen_rows(s);
        streaming = status_of(s).contains("streaming");
        transcript = transcript_text(&rows);
        input_is(&rows, after)
    });
    if let Err(why) = echoed {
        panic!("{key:?} was not echoed within {KEY_BOUND:?} while the answer streamed: {why}");
    }
    (streaming, transcript)
}

#[test]
#[ignore = "heavy: 300,000 events take a debug build 20–40 s; run scripts/hostile-tests.sh"]
fn a_300k_token_answer_keeps_keys_answering() {
    let tokens = many_tokens();
    let answer = tokens.concat();
    let mock = MockServer::start_blocking();
    // One token per event, 100 events per write, a millisecond or more between writes: the
    // stream lasts seconds, whatever the machine.
    mock.enqueue(
        Reply::openai_token_stream("gpt-4o-mini", tokens, 100, Some((12, 300_000)))
            .with_delay(Duration::from_millis(1)),
    );
    let mut tui = TuiBuilder::new(&mock.base_url()).spawn();
    tui.send("긴 답을 주세요");
    tui.send(keys::ENTER);
    wait_streaming(&tui);

    // Until the answer ends, keys are typed and erased, one at a time: each is echoed within
    // KEY_BOUND, the first in a frame that still says the answer streams; and the answer moves
    // on meanwhile (its paragraphs are numbered, so a transcript that moved differs).
    let mut input = "";
    let mut while_streaming = 0;
    let mut transcripts = Vec::new();
    let deadline = Instant::now() + long_wait();
    loop {
        let (key, after) = if input.is_empty() {
            ("k", "k")
        } else {
            (keys::BACKSPACE, "")
        };
        let (streaming, transcript) = key_within(&tui, key, after);
        input = after;
        if !streaming {
            break;
        }
        while_streaming += 1;
        transcripts.push(transcript);
        assert!(
            Instant::now() < deadline,
            "the answer still streams after {:?}",
            long_wait()
        );
    }
    assert!(
        while_streaming >= 10,
        "only {while_streaming} keys were echoed while the answer streamed"
    );
    assert_ne!(
        transcripts.first(),
        transcripts.last(),
        "the answer did not move while the keys were typed"
    );

    tui.wait_until_for("the completion count", long_wait(), |s| {
        without_meter(&status_of(s)) == mini_status(12, 300_000)
    });
    wait_answered(&tui, "TOKENS-END-MARK");
    a_key_echoes(&tui, input);
    quit(&mut tui);

    let (saved, chunks) = saved_answers(tui.home());
    assert_eq!(saved.len(), 1);
    assert_same_text("the saved answer", &saved[0].0, &answer);
    assert_eq!(saved[0].1, "done");
    assert_eq!(chunks, 0, "no stream chunks left over");
}

// -------------------------------------------------------------------------------------------
// 3. A 2 MB bracketed paste
// -------------------------------------------------------------------------------------------

/// Escape sequences and control bytes that would act on a terminal that got them raw: clear
/// and home, a window title, a clipboard write (OSC 52), leaving the alternate screen,
/// bracketed paste off, mouse reporting on, a colour, a full reset, a cursor query, a DCS,
/// BEL, BS, NUL, DEL, Ctrl+C and Ctrl+Q (which would stop or quit kaiwa as keys) and a C1 CSI.
const HOSTILE: &str = "\x1b[2J\x1b[H\x1b]0;PWNED-TITLE\x07\x1b]52;c;UFdORUQ=\x07\x1b[?1049l\
\x1b[?2004l\x1b[?1000h\x1b[31mRED\x1b[0m\x1bc\x1b[6n\x1bP+q544e\x1b\\\x07\x08\x00\x7f\x03\x11\u{9b}31m";

/// What must never reach the terminal after the paste: each hostile sequence with its ESC.
const NEVER_SHOWN: [&[u8]; 9] = [
    b"\x1b]0;PWNED",
    b"\x1b]52;c;UFdO",
    b"\x1b[?1049l",
    b"\x1b[?2004l",
    b"\x1bc",
    b"\x1b[6n",
    b"\x1bP+q",
    b"\x00",
    b"\x08",
];

/// 2 MiB and more of text as a terminal pastes it: ASCII, Korean and Japanese lines, CRLF and
/// lone CR line ends, tabs, and the hostile sequences every 50 lines (and on the last lines,
/// where the screen shows them). Returns (what is pasted, what the composer holds: CR and
/// CRLF become LF).
fn hostile_paste() -> (String, String) {
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 2 << 20 {
        let _ = match i % 4 {
            0 => writeln!(
                text,
                "ascii {i:06} The quick brown fox jumps over the lazy dog 0123456789"
            ),
            1 => write!(
                text,
                "한국어 {i:06}: 다람쥐 헌 쳇바퀴에 타고파 — 日本語もまざる\r\n"
            ),
            2 => write!(text, "tab\tseparated\tvalues {i:06}\r"),
            _ if i % 50 == 3 => writeln!(text, "hostile {i:06} {HOSTILE}"),
            _ => writeln!(text, "{i:06} mixed 漢字 and emoji 🎉 text"),
        };
        i += 1;
    }
    let _ = write!(text, "hostile last {HOSTILE}\nEND-OF-PASTE");
    let composed = text.replace("\r\n", "\n").replace('\r', "\n");
    (text, composed)
}

#[test]
fn a_2mb_hostile_paste_is_inert_kept_whole_and_sent_byte_exact() {
    // A model with no known window: the 2 MB question is sent, not stopped by the overflow
    // check (whose dialog is tested elsewhere).
    const MODEL: &str = "paste-model";
    let (pasted, composed) = hostile_paste();
    assert!(pasted.len() > 2 << 20);
    let mock = MockServer::start_blocking();
    mock.enqueue(Reply::openai_stream(
        MODEL,
        "paste received whole",
        4,
        Some((700_000, 4)),
    ));
    let mut tui = TuiBuilder::new(&mock.base_url())
        .arg("--model")
        .arg(MODEL)
        .spawn();
    let mouse = tui.with_screen(vt100::Screen::mouse_protocol_mode);
    let mark = tui.raw_len();

    let mut bytes = keys::PASTE_START.as_bytes().to_vec();
    bytes.extend_from_slice(pasted.as_bytes());
    bytes.extend_from_slice(keys::PASTE_END.as_bytes());
    let writer = tui.send_in_background(bytes);
    tui.wait_until_for("the end of the paste in the input", long_wait(), |s| {
        input_text(&screen_rows(s)).ends_with("END-OF-PASTE")
    });
    writer.join().unwrap().unwrap();
    // Still responsive, and the paste sent nothing by itself (its Ctrl+C, Ctrl+Q and line ends
    // were text, not keys).
    type_echoed(&tui, "END-OF-PASTE", "Z");
    assert!(mock.chat_requests().is_empty(), "a paste never sends");

    // The hostile last line shows as inert text, and nothing took effect.
    let rows = tui.rows();
    assert!(
        rows.iter().any(|r| r.contains("]0;PWNED-TITLE")),
        "the hostile line should show as text:\n{}",
        rows.join("\n")
    );
    tui.with_screen(|s| {
        assert!(s.alternate_screen(), "the paste left the alternate screen");
        assert!(s.bracketed_paste(), "the paste turned bracketed paste off");
        assert_eq!(
            s.mouse_protocol_mode(),
            mouse,
            "the paste changed mouse reporting"
        );
    });

    // Sent whole: the server receives every byte, CR and CRLF as LF.
    tui.send(keys::ENTER);
    let requests = wait_chat_requests(&mock, 1);
    let sent = messages(&requests[0]);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "user");
    assert_same_text(
        "the question the server received",
        &sent[0].1,
        &format!("{composed}Z"),
    );
    tui.wait_until_for("the answer", long_wait(), |s| {
        screen_rows(s).join("\n").contains("paste received whole")
            && !status_of(s).contains("streaming")
    });
    wait_answered(&tui, "paste received whole");
    // The question in the transcript shows its escapes as stand-ins.
    let text = tui.screen_text();
    assert!(text.contains("␛]0;PWNED-TITLE"), "{text}");

    let raw = tui.raw_since(mark);
    for never in NEVER_SHOWN {
        assert!(
            !contains(&raw, never),
            "{never:?} reached the terminal at byte {:?} of the output after the paste",
            find(&raw, never)
        );
    }
    tui.with_screen(|s| {
        assert!(s.alternate_screen());
        assert!(s.bracketed_paste());
        assert_eq!(s.mouse_protocol_mode(), mouse);
    });
    a_key_echoes(&tui, "");
    quit(&mut tui);
}
