//! The model's thinking in the chat (SPEC "Thinking"): drawn with
//! `TestBackend` from states built by driving `update` with keys and stream
//! events, as the runtime does. Open while it streams, folded to one line
//! once the answer starts, `t` opens and folds it; it is never sent back.

mod support;

use kaiwa::api::client::{StreamEnd, StreamEvent};
use kaiwa::api::types::{Role, Usage};
use kaiwa::app::{App, Effect, Msg, update};
use kaiwa::ui::Ui;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use support::render::{
    api, in_flight_id, input_border, key, new_app, render, render_with, screen, screen_text,
    type_text,
};

const REASONING: [&str; 4] = [
    "The user asks ",
    "about sushi; ",
    "maguro is in season, ",
    "so recommend it.",
];

fn ask(app: &mut App, question: &str) -> u64 {
    type_text(app, question);
    key(app, KeyCode::Enter);
    let id = in_flight_id(app);
    api(app, id, StreamEvent::Started);
    id
}

fn end(app: &mut App, id: u64) {
    api(
        app,
        id,
        StreamEvent::End(StreamEnd {
            finish_reason: Some("stop".into()),
            ..StreamEnd::default()
        }),
    );
}

fn usage(reasoning_tokens: u64) -> StreamEvent {
    StreamEvent::Usage(Usage {
        prompt_tokens: 12,
        completion_tokens: 52,
        total_tokens: 64,
        reasoning_tokens,
        ..Usage::default()
    })
}

/// A question answered with reasoning deltas, then the answer, then usage
/// with 40 reasoning tokens.
fn reasoned_app() -> App {
    let mut app = new_app();
    let id = ask(&mut app, "おすすめは？");
    for piece in REASONING {
        api(&mut app, id, StreamEvent::Reasoning(piece.into()));
    }
    api(
        &mut app,
        id,
        StreamEvent::Delta("今日はマグロです。".into()),
    );
    api(&mut app, id, usage(40));
    end(&mut app, id);
    app
}

/// Enter on `question`: the request it starts.
fn next_request(app: &mut App, question: &str) -> Option<kaiwa::api::types::ChatRequest> {
    type_text(app, question);
    let out = update(
        app,
        Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    out.effects.iter().find_map(|e| {
        if let Effect::StartChat { request, .. } = e {
            Some(request.clone())
        } else {
            None
        }
    })
}

#[test]
fn thinking_is_open_while_it_streams() {
    let mut app = new_app();
    let id = ask(&mut app, "おすすめは？");
    for piece in REASONING.iter().take(3) {
        api(&mut app, id, StreamEvent::Reasoning((*piece).into()));
    }
    let terminal = render(&mut app, 60, 12);
    let text = screen_text(&terminal);
    assert!(text.contains("▾ thinking…"), "{text}");
    assert!(text.contains("maguro is in season"), "{text}");
    insta::assert_snapshot!(screen(&terminal));
}

#[test]
fn thinking_folds_once_the_answer_starts_and_t_opens_it() {
    let mut app = new_app();
    let id = ask(&mut app, "おすすめは？");
    for piece in REASONING {
        api(&mut app, id, StreamEvent::Reasoning(piece.into()));
    }
    api(&mut app, id, StreamEvent::Delta("今日は".into()));
    // Before the server's count: a rough estimate, marked `~`.
    let text = screen_text(&render(&mut app, 60, 12));
    assert!(text.contains("▸ thinking · ~"), "{text}");
    assert!(!text.contains("maguro"), "{text}");
    api(&mut app, id, StreamEvent::Delta("マグロです。".into()));
    api(&mut app, id, usage(40));
    end(&mut app, id);

    let mut ui = Ui::default();
    let folded = render_with(&mut ui, &mut app, 60, 12);
    let text = screen_text(&folded);
    assert!(text.contains("▸ thinking · 40 tokens"), "{text}");
    assert!(!text.contains("maguro"), "{text}");
    insta::assert_snapshot!("thinking_folded", screen(&folded));

    // Tab selects the answer; `t` opens its thinking, `t` again folds it.
    key(&mut app, KeyCode::Tab);
    let border = input_border(&render(&mut app, 90, 12));
    assert!(border.contains("t thinking"), "{border}");
    key(&mut app, KeyCode::Char('t'));
    let opened = render_with(&mut ui, &mut app, 60, 12);
    let text = screen_text(&opened);
    assert!(text.contains("▾ thinking · 40 tokens"), "{text}");
    assert!(text.contains("maguro is in season"), "{text}");
    insta::assert_snapshot!("thinking_opened", screen(&opened));
    key(&mut app, KeyCode::Char('t'));
    let text = screen_text(&render_with(&mut ui, &mut app, 60, 12));
    assert!(!text.contains("maguro"), "{text}");
}

#[test]
fn the_next_request_carries_no_reasoning() {
    let mut app = reasoned_app();
    let answer = &app.conversation.messages()[1];
    assert_eq!(answer.content, "今日はマグロです。");
    assert_eq!(answer.reasoning, REASONING.concat());
    assert_eq!(answer.reasoning_tokens, Some(40));
    let request = next_request(&mut app, "じゃあそれで").unwrap();
    let sent: Vec<(Role, &str)> = request
        .messages
        .iter()
        .map(|m| (m.role, m.content.as_str()))
        .collect();
    assert_eq!(
        sent,
        [
            (Role::User, "おすすめは？"),
            (Role::Assistant, "今日はマグロです。"),
            (Role::User, "じゃあそれで"),
        ]
    );
    let body = request.to_json(true, true).to_string();
    assert!(!body.contains("maguro"), "{body}");
}

#[test]
fn an_inline_think_block_is_folded_the_same_way() {
    let mut app = new_app();
    let id = ask(&mut app, "2+2?");
    for piece in ["\n<thi", "nk>add two ", "and two</th", "ink>\n\n", "4"] {
        api(&mut app, id, StreamEvent::Delta(piece.into()));
    }
    end(&mut app, id);
    let text = screen_text(&render(&mut app, 60, 10));
    assert!(text.contains("▸ thinking · ~"), "{text}");
    assert!(!text.contains("add two"), "{text}");
    assert!(!text.contains("think>"), "{text}");
    let answer = &app.conversation.messages()[1];
    assert_eq!(
        (answer.content.as_str(), answer.reasoning.as_str()),
        ("4", "add two and two")
    );
    let request = next_request(&mut app, "and 3+3?").unwrap();
    let body = request.to_json(true, true).to_string();
    assert!(
        !body.contains("add two") && !body.contains("think>"),
        "{body}"
    );
}

#[test]
fn a_closing_tag_alone_moves_what_came_before_into_the_thinking() {
    let mut app = new_app();
    let id = ask(&mut app, "2+2?");
    api(
        &mut app,
        id,
        StreamEvent::Delta("adding two and two".into()),
    );
    // Shown as text until the tag says otherwise.
    assert!(screen_text(&render(&mut app, 60, 10)).contains("adding two"));
    for piece in ["</", "think>", "4"] {
        api(&mut app, id, StreamEvent::Delta(piece.into()));
    }
    end(&mut app, id);
    let text = screen_text(&render(&mut app, 60, 10));
    assert!(!text.contains("adding two"), "{text}");
    assert!(text.contains("▸ thinking"), "{text}");
    assert_eq!(app.conversation.messages()[1].content, "4");
}

#[test]
fn t_on_a_message_without_thinking_says_so() {
    let mut app = new_app();
    let id = ask(&mut app, "hi");
    api(&mut app, id, StreamEvent::Delta("hello".into()));
    end(&mut app, id);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('t'));
    let border = input_border(&render(&mut app, 80, 10));
    assert!(border.contains("has none"), "{border}");
}
