//! Screens of the chat TUI, drawn with ratatui's `TestBackend` and compared
//! with insta snapshots. Each state is built by driving `update` with keys
//! and stream events, exactly as the runtime does, then `ui::prepare` and
//! `ui::draw`. Every event carries the same instant, so no tokens/s (which
//! depends on time) is ever shown. Snapshots do not record colour: where
//! colour is the behaviour (role labels, errors) cell styles are asserted.

mod support;

use std::fmt::Write as _;

use kaiwa::api::client::{StreamEnd, StreamEvent};
use kaiwa::api::error::ApiError;
use kaiwa::api::types::{ServerError, Usage};
use kaiwa::app::model_menu::MenuModel;
use kaiwa::app::state::Settings;
use kaiwa::app::{App, Msg, update};
use kaiwa::ui::Ui;
use ratatui::crossterm::event::{KeyCode, KeyModifiers};
use ratatui::style::{Color, Modifier};
use support::render::{
    self, api, assert_no_control_in_cells, find, in_flight_id, key, press, render, render_with,
    rows, screen, screen_text, status_row, type_text, warm_app,
};

const QUESTION: &str = "ChatGPT란 무엇입니까?";

/// The seed's answer (its Korean translation), a few sentences.
const ANSWER: &str = "ChatGPT는 인터넷상의 채팅 봇 중 하나이며, 인공 지능을 기반으로 한 대화 \
시스템으로 언어를 이해하고 생성할 수 있습니다. ChatGPT는 OpenAI의 언어 모델 GPT-2를 \
기반으로 하며, 다양한 주제에 대한 질문과 대화를 할 수 있다는 점이 특징입니다. 또 인간다운 \
자연스러운 대화를 할 수 있고, 스스로를 계속 개선하여 보다 고도의 자연스러운 대화를 할 수 \
있습니다.";

const SEED_STATUS: &str = "gpt-4o-mini │ prompt 17 · completion 188 · total 205 · $0.0001 · ctx 0%";

// ---------------------------------------------------------------- helpers

/// The shared [`render::settings`] with a second model for the menu.
fn settings() -> Settings {
    Settings {
        extra_models: vec!["llama3.1:8b".into()],
        ..render::settings()
    }
}

fn new_app() -> App {
    warm_app(settings())
}

fn end(finish_reason: Option<&str>, error: Option<ApiError>) -> StreamEvent {
    StreamEvent::End(StreamEnd {
        finish_reason: finish_reason.map(Into::into),
        error,
        ..StreamEnd::default()
    })
}

fn seed_usage() -> StreamEvent {
    StreamEvent::Usage(Usage {
        prompt_tokens: 17,
        completion_tokens: 188,
        total_tokens: 205,
        ..Usage::default()
    })
}

/// Type a question, send it, and let the server start answering.
fn ask(app: &mut App, question: &str) -> u64 {
    type_text(app, question);
    key(app, KeyCode::Enter);
    let id = in_flight_id(app);
    api(app, id, StreamEvent::Started);
    id
}

/// A whole exchange: question, answer in pieces, usage, finish.
fn exchange(app: &mut App, question: &str, answer: &str, usage: Option<StreamEvent>) {
    let id = ask(app, question);
    for piece in answer.split_inclusive(' ') {
        api(app, id, StreamEvent::Delta(piece.into()));
    }
    if let Some(usage) = usage {
        api(app, id, usage);
    }
    api(app, id, end(Some("stop"), None));
}

/// The seed's Korean conversation, finished, with the server's usage.
fn korean_app() -> App {
    let mut app = new_app();
    exchange(&mut app, QUESTION, ANSWER, Some(seed_usage()));
    app
}

// ---------------------------------------------------------------- screens

#[test]
fn first_run_panel() {
    let mut app = warm_app(Settings {
        needs_key: true,
        ..settings()
    });
    let terminal = render(&mut app, 80, 24);
    assert!(screen_text(&terminal).contains("OPENAI_API_KEY"));
    assert!(screen_text(&terminal).contains("https://api.openai.com/v1"));
    insta::assert_snapshot!(screen(&terminal));
}

#[test]
fn first_run_panel_lists_the_local_servers_found() {
    use kaiwa::app::first_run::{FirstRun, LocalServer};
    let mut app = warm_app(Settings {
        needs_key: true,
        providers: vec!["default".into(), "groq".into()],
        ..settings()
    });
    app.first_run = Some(FirstRun {
        searching: true,
        ..FirstRun::default()
    });
    let terminal = render(&mut app, 100, 30);
    assert!(screen_text(&terminal).contains("Looking for a server on this machine"));
    let servers = vec![
        LocalServer {
            address: "127.0.0.1:11434".into(),
            kind: "ollama".into(),
            base_url: "http://127.0.0.1:11434/v1".into(),
            models: vec!["llama3.2:3b".into(), "qwen3:8b".into()],
            needs_key: false,
        },
        LocalServer {
            address: "127.0.0.1:1337".into(),
            kind: "jan".into(),
            base_url: "http://127.0.0.1:1337/v1".into(),
            models: vec![],
            needs_key: true,
        },
    ];
    update(
        &mut app,
        Msg::Discovered {
            servers,
            done: true,
        },
    );
    key(&mut app, KeyCode::Down);
    let terminal = render(&mut app, 100, 30);
    let text = screen_text(&terminal);
    for words in [
        "127.0.0.1:11434 (ollama)",
        "▸ qwen3:8b",
        "127.0.0.1:1337 (jan) — needs a key",
        "F2 lists the models of groq",
        "OPENAI_API_KEY",
    ] {
        assert!(text.contains(words), "{words}:\n{text}");
    }
    insta::assert_snapshot!(screen(&terminal));
}

#[test]
fn korean_conversation_with_the_status_bar() {
    let mut app = korean_app();
    let terminal = render(&mut app, 80, 24);
    assert_eq!(status_row(&terminal), SEED_STATUS);
    insta::assert_snapshot!(screen(&terminal));
}

#[test]
fn role_labels_have_their_colours() {
    let mut app = korean_app();
    let terminal = render(&mut app, 80, 24);
    let buffer = terminal.backend().buffer();
    let you = buffer[find(buffer, "▍you")].style();
    assert_eq!(you.fg, Some(Color::Cyan));
    assert!(you.add_modifier.contains(Modifier::BOLD));
    let assistant = buffer[find(buffer, "▍assistant")].style();
    assert_eq!(assistant.fg, Some(Color::Green));
    assert!(assistant.add_modifier.contains(Modifier::BOLD));
    // The answer's text is plain.
    assert_eq!(
        buffer[find(buffer, "인터넷상의")].style().fg,
        Some(Color::Reset)
    );
    // The status bar is reversed across the whole row.
    let last = buffer.area.height - 1;
    for x in 0..buffer.area.width {
        assert!(
            buffer[(x, last)]
                .style()
                .add_modifier
                .contains(Modifier::REVERSED)
        );
    }
}

#[test]
fn korean_conversation_at_40x12() {
    let mut app = korean_app();
    let terminal = render(&mut app, 40, 12);
    insta::assert_snapshot!(screen(&terminal));
}

#[test]
fn korean_conversation_at_20x5() {
    let mut app = korean_app();
    let terminal = render(&mut app, 20, 5);
    insta::assert_snapshot!(screen(&terminal));
}

#[test]
fn streaming_answer() {
    let mut app = new_app();
    let id = ask(&mut app, QUESTION);
    for piece in ["ChatGPT는 ", "인터넷상의 ", "채팅 봇 ", "중 하나이며"] {
        api(&mut app, id, StreamEvent::Delta(piece.into()));
    }
    let terminal = render(&mut app, 96, 24);
    assert!(status_row(&terminal).contains("streaming"));
    assert!(!status_row(&terminal).contains("tok/s"));
    insta::assert_snapshot!(screen(&terminal));
}

#[test]
fn waiting_for_the_server_and_retrying() {
    let mut app = new_app();
    type_text(&mut app, "hi");
    key(&mut app, KeyCode::Enter);
    let terminal = render(&mut app, 96, 8);
    assert!(status_row(&terminal).contains("⠋ waiting for the"));
    let cause = ApiError::Status {
        status: 503,
        error: ServerError {
            message: "overloaded".into(),
            ..ServerError::default()
        },
        retry_after: None,
        should_retry: None,
        base_url: "https://api.openai.com/v1".into(),
        key_hint: None,
    };
    api(
        &mut app,
        1,
        StreamEvent::Retrying {
            attempt: 1,
            wait: std::time::Duration::from_secs(4),
            cause,
        },
    );
    let terminal = render(&mut app, 80, 8);
    insta::assert_snapshot!(screen(&terminal));
}

#[test]
fn scrolled_up_shows_more_below() {
    let mut app = new_app();
    let mut ui = Ui::default();
    let id = ask(&mut app, "1부터 40까지 세어 주세요");
    let mut count = String::new();
    for n in 1..=40 {
        writeln!(count, "{n}번째 줄").unwrap();
    }
    api(&mut app, id, StreamEvent::Delta(count));
    render_with(&mut ui, &mut app, 80, 24);
    key(&mut app, KeyCode::PageUp);
    render_with(&mut ui, &mut app, 80, 24);
    // More text arrives; the view stays where it is.
    api(&mut app, id, StreamEvent::Delta("41번째 줄\n".into()));
    let terminal = render_with(&mut ui, &mut app, 80, 24);
    assert!(ui.transcript.more_below());
    assert!(screen_text(&terminal).contains("↓ more below · Ctrl+End"));
    insta::assert_snapshot!(screen(&terminal));
}

fn with_models() -> App {
    let mut app = new_app();
    update(
        &mut app,
        models_msg(
            "default",
            &[
                "gpt-4o",
                "gpt-4o-mini",
                "gpt-4.1",
                "o3",
                "text-embedding-3-small",
            ],
        ),
    );
    app
}

/// One provider's list arrived, each row described by the built-in table.
fn models_msg(provider: &str, ids: &[&str]) -> Msg {
    let facts = kaiwa::chat::pricing::PriceTable::default();
    Msg::Models {
        provider: provider.into(),
        result: Ok(ids
            .iter()
            .map(|id| MenuModel {
                id: (*id).to_string(),
                detail: facts.describe(id, None, None),
                context: None,
            })
            .collect()),
    }
}

#[test]
fn model_menu_open() {
    let mut app = with_models();
    key(&mut app, KeyCode::F(2));
    let terminal = render(&mut app, 80, 24);
    // The cursor (on the current model) is drawn reversed, the others not.
    let buffer = terminal.backend().buffer();
    let reversed = |text| {
        buffer[find(buffer, text)]
            .style()
            .add_modifier
            .contains(Modifier::REVERSED)
    };
    assert!(reversed("● gpt-4o-mini"));
    assert!(!reversed("gpt-4o "));
    assert!(!reversed("o3"));
    insta::assert_snapshot!(screen(&terminal));
}

#[test]
fn model_menu_filtered() {
    let mut app = with_models();
    press(&mut app, KeyCode::Char('o'), KeyModifiers::CONTROL);
    type_text(&mut app, "4O");
    key(&mut app, KeyCode::Down);
    let terminal = render(&mut app, 80, 24);
    insta::assert_snapshot!(screen(&terminal));
}

#[test]
fn model_menu_when_the_list_failed() {
    let mut app = new_app();
    update(
        &mut app,
        Msg::Models {
            provider: "default".into(),
            result: Err(kaiwa::api::error::ApiError::Connect {
                base_url: "https://api.openai.com/v1".into(),
                detail: "Connection refused (os error 111)".into(),
            }),
        },
    );
    key(&mut app, KeyCode::F(2));
    let terminal = render(&mut app, 80, 24);
    let buffer = terminal.backend().buffer();
    assert_eq!(
        buffer[find(buffer, "server list unavailable")].style().fg,
        Some(Color::Red)
    );
    insta::assert_snapshot!(screen(&terminal));
}

#[test]
fn model_menu_groups_every_providers_models() {
    let mut app = new_app();
    app.settings.providers = vec!["default".into(), "corp".into(), "dead".into()];
    app.models = kaiwa::app::model_menu::ModelsState::loading(&app.settings.providers);
    update(&mut app, models_msg("default", &["gpt-4o-mini", "gpt-5"]));
    update(
        &mut app,
        Msg::Models {
            provider: "corp".into(),
            result: Ok(vec![MenuModel {
                id: "corp:beta-2".into(),
                detail: "33k".into(),
                context: Some(32_768),
            }]),
        },
    );
    key(&mut app, KeyCode::F(2));
    let terminal = render(&mut app, 90, 20);
    let text = screen_text(&terminal);
    // The third provider has not answered yet: it says so in one line.
    assert!(text.contains("dead — loading the models…"), "{text}");
    update(
        &mut app,
        Msg::Models {
            provider: "dead".into(),
            result: Err(ApiError::Connect {
                base_url: "http://127.0.0.1:9/v1".into(),
                detail: "Connection refused (os error 111)".into(),
            }),
        },
    );
    type_text(&mut app, "t");
    let terminal = render(&mut app, 90, 20);
    let text = screen_text(&terminal);
    assert!(
        text.contains("dead — list unavailable: cannot connect"),
        "{text}"
    );
    // Typing filters across every provider; the groups stay.
    assert!(text.contains("corp:beta-2"), "{text}");
    assert!(text.contains("272k · $1.25/$10.00"), "{text}");
    insta::assert_snapshot!(screen(&terminal));
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.settings.model, "corp:beta-2");
    let terminal = render(&mut app, 90, 20);
    let status = screen_text(&terminal)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(status.starts_with("corp:beta-2 │ prompt 0"), "{status}");
}

#[test]
fn picked_model_shows_in_the_status_bar_at_once() {
    let mut app = with_models();
    key(&mut app, KeyCode::F(2));
    type_text(&mut app, "o3");
    key(&mut app, KeyCode::Enter);
    let terminal = render(&mut app, 80, 6);
    assert_eq!(
        status_row(&terminal),
        // o3's price and window are known, so the cost and the meter show
        // from the start; what just happened ("model: o3") is said beside
        // the input.
        "o3 │ prompt 0 · completion 0 · total 0 · $0.0000 · ctx ~0%"
    );
}

fn usage_of(prompt: u64, completion: u64) -> StreamEvent {
    StreamEvent::Usage(Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        ..Usage::default()
    })
}

#[test]
fn overflow_dialog_then_a_folded_summary_and_turns_not_sent() {
    let mut app = new_app();
    app.usage.prices.learn("gpt-4o-mini", 300);
    exchange(
        &mut app,
        "What is sushi?",
        "Rice and fish.",
        Some(usage_of(120, 30)),
    );
    exchange(&mut app, "And maguro?", "Tuna.", Some(usage_of(170, 20)));
    let terminal = render(&mut app, 100, 30);
    assert!(
        status_row(&terminal).ends_with("· ctx 63%"),
        "{}",
        status_row(&terminal)
    );
    type_text(&mut app, &"word ".repeat(150));
    key(&mut app, KeyCode::Enter);
    let terminal = render(&mut app, 100, 30);
    let text = screen_text(&terminal);
    for words in ["too long", "t  trim", "s  summarise", "~$", "Esc  cancel"] {
        assert!(text.contains(words), "{words}:\n{text}");
    }
    insta::assert_snapshot!("overflow_dialog", screen(&terminal));
    key(&mut app, KeyCode::Char('s'));
    let id = in_flight_id(&app);
    api(&mut app, id, StreamEvent::Started);
    api(&mut app, id, StreamEvent::Delta("Sushi and maguro.".into()));
    api(&mut app, id, end(Some("stop"), None));
    let terminal = render(&mut app, 100, 30);
    let text = screen_text(&terminal);
    assert!(text.contains("▍summary"), "{text}");
    assert!(text.contains("▸ summary of the earlier turns"), "{text}");
    assert!(!text.contains("Sushi and maguro."), "folded:\n{text}");
    insta::assert_snapshot!("summary_folded_turns_not_sent", screen(&terminal));
}

#[test]
fn help_popup() {
    let mut app = new_app();
    key(&mut app, KeyCode::F(1));
    let terminal = render(&mut app, 80, 24);
    insta::assert_snapshot!(screen(&terminal));
}

/// OpenAI's 401 as the client builds it from the body OpenAI sends.
fn status_401() -> ApiError {
    let body = br#"{"error": {"message": "Incorrect API key provided: sk-proj-****abcd.",
        "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}"#;
    ApiError::from_status(401, body, None, None, "https://api.openai.com/v1")
}

#[test]
fn error_before_any_text() {
    let mut app = korean_app();
    let id = ask(&mut app, "더 자세히 설명해 주세요");
    api(&mut app, id, end(None, Some(status_401())));
    let terminal = render(&mut app, 80, 24);
    let text = screen_text(&terminal);
    assert!(text.contains("401"));
    // The question is back in the input box, on the row above the status bar.
    let all = rows(terminal.backend().buffer());
    assert_eq!(all[all.len() - 2], "더 자세히 설명해 주세요");
    assert_eq!(
        status_row(&terminal).split(" │ ").nth(1),
        Some("prompt 17 · completion 188 · total 205 · $0.0001 · ctx ~0%")
    );
    let buffer = terminal.backend().buffer();
    assert_eq!(
        buffer[find(buffer, "⚠ the server rejected")].style().fg,
        Some(Color::Red)
    );
    insta::assert_snapshot!(screen(&terminal));
}

#[test]
fn stopped_answer() {
    let mut app = new_app();
    let id = ask(&mut app, QUESTION);
    for piece in ["ChatGPT는 ", "인터넷상의 ", "채팅 봇 "] {
        api(&mut app, id, StreamEvent::Delta(piece.into()));
    }
    key(&mut app, KeyCode::Esc);
    let terminal = render(&mut app, 80, 12);
    assert!(screen_text(&terminal).contains("stopped"));
    let buffer = terminal.backend().buffer();
    assert_eq!(
        buffer[find(buffer, "· stopped")].style().fg,
        // Stopping is the user's choice, not an error: yellow, not red.
        Some(Color::Yellow)
    );
    insta::assert_snapshot!(screen(&terminal));
}

#[test]
fn interrupted_answer() {
    let mut app = new_app();
    let id = ask(&mut app, QUESTION);
    for piece in ["ChatGPT는 ", "인터넷상의 ", "채팅 봇 "] {
        api(&mut app, id, StreamEvent::Delta(piece.into()));
    }
    api(
        &mut app,
        id,
        end(
            None,
            Some(ApiError::Broken("connection reset by peer".into())),
        ),
    );
    let terminal = render(&mut app, 80, 12);
    assert!(screen_text(&terminal).contains("interrupted"));
    // The error is shown once, under the answer; the input box is empty.
    assert_eq!(
        screen_text(&terminal).matches("connection reset").count(),
        1
    );
    assert!(!screen_text(&terminal).contains("back in the input box"));
    let buffer = terminal.backend().buffer();
    assert_eq!(
        buffer[find(buffer, "⚠ the connection broke")].style().fg,
        Some(Color::Red)
    );
    insta::assert_snapshot!(screen(&terminal));
}

#[test]
fn skipped_events_and_length_notes() {
    let mut app = new_app();
    let id = ask(&mut app, "hi");
    api(&mut app, id, StreamEvent::Delta("Hello! How can I".into()));
    api(
        &mut app,
        id,
        StreamEvent::End(StreamEnd {
            finish_reason: Some("length".into()),
            skipped: 2,
            ..StreamEnd::default()
        }),
    );
    let terminal = render(&mut app, 60, 10);
    // SPEC: the answer says so, and that text may be missing.
    assert!(
        screen_text(&terminal).contains("⚠ 2 unreadable events skipped — text may be missing"),
        "{}",
        screen_text(&terminal)
    );
    insta::assert_snapshot!(screen(&terminal));
}

/// Issue 15: an answer nested 200 levels deep (quotes in list items in
/// quotes…) shows its last word at every width from the smallest terminal
/// up: the bars stop at 8 levels (fewer when narrow) and a depth marker
/// (`›200`) says how deep the text is.
#[test]
fn a_deeply_nested_answer_shows_its_last_word() {
    let answer = format!(
        "Nested:\n\n{}lastword\n\n{}deepest",
        "> - ".repeat(100),
        "> ".repeat(200)
    );
    let mut app = new_app();
    exchange(&mut app, "nest", &answer, None);
    for (width, height) in [(20, 8), (40, 12), (120, 40)] {
        let terminal = render(&mut app, width, height);
        let text = screen_text(&terminal);
        assert!(text.contains("lastword"), "{width}×{height}:\n{text}");
        assert!(text.contains("›200 deepest"), "{width}×{height}:\n{text}");
        assert_no_control_in_cells(terminal.backend().buffer());
    }
    let terminal = render(&mut app, 40, 12);
    insta::assert_snapshot!(screen(&terminal));
}

#[test]
fn hostile_text_is_shown_inert() {
    let mut app = new_app();
    let hostile = "clipboard \x1b]52;c;aGk=\x07 clear \x1b[2J bidi a\u{202e}b \
                   bell\x07 nul\0 del\x7f c1\u{9b}31m tab\tend";
    let id = ask(&mut app, "show me");
    api(&mut app, id, StreamEvent::Delta(hostile.into()));
    api(
        &mut app,
        id,
        end(
            None,
            Some(ApiError::Decode("bad \x1b[31mred\x1b[0m".into())),
        ),
    );
    // A hostile model id too (from the server's list).
    update(&mut app, models_msg("default", &["evil\x1b[2Jmodel"]));
    let terminal = render(&mut app, 80, 16);
    let text = screen_text(&terminal);
    assert!(text.contains("␛]52;c;aGk=␇"), "{text}");
    assert!(text.contains("␛[2J"), "{text}");
    assert!(text.contains("a⟨U+202E⟩b"), "{text}");
    assert_no_control_in_cells(terminal.backend().buffer());
    insta::assert_snapshot!(screen(&terminal));

    key(&mut app, KeyCode::F(2));
    let terminal = render(&mut app, 80, 16);
    assert!(screen_text(&terminal).contains("evil␛[2Jmodel"));
    assert_no_control_in_cells(terminal.backend().buffer());
}

#[test]
fn stand_ins_are_dim() {
    let mut app = new_app();
    let id = ask(&mut app, "x");
    api(&mut app, id, StreamEvent::Delta("a\x1b[2Jb".into()));
    api(&mut app, id, end(Some("stop"), None));
    let terminal = render(&mut app, 40, 8);
    let buffer = terminal.backend().buffer();
    let (x, y) = find(buffer, "a␛[2Jb");
    assert!(!buffer[(x, y)].style().add_modifier.contains(Modifier::DIM));
    assert!(
        buffer[(x + 1, y)]
            .style()
            .add_modifier
            .contains(Modifier::DIM)
    );
}

#[test]
fn halfwidth_kana_and_emoji() {
    let mut app = new_app();
    let answer = "ｶﾞｷﾞｸﾞｹﾞｺﾞ ﾊﾟﾋﾟﾌﾟ ｱｲｳｴｵ\n\
                  😀 smile 👍🏽 thumbs 👨‍👩‍👧‍👦 family 🇰🇷 flag ❤️ heart\n\
                  寿司🍣とラーメン🍜、한국어 텍스트와 English words mixed together in one line";
    exchange(&mut app, "カタカナと絵文字", answer, None);
    let terminal = render(&mut app, 40, 14);
    assert_no_control_in_cells(terminal.backend().buffer());
    insta::assert_snapshot!(screen(&terminal));
}

#[test]
fn system_prompt_and_multiline_input() {
    let mut app = warm_app(Settings {
        system: Some("일본어로 대답해 주세요.".into()),
        ..settings()
    });
    type_text(&mut app, "first line");
    press(&mut app, KeyCode::Enter, KeyModifiers::ALT);
    type_text(&mut app, "second line");
    update(
        &mut app,
        Msg::Paste("\npasted\nlines\nmore\nand more".into()),
    );
    let terminal = render(&mut app, 60, 15);
    insta::assert_snapshot!(screen(&terminal));
}

#[test]
fn smallest_full_ui_does_not_panic_with_any_state() {
    for (w, h) in [(20, 5), (21, 6), (25, 5), (20, 7)] {
        let mut app = korean_app();
        render(&mut app, w, h);
        key(&mut app, KeyCode::F(2));
        render(&mut app, w, h);
        key(&mut app, KeyCode::Esc);
        key(&mut app, KeyCode::F(1));
        render(&mut app, w, h);
        key(&mut app, KeyCode::Esc);
        key(&mut app, KeyCode::PageUp);
        let id = ask(&mut app, "ｶﾞ👨‍👩‍👧‍👦");
        api(&mut app, id, StreamEvent::Delta("한국어 ".repeat(50)));
        let terminal = render(&mut app, w, h);
        assert_no_control_in_cells(terminal.backend().buffer());
    }
}

#[test]
fn too_small_terminals() {
    let mut app = korean_app();
    let terminal = render(&mut app, 19, 4);
    assert_eq!(screen_text(&terminal), "terminal too small\n\n\n");
    insta::assert_snapshot!("too_small_19x4", screen(&terminal));
    let terminal = render(&mut app, 10, 3);
    insta::assert_snapshot!("too_small_10x3", screen(&terminal));
    let terminal = render(&mut app, 80, 4);
    assert!(screen_text(&terminal).starts_with("terminal too small"));
    let terminal = render(&mut app, 19, 24);
    assert!(screen_text(&terminal).starts_with("terminal too small"));
    // Degenerate sizes must not panic.
    for (w, h) in [(0, 0), (1, 1), (0, 5), (5, 0), (17, 1)] {
        render(&mut app, w, h);
    }
}

/// ratatui-textarea does not scroll back up when the text shrinks: once the
/// text fits the box again, its first line is shown, not an empty row.
#[test]
fn the_input_shows_its_first_line_again_when_the_text_shrinks() {
    let mut app = new_app();
    let mut ui = Ui::default();
    // 40×12: the input box grows to 4 text rows.
    update(
        &mut app,
        Msg::Resize {
            width: 40,
            height: 12,
        },
    );
    for n in 1..=8 {
        type_text(&mut app, &format!("line {n}"));
        if n < 8 {
            press(&mut app, KeyCode::Char('j'), KeyModifiers::CONTROL);
        }
    }
    let terminal = render_with(&mut ui, &mut app, 40, 12);
    let text = screen_text(&terminal);
    assert!(
        text.contains("line 8") && !text.contains("line 1"),
        "{text}"
    );
    // The editor (Ctrl+E) gives back two lines: everything fits, shown from
    // the first line.
    update(&mut app, Msg::EditorClosed(Ok("line 1\nline 2".into())));
    let terminal = render_with(&mut ui, &mut app, 40, 12);
    let text = screen_text(&terminal);
    assert!(text.contains("line 1") && text.contains("line 2"), "{text}");
}
