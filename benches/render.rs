//! Frame cost of the chat screen: `ui::prepare` + `ui::draw` on long
//! transcripts (it must not grow with the length), one streaming delta,
//! wrapping a long answer, a resize (everything re-wrapped once), and
//! Markdown nested 200 levels deep.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "bench setup")]

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kaiwa::api::client::StreamEvent;
use kaiwa::api::types::Role;
use kaiwa::app::state::Settings;
use kaiwa::app::{App, Msg, RequestId, update};
use kaiwa::chat::conversation::MessageStatus;
use kaiwa::chat::pricing::PriceTable;
use kaiwa::text::wrap::wrap_text;
use kaiwa::ui::{self, Ui};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;

/// An answer as models write them: a heading, a list, a code block, a table.
const MARKDOWN_ANSWER: &str = "## 답변\n\nChatGPT는 **대규모 언어 모델**입니다. Here is how:\n\n\
- first point with `inline code`\n- second point\n  - nested\n\n\
```rust\nfn main() {\n    println!(\"hello, {}\", 42);\n}\n```\n\n\
| 이름 | 値 |\n|---|---|\n| 가나다 | 1 |\n\nThe end.";

const PARAGRAPH: &str = "ChatGPT는 OpenAI가 개발한 대규모 언어 모델입니다. It answers questions, \
writes code and explains things; 日本語の質問にも答えます。 The quick brown fox jumps over the lazy dog.";

fn app_with(messages: usize) -> App {
    // gpt-4o-mini: a known window, so the status bar's meter is drawn (and
    // measured) every frame. A 10,000-message transcript is far past it, so
    // a send leaves the oldest turns out (`trim`) rather than opening the
    // "too long" dialog.
    let settings = Settings {
        model: "gpt-4o-mini".into(),
        context_overflow: kaiwa::config::ContextOverflow::Trim,
        ..Settings::default()
    };
    let mut app = App::new(settings, PriceTable::default());
    for i in 0..messages {
        let role = if i % 2 == 0 {
            Role::User
        } else {
            Role::Assistant
        };
        let text = if i % 2 == 0 {
            format!("question {i}?")
        } else {
            PARAGRAPH.repeat(3)
        };
        app.conversation.push(role, text, MessageStatus::Complete);
    }
    app
}

fn frame(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_120x40");
    for n in [100usize, 1_000, 10_000] {
        let app = app_with(n);
        let mut ui = Ui::default();
        let area = Rect::new(0, 0, 120, 40);
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
        ui::prepare(&mut ui, &app, area);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                ui::prepare(&mut ui, &app, area);
                terminal.draw(|f| ui::draw(&ui, &app, f)).unwrap();
            });
        });
    }
    group.finish();
}

/// One event of the answer `id` arrives.
fn api(app: &mut App, id: RequestId, event: StreamEvent, at: Instant) {
    update(app, Msg::Api { id, event, at });
}

/// Sends `question` with Enter and lets its answer start; the answer's id and its clock.
fn start_answer(app: &mut App, question: &str) -> (RequestId, Instant) {
    app.input.composer.set_text(question);
    let out = update(app, key(ratatui::crossterm::event::KeyCode::Enter));
    assert!(!out.effects.is_empty());
    let id = RequestId(app.next_request);
    let now = Instant::now();
    api(app, id, StreamEvent::Started, now);
    (id, now)
}

fn streaming_delta(c: &mut Criterion) {
    let mut group = c.benchmark_group("stream_delta_frame");
    for n in [100usize, 10_000] {
        let mut app = app_with(n);
        let mut ui = Ui::default();
        let area = Rect::new(0, 0, 120, 40);
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
        let (id, now) = start_answer(&mut app, "next question");
        // An answer already 2,000 words long is streaming.
        api(&mut app, id, StreamEvent::Delta(PARAGRAPH.repeat(60)), now);
        ui::prepare(&mut ui, &app, area);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                api(&mut app, id, StreamEvent::Delta(" token".into()), now);
                ui::prepare(&mut ui, &app, area);
                terminal.draw(|f| ui::draw(&ui, &app, f)).unwrap();
            });
        });
    }
    group.finish();
}

fn wrap_long_answer(c: &mut Criterion) {
    let text = PARAGRAPH.repeat(500); // ~100 KB
    let mut group = c.benchmark_group("wrap");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("100KB_at_118_cols", |b| {
        b.iter(|| black_box(wrap_text(&text, 118)));
    });
    group.finish();
}

/// Issue 15: an answer nested 200 levels deep (quotes in list items in
/// quotes…, a paragraph at every level), rendered whole at 118 columns.
fn deep_markdown(c: &mut Criterion) {
    use std::fmt::Write as _;
    let mut src = String::new();
    let mut prefix = String::new();
    for i in 0..100 {
        write!(src, "{prefix}> para {i}\n{prefix}>\n").unwrap();
        prefix.push_str("> ");
        write!(src, "{prefix}- item {i}\n{prefix}\n").unwrap();
        prefix.push_str("  ");
    }
    writeln!(src, "{prefix}deepword").unwrap();
    let one_line = format!("{}deepword", "> - ".repeat(100));
    let mut group = c.benchmark_group("markdown_nested_200");
    group.bench_function("paragraph_per_level", |b| {
        b.iter(|| black_box(ui::markdown::render(&src, 118, 1)));
    });
    group.bench_function("one_line", |b| {
        b.iter(|| black_box(ui::markdown::render(&one_line, 118, 1)));
    });
    group.finish();
}

fn resize(c: &mut Criterion) {
    let app = app_with(5_000);
    let mut ui = Ui::default();
    let mut wide = true;
    c.bench_function("resize_5000_messages", |b| {
        b.iter(|| {
            wide = !wide;
            let area = Rect::new(0, 0, if wide { 120 } else { 100 }, 40);
            ui::prepare(&mut ui, &app, area);
        });
    });
}

fn key(code: ratatui::crossterm::event::KeyCode) -> Msg {
    Msg::Key(ratatui::crossterm::event::KeyEvent::from(code))
}

/// Browsing a 10,000-message transcript: each action plus the frame it
/// causes must stay well under 16 ms.
fn browsing(c: &mut Criterion) {
    use ratatui::crossterm::event::KeyCode;
    let mut group = c.benchmark_group("browse_10000");
    let mut app = app_with(10_000);
    let mut ui = Ui::default();
    let area = Rect::new(0, 0, 120, 40);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    ui::prepare(&mut ui, &app, area);
    update(&mut app, key(KeyCode::Tab));
    let mut frame = |app: &mut App, ui: &mut Ui| {
        ui::prepare(ui, app, area);
        terminal.draw(|f| ui::draw(ui, app, f)).unwrap();
    };
    let mut up = true;
    group.bench_function("select_move", |b| {
        b.iter(|| {
            up = !up;
            update(&mut app, key(if up { KeyCode::Up } else { KeyCode::Down }));
            frame(&mut app, &mut ui);
        });
    });
    group.bench_function("page_scroll", |b| {
        b.iter(|| {
            up = !up;
            update(
                &mut app,
                key(if up {
                    KeyCode::PageUp
                } else {
                    KeyCode::PageDown
                }),
            );
            frame(&mut app, &mut ui);
        });
    });
    update(&mut app, key(KeyCode::Char('/')));
    for c in "fox".chars() {
        update(&mut app, key(KeyCode::Char(c)));
    }
    update(&mut app, key(KeyCode::Enter));
    group.bench_function("search_next_match", |b| {
        b.iter(|| {
            update(&mut app, key(KeyCode::Char('n')));
            frame(&mut app, &mut ui);
        });
    });
    update(&mut app, key(KeyCode::Tab));
    group.bench_function("type_a_character", |b| {
        b.iter(|| {
            update(&mut app, key(KeyCode::Char('a')));
            frame(&mut app, &mut ui);
        });
    });
    group.finish();
}

/// A key typed after a 2.4 MB paste of 100,000 lines (issue 15's hostile
/// paste, by hand): the edit, the box's height, the window drawn around the
/// cursor, the context meter, and the frame.
fn type_after_huge_paste(c: &mut Criterion) {
    use ratatui::crossterm::event::KeyCode;
    use std::fmt::Write as _;
    let mut app = app_with(10);
    let mut ui = Ui::default();
    let area = Rect::new(0, 0, 120, 40);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    // A frame first, as in the app: the textarea wraps at the box's width.
    ui::prepare(&mut ui, &app, area);
    terminal.draw(|f| ui::draw(&ui, &app, f)).unwrap();
    let mut paste = String::new();
    for i in 0..100_000 {
        let _ = writeln!(paste, "line {i} of the paste");
    }
    update(&mut app, Msg::Paste(paste));
    c.bench_function("type_after_a_100k_line_paste", |b| {
        b.iter(|| {
            update(&mut app, key(KeyCode::Char('a')));
            ui::prepare(&mut ui, &app, area);
            terminal.draw(|f| ui::draw(&ui, &app, f)).unwrap();
        });
    });
}

/// A 20,000-token markdown answer streaming: the cost of one more delta
/// (render of the open block only) at the end of it.
fn long_streaming_answer(c: &mut Criterion) {
    let mut app = app_with(10);
    let mut ui = Ui::default();
    let area = Rect::new(0, 0, 120, 40);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let (id, now) = start_answer(&mut app, "write a lot");
    // ~80 KB of markdown ≈ 20,000 tokens.
    let body = MARKDOWN_ANSWER.repeat(200);
    api(&mut app, id, StreamEvent::Delta(body), now);
    api(
        &mut app,
        id,
        StreamEvent::Delta("\n\nTail paragraph".into()),
        now,
    );
    ui::prepare(&mut ui, &app, area);
    c.bench_function("stream_delta_after_20k_tokens_markdown", |b| {
        b.iter(|| {
            api(&mut app, id, StreamEvent::Delta(" more".into()), now);
            ui::prepare(&mut ui, &app, area);
            terminal.draw(|f| ui::draw(&ui, &app, f)).unwrap();
        });
    });
}

criterion_group!(
    benches,
    frame,
    deep_markdown,
    streaming_delta,
    wrap_long_answer,
    resize,
    browsing,
    long_streaming_answer,
    type_after_huge_paste
);
criterion_main!(benches);
