//! Unit tests of browsing past turns and composing: every key of the
//! transcript focus and of the input that SPEC's "Composing" and "Browsing
//! past turns" tables name, driven through `update` with the key DSL of
//! `test_support` (`keys(&mut app, "hi<Enter>")`, `<Tab>`, `<A-Up>`,
//! `<C-r>`…), asserting the whole state that matters and every `Effect`.

use std::fmt::Write as _;

use pretty_assertions::assert_eq;
use ratatui::crossterm::event::KeyModifiers;
use serde_json::{Value, json};

use super::effect::Effect;
use super::msg::{Msg, RequestId};
use super::state::{App, EditTarget, Focus, Notice, Popup, Settings};
use super::test_support::{MODEL, SYSTEM, api, changed, key, keys, keys_all, notice, settings};
use super::update::{Update, update};
use crate::api::client::{StreamEnd, StreamEvent};
use crate::api::error::ApiError;
use crate::api::types::{ChatMessage, ChatRequest, Role, Usage};
use crate::chat::conversation::MessageId;
use crate::chat::pricing::PriceTable;

// ---------------------------------------------------------------- fixtures

fn new_app() -> App {
    App::new(settings(), PriceTable::default())
}

/// An app without a system prompt.
fn bare_app() -> App {
    App::new(
        Settings {
            system: None,
            ..settings()
        },
        PriceTable::default(),
    )
}

/// The `chat.completion` the client assembles from a stream.
fn assembled(text: &str, prompt: u64, completion: u64) -> Value {
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_753_357_673,
        "model": MODEL,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion
        },
        "system_fingerprint": null
    })
}

/// Stream `text` as the whole answer to request `id`: started, one delta
/// per word, usage, a `stop` finish with the assembled response.
fn answer(app: &mut App, id: RequestId, text: &str) {
    api(app, id, StreamEvent::Started);
    let mut chunks = 1;
    for piece in text.split_inclusive(' ') {
        api(app, id, StreamEvent::Delta(piece.into()));
        chunks += 1;
    }
    let usage = Usage {
        prompt_tokens: 10,
        completion_tokens: 5,
        total_tokens: 15,
        ..Usage::default()
    };
    api(app, id, StreamEvent::Usage(usage));
    api(
        app,
        id,
        StreamEvent::End(StreamEnd {
            finish_reason: Some("stop".into()),
            error: None,
            skipped: 0,
            chunks: chunks + 2,
            assembled: Some(assembled(text, 10, 5)),
        }),
    );
    assert!(app.in_flight.is_none(), "the answer ended");
}

/// The single `StartChat` among `effects`.
fn start_chat(effects: &[Effect]) -> (RequestId, ChatRequest) {
    match effects {
        [Effect::StartChat { id, request }] => (*id, request.clone()),
        other => panic!("expected one StartChat, got {other:?}"),
    }
}

/// Type `question`, send it; the request's id.
fn send(app: &mut App, question: &str) -> RequestId {
    start_chat(&keys(app, &format!("{question}<Enter>"))).0
}

/// Ask and answer each pair in turn.
fn converse(app: &mut App, turns: &[(&str, &str)]) {
    for (q, a) in turns {
        let id = send(app, q);
        answer(app, id, a);
    }
}

/// A conversation of two finished turns (after the system prompt):
/// path = [system, q1, a1, q2, a2].
fn two_turns() -> App {
    let mut app = new_app();
    converse(&mut app, &[("q1", "a1"), ("q2", "a2")]);
    app
}

/// (role, text) of every message on the path.
fn path(app: &App) -> Vec<(Role, String)> {
    app.conversation
        .messages()
        .iter()
        .map(|m| (m.role, m.content.clone()))
        .collect()
}

fn m(role: Role, text: &str) -> (Role, String) {
    (role, text.to_string())
}

fn chat(role: Role, text: &str) -> ChatMessage {
    ChatMessage::new(role, text)
}

/// The text of the selected message.
fn selected_text(app: &App) -> String {
    let id = app.browse.selected.expect("a selection");
    app.conversation
        .get(id)
        .expect("on the path")
        .content
        .clone()
}

fn info(text: &str) -> Option<Notice> {
    notice(text, false)
}

/// (text of the off-path branches), in id order.
fn branches(app: &App) -> Vec<String> {
    app.conversation
        .branches()
        .map(|m| m.content.clone())
        .collect()
}

fn id_at(app: &App, index: usize) -> MessageId {
    app.conversation.messages()[index].id
}

// ---------------------------------------------------------------- focus

#[test]
fn tab_selects_the_last_message_and_tab_esc_i_go_back() {
    for back in ["<Tab>", "<Esc>", "i"] {
        let mut app = two_turns();
        keys(&mut app, "draft");
        assert_eq!(key(&mut app, "<Tab>"), changed(vec![]));
        assert_eq!(app.browse.focus, Focus::Transcript);
        assert_eq!(app.browse.selected, app.conversation.head());
        assert_eq!(app.transcript.revealing(), app.conversation.head());
        assert_eq!(selected_text(&app), "a2");
        assert_eq!(key(&mut app, back), changed(vec![]), "{back}");
        assert_eq!(app.browse.focus, Focus::Input, "{back}");
        // Nothing reached the input box on the way.
        assert_eq!(app.input.composer.text(), "draft", "{back}");
    }
}

#[test]
fn alt_up_selects_the_last_message() {
    let mut app = two_turns();
    keys(&mut app, "<A-Up>");
    assert_eq!(app.browse.focus, Focus::Transcript);
    assert_eq!(selected_text(&app), "a2");
}

#[test]
fn tab_with_nothing_to_browse_says_so_and_keeps_the_focus() {
    let mut app = bare_app();
    assert_eq!(key(&mut app, "<Tab>"), changed(vec![]));
    assert_eq!(app.browse.focus, Focus::Input);
    assert_eq!(app.browse.selected, None);
    assert_eq!(app.notice, info("nothing to browse yet"));
}

#[test]
fn tab_selects_the_newest_message_again_after_browsing() {
    // SPEC: "Tab (or Alt+Up) in the input moves the focus to the transcript
    // and selects the last message" — also when an earlier one was selected
    // the last time and a new answer has arrived since.
    let mut app = two_turns();
    keys(&mut app, "<Tab><Home><Tab>");
    assert_eq!(app.browse.focus, Focus::Input);
    let id = send(&mut app, "q3");
    answer(&mut app, id, "a3");
    keys(&mut app, "<Tab>");
    assert_eq!(selected_text(&app), "a3");
    keys(&mut app, "kk<Esc><A-Up>");
    assert_eq!(selected_text(&app), "a3");
}

// ---------------------------------------------------------------- selection

#[test]
fn up_down_k_j_home_end_g_shift_g_move_the_selection_and_reveal_it() {
    let mut app = two_turns();
    keys(&mut app, "<Tab>");
    let moves: &[(&str, &str)] = &[
        ("<Up>", "q2"),
        ("k", "a1"),
        ("<Down>", "q2"),
        ("j", "a2"),
        ("j", "a2"), // clamped at the end
        ("<Home>", SYSTEM),
        ("k", SYSTEM), // clamped at the start
        ("<End>", "a2"),
        ("g", SYSTEM),
        ("G", "a2"),
    ];
    for (k, expected) in moves {
        app.transcript.reveal = None;
        assert_eq!(key(&mut app, k), changed(vec![]), "{k}");
        assert_eq!(selected_text(&app), *expected, "{k}");
        assert_eq!(
            app.transcript.revealing(),
            app.browse.selected,
            "{k} reveals the selection"
        );
        assert_eq!(app.browse.focus, Focus::Transcript);
    }
    assert_eq!(
        app.input.composer.text(),
        "",
        "no key reached the input box"
    );
}

// ---------------------------------------------------------------- copy

#[test]
fn y_copies_the_markdown_source_without_control_characters() {
    let mut app = new_app();
    let source =
        "# Title\r\n\n**bold** and `code`\x1b[31m red\x07\n\n| a | 한 |\n|---|---|\n| 1 | 2 |";
    let id = send(&mut app, "q");
    api(&mut app, id, StreamEvent::Started);
    api(&mut app, id, StreamEvent::Delta(source.into()));
    api(
        &mut app,
        id,
        StreamEvent::End(StreamEnd {
            finish_reason: Some("stop".into()),
            ..StreamEnd::default()
        }),
    );
    keys(&mut app, "<Tab>");
    let expected = "# Title\n\n**bold** and `code`[31m red\n\n| a | 한 |\n|---|---|\n| 1 | 2 |";
    let n = expected.chars().count();
    assert_eq!(
        key(&mut app, "y"),
        changed(vec![Effect::Copy {
            text: expected.into(),
            what: format!("copied {n} chars"),
        }])
    );
    // The runtime reports back; the status bar says it.
    update(
        &mut app,
        Msg::Notice(crate::app::state::Notice::info(format!("copied {n} chars"))),
    );
    assert_eq!(app.notice, info(&format!("copied {n} chars")));
    // The question, as typed.
    let out = keys(&mut app, "ky");
    assert_eq!(
        out,
        vec![Effect::Copy {
            text: "q".into(),
            what: "copied 1 chars".into()
        }]
    );
    assert_eq!(
        app.browse.focus,
        Focus::Transcript,
        "copying keeps the focus"
    );
}

const TWO_BLOCKS: &str =
    "Two ways:\n\n```rust\nfn main() {}\n```\n\nand\n\n```python\nprint(\"hi\")\n```\n";

fn app_with_answer(text: &str) -> App {
    let mut app = new_app();
    let id = send(&mut app, "q");
    answer(&mut app, id, text);
    keys(&mut app, "<Tab>");
    app
}

#[test]
fn c_with_one_code_block_copies_it() {
    let mut app = app_with_answer("Run:\n\n```sh\nls -la \x1b[2J\n```\n");
    assert_eq!(
        key(&mut app, "c"),
        changed(vec![Effect::Copy {
            text: "ls -la [2J\n".into(),
            what: "copied code block 1".into(),
        }])
    );
    assert_eq!(app.browse.pending_code_pick, None);
}

#[test]
fn c_with_several_code_blocks_waits_for_a_digit() {
    let mut app = app_with_answer(TWO_BLOCKS);
    assert_eq!(key(&mut app, "c"), changed(vec![]));
    assert_eq!(
        app.browse.pending_code_pick,
        app.browse.selected.map(|id| (id, 0))
    );
    assert_eq!(app.notice, info("copy which code block? press 1–2"));
    assert_eq!(
        key(&mut app, "2"),
        changed(vec![Effect::Copy {
            text: "print(\"hi\")\n".into(),
            what: "copied code block 2".into(),
        }])
    );
    assert_eq!(app.browse.pending_code_pick, None);
    // Again, block 1.
    keys(&mut app, "c");
    assert_eq!(
        keys(&mut app, "1"),
        vec![Effect::Copy {
            text: "fn main() {}\n".into(),
            what: "copied code block 1".into(),
        }]
    );
}

#[test]
fn a_non_digit_after_c_cancels_and_does_nothing_else() {
    let mut app = app_with_answer(TWO_BLOCKS);
    keys(&mut app, "c");
    let before = app.browse.selected;
    // `k` would move the selection; here it only cancels.
    assert_eq!(key(&mut app, "k"), changed(vec![]));
    assert_eq!(app.notice, info("copy cancelled"));
    assert_eq!(app.browse.selected, before);
    assert_eq!(app.browse.pending_code_pick, None);
    // A digit with no such block.
    keys(&mut app, "c");
    assert_eq!(key(&mut app, "7"), changed(vec![]));
    assert_eq!(app.notice, info("there is no code block 7"));
    // Esc cancels too, and does not leave the transcript.
    keys(&mut app, "c<Esc>");
    assert_eq!(app.notice, info("copy cancelled"));
    assert_eq!(app.browse.focus, Focus::Transcript);
}

#[test]
fn c_picks_a_code_block_numbered_ten_or_more() {
    let mut source = String::new();
    for i in 1..=12 {
        writeln!(source, "```\nblock {i}\n```\n").unwrap();
    }
    let mut app = app_with_answer(&source);
    keys(&mut app, "c");
    assert_eq!(app.notice, info("copy which code block? press 1–12"));
    let mut effects = keys(&mut app, "1");
    effects.extend(keys(&mut app, "2"));
    effects.extend(keys(&mut app, "<Enter>"));
    assert_eq!(
        effects,
        vec![Effect::Copy {
            text: "block 12\n".into(),
            what: "copied code block 12".into(),
        }]
    );
}

#[test]
fn c_without_a_code_block_says_so() {
    let mut app = app_with_answer("plain words");
    assert_eq!(key(&mut app, "c"), changed(vec![]));
    assert_eq!(app.notice, info("this message has no code block"));
    assert_eq!(app.browse.pending_code_pick, None);
}

// ---------------------------------------------------------------- edit

#[test]
fn e_on_a_question_loads_it_and_enter_resends_from_there() {
    let mut app = two_turns();
    let old_q1 = id_at(&app, 1);
    keys(&mut app, "<Tab>kkk");
    assert_eq!(selected_text(&app), "q1");
    assert_eq!(key(&mut app, "e"), changed(vec![]));
    assert_eq!(app.browse.focus, Focus::Input);
    assert_eq!(app.input.composer.text(), "q1");
    assert_eq!(
        app.input.editing,
        Some(EditTarget {
            id: old_q1,
            role: Role::User
        })
    );
    assert_eq!(app.input.role, Role::User);
    // Prompt history does not take Up/Down while editing.
    app.input.recall.entries = vec!["older".into()];
    keys(&mut app, "<Up><End>!");
    assert_eq!(app.input.composer.text(), "q1!");

    let (id, request) = start_chat(&keys(&mut app, "<Enter>"));
    assert_eq!(
        request.messages,
        vec![chat(Role::System, SYSTEM), chat(Role::User, "q1!")],
        "the path up to and including the new question; later turns are not sent"
    );
    assert_eq!(app.input.editing, None);
    assert_eq!(app.input.composer.text(), "");
    answer(&mut app, id, "new a1");
    assert_eq!(
        path(&app),
        vec![
            m(Role::System, SYSTEM),
            m(Role::User, "q1!"),
            m(Role::Assistant, "new a1"),
        ]
    );
    // The old turns are kept off the path: the question has two alternatives.
    assert_eq!(branches(&app), ["q1", "a1", "q2", "a2"]);
    assert_eq!(app.conversation.alternatives(1), Some((2, 2)));
    assert_eq!(app.conversation.alternatives(2), None);
    // And the old branch comes back whole.
    keys(&mut app, "<Tab>k<Left>");
    assert_eq!(
        path(&app),
        vec![
            m(Role::System, SYSTEM),
            m(Role::User, "q1"),
            m(Role::Assistant, "a1"),
            m(Role::User, "q2"),
            m(Role::Assistant, "a2"),
        ]
    );
    assert_eq!(app.notice, info("alternative 1/2"));
}

#[test]
fn e_on_an_assistant_or_system_message_changes_it_in_place() {
    let mut app = two_turns();
    keys(&mut app, "<Tab>kk");
    assert_eq!(selected_text(&app), "a1");
    keys(&mut app, "e");
    assert_eq!(app.input.role, Role::Assistant);
    assert_eq!(
        app.notice,
        info("editing in place: Enter saves, Esc cancels")
    );
    assert_eq!(keys(&mut app, "<BS><BS>fixed<Enter>"), vec![]);
    assert_eq!(app.notice, info("message changed"));
    assert_eq!(app.input.editing, None);
    assert_eq!(app.input.role, Role::User);
    // The system prompt too.
    keys(&mut app, "<Tab><Home>e<C-a><C-k>Be brief.<Enter>");
    assert_eq!(
        path(&app),
        vec![
            m(Role::System, "Be brief."),
            m(Role::User, "q1"),
            m(Role::Assistant, "fixed"),
            m(Role::User, "q2"),
            m(Role::Assistant, "a2"),
        ]
    );
    assert_eq!(branches(&app), Vec::<String>::new(), "nothing branched");
    // The next question carries the changed messages.
    let (_, request) = start_chat(&keys(&mut app, "q3<Enter>"));
    assert_eq!(request.messages[0], chat(Role::System, "Be brief."));
    assert_eq!(request.messages[2], chat(Role::Assistant, "fixed"));
}

#[test]
fn esc_cancels_an_edit() {
    let mut app = two_turns();
    keys(&mut app, "<Tab>ke");
    assert!(app.input.editing.is_some());
    keys(&mut app, "changed");
    assert_eq!(key(&mut app, "<Esc>"), changed(vec![]));
    assert_eq!(app.input.editing, None);
    assert_eq!(app.input.composer.text(), "");
    assert_eq!(app.input.role, Role::User);
    assert_eq!(app.notice, info("edit cancelled"));
    assert_eq!(path(&app)[3], m(Role::User, "q2"));
    // Esc with no edit does nothing.
    assert_eq!(key(&mut app, "<Esc>"), Update::default());
}

#[test]
fn ctrl_r_does_not_change_the_role_of_a_message_being_edited() {
    let mut app = two_turns();
    keys(&mut app, "<Tab>e<C-r>");
    assert_eq!(app.input.role, Role::Assistant);
    keys(&mut app, "<Esc>");
    assert_eq!(app.input.role, Role::User);
}

// ---------------------------------------------------------------- regenerate

#[test]
fn r_regenerates_with_the_messages_before_and_keeps_the_old_answer() {
    let mut app = two_turns();
    keys(&mut app, "<Tab>kk");
    assert_eq!(selected_text(&app), "a1");
    let (id, request) = start_chat(&keys(&mut app, "r"));
    assert_eq!(
        request,
        ChatRequest {
            model: MODEL.into(),
            messages: vec![chat(Role::System, SYSTEM), chat(Role::User, "q1")],
            temperature: None,
            max_tokens: None,
        }
    );
    // While it streams, the old answer and what followed are off the path.
    assert_eq!(app.conversation.len(), 3);
    answer(&mut app, id, "a1 again");
    assert_eq!(
        path(&app),
        vec![
            m(Role::System, SYSTEM),
            m(Role::User, "q1"),
            m(Role::Assistant, "a1 again"),
        ]
    );
    assert_eq!(app.conversation.alternatives(2), Some((2, 2)));
    assert_eq!(branches(&app), ["a1", "q2", "a2"]);
    // The new answer carries its model; the raw view knows what was sent.
    let new = &app.conversation.messages()[2];
    assert_eq!(new.model.as_deref(), Some(MODEL));
    assert_eq!(new.exchange.as_ref().unwrap().sent.len(), 2);
}

#[test]
fn r_three_times_keeps_every_answer() {
    let mut app = new_app();
    converse(&mut app, &[("q", "first")]);
    keys(&mut app, "<Tab>");
    for text in ["second", "third"] {
        let (id, _) = start_chat(&keys(&mut app, "r"));
        answer(&mut app, id, text);
    }
    assert_eq!(app.conversation.alternatives(2), Some((3, 3)));
    keys(&mut app, "G<Left>");
    assert_eq!(selected_text(&app), "second");
    assert_eq!(app.notice, info("alternative 2/3"));
    keys(&mut app, "<Left>");
    assert_eq!(selected_text(&app), "first");
    assert_eq!(app.conversation.alternatives(2), Some((1, 3)));
    // At the first alternative, Left stays there.
    keys(&mut app, "<Left>");
    assert_eq!(selected_text(&app), "first");
    keys(&mut app, "<Right><Right>");
    assert_eq!(selected_text(&app), "third");
    keys(&mut app, "<Right>");
    assert_eq!(selected_text(&app), "third");
}

#[test]
fn r_on_a_question_says_so() {
    let mut app = two_turns();
    keys(&mut app, "<Tab>k");
    assert_eq!(key(&mut app, "r"), changed(vec![]));
    assert_eq!(
        app.notice,
        info("r regenerates an answer: select an assistant message")
    );
    assert_eq!(app.conversation.len(), 5);
    assert!(app.in_flight.is_none());
}

// ---------------------------------------------------------------- alternatives

#[test]
fn left_right_switch_alternatives_and_the_path_below_follows() {
    let mut app = new_app();
    converse(&mut app, &[("q1", "a1"), ("q2", "a2")]);
    keys(&mut app, "<Tab>kk");
    let (id, _) = start_chat(&keys(&mut app, "r"));
    answer(&mut app, id, "b1");
    keys(&mut app, "i");
    converse(&mut app, &[("q2b", "b2")]);
    assert_eq!(
        path(&app),
        vec![
            m(Role::System, SYSTEM),
            m(Role::User, "q1"),
            m(Role::Assistant, "b1"),
            m(Role::User, "q2b"),
            m(Role::Assistant, "b2"),
        ]
    );
    keys(&mut app, "<Tab>kk");
    assert_eq!(selected_text(&app), "b1");
    assert_eq!(key(&mut app, "<Left>"), changed(vec![]));
    assert_eq!(
        path(&app),
        vec![
            m(Role::System, SYSTEM),
            m(Role::User, "q1"),
            m(Role::Assistant, "a1"),
            m(Role::User, "q2"),
            m(Role::Assistant, "a2"),
        ]
    );
    assert_eq!(selected_text(&app), "a1", "the selection stays on the turn");
    assert_eq!(app.transcript.revealing(), app.browse.selected);
    keys(&mut app, "<Right>");
    assert_eq!(
        path(&app)[3..],
        [m(Role::User, "q2b"), m(Role::Assistant, "b2")]
    );
    // The next question follows the path shown.
    keys(&mut app, "<Left><Tab>");
    let (_, request) = start_chat(&keys(&mut app, "q3<Enter>"));
    let texts: Vec<&str> = request
        .messages
        .iter()
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(texts, [SYSTEM, "q1", "a1", "q2", "a2", "q3"]);
}

#[test]
fn left_right_without_alternatives_say_so() {
    let mut app = two_turns();
    keys(&mut app, "<Tab>");
    assert_eq!(key(&mut app, "<Right>"), changed(vec![]));
    assert_eq!(
        app.notice,
        info("no alternatives here (r regenerates an answer)")
    );
    assert_eq!(app.conversation.len(), 5);
}

// ---------------------------------------------------------------- delete, undo

#[test]
fn d_deletes_and_u_undoes_in_the_exact_order() {
    let mut app = two_turns();
    let before = path(&app);
    keys(&mut app, "<Tab>kk");
    assert_eq!(key(&mut app, "d"), changed(vec![]));
    assert_eq!(app.notice, info("message deleted — u undoes"));
    assert_eq!(
        app.conversation.request_messages(),
        vec![
            chat(Role::System, SYSTEM),
            chat(Role::User, "q1"),
            chat(Role::User, "q2"),
            chat(Role::Assistant, "a2"),
        ]
    );
    assert_eq!(selected_text(&app), "q2", "the next message is selected");
    keys(&mut app, "d");
    assert_eq!(app.conversation.len(), 3);
    keys(&mut app, "u");
    assert_eq!(selected_text(&app), "q2");
    keys(&mut app, "u");
    assert_eq!(selected_text(&app), "a1");
    assert_eq!(app.notice, info("delete undone"));
    assert_eq!(path(&app), before);
    // Parents are back too: the tree is as it was.
    let ids: Vec<_> = app.conversation.messages().iter().map(|m| m.id).collect();
    for pair in ids.windows(2) {
        assert_eq!(app.conversation.get(pair[1]).unwrap().parent, Some(pair[0]));
    }
    keys(&mut app, "u");
    assert_eq!(app.notice, info("nothing to undo"));
    assert_eq!(path(&app), before);
}

#[test]
fn deleting_every_message_returns_to_the_input() {
    let mut app = bare_app();
    converse(&mut app, &[("q", "a")]);
    keys(&mut app, "<Tab>dd");
    assert!(app.conversation.is_empty());
    assert_eq!(app.browse.focus, Focus::Input);
    assert_eq!(app.browse.selected, None);
    // u in the transcript only: Tab says there is nothing to browse.
    keys(&mut app, "<Tab>");
    assert_eq!(app.notice, info("nothing to browse yet"));
}

#[test]
fn undo_after_the_path_changed_does_not_scramble_it() {
    let mut app = two_turns();
    // Delete q2, then regenerate a1: the path is [system, q1, b1].
    keys(&mut app, "<Tab>kd");
    assert_eq!(selected_text(&app), "a2");
    keys(&mut app, "k");
    assert_eq!(selected_text(&app), "a1");
    let (id, _) = start_chat(&keys(&mut app, "r"));
    answer(&mut app, id, "b1");
    keys(&mut app, "u");
    // q2 belonged after a1, which is now an alternative off the path: it
    // must not be sent as a question following b1.
    let texts: Vec<String> = path(&app).into_iter().map(|(_, t)| t).collect();
    assert!(
        texts == [SYSTEM, "q1", "b1"] || texts == [SYSTEM, "q1", "a1", "q2", "a2"],
        "{texts:?}"
    );
    for (i, message) in app.conversation.messages().iter().enumerate() {
        assert_eq!(app.conversation.index_of(message.id), Some(i));
    }
}

// ---------------------------------------------------------------- raw view

fn raw_text(app: &App) -> &str {
    match &app.popup {
        Some(Popup::Raw(raw)) => &raw.text,
        other => panic!("no raw view: {other:?}"),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

#[test]
fn v_shows_the_exact_request_and_the_assembled_response() {
    let mut app = App::new(
        Settings {
            temperature: Some(0.5),
            max_tokens: Some(256),
            ..settings()
        },
        PriceTable::default(),
    );
    converse(&mut app, &[("안녕", "안녕하세요 반갑습니다")]);
    keys(&mut app, "<Tab>");
    assert_eq!(key(&mut app, "v"), changed(vec![]));
    let text = raw_text(&app).to_string();
    let request = json!({
        "model": MODEL,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "안녕"},
        ],
        "stream": true,
        "stream_options": {"include_usage": true},
        "temperature": 0.5,
        "max_tokens": 256,
    });
    assert!(
        text.starts_with(&format!(
            "── request: POST https://api.openai.com/v1/chat/completions (Authorization: Bearer ***) ──\n{}\n",
            pretty(&request)
        )),
        "{text}"
    );
    // 1 role chunk + 2 deltas + usage and finish.
    assert!(
        text.contains(&format!(
            "── response: assembled from 5 chunks ──\n{}\n",
            pretty(&assembled("안녕하세요 반갑습니다", 10, 5))
        )),
        "{text}"
    );
    assert!(text.contains("\"finish_reason\": \"stop\""));
    assert!(text.contains("\"total_tokens\": 15"));
    assert!(!text.contains("sk-"), "no key in the raw view");
    // Keys go to the popup: j scrolls, it does not move the selection.
    let selected = app.browse.selected;
    keys(&mut app, "jj");
    assert!(matches!(&app.popup, Some(Popup::Raw(r)) if r.scroll == 2));
    keys(&mut app, "k<PageDown>");
    assert!(matches!(&app.popup, Some(Popup::Raw(r)) if r.scroll == 21));
    keys(&mut app, "g");
    assert!(matches!(&app.popup, Some(Popup::Raw(r)) if r.scroll == 0));
    assert_eq!(app.browse.selected, selected);
}

#[test]
fn y_in_the_raw_view_copies_it_and_esc_v_q_close_it() {
    for close in ["<Esc>", "v", "q"] {
        let mut app = two_turns();
        keys(&mut app, "<Tab>v");
        let text = raw_text(&app).to_string();
        let n = text.chars().count();
        let out = key(&mut app, "y");
        let [Effect::Copy { text: copied, what }] = out.effects.as_slice() else {
            panic!("{out:?}");
        };
        assert_eq!(*copied, text);
        // The count, with or without thousands separators.
        let said = what
            .strip_prefix("copied raw JSON (")
            .and_then(|rest| rest.strip_suffix(" chars)"))
            .map(|count| count.replace(',', ""));
        assert_eq!(said, Some(n.to_string()), "{what}");
        assert!(app.popup.is_some(), "copying keeps the view open");
        assert_eq!(key(&mut app, close), changed(vec![]), "{close}");
        assert_eq!(app.popup, None, "{close}");
        assert_eq!(app.browse.focus, Focus::Transcript, "{close}");
    }
}

#[test]
fn v_on_a_question_shows_it_as_sent() {
    let mut app = two_turns();
    keys(&mut app, "<Tab>kv");
    assert_eq!(
        raw_text(&app),
        pretty(&json!({"role": "user", "content": "q2"}))
    );
}

#[test]
fn v_while_an_answer_streams_says_no_response_yet() {
    let mut app = two_turns();
    let id = send(&mut app, "q3");
    api(&mut app, id, StreamEvent::Started);
    api(&mut app, id, StreamEvent::Delta("part".into()));
    keys(&mut app, "<Tab>v");
    let text = raw_text(&app);
    assert!(text.contains("\"content\": \"q3\""), "{text}");
    assert!(
        text.contains("── response: none yet (still streaming, or nothing arrived) ──"),
        "{text}"
    );
}

#[test]
#[ignore = "bug: Exchange keeps only the ids of the messages sent, so the raw view rebuilds \
            the request from today's messages: a message edited in place afterwards shows \
            its new text, a deleted one is silently left out — not the request that was sent"]
fn raw_view_shows_the_request_as_it_was_sent() {
    let mut app = two_turns();
    // Change a1 in place and delete q1; the request of a2 was sent before.
    keys(&mut app, "<Tab>kke<C-a><C-k>changed<Enter>");
    keys(&mut app, "<Tab>kkkd");
    keys(&mut app, "Gv");
    let text = raw_text(&app);
    assert!(text.contains("\"content\": \"q1\""), "{text}");
    assert!(text.contains("\"content\": \"a1\""), "{text}");
    assert!(!text.contains("changed"), "{text}");
}

// ---------------------------------------------------------------- search

#[test]
fn slash_types_a_query_enter_finds_n_and_shift_n_cycle_and_wrap() {
    let mut app = new_app();
    converse(
        &mut app,
        &[
            ("Tell me about sushi", "Sushi is rice with fish."),
            ("and ramen?", "Noodles in broth."),
            ("more SUSHI", "Nigiri is sushi too."),
        ],
    );
    keys(&mut app, "<Tab>");
    assert_eq!(key(&mut app, "/"), changed(vec![]));
    assert!(app.browse.search.as_ref().is_some_and(|s| s.editing));
    // Every key goes to the query while it is typed, n and N included.
    keys(&mut app, "sushN<BS>i");
    assert_eq!(app.browse.search.as_ref().unwrap().query, "sushi");
    assert_eq!(selected_text(&app), "Nigiri is sushi too.", "not moved yet");
    // Enter: the first match from the selection on (it matches itself).
    keys(&mut app, "<Enter>");
    assert!(app.browse.search.as_ref().is_some_and(|s| !s.editing));
    assert_eq!(selected_text(&app), "Nigiri is sushi too.");
    assert_eq!(app.notice, info("match 4/4 · n next · N previous"));
    // n wraps to the top; the search is case-insensitive.
    let order = [
        (
            "n",
            "Tell me about sushi",
            "match 1/4 · n next · N previous",
        ),
        (
            "n",
            "Sushi is rice with fish.",
            "match 2/4 · n next · N previous",
        ),
        ("n", "more SUSHI", "match 3/4 · n next · N previous"),
        (
            "N",
            "Sushi is rice with fish.",
            "match 2/4 · n next · N previous",
        ),
        (
            "N",
            "Tell me about sushi",
            "match 1/4 · n next · N previous",
        ),
        (
            "N",
            "Nigiri is sushi too.",
            "match 4/4 · n next · N previous",
        ),
    ];
    for (k, text, said) in order {
        app.transcript.reveal = None;
        keys(&mut app, k);
        assert_eq!(selected_text(&app), text, "{k}");
        assert_eq!(app.notice, info(said), "{k}");
        assert_eq!(
            app.transcript.revealing(),
            app.browse.selected,
            "{k} reveals"
        );
    }
    // Enter from the middle starts at the selection.
    keys(&mut app, "<Home>/broth<Enter>");
    assert_eq!(selected_text(&app), "Noodles in broth.");
    // Esc leaves the transcript and ends the search.
    keys(&mut app, "<Esc>");
    assert_eq!(app.browse.search, None);
    assert_eq!(app.browse.focus, Focus::Input);
}

#[test]
fn n_sees_a_message_changed_since_the_last_press_and_korean_queries() {
    let mut app = two_turns();
    keys(&mut app, "<Tab>/Q<Enter>");
    assert_eq!(selected_text(&app), "q1");
    assert_eq!(app.notice, info("match 1/2 · n next · N previous"));
    // a1 changes after the first press (an edit, a stream): the next press
    // must look at its new text, not at what it remembered.
    let a1 = id_at(&app, 2);
    app.conversation
        .update(a1, |m| m.content = "a quiet answer".into());
    keys(&mut app, "n");
    assert_eq!(selected_text(&app), "a quiet answer");
    assert_eq!(app.notice, info("match 2/3 · n next · N previous"));
    let q2 = id_at(&app, 3);
    // Case-blind beyond ASCII, and a changed query starts afresh.
    app.conversation
        .update(q2, |m| m.content = "스시는 ÉTÉ에 먹어요".into());
    keys(&mut app, "<Esc><Tab>/été<Enter>");
    assert_eq!(selected_text(&app), "스시는 ÉTÉ에 먹어요");
    assert_eq!(app.notice, info("match 1/1 · n next · N previous"));
}

#[test]
fn esc_cancels_a_search_being_typed_and_no_match_is_said() {
    let mut app = two_turns();
    keys(&mut app, "<Tab>/q1<Esc>");
    assert_eq!(app.browse.search, None);
    assert_eq!(
        app.browse.focus,
        Focus::Transcript,
        "Esc closed only the search"
    );
    assert_eq!(selected_text(&app), "a2");
    keys(&mut app, "/zebra<Enter>");
    assert_eq!(app.notice, info("no match for \"zebra\""));
    assert_eq!(selected_text(&app), "a2");
    keys(&mut app, "n");
    assert_eq!(app.notice, info("no match for \"zebra\""));
    // An empty query ends the search; n then says how to start one.
    keys(&mut app, "/<Enter>n");
    assert_eq!(app.browse.search, None);
    assert_eq!(app.notice, info("no search: / starts one"));
}

// ---------------------------------------------------------------- failures

#[test]
fn a_failed_edit_and_resend_restores_the_branch_and_the_question() {
    let mut app = two_turns();
    let before = path(&app);
    let old_q2 = id_at(&app, 3);
    keys(&mut app, "<Tab>ke<End> (edited)");
    let (id, request) = start_chat(&keys(&mut app, "<Enter>"));
    assert_eq!(
        request.messages.last(),
        Some(&chat(Role::User, "q2 (edited)"))
    );
    let error = ApiError::Broken("connection refused".into());
    api(
        &mut app,
        id,
        StreamEvent::End(StreamEnd {
            error: Some(error.clone()),
            ..StreamEnd::default()
        }),
    );
    assert_eq!(path(&app), before, "the earlier branch is back, exactly");
    assert_eq!(branches(&app), Vec::<String>::new(), "nothing dangles");
    assert_eq!(app.conversation.alternatives(3), None);
    assert_eq!(app.input.composer.text(), "q2 (edited)");
    assert_eq!(
        app.notice,
        Some(Notice {
            text: error.to_string(),
            is_error: true
        })
    );
    // Still an edit of q2: Enter resends it from there.
    assert_eq!(
        app.input.editing,
        Some(EditTarget {
            id: old_q2,
            role: Role::User
        })
    );
    let (_, request) = start_chat(&keys(&mut app, "<Enter>"));
    assert_eq!(
        request.messages,
        vec![
            chat(Role::System, SYSTEM),
            chat(Role::User, "q1"),
            chat(Role::Assistant, "a1"),
            chat(Role::User, "q2 (edited)"),
        ]
    );
}

#[test]
fn a_failed_regenerate_restores_the_old_answer() {
    let mut app = two_turns();
    let before = path(&app);
    let ids: Vec<_> = app.conversation.messages().iter().map(|m| m.id).collect();
    keys(&mut app, "<Tab>kk");
    let (id, _) = start_chat(&keys(&mut app, "r"));
    api(&mut app, id, StreamEvent::Started);
    api(
        &mut app,
        id,
        StreamEvent::End(StreamEnd {
            error: Some(ApiError::EndedEarly),
            ..StreamEnd::default()
        }),
    );
    assert_eq!(path(&app), before);
    let after: Vec<_> = app.conversation.messages().iter().map(|m| m.id).collect();
    assert_eq!(after, ids, "the same messages, not copies");
    assert_eq!(branches(&app), Vec::<String>::new());
    assert_eq!(
        app.input.composer.text(),
        "",
        "no question goes back for a regenerate"
    );
    assert!(app.notice.as_ref().unwrap().is_error);
    assert!(app.in_flight.is_none());
}

// ---------------------------------------------------------------- prompt history

#[test]
fn up_recalls_earlier_prompts_and_down_returns_to_the_draft() {
    let mut app = new_app();
    update(&mut app, Msg::PromptHistoryLoaded(vec!["from disk".into()]));
    converse(&mut app, &[("first", "a"), ("second", "b")]);
    keys(&mut app, "dra");
    keys(&mut app, "<Up>");
    assert_eq!(app.input.composer.text(), "second");
    keys(&mut app, "<Up>");
    assert_eq!(app.input.composer.text(), "first");
    keys(&mut app, "<Up><Up>");
    assert_eq!(
        app.input.composer.text(),
        "from disk",
        "stops at the oldest"
    );
    keys(&mut app, "<Down>");
    assert_eq!(app.input.composer.text(), "first");
    keys(&mut app, "<Down><Down>");
    assert_eq!(app.input.composer.text(), "dra", "back to the draft");
    assert_eq!(app.input.recall.index, None);
    keys(&mut app, "<Down>");
    assert_eq!(
        app.input.composer.text(),
        "dra",
        "Down past the draft does nothing"
    );
    // A recalled prompt can be edited and sent.
    keys(&mut app, "<C-a><C-k><Up>!");
    let (_, request) = start_chat(&keys(&mut app, "<Enter>"));
    assert_eq!(request.messages.last(), Some(&chat(Role::User, "second!")));
}

#[test]
fn prompts_sent_before_the_history_loaded_are_kept() {
    let mut app = new_app();
    let id = send(&mut app, "early");
    answer(&mut app, id, "a");
    update(&mut app, Msg::PromptHistoryLoaded(vec!["from disk".into()]));
    assert_eq!(app.input.recall.entries, ["from disk", "early"]);
}

#[test]
fn up_and_down_inside_a_multiline_input_move_the_cursor() {
    let mut app = new_app();
    update(&mut app, Msg::PromptHistoryLoaded(vec!["old".into()]));
    keys(&mut app, "line one<A-Enter>line two<Up>");
    assert_eq!(
        app.input.composer.text(),
        "line one\nline two",
        "moved up a line"
    );
    keys(&mut app, "<Up>");
    assert_eq!(
        app.input.composer.text(),
        "old",
        "on the first line: history"
    );
    keys(&mut app, "<Down>");
    assert_eq!(app.input.composer.text(), "line one\nline two");
}

#[test]
fn save_prompt_once_per_sent_prompt_and_not_for_a_repeat() {
    let mut app = new_app();
    let effects = keys_all(&mut app, "hello<Enter>");
    assert_eq!(effects[0], Effect::SavePrompt("hello".into()));
    assert_eq!(effects.len(), 2, "{effects:?}");
    answer(&mut app, RequestId(1), "a");
    let effects = keys_all(&mut app, "hello<Enter>");
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::SavePrompt(_))),
        "a repeat is not saved again: {effects:?}"
    );
    answer(&mut app, RequestId(2), "a");
    let effects = keys_all(&mut app, "other<A-Enter>line<Enter>");
    let saved: Vec<_> = effects
        .iter()
        .filter(|e| matches!(e, Effect::SavePrompt(_)))
        .collect();
    assert_eq!(saved, [&Effect::SavePrompt("other\nline".into())]);
    assert_eq!(app.input.recall.entries, ["hello", "other\nline"]);
    // Hand-written messages of other roles are not prompts.
    answer(&mut app, RequestId(3), "a");
    let effects = keys_all(&mut app, "<C-r>written<Enter>");
    assert_eq!(effects, vec![]);
}

// ---------------------------------------------------------------- role switch

#[test]
fn ctrl_r_cycles_user_assistant_system_user() {
    let mut app = new_app();
    assert_eq!(app.input.role, Role::User);
    for expected in [Role::Assistant, Role::System, Role::User, Role::Assistant] {
        assert_eq!(key(&mut app, "<C-r>"), changed(vec![]));
        assert_eq!(app.input.role, expected);
    }
}

#[test]
fn assistant_and_system_messages_are_added_without_a_request() {
    let mut app = bare_app();
    assert_eq!(
        keys(&mut app, "<C-r><C-r>You are a sushi chef.<Enter>"),
        vec![]
    );
    assert_eq!(
        app.notice,
        info("system message added — it is sent with the next question")
    );
    assert_eq!(app.input.role, Role::User, "back to the user role");
    assert_eq!(keys(&mut app, "<C-r>Irasshai!<Enter>"), vec![]);
    assert_eq!(
        path(&app),
        vec![
            m(Role::System, "You are a sushi chef."),
            m(Role::Assistant, "Irasshai!"),
        ]
    );
    assert!(app.in_flight.is_none());
    // Blank: nothing added.
    assert_eq!(keys(&mut app, "<C-r>  <Enter>"), vec![]);
    assert_eq!(app.conversation.len(), 2);
}

const SUSHI_SYSTEM: &str = "あなたは寿司職人です。";
const SUSHI_Q1: &str = "おすすめは何ですか？";
const SUSHI_A: &str = "今日はマグロがおすすめです。";
const SUSHI_Q2: &str = "じゃあそれをください。";

fn sushi_expected() -> Vec<ChatMessage> {
    vec![
        chat(Role::System, SUSHI_SYSTEM),
        chat(Role::User, SUSHI_Q1),
        chat(Role::Assistant, SUSHI_A),
        chat(Role::User, SUSHI_Q2),
    ]
}

#[test]
fn the_sushi_conversation_is_sent_in_order() {
    // The seed's example: a system message, a question, the model's answer
    // written by hand, and the question that is sent. A user message is
    // always sent, so the first question's own answer is stopped before
    // any text and deleted, leaving the hand-written answer in its place.
    let mut app = bare_app();
    assert_eq!(
        keys(&mut app, &format!("<C-r><C-r>{SUSHI_SYSTEM}<Enter>")),
        vec![]
    );
    let id = send(&mut app, SUSHI_Q1);
    assert_eq!(keys(&mut app, "<Esc>"), vec![Effect::CancelChat { id }]);
    keys(&mut app, "<Tab>d<Tab>");
    assert_eq!(keys(&mut app, &format!("<C-r>{SUSHI_A}<Enter>")), vec![]);
    let (_, request) = start_chat(&keys(&mut app, &format!("{SUSHI_Q2}<Enter>")));
    assert_eq!(request.messages, sushi_expected());
}

#[test]
fn the_sushi_conversation_with_a_stopped_empty_answer_left_in_place() {
    // An answer stopped before any text is not sent, so it need not be deleted.
    let mut app = bare_app();
    keys(&mut app, &format!("<C-r><C-r>{SUSHI_SYSTEM}<Enter>"));
    send(&mut app, SUSHI_Q1);
    keys(&mut app, &format!("<Esc><C-r>{SUSHI_A}<Enter>"));
    let (_, request) = start_chat(&keys(&mut app, &format!("{SUSHI_Q2}<Enter>")));
    assert_eq!(request.messages, sushi_expected());
}

#[test]
fn the_sushi_conversation_with_the_answer_rewritten_in_place() {
    let mut app = bare_app();
    keys(&mut app, &format!("<C-r><C-r>{SUSHI_SYSTEM}<Enter>"));
    let id = send(&mut app, SUSHI_Q1);
    answer(&mut app, id, "The model's own words.");
    keys(&mut app, &format!("<Tab>e<C-a><C-k>{SUSHI_A}<Enter>"));
    let (_, request) = start_chat(&keys(&mut app, &format!("{SUSHI_Q2}<Enter>")));
    assert_eq!(request.messages, sushi_expected());
}

// ---------------------------------------------------------------- $EDITOR

#[test]
fn ctrl_e_opens_the_editor_and_its_text_replaces_the_input() {
    let mut app = new_app();
    keys(&mut app, "draft<A-Enter>two");
    assert_eq!(
        key(&mut app, "<C-e>"),
        changed(vec![Effect::OpenEditor {
            text: "draft\ntwo".into()
        }])
    );
    assert_eq!(
        update(
            &mut app,
            Msg::EditorClosed(Ok("from the editor\nline 2".into()))
        ),
        changed(vec![])
    );
    assert_eq!(app.input.composer.text(), "from the editor\nline 2");
    let (_, request) = start_chat(&keys(&mut app, "<Enter>"));
    assert_eq!(
        request.messages.last(),
        Some(&chat(Role::User, "from the editor\nline 2"))
    );
}

#[test]
fn a_failed_editor_keeps_the_input_and_shows_why() {
    let mut app = new_app();
    keys(&mut app, "keep me");
    let why = "the editor 'false' exited with exit status: 1; the input is unchanged";
    let failed = crate::editor::EditorError::Failed {
        command: "false".into(),
        status: "exit status: 1".into(),
    };
    update(&mut app, Msg::EditorClosed(Err(failed)));
    assert_eq!(app.input.composer.text(), "keep me");
    assert_eq!(
        app.notice,
        Some(Notice {
            text: why.into(),
            is_error: true
        })
    );
}

// ---------------------------------------------------------------- streaming guards

#[test]
fn reshaping_keys_while_an_answer_streams_only_say_so() {
    let mut app = two_turns();
    let id = send(&mut app, "q3");
    api(&mut app, id, StreamEvent::Started);
    api(&mut app, id, StreamEvent::Delta("partial".into()));
    let before = path(&app);
    keys(&mut app, "<Tab>");
    let cases: &[(&str, &str, &str)] = &[
        ("d", "q2", "an answer is streaming — Esc stops it first"),
        (
            "e",
            "q2",
            "an answer is streaming — Esc stops it before editing",
        ),
        ("r", "a2", "an answer is still streaming — Esc stops it"),
        (
            "<Left>",
            "a2",
            "an answer is streaming — Esc stops it first",
        ),
        (
            "<Right>",
            "a2",
            "an answer is streaming — Esc stops it first",
        ),
    ];
    for (k, on, said) in cases {
        app.browse.selected = app
            .conversation
            .messages()
            .iter()
            .find(|m| m.content == *on)
            .map(|m| m.id);
        app.notice = None;
        assert_eq!(key(&mut app, k), changed(vec![]), "{k}");
        assert_eq!(app.notice, info(said), "{k}");
        assert_eq!(path(&app), before, "{k}");
        assert_eq!(app.browse.focus, Focus::Transcript, "{k}");
        assert_eq!(app.input.editing, None, "{k}");
    }
    assert_eq!(app.in_flight.as_ref().map(|f| f.id), Some(id));
    // The stream goes on into the same message.
    api(&mut app, id, StreamEvent::Delta(" more".into()));
    assert_eq!(app.conversation.messages()[6].content, "partial more");
}

#[test]
fn the_streaming_answer_cannot_be_edited_under_the_stream() {
    // Editing the answer that is still arriving would save a stale copy
    // over the text that arrived meanwhile.
    let mut app = two_turns();
    let id = send(&mut app, "q3");
    api(&mut app, id, StreamEvent::Started);
    api(&mut app, id, StreamEvent::Delta("partial".into()));
    keys(&mut app, "<Tab>e");
    assert_eq!(app.input.editing, None);
    api(&mut app, id, StreamEvent::Delta(" answer".into()));
    keys(&mut app, "<Enter>");
    assert_eq!(app.conversation.messages()[6].content, "partial answer");
}

#[test]
fn undo_while_an_answer_streams_only_says_so() {
    let mut app = two_turns();
    keys(&mut app, "<Tab>kd<Tab>");
    let id = send(&mut app, "q3");
    api(&mut app, id, StreamEvent::Started);
    let before = path(&app);
    keys(&mut app, "<Tab>u");
    assert_eq!(
        app.notice,
        info("an answer is streaming — Esc stops it first")
    );
    assert_eq!(path(&app), before);
    api(&mut app, id, StreamEvent::Delta("text".into()));
    assert_eq!(app.conversation.messages().last().unwrap().content, "text");
}

// ---------------------------------------------------------------- mouse

#[test]
fn a_click_selects_the_message_under_the_pointer() {
    use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    use ratatui::layout::Rect;

    let mut app = two_turns();
    let mut ui = crate::ui::Ui::default();
    let area = Rect::new(0, 0, 60, 20);
    crate::ui::prepare(&mut ui, &app, area);
    // Each message is a header, one row of text and a blank: q1's text is row 4.
    let click = |row| {
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 7,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    // The runtime asks the view which message is under the pointer.
    let clicked = crate::runtime::clicked(click(4), &ui).expect("a message at row 4");
    update(&mut app, clicked);
    crate::ui::prepare(&mut ui, &app, area);
    assert_eq!(app.browse.focus, Focus::Transcript);
    assert_eq!(selected_text(&app), "q1");
    // The transcript keys act on it.
    assert_eq!(
        keys(&mut app, "y"),
        vec![Effect::Copy {
            text: "q1".into(),
            what: "copied 2 chars".into()
        }]
    );
    // A click on the input box selects nothing.
    update(&mut app, click(18));
    crate::ui::prepare(&mut ui, &app, area);
    assert_eq!(selected_text(&app), "q1");
}

// ---------------------------------------------------------------- help

#[test]
fn question_mark_opens_the_help_in_the_transcript() {
    let mut app = two_turns();
    keys(&mut app, "<Tab>?");
    assert_eq!(app.popup, Some(Popup::Help { scroll: 0 }));
    keys(&mut app, "q");
    assert_eq!(app.popup, None);
    assert_eq!(app.browse.focus, Focus::Transcript);
}
