//! Unit tests of the context window: the meter, the check before a send,
//! the overflow dialog (trim, new conversation, cancel), `context_overflow`,
//! learned windows and a server that cut history.

use pretty_assertions::assert_eq;

use super::context::Level;
use super::effect::Effect;
use super::msg::{Msg, RequestId};
use super::state::{App, Popup, Settings};
use super::test_support::{self, SYSTEM, keys, warm_app};
use super::update::update;
use crate::api::client::{StreamEnd, StreamEvent};
use crate::api::error::ApiError;
use crate::api::types::{ChatMessage, Role, Usage};
use crate::config::ContextOverflow;

fn app_with(window: u64, overflow: ContextOverflow) -> App {
    let mut app = warm_app(Settings {
        context_overflow: overflow,
        ..test_support::settings()
    });
    app.usage.prices.learn(test_support::MODEL, window);
    app
}

fn api(app: &mut App, id: u64, event: StreamEvent) -> Vec<Effect> {
    test_support::api(app, RequestId(id), event).effects
}

/// The end of request `id`: finished (`stop`), or failed with `error`.
fn end(app: &mut App, id: u64, error: Option<ApiError>) -> Vec<Effect> {
    let finish_reason = error.is_none().then(|| "stop".to_string());
    api(
        app,
        id,
        StreamEvent::End(StreamEnd {
            finish_reason,
            error,
            ..StreamEnd::default()
        }),
    )
}

/// Sends `question`, answers it with `answer` and the server's usage.
fn exchange(app: &mut App, question: &str, answer: &str, usage: (u64, u64)) -> u64 {
    let effects = keys(app, &format!("{question}<Enter>"));
    let [Effect::StartChat { id, .. }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    let id = id.0;
    api(app, id, StreamEvent::Started);
    api(app, id, StreamEvent::Delta(answer.into()));
    api(
        app,
        id,
        StreamEvent::Usage(Usage {
            prompt_tokens: usage.0,
            completion_tokens: usage.1,
            total_tokens: usage.0 + usage.1,
            ..Usage::default()
        }),
    );
    end(app, id, None);
    id
}

fn sent(effects: &[Effect]) -> Vec<ChatMessage> {
    effects
        .iter()
        .find_map(|e| {
            if let Effect::StartChat { request, .. } = e {
                Some(request.messages.clone())
            } else {
                None
            }
        })
        .unwrap_or_else(|| panic!("no request in {effects:?}"))
}

#[test]
fn the_meter_is_the_last_request_as_counted_plus_an_estimate_of_the_draft() {
    let mut app = app_with(1000, ContextOverflow::Ask);
    exchange(&mut app, "hello", "world", (17, 188));
    let meter = app.context_meter().unwrap();
    assert_eq!(
        (meter.used, meter.window, meter.estimated),
        (205, 1000, false)
    );
    assert_eq!(meter.text(), "ctx 21%");
    // A draft adds its estimate and marks the figure.
    keys(&mut app, &"x".repeat(400));
    let meter = app.context_meter().unwrap();
    assert!(meter.estimated && meter.used > 300, "{meter:?}");
    assert!(meter.text().starts_with("ctx ~"), "{}", meter.text());
    // Colours from 80 % and 95 %.
    let at = |used| super::context::Meter {
        used,
        window: 100,
        estimated: false,
    };
    assert_eq!(at(79).level(), Level::Normal);
    assert_eq!(at(80).level(), Level::High);
    assert_eq!(at(95).level(), Level::Full);
    // An unknown window shows no meter.
    let app = warm_app(Settings {
        model: "my-own-model".into(),
        ..test_support::settings()
    });
    assert_eq!(app.context_meter(), None);
}

#[test]
fn a_message_that_will_not_fit_opens_the_dialog_and_sends_nothing() {
    let mut app = app_with(200, ContextOverflow::Ask);
    exchange(&mut app, "first question", "first answer", (40, 20));
    exchange(&mut app, "second question", "second answer", (80, 20));
    let long = "word ".repeat(120);
    let effects = keys(&mut app, &format!("{long}<Enter>"));
    assert_eq!(effects, vec![], "nothing is sent");
    let Some(Popup::Overflow(dialog)) = &app.popup else {
        panic!("{:?}", app.popup);
    };
    assert!(dialog.fits_alone);
    assert_eq!(dialog.window, Some(200));
    assert_eq!(app.input.composer.text(), long);
    // t leaves out the oldest turns until it fits and sends.
    let effects = keys(&mut app, "t");
    let messages = sent(&effects);
    let roles: Vec<Role> = messages.iter().map(|m| m.role).collect();
    assert_eq!(messages.first().map(|m| m.content.as_str()), Some(SYSTEM));
    assert_eq!(
        messages.last().map(|m| m.content.as_str()),
        Some(long.as_str())
    );
    // Never starting on an answer: system, then a question.
    assert_eq!(roles.get(1), Some(&Role::User), "{roles:?}");
    let left_out: Vec<&str> = app
        .conversation
        .messages()
        .iter()
        .filter(|m| m.not_sent)
        .map(|m| m.content.as_str())
        .collect();
    assert!(
        left_out.starts_with(&["first question", "first answer"]),
        "{left_out:?}"
    );
    // Left-out turns stay on screen and out of every later request.
    assert_eq!(app.conversation.messages().len(), 7);
    assert!(!messages.iter().any(|m| m.content == "first question"));
}

#[test]
fn esc_keeps_the_message_and_n_sends_it_in_a_new_conversation() {
    let mut app = app_with(120, ContextOverflow::Ask);
    exchange(&mut app, "first question", "first answer", (60, 20));
    let long = "word ".repeat(40);
    keys(&mut app, &format!("{long}<Enter>"));
    keys(&mut app, "<Esc>");
    assert_eq!(app.popup, None);
    assert_eq!(app.input.composer.text(), long);
    keys(&mut app, "<Enter>");
    let effects = keys(&mut app, "n");
    assert!(
        effects.contains(&Effect::ConversationSwitched { resumed: false }),
        "{effects:?}"
    );
    let messages = sent(&effects);
    assert_eq!(
        messages.iter().map(|m| m.role).collect::<Vec<_>>(),
        [Role::System, Role::User]
    );
}

#[test]
fn a_message_too_long_even_alone_offers_only_esc() {
    let mut app = app_with(50, ContextOverflow::Ask);
    let long = "word ".repeat(100);
    keys(&mut app, &format!("{long}<Enter>"));
    let Some(Popup::Overflow(dialog)) = &app.popup else {
        panic!("{:?}", app.popup);
    };
    assert!(!dialog.fits_alone);
    assert_eq!(keys(&mut app, "t"), vec![]);
    assert!(matches!(app.popup, Some(Popup::Overflow(_))));
    keys(&mut app, "<Esc>");
    assert_eq!(app.input.composer.text(), long);
}

#[test]
fn context_overflow_trim_trims_without_asking_and_error_only_says_so() {
    let mut app = app_with(200, ContextOverflow::Trim);
    exchange(&mut app, "first question", "first answer", (40, 20));
    exchange(&mut app, "second question", "second answer", (80, 20));
    let long = "word ".repeat(120);
    let effects = keys(&mut app, &format!("{long}<Enter>"));
    assert_eq!(app.popup, None);
    assert!(!sent(&effects).iter().any(|m| m.content == "first question"));

    let mut app = app_with(200, ContextOverflow::Error);
    exchange(&mut app, "first question", "first answer", (40, 20));
    exchange(&mut app, "second question", "second answer", (80, 20));
    assert_eq!(keys(&mut app, &format!("{long}<Enter>")), vec![]);
    assert_eq!(app.popup, None);
    let said = app
        .notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default();
    assert!(said.contains("context_overflow = error"), "{said}");
    assert!(said.contains("200 tokens"), "{said}");
}

#[test]
fn a_servers_overflow_teaches_the_window_and_opens_the_dialog() {
    let mut app = warm_app(Settings {
        model: "local-model".into(),
        ..test_support::settings()
    });
    assert_eq!(app.context_meter(), None);
    let effects = keys(&mut app, "a long question<Enter>");
    let [Effect::StartChat { id, .. }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    let refused = ApiError::from_status(
        400,
        br#"{"error":{"message":"This model's maximum context length is 4097 tokens. However, your messages resulted in 4294 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}"#,
        None,
        None,
        "http://x/v1",
    );
    let effects = api(
        &mut app,
        id.0,
        StreamEvent::End(StreamEnd {
            error: Some(refused),
            ..StreamEnd::default()
        }),
    );
    assert!(
        effects.contains(&Effect::LearnLimit {
            model: "local-model".into(),
            tokens: 4097
        }),
        "{effects:?}"
    );
    assert!(matches!(app.popup, Some(Popup::Overflow(_))));
    assert_eq!(app.input.composer.text(), "a long question");
    keys(&mut app, "<Esc>");
    // The learned window now makes the meter.
    assert_eq!(app.window(), Some(4097));
    assert!(app.context_meter().is_some());
}

#[test]
fn a_server_that_counts_less_than_it_was_sent_cut_history() {
    let mut app = app_with(100_000, ContextOverflow::Ask);
    exchange(&mut app, "first question", "first answer", (500, 300));
    assert_eq!(app.usage.warning, None);
    // The conversation only grew, yet the server read fewer prompt tokens.
    exchange(&mut app, "second question", "second answer", (400, 50));
    let warning = app.usage.warning.clone().unwrap_or_default();
    assert!(warning.starts_with("the server cut history"), "{warning}");
    let status = crate::ui::status::status_text(&app);
    assert!(status.contains("⚠ the server cut history"), "{status}");
    // A request counted in full clears it.
    exchange(&mut app, "third question", "third answer", (600, 50));
    assert_eq!(app.usage.warning, None);
    let _ = update(&mut app, Msg::TokenizerReady);
}

#[test]
fn s_summarises_the_earlier_turns_then_sends_with_the_summary_in_their_place() {
    let mut app = app_with(200, ContextOverflow::Ask);
    exchange(&mut app, "first question", "first answer", (40, 20));
    exchange(&mut app, "second question", "second answer", (80, 20));
    let long = "word ".repeat(120);
    keys(&mut app, &format!("{long}<Enter>"));
    let Some(Popup::Overflow(dialog)) = &app.popup else {
        panic!("{:?}", app.popup);
    };
    let cost = dialog.summary_cost.clone().unwrap_or_default();
    assert!(cost.starts_with("about ") && cost.contains("~$"), "{cost}");
    // One extra request: the turns and the instruction.
    let effects = keys(&mut app, "s");
    let asked = sent(&effects);
    let texts: Vec<&str> = asked.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        texts,
        [
            "first question",
            "first answer",
            "second question",
            "second answer",
            super::context::SUMMARY_PROMPT
        ]
    );
    let [Effect::StartChat { id, .. }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    let id = id.0;
    api(&mut app, id, StreamEvent::Started);
    api(
        &mut app,
        id,
        StreamEvent::Delta("They talked about sushi.".into()),
    );
    let effects = end(&mut app, id, None);
    // Then the question goes, with the summary as a system message in
    // place of the turns.
    let messages = sent(&effects);
    let pairs: Vec<(Role, &str)> = messages
        .iter()
        .map(|m| (m.role, m.content.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            (Role::System, SYSTEM),
            (Role::System, "They talked about sushi."),
            (Role::User, long.as_str())
        ]
    );
    let summary = app
        .conversation
        .messages()
        .iter()
        .find(|m| m.summary)
        .unwrap();
    assert_eq!(summary.role, Role::System);
    assert_eq!(app.usage.summary, None);
}

#[test]
fn an_empty_answer_near_the_window_is_probably_an_overflow() {
    // llama-cpp-python: 200, then nothing — no event, no [DONE].
    let mut app = app_with(100, ContextOverflow::Ask);
    let effects = keys(&mut app, &format!("{}<Enter>", "word ".repeat(64)));
    let [Effect::StartChat { id, .. }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    let id = id.0;
    api(&mut app, id, StreamEvent::Started);
    end(&mut app, id, Some(ApiError::EndedEarly));
    let said = app
        .notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default();
    assert!(said.contains("probably too long for the model"), "{said}");
    // Far from the window, the same ending says only what happened.
    let mut app = app_with(100_000, ContextOverflow::Ask);
    keys(&mut app, "hi<Enter>");
    let id = app.in_flight.as_ref().unwrap().id.0;
    end(&mut app, id, Some(ApiError::EndedEarly));
    let said = app
        .notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default();
    assert!(!said.contains("probably"), "{said}");
}
