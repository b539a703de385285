//! Screens of browsing past turns and composing, drawn with ratatui's
//! `TestBackend` (100×30; the markdown answer 100×40) and compared with
//! insta snapshots: a markdown answer (heading, list, a Korean table, two
//! highlighted and numbered code blocks), the selection, the raw view,
//! search highlights, alternatives `2/3`, the role switch, editing, and the
//! help of the transcript focus. States are built by driving `update` with
//! keys and stream events as the runtime does; every event carries the same
//! instant, so nothing on screen depends on timing. Snapshots do not record
//! colour, so where colour is the behaviour (highlighted code, search
//! matches, the selection) cell styles are asserted.

mod support;

use kaiwa::api::client::{StreamEnd, StreamEvent};
use kaiwa::api::types::Usage;
use kaiwa::app::App;
use kaiwa::app::state::{Focus, Popup, Settings};
use kaiwa::chat::pricing::PriceTable;
use kaiwa::ui::Ui;
use ratatui::crossterm::event::KeyCode;
use ratatui::style::{Color, Modifier};
use serde_json::json;
use support::render::{
    api, ctrl, find, find_all, in_flight_id, input_border, key, new_app, render, render_with, rows,
    rows_with_columns, screen, screen_text, settings, type_text,
};

const WIDTH: u16 = 100;
const HEIGHT: u16 = 30;

// ---------------------------------------------------------------- helpers

/// Stream `answer` into the request in flight (started, deltas, usage, stop).
fn stream_answer(app: &mut App, answer: &str) {
    let id = in_flight_id(app);
    api(app, id, StreamEvent::Started);
    let mut chunks = 1;
    for piece in answer.split_inclusive(' ') {
        api(app, id, StreamEvent::Delta(piece.into()));
        chunks += 1;
    }
    api(
        app,
        id,
        StreamEvent::Usage(Usage {
            prompt_tokens: 12,
            completion_tokens: 30,
            total_tokens: 42,
            ..Usage::default()
        }),
    );
    api(
        app,
        id,
        StreamEvent::End(StreamEnd {
            finish_reason: Some("stop".into()),
            error: None,
            skipped: 0,
            chunks: chunks + 2,
            assembled: Some(json!({
                "id": "chatcmpl-snap",
                "object": "chat.completion",
                "created": 1_753_357_673,
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": "stop"
                }],
                "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42},
                "system_fingerprint": "fp_snap"
            })),
        }),
    );
    assert!(app.in_flight.is_none());
}

/// A whole exchange: question typed and sent, answer streamed.
fn exchange(app: &mut App, question: &str, answer: &str) {
    type_text(app, question);
    key(app, KeyCode::Enter);
    stream_answer(app, answer);
}

// ---------------------------------------------------------------- markdown

const MARKDOWN: &str = "## 초밥 고르기\n\n\
오늘의 추천은 **참치**와 *연어*입니다.\n\n\
- 신선한 생선\n- 따뜻한 밥\n  1. 간장\n  2. 와사비\n\n\
| 이름 | 가격 | 비고 |\n|:---|---:|:---:|\n| 참치 | 3,000원 | 인기 |\n| 연어 | 2,500원 | 신선 |\n\n\
```rust\nfn main() {\n    let price: u32 = 3000;\n    println!(\"{price}\");\n}\n```\n\n\
그리고 파이썬으로:\n\n\
```python\ndef total(items):\n    return sum(items)  # 합계\n```\n";

fn markdown_app() -> App {
    let mut app = new_app();
    exchange(&mut app, "초밥 추천해 주세요", MARKDOWN);
    app
}

#[test]
fn markdown_answer_with_a_korean_table_and_two_highlighted_code_blocks() {
    let mut app = markdown_app();
    let terminal = render_with(&mut Ui::default(), &mut app, WIDTH, 40);
    let text = screen_text(&terminal);
    // The code blocks are framed with their language and the number `c` uses.
    assert!(text.contains("╭─ rust · 1 ─"), "{text}");
    assert!(text.contains("╭─ python · 2 ─"), "{text}");
    // Markdown syntax is rendered, not shown.
    assert!(!text.contains("**"), "{text}");
    assert!(!text.contains("```"), "{text}");
    assert!(!text.contains("## "), "{text}");
    let buffer = terminal.backend().buffer();
    // Highlighted code has colours: keywords, function names, literals.
    for token in ["fn", "main", "let", "3000", "def", "return", "{price}"] {
        let style = buffer[find(buffer, token)].style();
        assert!(
            !matches!(style.fg, None | Some(Color::Reset)),
            "{token} is not highlighted: {style:?}"
        );
    }
    // The heading is bold; the table's columns line up by display width.
    let heading = buffer[find(buffer, "초밥 고르기")].style();
    assert!(heading.add_modifier.contains(Modifier::BOLD));
    let bars: Vec<Vec<u16>> = ["│ 이름", "│ 참치", "│ 연어"]
        .iter()
        .map(|cell| {
            let (_, y) = find(buffer, cell);
            rows_with_columns(buffer)[usize::from(y)]
                .iter()
                .filter(|(_, s)| s == "│")
                .map(|(x, _)| *x)
                .collect()
        })
        .collect();
    assert_eq!(bars[0].len(), 4, "{bars:?}");
    assert_eq!(bars[0], bars[1]);
    assert_eq!(bars[0], bars[2]);
    insta::assert_snapshot!(screen(&terminal));
}

/// A message streamed and drawn frame by frame reads the same as drawn once at the end.
#[test]
fn a_reference_link_defined_below_renders_the_same_streamed_or_not() {
    let answer = "See [the docs][1] for more.\n\nAnother paragraph.\n\n[1]: https://example.com\n";
    let mut app = new_app();
    type_text(&mut app, "links?");
    key(&mut app, KeyCode::Enter);
    let id = app.in_flight.as_ref().unwrap().id.0;
    api(&mut app, id, StreamEvent::Started);
    let mut ui = Ui::default();
    for piece in answer.split_inclusive('\n') {
        api(&mut app, id, StreamEvent::Delta(piece.into()));
        render_with(&mut ui, &mut app, WIDTH, HEIGHT);
    }
    api(
        &mut app,
        id,
        StreamEvent::End(StreamEnd {
            finish_reason: Some("stop".into()),
            ..StreamEnd::default()
        }),
    );
    let streamed = screen_text(&render_with(&mut ui, &mut app, WIDTH, HEIGHT));
    let fresh = screen_text(&render(&mut app, WIDTH, HEIGHT));
    assert!(
        fresh.contains("See the docs (https://example.com)"),
        "{fresh}"
    );
    assert_eq!(streamed, fresh);
}

// ---------------------------------------------------------------- selection

#[test]
fn the_selection_in_the_transcript_focus() {
    let mut app = new_app();
    exchange(
        &mut app,
        "Name three fish for sushi.",
        "1. Tuna\n2. Salmon\n3. Yellowtail",
    );
    exchange(&mut app, "And one more?", "Mackerel.");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Up);
    key(&mut app, KeyCode::Up);
    assert_eq!(app.browse.focus, Focus::Transcript);
    let terminal = render(&mut app, WIDTH, HEIGHT);
    let buffer = terminal.backend().buffer();
    // The header of the selected answer is reversed across the whole row…
    let (_, header) = find_all(buffer, "▍assistant")[0];
    for x in 0..WIDTH {
        assert!(
            buffer[(x, header)]
                .style()
                .add_modifier
                .contains(Modifier::REVERSED),
            "({x},{header})"
        );
    }
    // …and a yellow bar runs beside its other rows, down to the separator.
    for y in header + 1..header + 5 {
        assert_eq!(buffer[(0, y)].symbol(), "▌", "row {y}");
        assert_eq!(buffer[(0, y)].style().fg, Some(Color::Yellow), "row {y}");
    }
    assert_ne!(buffer[(0, header + 5)].symbol(), "▌");
    // The other messages are not marked.
    let (_, other) = find_all(buffer, "▍assistant")[1];
    assert!(
        !buffer[(0, other)]
            .style()
            .add_modifier
            .contains(Modifier::REVERSED)
    );
    insta::assert_snapshot!(screen(&terminal));
}

// ---------------------------------------------------------------- raw view

#[test]
fn raw_view_of_an_answer() {
    let mut app = App::new(
        Settings {
            temperature: Some(0.7),
            ..settings()
        },
        PriceTable::default(),
    );
    exchange(&mut app, "ChatGPT란 무엇입니까?", "대화형 AI입니다.");
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, "v");
    assert!(matches!(app.popup, Some(Popup::Raw(_))));
    let terminal = render(&mut app, WIDTH, HEIGHT);
    let text = screen_text(&terminal);
    assert!(text.contains("Authorization: Bearer ***"), "{text}");
    assert!(text.contains("\"include_usage\": true"), "{text}");
    assert!(text.contains("↓ more"), "{text}");
    insta::assert_snapshot!("raw_view_top", screen(&terminal));
    // Scrolled to the end: the response with its usage.
    key(&mut app, KeyCode::End);
    let terminal = render(&mut app, WIDTH, HEIGHT);
    let text = screen_text(&terminal);
    assert!(text.contains("\"finish_reason\": \"stop\""), "{text}");
    assert!(text.contains("\"total_tokens\": 42"), "{text}");
    insta::assert_snapshot!("raw_view_bottom", screen(&terminal));
}

// ---------------------------------------------------------------- search

#[test]
fn search_highlights_every_match() {
    let mut app = new_app();
    exchange(
        &mut app,
        "What is sushi?",
        "Sushi is vinegared rice. Nigiri sushi has fish on top.",
    );
    exchange(&mut app, "And ramen?", "Ramen is a noodle soup.");
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, "/sushi");
    let typing = render(&mut app, WIDTH, HEIGHT);
    assert!(
        input_border(&typing).contains("search: sushi"),
        "{}",
        input_border(&typing)
    );
    key(&mut app, KeyCode::Enter);
    let terminal = render(&mut app, WIDTH, HEIGHT);
    let buffer = terminal.backend().buffer();
    // Case-insensitive: "sushi" and "Sushi" both.
    let mut matches = find_all(buffer, "sushi");
    matches.extend(find_all(buffer, "Sushi"));
    assert_eq!(matches.len(), 3, "{matches:?}");
    for (x, y) in matches {
        for dx in 0..5 {
            assert_eq!(
                buffer[(x + dx, y)].style().bg,
                Some(Color::Yellow),
                "({},{y})",
                x + dx
            );
        }
        // The cell after the match is not highlighted.
        assert_ne!(buffer[(x + 5, y)].style().bg, Some(Color::Yellow));
    }
    assert_ne!(
        buffer[find(buffer, "Ramen")].style().bg,
        Some(Color::Yellow)
    );
    // Where the search stands is said on the input's border.
    assert!(
        input_border(&terminal).contains("match 1/2 · n next · N previous"),
        "{:?}",
        input_border(&terminal)
    );
    insta::assert_snapshot!(screen(&terminal));
}

// ---------------------------------------------------------------- alternatives

#[test]
fn alternatives_after_two_regenerations() {
    let mut app = new_app();
    exchange(&mut app, "Pick a fish.", "Tuna.");
    key(&mut app, KeyCode::Tab);
    for answer in ["Salmon.", "Mackerel."] {
        type_text(&mut app, "r");
        stream_answer(&mut app, answer);
    }
    key(&mut app, KeyCode::Left);
    let terminal = render(&mut app, WIDTH, HEIGHT);
    let text = screen_text(&terminal);
    assert!(text.contains("▍assistant · gpt-4o-mini · 2/3"), "{text}");
    assert!(text.contains("Salmon."), "{text}");
    assert!(!text.contains("Tuna."), "{text}");
    let buffer = terminal.backend().buffer();
    assert_eq!(buffer[find(buffer, "2/3")].style().fg, Some(Color::Yellow));
    insta::assert_snapshot!(screen(&terminal));
}

// ---------------------------------------------------------------- composing

#[test]
fn role_switch_shows_on_the_input_border() {
    let mut app = new_app();
    let you = render(&mut app, WIDTH, HEIGHT);
    assert!(
        input_border(&you).starts_with(" you ─"),
        "{}",
        input_border(&you)
    );
    ctrl(&mut app, 'r');
    type_text(&mut app, "Irasshaimase!");
    let terminal = render(&mut app, WIDTH, HEIGHT);
    let border = input_border(&terminal);
    assert!(border.contains("assistant (Ctrl+R)"), "{border}");
    assert!(border.contains("Enter adds it (not sent)"), "{border}");
    let buffer = terminal.backend().buffer();
    assert_eq!(
        buffer[find(buffer, "assistant (Ctrl+R)")].style().fg,
        Some(Color::Green)
    );
    insta::assert_snapshot!("role_switch_assistant", screen(&terminal));
    ctrl(&mut app, 'r');
    let terminal = render(&mut app, WIDTH, HEIGHT);
    let border = input_border(&terminal);
    assert!(border.contains("system (Ctrl+R)"), "{border}");
    let buffer = terminal.backend().buffer();
    assert_eq!(
        buffer[find(buffer, "system (Ctrl+R)")].style().fg,
        Some(Color::Magenta)
    );
    insta::assert_snapshot!("role_switch_system", screen(&terminal));
}

#[test]
fn editing_a_message_says_so_on_the_border() {
    let mut app = new_app();
    exchange(&mut app, "Name a fish.", "Tuna.");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Up);
    type_text(&mut app, "e");
    type_text(&mut app, " for nigiri");
    let terminal = render(&mut app, WIDTH, HEIGHT);
    let border = input_border(&terminal);
    assert!(border.contains("editing your question"), "{border}");
    // The notice beside the input says how an edited question goes out.
    assert!(border.contains("Enter resends from here"), "{border}");
    assert!(border.contains("Esc cancels"), "{border}");
    insta::assert_snapshot!("editing_a_question", screen(&terminal));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, "e");
    let terminal = render(&mut app, WIDTH, HEIGHT);
    assert!(
        input_border(&terminal).contains("editing the assistant message"),
        "{}",
        input_border(&terminal)
    );
}

// ---------------------------------------------------------------- help

#[test]
fn help_in_the_transcript_focus_lists_its_bindings_first() {
    let mut app = new_app();
    exchange(&mut app, "hi", "hello");
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, "?");
    let terminal = render(&mut app, WIDTH, HEIGHT);
    let rows = rows(terminal.backend().buffer());
    let transcript = rows
        .iter()
        .position(|r| r.contains("transcript (Tab from the input)"))
        .expect("the transcript section");
    let input = rows.iter().position(|r| r.contains("│input "));
    assert!(
        input.is_none_or(|i| transcript < i),
        "transcript first: {rows:#?}"
    );
    assert_eq!(transcript, 1, "the first section");
    insta::assert_snapshot!(screen(&terminal));
}
