//! Unit tests of `update`: keys and network events in, whole state and
//! every returned `Effect` out. Keys are written in the DSL of
//! `test_support` (`keys(&mut app, "hello<Enter>")`, `<C-o>`, `<A-Enter>`,
//! `<F2>`…); the follow/scroll rules go through `ui::prepare` at a small
//! size; the frame coalescing goes through the runtime's `FramePacer`.

use std::time::{Duration, Instant};

use pretty_assertions::assert_eq;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::Rect;

use super::effect::Effect;
use super::keymap::{BINDINGS, Command, Context};
use super::model_menu::{MenuModel, ModelMenu};
use super::msg::{Msg, RequestId};
use super::state::{App, Popup, Settings};
use super::test_support::{self, SYSTEM, changed, key, keys, notice, t0, unchanged, warm_app};
use super::transcript::ScrollAnchor;
use super::update::{Update, update};
use crate::api::client::{StreamEnd, StreamEvent};
use crate::api::error::ApiError;
use crate::api::types::{ChatMessage, ChatRequest, Role, ServerError, Usage};
use crate::chat::conversation::{MessageId, MessageStatus};
use crate::chat::estimate;
use crate::chat::pricing::PriceTable;
use crate::chat::usage::{RequestOutcome, RequestUsage, UsageTotals};
use crate::runtime::frames::{FRAME_INTERVAL, FramePacer};
use crate::ui::{self, Ui};

// ---------------------------------------------------------------- fixtures

/// [`test_support::settings`] with another model, a temperature and a token limit.
fn settings() -> Settings {
    Settings {
        extra_models: vec!["llama3".into()],
        temperature: Some(0.5),
        max_tokens: Some(256),
        ..test_support::settings()
    }
}

fn new_app() -> App {
    warm_app(settings())
}

/// An app whose server model list has arrived.
fn app_with_models() -> App {
    let mut app = new_app();
    assert_eq!(
        update(&mut app, models_msg(&["gpt-4o", "gpt-4o-mini", "o3"])),
        unchanged()
    );
    app
}

/// The default provider's list arrived with these ids.
fn models_msg(ids: &[&str]) -> Msg {
    Msg::Models {
        provider: "default".into(),
        result: Ok(ids.iter().map(|id| MenuModel::bare(*id)).collect()),
    }
}

fn api_at(app: &mut App, id: u64, event: StreamEvent, at: Instant) -> Update {
    test_support::api_at(app, RequestId(id), event, at)
}

fn api(app: &mut App, id: u64, event: StreamEvent) -> Update {
    api_at(app, id, event, t0())
}

fn delta(text: &str) -> StreamEvent {
    StreamEvent::Delta(text.into())
}

fn end(finish_reason: Option<&str>, error: Option<ApiError>) -> StreamEvent {
    StreamEvent::End(StreamEnd {
        finish_reason: finish_reason.map(Into::into),
        error,
        ..StreamEnd::default()
    })
}

fn usage(prompt: u64, completion: u64) -> Usage {
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        ..Usage::default()
    }
}

fn status_401() -> ApiError {
    ApiError::Status {
        status: 401,
        error: ServerError {
            message: "Incorrect API key provided".into(),
            kind: Some("invalid_request_error".into()),
            code: Some("invalid_api_key".into()),
            param: None,
            n_ctx: None,
        },
        retry_after: None,
        should_retry: None,
        base_url: "https://api.openai.com/v1".into(),
        key_hint: None,
    }
}

/// The ledger rows an update asks for: (answer, outcome, whether usage was counted).
fn records(out: &Update) -> Vec<(MessageId, RequestOutcome, bool)> {
    out.effects
        .iter()
        .filter_map(|e| {
            if let Effect::RecordUsage(done) = e {
                Some((done.message, done.outcome, done.usage.is_some()))
            } else {
                None
            }
        })
        .collect()
}

/// The update without its ledger rows (checked apart with [`records`]).
fn without_records(mut out: Update) -> Update {
    out.effects.retain(|e| !matches!(e, Effect::RecordUsage(_)));
    out
}

/// The assistant message the request in flight writes to.
fn answer_id(app: &App) -> MessageId {
    app.in_flight.as_ref().unwrap().message
}

/// Role, text and status of every message: the transcript as a value.
fn transcript(app: &App) -> Vec<(Role, String, MessageStatus)> {
    app.conversation
        .messages()
        .iter()
        .map(|m| (m.role, m.content.clone(), m.status))
        .collect()
}

fn msg(role: Role, text: &str, status: MessageStatus) -> (Role, String, MessageStatus) {
    (role, text.to_string(), status)
}

/// Type `question`, send it, and let the server start answering.
fn ask(app: &mut App, question: &str) -> RequestId {
    let effects = keys(app, &format!("{question}<Enter>"));
    let [Effect::StartChat { id, .. }] = effects.as_slice() else {
        panic!("expected one StartChat, got {effects:?}");
    };
    assert_eq!(api(app, id.0, StreamEvent::Started), changed(vec![]));
    *id
}

// ---------------------------------------------------------------- sending

#[test]
fn enter_sends_the_whole_conversation_with_settings() {
    let mut app = new_app();
    let effects = keys(&mut app, "hello<Enter>");
    assert_eq!(
        effects,
        vec![Effect::StartChat {
            id: RequestId(1),
            request: ChatRequest {
                model: "gpt-4o-mini".into(),
                messages: vec![
                    ChatMessage::new(Role::System, SYSTEM),
                    ChatMessage::new(Role::User, "hello"),
                ],
                temperature: Some(0.5),
                max_tokens: Some(256),
            },
        }]
    );
    assert_eq!(app.input.composer.text(), "");
    assert_eq!(
        transcript(&app),
        vec![
            msg(Role::System, SYSTEM, MessageStatus::Complete),
            msg(Role::User, "hello", MessageStatus::Complete),
            msg(Role::Assistant, "", MessageStatus::Streaming),
        ]
    );
    assert_eq!(app.in_flight.as_ref().map(|f| f.id), Some(RequestId(1)));
    assert_eq!(
        app.transcript.to_bottom, 1,
        "sending follows the bottom again"
    );

    // The second turn carries the first, answer included.
    api(&mut app, 1, StreamEvent::Started);
    api(&mut app, 1, delta("안녕하세요"));
    api(&mut app, 1, end(Some("stop"), None));
    assert_eq!(
        keys(&mut app, "again<Enter>"),
        vec![Effect::StartChat {
            id: RequestId(2),
            request: ChatRequest {
                model: "gpt-4o-mini".into(),
                messages: vec![
                    ChatMessage::new(Role::System, SYSTEM),
                    ChatMessage::new(Role::User, "hello"),
                    ChatMessage::new(Role::Assistant, "안녕하세요"),
                    ChatMessage::new(Role::User, "again"),
                ],
                temperature: Some(0.5),
                max_tokens: Some(256),
            },
        }]
    );
}

#[test]
fn no_system_prompt_and_no_sampling_settings() {
    let mut app = warm_app(Settings {
        system: None,
        temperature: None,
        max_tokens: None,
        ..settings()
    });
    assert_eq!(
        keys(&mut app, "ChatGPT란 무엇입니까?<Enter>"),
        vec![Effect::StartChat {
            id: RequestId(1),
            request: ChatRequest {
                model: "gpt-4o-mini".into(),
                messages: vec![ChatMessage::new(Role::User, "ChatGPT란 무엇입니까?")],
                temperature: None,
                max_tokens: None,
            },
        }]
    );
}

#[test]
fn enter_on_blank_input_does_nothing() {
    let mut app = new_app();
    assert_eq!(key(&mut app, "<Enter>"), unchanged());
    keys(&mut app, "  <A-Enter> ");
    assert_eq!(key(&mut app, "<Enter>"), unchanged());
    assert_eq!(app.input.composer.text(), "  \n ");
    assert_eq!(transcript(&app).len(), 1, "only the system prompt");
    assert_eq!(app.in_flight, None);
}

#[test]
fn enter_while_streaming_keeps_the_text_and_says_how_to_stop() {
    let mut app = new_app();
    ask(&mut app, "first");
    assert_eq!(keys(&mut app, "second<Enter>"), vec![]);
    assert_eq!(app.input.composer.text(), "second");
    assert_eq!(
        app.notice,
        notice("an answer is still streaming — Esc stops it", false)
    );
    assert!(app.notice.as_ref().unwrap().text.contains("Esc"));
    assert_eq!(transcript(&app).len(), 3);
}

#[test]
fn enter_without_a_key_explains_instead_of_sending() {
    let mut app = warm_app(Settings {
        needs_key: true,
        ..settings()
    });
    assert_eq!(keys(&mut app, "hi<Enter>"), vec![]);
    assert_eq!(app.input.composer.text(), "hi");
    assert!(app.notice.as_ref().unwrap().text.contains("OPENAI_API_KEY"));
    assert!(app.notice.as_ref().unwrap().is_error);
}

#[test]
fn newline_keys_insert_a_newline_and_never_send() {
    let mut app = new_app();
    assert_eq!(key(&mut app, "<A-Enter>"), changed(vec![]));
    assert_eq!(key(&mut app, "<C-j>"), changed(vec![]));
    assert_eq!(key(&mut app, "<S-Enter>"), changed(vec![]));
    assert_eq!(app.input.composer.text(), "\n\n\n");
    assert_eq!(keys(&mut app, "a<A-Enter>b<C-j>c<S-Enter>d"), vec![]);
    assert_eq!(app.input.composer.text(), "\n\n\na\nb\nc\nd");
    assert_eq!(app.in_flight, None);
    // Ctrl+Shift+J (some terminals add Shift) is a newline too.
    keys(&mut app, "<C-S-J>");
    assert_eq!(app.input.composer.text(), "\n\n\na\nb\nc\nd\n");
}

#[test]
fn ctrl_j_never_reaches_the_textarea_as_a_delete() {
    // ratatui-textarea's own Ctrl+J deletes to the line head; kaiwa's inserts a newline.
    let mut app = new_app();
    keys(&mut app, "abc<Left><C-j>");
    assert_eq!(app.input.composer.text(), "ab\nc");
    keys(&mut app, "<Home><C-j>");
    assert_eq!(app.input.composer.text(), "ab\n\nc");
}

#[test]
fn key_releases_are_ignored() {
    let mut app = new_app();
    let mut release = KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE);
    release.kind = KeyEventKind::Release;
    assert_eq!(update(&mut app, Msg::Key(release)), unchanged());
    assert_eq!(app.input.composer.text(), "");
    // Unbound keys are no change at all (no redraw).
    assert_eq!(key(&mut app, "<F5>"), unchanged());
    assert_eq!(key(&mut app, "<Esc>"), unchanged());
}

// ---------------------------------------------------------------- stopping

#[test]
fn esc_while_streaming_stops_keeps_text_and_estimates_usage() {
    let mut app = new_app();
    let id = ask(&mut app, "hello");
    api(&mut app, 1, delta("Hel"));
    api(&mut app, 1, delta("lo"));
    let sent = app.in_flight.as_ref().unwrap().sent.clone();
    let answer = answer_id(&app);
    let out = key(&mut app, "<Esc>");
    assert_eq!(records(&out), [(answer, RequestOutcome::Stopped, true)]);
    assert_eq!(
        without_records(out),
        changed(vec![Effect::CancelChat { id }])
    );
    assert_eq!(app.in_flight, None);
    assert_eq!(
        transcript(&app)[2],
        msg(Role::Assistant, "Hello", MessageStatus::Stopped)
    );
    assert_eq!(app.notice, notice("stopped", false));
    let mut expected = UsageTotals::default();
    expected.add(&RequestUsage::estimated(
        estimate::prompt_tokens("gpt-4o-mini", &sent),
        estimate::text_tokens("gpt-4o-mini", "Hello"),
        "gpt-4o-mini",
        &PriceTable::default(),
    ));
    assert_eq!(app.usage.totals, expected);
    assert!(app.usage.totals.status_text().starts_with("prompt ~"));
    assert!(app.usage.totals.status_text().contains("· ~$"));

    // Late events of the stopped request change nothing.
    assert_eq!(api(&mut app, 1, delta(" world")), unchanged());
    assert_eq!(
        api(&mut app, 1, StreamEvent::Usage(usage(1, 1))),
        unchanged()
    );
    assert_eq!(api(&mut app, 1, end(Some("stop"), None)), unchanged());
    assert_eq!(transcript(&app)[2].1, "Hello");
    assert_eq!(app.usage.totals, expected);

    // The stopped text is part of the next request.
    let effects = keys(&mut app, "more<Enter>");
    let [Effect::StartChat { request, .. }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(
        request.messages[2],
        ChatMessage::new(Role::Assistant, "Hello")
    );
}

#[test]
fn sigterm_while_streaming_keeps_the_text_as_interrupted_and_quits() {
    let mut app = new_app();
    let id = ask(&mut app, "hello");
    api(&mut app, 1, delta("Hel"));
    api(&mut app, 1, delta("lo"));
    let out = update(&mut app, Msg::Terminated("SIGTERM"));
    let [
        Effect::CancelChat { id: cancelled },
        Effect::RecordUsage(done),
        Effect::Quit,
    ] = out.effects.as_slice()
    else {
        panic!("{out:?}");
    };
    assert_eq!(*cancelled, id);
    assert_eq!(app.in_flight, None);
    assert!(app.should_quit);
    let m = &app.conversation.messages()[2];
    assert_eq!(m.content, "Hello");
    assert_eq!(m.status, MessageStatus::Interrupted);
    assert_eq!(m.error.as_deref(), Some("kaiwa was ended by SIGTERM"));
    // The request counts (estimated) and reaches the ledger, linked to the answer.
    assert!(app.usage.totals.status_text().starts_with("prompt ~"));
    assert_eq!(
        (done.message, done.outcome),
        (m.id, RequestOutcome::Interrupted)
    );

    // Nothing streaming: it only quits.
    let mut app = new_app();
    assert_eq!(
        update(&mut app, Msg::Terminated("SIGHUP")),
        changed(vec![Effect::Quit])
    );
}

#[test]
fn esc_before_the_server_answered_counts_nothing() {
    let mut app = new_app();
    assert_eq!(keys(&mut app, "hi<Enter>").len(), 1);
    assert_eq!(
        key(&mut app, "<Esc>"),
        changed(vec![Effect::CancelChat { id: RequestId(1) }])
    );
    assert_eq!(
        transcript(&app)[2],
        msg(Role::Assistant, "", MessageStatus::Stopped)
    );
    assert_eq!(app.usage.totals, UsageTotals::default());
    assert_eq!(
        app.usage.totals.status_text(),
        "prompt 0 · completion 0 · total 0"
    );
    // An empty stopped answer is not sent again.
    let effects = keys(&mut app, "again<Enter>");
    let [Effect::StartChat { request, .. }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    // Nor is the question of that failed turn (SPEC: failed turns are not
    // sent; two user messages in a row would be rejected by strict templates).
    assert_eq!(
        request.messages,
        vec![
            ChatMessage::new(Role::System, SYSTEM),
            ChatMessage::new(Role::User, "again"),
        ]
    );
}

#[test]
fn stop_after_usage_arrived_counts_the_servers_usage() {
    let mut app = new_app();
    ask(&mut app, "hi");
    api(&mut app, 1, delta("text"));
    api(&mut app, 1, StreamEvent::Usage(usage(17, 188)));
    keys(&mut app, "<Esc>");
    assert_eq!(
        app.usage.totals.status_text(),
        "prompt 17 · completion 188 · total 205 · $0.0001"
    );
}

#[test]
fn ctrl_c_stops_a_stream_else_quits() {
    let mut app = new_app();
    let id = ask(&mut app, "hi");
    api(&mut app, 1, delta("partial"));
    let answer = answer_id(&app);
    let out = key(&mut app, "<C-c>");
    assert_eq!(records(&out), [(answer, RequestOutcome::Stopped, true)]);
    assert_eq!(
        without_records(out),
        changed(vec![Effect::CancelChat { id }])
    );
    assert!(!app.should_quit);
    assert_eq!(transcript(&app)[2].2, MessageStatus::Stopped);
    assert_eq!(key(&mut app, "<C-c>"), changed(vec![Effect::Quit]));
    assert!(app.should_quit);
}

#[test]
fn ctrl_q_quits_and_cancels_a_stream() {
    let mut app = new_app();
    assert_eq!(key(&mut app, "<C-q>"), changed(vec![Effect::Quit]));
    assert!(app.should_quit);

    let mut app = new_app();
    let id = ask(&mut app, "hi");
    assert_eq!(
        key(&mut app, "<C-q>"),
        changed(vec![Effect::CancelChat { id }, Effect::Quit])
    );
    assert_eq!(app.in_flight, None);
}

#[test]
fn ctrl_q_and_ctrl_c_work_with_a_popup_open() {
    for open in ["<F2>", "<F1>"] {
        let mut app = new_app();
        keys(&mut app, open);
        assert!(app.popup.is_some());
        assert_eq!(keys(&mut app, "<C-q>"), vec![Effect::Quit], "{open}");

        let mut app = new_app();
        let id = ask(&mut app, "hi");
        keys(&mut app, open);
        let mut effects = keys(&mut app, "<C-c>");
        effects.retain(|e| !matches!(e, Effect::RecordUsage(_)));
        assert_eq!(effects, vec![Effect::CancelChat { id }], "{open}");
    }
}

// ---------------------------------------------------------------- model menu

fn menu(app: &App) -> &ModelMenu {
    match &app.popup {
        Some(Popup::ModelMenu(menu)) => menu,
        other => panic!("model menu expected, got {other:?}"),
    }
}

#[test]
fn model_menu_opens_filters_moves_and_picks() {
    for open in ["<F2>", "<C-o>"] {
        let mut app = app_with_models();
        assert_eq!(key(&mut app, open), changed(vec![]));
        assert_eq!(menu(&app).filter, "");
        assert_eq!(menu(&app).cursor, 1);
        assert_eq!(
            menu(&app).visible(),
            ["gpt-4o", "gpt-4o-mini", "llama3", "o3"]
        );
        assert_eq!(menu(&app).selected().as_deref(), Some("gpt-4o-mini"));
        keys(&mut app, "<Down>");
        assert_eq!(menu(&app).selected().as_deref(), Some("llama3"));
        keys(&mut app, "<Up><Up><Up>");
        assert_eq!(menu(&app).selected().as_deref(), Some("gpt-4o"));
        keys(&mut app, "<C-n><C-n><C-p>");
        assert_eq!(menu(&app).selected().as_deref(), Some("gpt-4o-mini"));

        // Typing filters (case-insensitive), the cursor goes to the first match.
        keys(&mut app, "O");
        assert_eq!(menu(&app).visible(), ["gpt-4o", "gpt-4o-mini", "o3"]);
        keys(&mut app, "3");
        assert_eq!(menu(&app).visible(), ["o3"]);
        keys(&mut app, "<Backspace><Down><Down>");
        assert_eq!(menu(&app).filter, "O");
        assert_eq!(menu(&app).selected().as_deref(), Some("o3"));
        assert_eq!(app.input.composer.text(), "", "typing went to the menu");

        assert_eq!(key(&mut app, "<Enter>"), changed(vec![]));
        assert_eq!(app.popup, None);
        assert_eq!(app.settings.model, "o3");
        assert_eq!(app.notice, notice("model: o3", false));

        let effects = keys(&mut app, "hi<Enter>");
        let [Effect::StartChat { request, .. }] = effects.as_slice() else {
            panic!("{effects:?}");
        };
        assert_eq!(request.model, "o3");
        assert_eq!(app.conversation.messages()[2].model.as_deref(), Some("o3"));
        assert_eq!(app.in_flight.as_ref().unwrap().model, "o3");
    }
}

#[test]
fn model_menu_closes_without_picking() {
    for close in ["<Esc>", "<F2>", "<C-o>"] {
        let mut app = app_with_models();
        keys(&mut app, "<F2><Down>");
        assert_eq!(key(&mut app, close), changed(vec![]), "{close}");
        assert_eq!(app.popup, None);
        assert_eq!(app.settings.model, "gpt-4o-mini");
    }
}

#[test]
fn model_menu_enter_with_no_match_uses_the_typed_id() {
    let mut app = app_with_models();
    keys(&mut app, "<F2>zzz");
    assert_eq!(menu(&app).selected(), None);
    keys(&mut app, "<Enter>");
    assert_eq!(app.popup, None);
    assert_eq!(app.settings.model, "zzz");
}

#[test]
fn model_menu_without_the_servers_list() {
    let mut app = new_app();
    let refused = ApiError::from_status(500, b"", None, None, "http://x/v1");
    let failed = Msg::Models {
        provider: "default".into(),
        result: Err(refused),
    };
    assert_eq!(update(&mut app, failed), unchanged());
    assert_eq!(
        app.models.failures().collect::<Vec<_>>(),
        [("default", "the server failed (HTTP 500)")]
    );
    keys(&mut app, "<F2>");
    assert_eq!(menu(&app).visible(), ["gpt-4o-mini", "llama3"]);
    keys(&mut app, "<Down><Enter>");
    assert_eq!(app.settings.model, "llama3");
}

#[test]
fn models_arriving_while_the_menu_is_open_keep_the_filter() {
    let mut app = new_app();
    keys(&mut app, "<F2>o");
    assert_eq!(menu(&app).visible(), ["gpt-4o-mini"]);
    let update_ = update(&mut app, models_msg(&["o3", "gpt-4o"]));
    assert_eq!(update_, changed(vec![]));
    assert_eq!(menu(&app).filter, "o");
    assert_eq!(menu(&app).visible(), ["gpt-4o", "gpt-4o-mini", "o3"]);
}

#[test]
fn paste_into_the_model_menu_filters_with_its_first_line() {
    let mut app = app_with_models();
    keys(&mut app, "<F2>");
    update(&mut app, Msg::Paste("o3\nrest".into()));
    assert_eq!(menu(&app).filter, "o3");
    assert_eq!(app.input.composer.text(), "");
}

#[test]
fn editing_keys_in_a_popup_do_not_edit_the_hidden_input() {
    let mut app = app_with_models();
    keys(&mut app, "draft<F2>");
    keys(&mut app, "<Left><Del><C-w><C-j><A-Enter><Tab><Home>");
    assert_eq!(app.input.composer.text(), "draft");
    keys(&mut app, "<Esc><F1>");
    keys(&mut app, "x<Left><C-w><A-Enter><Backspace><C-u>");
    assert_eq!(app.input.composer.text(), "draft");
    assert_eq!(app.popup, Some(Popup::Help { scroll: 0 }));
    // Global keys still work from inside a popup.
    assert_eq!(
        key(&mut app, "<F12>"),
        changed(vec![Effect::SetMouseCapture(false)])
    );
    keys(&mut app, "<F2>");
    assert!(matches!(app.popup, Some(Popup::ModelMenu(_))));
}

// ---------------------------------------------------------------- help, scrolling, others

#[test]
fn help_opens_scrolls_and_closes() {
    for close in ["<Esc>", "<F1>", "q"] {
        let mut app = new_app();
        assert_eq!(key(&mut app, "<F1>"), changed(vec![]));
        assert_eq!(app.popup, Some(Popup::Help { scroll: 0 }));
        keys(&mut app, "<Down><Down><PageDown><Up>");
        assert_eq!(app.popup, Some(Popup::Help { scroll: 11 }));
        keys(&mut app, "<PageUp><PageUp>");
        assert_eq!(app.popup, Some(Popup::Help { scroll: 0 }));
        assert_eq!(key(&mut app, close), changed(vec![]));
        assert_eq!(app.popup, None);
        assert_eq!(app.input.composer.text(), "");
    }
}

#[test]
fn page_keys_record_scroll_requests_and_ctrl_end_follows() {
    let mut app = new_app();
    assert_eq!(key(&mut app, "<PageUp>"), changed(vec![]));
    assert_eq!(app.transcript.scrolled_pages, -1);
    keys(&mut app, "<PageUp><PageDown>");
    assert_eq!(app.transcript.scrolled_pages, -1);
    assert_eq!(app.transcript.to_bottom, 0);
    assert_eq!(key(&mut app, "<C-End>"), changed(vec![]));
    assert_eq!(app.transcript.to_bottom, 1);
    // Plain End belongs to the input box.
    keys(&mut app, "ab<Home>");
    let before = app.transcript;
    keys(&mut app, "<End>c");
    assert_eq!(app.input.composer.text(), "abc");
    assert_eq!(app.transcript, before, "End did not scroll");
}

#[test]
fn ctrl_n_starts_over_keeping_system_prompt_and_totals() {
    let mut app = new_app();
    ask(&mut app, "hi");
    api(&mut app, 1, delta("answer"));
    api(&mut app, 1, StreamEvent::Usage(usage(17, 188)));
    api(&mut app, 1, end(Some("stop"), None));
    let totals = app.usage.totals;
    assert_eq!(
        key(&mut app, "<C-n>"),
        changed(vec![Effect::ConversationSwitched { resumed: false }])
    );
    assert_eq!(
        transcript(&app),
        vec![msg(Role::System, SYSTEM, MessageStatus::Complete)]
    );
    assert_eq!(app.usage.totals, totals);
    assert_eq!(app.notice, notice("new conversation", false));
    let effects = keys(&mut app, "next<Enter>");
    let [Effect::StartChat { id, request }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(*id, RequestId(2), "request ids keep growing");
    assert_eq!(
        request.messages,
        vec![
            ChatMessage::new(Role::System, SYSTEM),
            ChatMessage::new(Role::User, "next"),
        ]
    );
}

#[test]
fn ctrl_n_while_streaming_cancels_and_counts_what_was_billed() {
    let mut app = new_app();
    let id = ask(&mut app, "hi");
    api(&mut app, 1, delta("part"));
    let answer = answer_id(&app);
    let out = key(&mut app, "<C-n>");
    // Stopped, in the ledger linked to its answer, then the switch (in that order:
    // the runtime records the row before the history leaves the conversation).
    assert_eq!(records(&out), [(answer, RequestOutcome::Stopped, true)]);
    assert_eq!(
        without_records(out),
        changed(vec![
            Effect::CancelChat { id },
            Effect::ConversationSwitched { resumed: false }
        ])
    );
    assert_eq!(app.in_flight, None);
    assert_eq!(transcript(&app).len(), 1);
    assert!(
        app.usage.totals.status_text().starts_with("prompt ~"),
        "the started request was billed: {}",
        app.usage.totals.status_text()
    );
    assert_eq!(app.notice, notice("new conversation", false));
}

#[test]
fn f12_toggles_mouse_capture() {
    let mut app = new_app();
    assert!(app.mouse_capture);
    assert_eq!(
        key(&mut app, "<F12>"),
        changed(vec![Effect::SetMouseCapture(false)])
    );
    assert!(!app.mouse_capture);
    assert!(app.notice.as_ref().unwrap().text.contains("F12"));
    assert_eq!(
        key(&mut app, "<F12>"),
        changed(vec![Effect::SetMouseCapture(true)])
    );
    assert!(app.mouse_capture);
}

#[test]
fn paste_inserts_text_with_newlines_and_does_not_send() {
    let mut app = new_app();
    keys(&mut app, "say: ");
    let update_ = update(&mut app, Msg::Paste("line 1\r\nline 2\n한국어\rend".into()));
    assert_eq!(update_, changed(vec![]));
    assert_eq!(
        app.input.composer.text(),
        "say: line 1\nline 2\n한국어\nend"
    );
    assert_eq!(app.in_flight, None);
    assert_eq!(transcript(&app).len(), 1);
    // Paste while the help is open goes nowhere.
    keys(&mut app, "<F1>");
    assert_eq!(update(&mut app, Msg::Paste("x".into())), unchanged());
}

/// Every binding of the table, pressed in its context, does its command.
#[test]
fn every_binding_in_the_table_does_what_it_says() {
    for binding in BINDINGS {
        for k in binding.keys {
            let mut app = app_with_models();
            keys(&mut app, "hi");
            match binding.context {
                Context::Global | Context::Input => {}
                Context::Streaming => {
                    keys(&mut app, "<Enter>again");
                }
                Context::ModelMenu => {
                    keys(&mut app, "<F2>");
                }
                Context::Help => {
                    keys(&mut app, "<F1>");
                }
                // Browsing keys are covered by the browse tests.
                Context::Transcript | Context::RawView | Context::History => continue,
            }
            if binding.command == Command::CancelEdit {
                // Esc cancels an edit in progress: start one.
                keys(&mut app, "<Tab>e");
            }
            let before_mouse = app.mouse_capture;
            let mut out = update(&mut app, Msg::Key(KeyEvent::new(k.code, k.mods)));
            out.effects.retain(|e| !matches!(e, Effect::SavePrompt(_)));
            let why = format!("{} ({:?}) in {:?}", binding.label, k, binding.context);
            assert!(out.changed, "{why}");
            check_command(binding.command, &app, &out.effects, before_mouse, &why);
        }
    }
}

#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "the browsing commands are the browse tests'; any other command bound in these \
              contexts without an arm here fails the test"
)]
fn check_command(command: Command, app: &App, effects: &[Effect], mouse: bool, why: &str) {
    let none: &[Effect] = &[];
    match command {
        Command::Submit => {
            assert!(
                matches!(effects, [Effect::StartChat { request, .. }] if request.messages.len() == 2),
                "{why}: {effects:?}"
            );
        }
        Command::InsertNewline => {
            assert_eq!(effects, none, "{why}");
            assert_eq!(app.input.composer.text(), "hi\n", "{why}");
        }
        Command::StopAnswer => {
            assert_eq!(effects, [Effect::CancelChat { id: RequestId(1) }], "{why}");
            assert_eq!(app.input.composer.text(), "again", "{why}");
        }
        Command::QuitOrStop | Command::Quit => {
            assert_eq!(effects, [Effect::Quit], "{why}");
        }
        Command::Suspend => assert_eq!(effects, [Effect::Suspend], "{why}"),
        Command::OpenModelMenu => {
            assert!(matches!(app.popup, Some(Popup::ModelMenu(_))), "{why}");
        }
        Command::ScrollPageUp => assert_eq!(app.transcript.scrolled_pages, -1, "{why}"),
        Command::ScrollPageDown => assert_eq!(app.transcript.scrolled_pages, 1, "{why}"),
        Command::ScrollToBottom => assert_eq!(app.transcript.to_bottom, 1, "{why}"),
        Command::NewConversation => {
            assert_eq!(app.notice, notice("new conversation", false), "{why}");
        }
        Command::OpenHelp => assert_eq!(app.popup, Some(Popup::Help { scroll: 0 }), "{why}"),
        Command::ToggleMouse => {
            assert_eq!(effects, [Effect::SetMouseCapture(!mouse)], "{why}");
        }
        Command::MenuUp => assert_eq!(menu(app).cursor, 0, "{why}"),
        Command::MenuDown => assert_eq!(menu(app).cursor, 2, "{why}"),
        Command::MenuPick => {
            assert_eq!(app.popup, None, "{why}");
            assert_eq!(app.notice, notice("model: gpt-4o-mini", false), "{why}");
        }
        Command::ClosePopup => {
            assert_eq!(app.popup, None, "{why}");
            assert_eq!(effects, none, "{why}");
        }
        Command::FocusTranscript => {
            // The system prompt is there to select.
            assert_eq!(
                app.browse.focus,
                crate::app::state::Focus::Transcript,
                "{why}"
            );
            assert_eq!(app.browse.selected, app.conversation.head(), "{why}");
        }
        Command::OpenEditor => {
            assert_eq!(effects, [Effect::OpenEditor { text: "hi".into() }], "{why}");
        }
        Command::CycleRole => assert_eq!(app.input.role, Role::Assistant, "{why}"),
        Command::OpenHistory => {
            // History is off in these tests (no store): it says so.
            assert_eq!(
                app.notice,
                notice("history is off (--no-history)", false),
                "{why}"
            );
        }
        Command::CancelEdit => {
            assert_eq!(app.input.editing, None, "{why}");
            assert_eq!(app.input.composer.text(), "", "{why}");
        }
        // Browsing commands (the browse tests check them), or a new command without a check.
        other => panic!("{why}: {other:?} has no check in the input context"),
    }
}

// ---------------------------------------------------------------- streaming

#[test]
fn events_of_a_stale_request_are_ignored() {
    let mut app = new_app();
    ask(&mut app, "one");
    keys(&mut app, "<Esc>");
    let id = ask(&mut app, "two");
    assert_eq!(id, RequestId(2));
    assert_eq!(api(&mut app, 1, delta("stale")), unchanged());
    assert_eq!(api(&mut app, 99, delta("never")), unchanged());
    assert_eq!(api(&mut app, 1, end(None, Some(status_401()))), unchanged());
    assert_eq!(api(&mut app, 2, delta("fresh")), changed(vec![]));
    let t = transcript(&app);
    assert_eq!(t[2], msg(Role::Assistant, "", MessageStatus::Stopped));
    assert_eq!(
        t[4],
        msg(Role::Assistant, "fresh", MessageStatus::Streaming)
    );
    assert_eq!(app.notice, None);
}

#[test]
fn deltas_append_and_usage_then_stop_counts_exactly() {
    let mut app = new_app();
    ask(&mut app, "ChatGPT란 무엇입니까?");
    // Raw text is stored exactly, escape sequences and all.
    for piece in ["ChatGPT는 ", "대화형 ", "AI입니다.", "\x1b[2J"] {
        assert_eq!(api(&mut app, 1, delta(piece)), changed(vec![]));
    }
    assert_eq!(
        api(&mut app, 1, StreamEvent::Usage(usage(17, 188))),
        changed(vec![])
    );
    assert_eq!(
        app.usage.totals,
        UsageTotals::default(),
        "counted only at the end"
    );
    let answer = answer_id(&app);
    let out = api(&mut app, 1, end(Some("stop"), None));
    assert_eq!(records(&out), [(answer, RequestOutcome::Done, true)]);
    assert_eq!(without_records(out), changed(vec![]));
    assert_eq!(
        transcript(&app)[2],
        msg(
            Role::Assistant,
            "ChatGPT는 대화형 AI입니다.\x1b[2J",
            MessageStatus::Complete
        )
    );
    assert_eq!(app.in_flight, None);
    assert_eq!(app.notice, None);
    assert_eq!(
        app.usage.totals.status_text(),
        "prompt 17 · completion 188 · total 205 · $0.0001"
    );
    // The context meter follows the cost: 205 of gpt-4o-mini's 128k.
    assert_eq!(
        ui::status::status_text(&app),
        "gpt-4o-mini │ prompt 17 · completion 188 · total 205 · $0.0001 · ctx 0%"
    );
    // A second exchange adds up.
    ask(&mut app, "더 자세히");
    api(&mut app, 2, StreamEvent::Usage(usage(220, 35)));
    api(&mut app, 2, delta("네."));
    api(&mut app, 2, end(Some("stop"), None));
    assert_eq!(
        app.usage.totals.status_text(),
        "prompt 237 · completion 223 · total 460 · $0.0002"
    );
}

#[test]
fn an_overflow_error_opens_the_dialog_with_the_question_back_in_the_input() {
    let mut app = new_app();
    ask(&mut app, "a very long question");
    let overflow = ApiError::from_status(
        400,
        br#"{"error":{"code":400,"message":"request (3028 tokens) exceeds the available context size (2048 tokens)","type":"exceed_context_size_error"}}"#,
        None,
        None,
        "http://127.0.0.1:8080/v1",
    );
    api(&mut app, 1, end(None, Some(overflow)));
    let Some(Popup::Overflow(dialog)) = &app.popup else {
        panic!("{:?}", app.popup);
    };
    let said = dialog.server_said.as_deref().unwrap_or_default();
    assert!(
        said.starts_with("the conversation is too long for the model's context window"),
        "{said}"
    );
    // The question is back in the input, to send again; Esc keeps it there.
    assert_eq!(app.input.composer.text(), "a very long question");
    keys(&mut app, "<Esc>");
    assert_eq!(app.popup, None);
    assert_eq!(app.input.composer.text(), "a very long question");
}

#[test]
fn finish_reason_length_is_noted() {
    let mut app = new_app();
    ask(&mut app, "long");
    api(&mut app, 1, delta("cut"));
    api(&mut app, 1, end(Some("length"), None));
    let m = &app.conversation.messages()[2];
    assert_eq!(m.status, MessageStatus::Complete);
    assert_eq!(m.finish_reason.as_deref(), Some("length"));
}

#[test]
fn error_after_text_interrupts_and_keeps_the_text() {
    let mut app = new_app();
    ask(&mut app, "hi");
    api(&mut app, 1, delta("half an "));
    api(&mut app, 1, delta("answer"));
    let error = ApiError::Broken("connection reset".into());
    let answer = answer_id(&app);
    let out = api(&mut app, 1, end(None, Some(error)));
    assert_eq!(records(&out), [(answer, RequestOutcome::Interrupted, true)]);
    assert_eq!(without_records(out), changed(vec![]));
    let m = &app.conversation.messages()[2];
    assert_eq!(
        (m.content.as_str(), m.status, m.error.as_deref()),
        (
            "half an answer",
            MessageStatus::Interrupted,
            Some("the connection broke: connection reset")
        )
    );
    assert_eq!(
        app.notice,
        notice("interrupted: the connection broke: connection reset", true)
    );
    assert_eq!(app.input.composer.text(), "");
    assert!(app.usage.totals.status_text().starts_with("prompt ~"));
    // The interrupted text is sent with the next turn.
    let effects = keys(&mut app, "go on<Enter>");
    let [Effect::StartChat { request, .. }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(
        request.messages[2],
        ChatMessage::new(Role::Assistant, "half an answer")
    );
}

#[test]
fn error_before_any_text_puts_the_question_back() {
    let mut app = new_app();
    keys(&mut app, "ChatGPT란 무엇입니까?<Enter>");
    let answer = answer_id(&app);
    let out = api(&mut app, 1, end(None, Some(status_401())));
    // Refused before billing: in the ledger as an error, with nothing counted.
    assert_eq!(records(&out), [(answer, RequestOutcome::Error, false)]);
    assert_eq!(without_records(out), changed(vec![]));
    assert_eq!(app.input.composer.text(), "ChatGPT란 무엇입니까?");
    assert_eq!(
        transcript(&app),
        vec![msg(Role::System, SYSTEM, MessageStatus::Complete)]
    );
    assert_eq!(app.in_flight, None);
    assert_eq!(app.notice, notice(&status_401().to_string(), true));
    assert!(app.notice.as_ref().unwrap().text.contains("401"));
    assert_eq!(app.usage.totals, UsageTotals::default());
    // Enter resends it.
    let effects = keys(&mut app, "<Enter>");
    let [Effect::StartChat { id, request }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(*id, RequestId(2));
    assert_eq!(
        request.messages,
        vec![
            ChatMessage::new(Role::System, SYSTEM),
            ChatMessage::new(Role::User, "ChatGPT란 무엇입니까?"),
        ]
    );
    assert_eq!(app.notice, None, "sending clears the error");
}

#[test]
fn early_failure_keeps_what_was_typed_meanwhile() {
    let mut app = new_app();
    ask(&mut app, "question");
    keys(&mut app, "draft");
    api(&mut app, 1, end(None, Some(ApiError::EndedEarly)));
    assert_eq!(app.input.composer.text(), "question\ndraft");
}

#[test]
fn skipped_events_are_counted_and_said() {
    let mut app = new_app();
    ask(&mut app, "hi");
    api(&mut app, 1, delta("ok"));
    api(
        &mut app,
        1,
        StreamEvent::End(StreamEnd {
            finish_reason: Some("stop".into()),
            skipped: 1,
            ..StreamEnd::default()
        }),
    );
    assert_eq!(app.conversation.messages()[2].skipped, 1);
    assert_eq!(
        app.notice,
        notice("1 unreadable event skipped — text may be missing", false)
    );
    ask(&mut app, "again");
    api(
        &mut app,
        2,
        StreamEvent::End(StreamEnd {
            finish_reason: Some("stop".into()),
            skipped: 3,
            ..StreamEnd::default()
        }),
    );
    assert_eq!(
        app.notice,
        notice("3 unreadable events skipped — text may be missing", false)
    );
}

#[test]
fn retrying_waiting_and_streaming_show_in_the_status_bar() {
    let mut app = new_app();
    keys(&mut app, "hi<Enter>");
    assert_eq!(
        ui::status::status_text(&app),
        "gpt-4o-mini │ prompt 0 · completion 0 · total 0 · $0.0000 · ctx ~0% │ ⠋ waiting for the server"
    );
    let cause = ApiError::Status {
        status: 429,
        error: ServerError {
            message: "slow down".into(),
            ..ServerError::default()
        },
        retry_after: None,
        should_retry: None,
        base_url: "https://api.openai.com/v1".into(),
        key_hint: None,
    };
    let retry = StreamEvent::Retrying {
        attempt: 1,
        wait: Duration::from_secs(2),
        cause,
    };
    assert_eq!(api_at(&mut app, 1, retry, t0()), changed(vec![]));
    assert_eq!(
        ui::status::status_text(&app),
        "gpt-4o-mini │ prompt 0 · completion 0 · total 0 · $0.0000 · ctx ~0% │ ⠋ retry 1/2 in 2s: rate limited (429): slow down"
    );
    // The countdown moves with ticks; ticks also turn the spinner.
    assert_eq!(
        update(&mut app, Msg::Tick(t0() + Duration::from_secs(1))),
        changed(vec![])
    );
    assert_eq!(
        ui::status::status_text(&app),
        "gpt-4o-mini │ prompt 0 · completion 0 · total 0 · $0.0000 · ctx ~0% │ ⠙ retry 1/2 in 1s: rate limited (429): slow down"
    );
    let later = t0() + Duration::from_secs(2);
    api_at(&mut app, 1, StreamEvent::Started, later);
    assert_eq!(
        ui::status::status_text(&app),
        "gpt-4o-mini │ prompt 0 · completion 0 · total 0 · $0.0000 · ctx ~0% │ ⠙ streaming"
    );
    // Speed appears once there is enough to measure.
    api_at(&mut app, 1, delta("a"), later);
    api_at(&mut app, 1, delta("b"), later + Duration::from_millis(500));
    api_at(&mut app, 1, delta("c"), later + Duration::from_secs(1));
    assert_eq!(
        ui::status::status_text(&app),
        "gpt-4o-mini │ prompt 0 · completion 0 · total 0 · $0.0000 · ctx ~0% │ ⠙ streaming 2 tok/s"
    );
}

#[test]
fn ticks_only_matter_while_something_moves() {
    let mut app = new_app();
    assert_eq!(app.next_wakeup(t0()), None, "idle: no wake-ups");
    assert_eq!(update(&mut app, Msg::Tick(t0())), unchanged());
    keys(&mut app, "hi<Enter>");
    assert!(app.next_wakeup(t0()).is_some());
    assert_eq!(update(&mut app, Msg::Tick(t0())), changed(vec![]));
    api(&mut app, 1, end(Some("stop"), None));
    assert_eq!(app.next_wakeup(t0()), None);
}

// ---------------------------------------------------------------- coalescing

#[test]
fn a_burst_of_deltas_is_one_frame() {
    let mut app = new_app();
    ask(&mut app, "count");
    let mut pacer = FramePacer::default();
    // The frame before the burst was drawn just now.
    pacer.drawn(t0());
    let burst_at = t0() + Duration::from_millis(1);
    for i in 0..1000 {
        let out = api_at(&mut app, 1, delta(&format!("{i} ")), burst_at);
        assert_eq!(out, changed(vec![]), "delta {i}");
        if out.changed {
            pacer.mark_dirty();
        }
    }
    assert_eq!(app.conversation.messages()[2].content.len(), 3890);
    // One deadline for the whole burst, one interval after the last frame.
    assert_eq!(pacer.deadline(burst_at), Some(t0() + FRAME_INTERVAL));
    assert_eq!(
        pacer.deadline(burst_at + Duration::from_millis(5)),
        Some(t0() + FRAME_INTERVAL)
    );
    pacer.drawn(t0() + FRAME_INTERVAL);
    assert_eq!(pacer.deadline(t0() + FRAME_INTERVAL), None, "then idle");
    // After an idle stretch, the next change draws at once.
    let idle = t0() + Duration::from_secs(1);
    pacer.mark_dirty();
    assert_eq!(pacer.deadline(idle), Some(idle));
}

// ---------------------------------------------------------------- follow and scroll

/// 30×12: transcript 9 rows, input 2, status 1.
const SMALL: Rect = Rect {
    x: 0,
    y: 0,
    width: 30,
    height: 12,
};
const SMALL_ROWS: usize = 9;

fn at_bottom(ui: &Ui) -> bool {
    ui.transcript.top() + SMALL_ROWS == ui.transcript.total_rows().max(SMALL_ROWS)
}

#[test]
fn streaming_follows_until_scrolled_up_then_stays_put() {
    let mut app = new_app();
    let mut ui = Ui::default();
    ask(&mut app, "count");
    ui::prepare(&mut ui, &app, SMALL);
    for i in 0..20 {
        api(&mut app, 1, delta(&format!("line {i}\n")));
        ui::prepare(&mut ui, &app, SMALL);
        assert!(at_bottom(&ui), "following at delta {i}");
        assert!(!ui.transcript.more_below());
    }
    assert!(ui.transcript.total_rows() > 20);

    keys(&mut app, "<PageUp>");
    ui::prepare(&mut ui, &app, SMALL);
    let top = ui.transcript.top();
    assert_eq!(top + SMALL_ROWS + 7, ui.transcript.total_rows());
    assert!(ui.transcript.more_below());
    assert!(!ui.transcript.is_following());
    for i in 20..40 {
        api(&mut app, 1, delta(&format!("line {i}\n")));
        ui::prepare(&mut ui, &app, SMALL);
        assert_eq!(ui.transcript.top(), top, "new text does not pull the view");
        assert!(ui.transcript.more_below());
    }
    // PageDown back to the end follows again.
    for _ in 0..10 {
        keys(&mut app, "<PageDown>");
        ui::prepare(&mut ui, &app, SMALL);
    }
    assert_eq!(ui.transcript.anchor(), ScrollAnchor::Bottom);
    assert!(!ui.transcript.more_below());

    keys(&mut app, "<PageUp><PageUp>");
    ui::prepare(&mut ui, &app, SMALL);
    assert!(ui.transcript.more_below());
    keys(&mut app, "<C-End>");
    ui::prepare(&mut ui, &app, SMALL);
    assert!(at_bottom(&ui));
    assert!(!ui.transcript.more_below());
    api(&mut app, 1, delta("after\n"));
    ui::prepare(&mut ui, &app, SMALL);
    assert!(at_bottom(&ui), "following again");
}

#[test]
fn scrolling_is_clamped_at_both_ends() {
    let mut app = new_app();
    let mut ui = Ui::default();
    ask(&mut app, "count");
    api(&mut app, 1, delta(&"x\n".repeat(30)));
    ui::prepare(&mut ui, &app, SMALL);
    for _ in 0..20 {
        keys(&mut app, "<PageUp>");
    }
    ui::prepare(&mut ui, &app, SMALL);
    assert_eq!(ui.transcript.top(), 0);
    assert!(ui.transcript.more_below());
    for _ in 0..20 {
        keys(&mut app, "<PageDown>");
    }
    ui::prepare(&mut ui, &app, SMALL);
    assert!(at_bottom(&ui));
    assert_eq!(ui.transcript.anchor(), ScrollAnchor::Bottom);
}

#[test]
fn sending_returns_to_the_bottom() {
    let mut app = new_app();
    let mut ui = Ui::default();
    ask(&mut app, "one");
    api(&mut app, 1, delta(&"x\n".repeat(30)));
    api(&mut app, 1, end(Some("stop"), None));
    ui::prepare(&mut ui, &app, SMALL);
    keys(&mut app, "<PageUp>");
    ui::prepare(&mut ui, &app, SMALL);
    assert!(ui.transcript.more_below());
    keys(&mut app, "two<Enter>");
    ui::prepare(&mut ui, &app, SMALL);
    assert!(at_bottom(&ui));
}

/// Rows before message `id` and its own rows at `width`, measured with the
/// same function the view uses.
fn message_span(app: &App, id: crate::chat::conversation::MessageId, width: u16) -> (usize, usize) {
    let mut start = 0;
    for m in app.conversation.messages() {
        let rows = ui::transcript::message_lines(m, width).len();
        if m.id == id {
            return (start, rows);
        }
        start += rows;
    }
    panic!("message {id:?} not found");
}

#[test]
fn resize_keeps_the_same_message_at_the_top() {
    let mut app = new_app();
    let mut ui = Ui::default();
    for n in 0..6_u32 {
        ask(&mut app, &format!("question {n}"));
        let words = format!("answer{n} ").repeat(12);
        api(&mut app, u64::from(n) + 1, delta(&words));
        api(&mut app, u64::from(n) + 1, end(Some("stop"), None));
    }
    ui::prepare(&mut ui, &app, SMALL);
    keys(&mut app, "<PageUp><PageUp><PageUp>");
    ui::prepare(&mut ui, &app, SMALL);
    let anchor = ui.transcript.anchor();
    let ScrollAnchor::At { message, row } = anchor else {
        panic!("anchored view expected, got {anchor:?}");
    };
    assert!(row > 2, "a mid-message anchor deep in a long answer: {row}");
    let top_at_30 = ui.transcript.top();

    for width in [100, 20, 60, 30] {
        ui::prepare(&mut ui, &app, Rect { width, ..SMALL });
        assert_eq!(ui.transcript.anchor(), anchor, "width {width}");
        // Messages out of view are re-wrapped over the next frames (4 ms
        // each, so how many per frame depends on the machine); rows count
        // from the top of the transcript once they all are.
        while ui.transcript.settling() {
            ui::prepare(&mut ui, &app, Rect { width, ..SMALL });
        }
        assert_eq!(ui.transcript.anchor(), anchor, "width {width}, settled");
        let (start, rows) = message_span(&app, message, width);
        let top = ui.transcript.top();
        assert!(
            (start..start + rows).contains(&top),
            "width {width}: top row {top} is outside the anchored message ({start}..{})",
            start + rows
        );
    }
    assert_eq!(ui.transcript.top(), top_at_30, "back at the first width");
}

#[test]
fn ctrl_n_and_a_new_question_in_one_batch_show_the_new_question() {
    // No frame between Ctrl+N and Enter (keys typed fast, or sent by a script).
    let mut app = new_app();
    let mut ui = Ui::default();
    ask(&mut app, "hello");
    api(&mut app, 1, delta("first answer"));
    api(&mut app, 1, end(Some("stop"), None));
    ui::prepare(&mut ui, &app, SMALL);
    keys(&mut app, "<C-n>bye<Enter>");
    ui::prepare(&mut ui, &app, SMALL);
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(30, 12)).unwrap();
    terminal.draw(|f| ui::draw(&ui, &app, f)).unwrap();
    let screen = terminal.backend().to_string();
    assert!(screen.contains("bye"), "{screen}");
    assert!(!screen.contains("hello"), "{screen}");
    assert!(!screen.contains("first answer"), "{screen}");
}

// ---------------------------------------------------------------- tokenizer

/// The effects of the request `id` ending after `text`, with the server's
/// usage or without.
fn answer_and_end(app: &mut App, id: RequestId, text: &str, with_usage: bool) -> Vec<Effect> {
    api(app, id.0, delta(text));
    if with_usage {
        api(app, id.0, StreamEvent::Usage(usage(12, 3)));
    }
    api(app, id.0, end(Some("stop"), None)).effects
}

fn recorded(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::RecordUsage(_)))
        .count()
}

fn warms(effects: &[Effect]) -> Vec<&str> {
    effects
        .iter()
        .filter_map(|e| {
            if let Effect::WarmTokenizer { model } = e {
                Some(model.as_str())
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn the_tokenizer_is_built_when_an_answer_lacks_usage_and_counts_it_when_ready() {
    // A cold kaiwa: no tables at start.
    let mut app = App::new(settings(), PriceTable::default());
    let id = ask(&mut app, "hello");
    let effects = answer_and_end(&mut app, id, "Hello there", true);
    assert_eq!(warms(&effects), Vec::<&str>::new(), "usage came: no tables");
    assert_eq!(recorded(&effects), 1);
    let after_first = app.usage.totals;

    let id = ask(&mut app, "again");
    let sent = app.in_flight.as_ref().unwrap().sent.clone();
    let effects = answer_and_end(&mut app, id, "Hello again, 안녕하세요", false);
    assert_eq!(warms(&effects), ["gpt-4o-mini"], "no usage: build them");
    assert_eq!(recorded(&effects), 0, "recorded once counted");
    // Until they land the count is rough, shown, and marked.
    let rough = app.usage.totals.completion;
    assert!(rough.estimated, "{rough:?}");
    assert_eq!(
        rough.value,
        3 + estimate::rough_tokens("Hello again, 안녕하세요")
    );

    let id = ask(&mut app, "once more");
    let effects = answer_and_end(&mut app, id, "Hi", false);
    assert_eq!(warms(&effects), Vec::<&str>::new(), "asked for once");

    estimate::warm_up("gpt-4o-mini");
    let out = update(&mut app, Msg::TokenizerReady);
    assert_eq!(records(&out).len(), 2, "both waiting requests recorded");
    let exact = RequestUsage::estimated(
        estimate::prompt_tokens("gpt-4o-mini", &sent),
        estimate::text_tokens("gpt-4o-mini", "Hello again, 안녕하세요"),
        "gpt-4o-mini",
        &PriceTable::default(),
    );
    let Some(Effect::RecordUsage(first)) = out.effects.first() else {
        panic!("{:?}", out.effects);
    };
    assert_eq!(first.usage.as_ref(), Some(&exact), "the tokenizer's count");
    assert_ne!(
        exact.completion,
        rough.value - 3,
        "the rough count was replaced"
    );
    assert!(app.usage.totals.completion.value > after_first.completion.value);
    assert!(app.usage.totals.status_text().contains("completion ~"));

    // From now on, counted at once.
    let before = app.usage.totals.completion.value;
    let id = ask(&mut app, "last");
    let effects = answer_and_end(&mut app, id, "Hello world", false);
    assert_eq!(warms(&effects), Vec::<&str>::new());
    assert_eq!(recorded(&effects), 1);
    assert_eq!(
        app.usage.totals.completion.value - before,
        estimate::text_tokens("gpt-4o-mini", "Hello world"),
    );
}

#[test]
fn a_llama_answer_without_usage_is_counted_with_o200k_marked_estimated() {
    let mut app = App::new(
        Settings {
            model: "llama3.2:3b".into(),
            ..settings()
        },
        PriceTable::default(),
    );
    let id = ask(&mut app, "hello");
    let effects = answer_and_end(&mut app, id, "Hello there, friend", false);
    assert_eq!(warms(&effects), ["llama3.2:3b"]);
    estimate::warm_up("llama3.2:3b");
    let out = update(&mut app, Msg::TokenizerReady);
    assert_eq!(records(&out).len(), 1);
    assert_eq!(
        app.usage.totals.completion.value,
        estimate::text_tokens("gpt-4o", "Hello there, friend")
    );
    assert!(app.usage.totals.status_text().contains("completion ~"));
}
