//! Frame cost of the chat screen: `ui::prepare` + `ui::draw` on long
//! transcripts (it must not grow with the length), one streaming delta,
//! wrapping a long answer, and a resize (everything re-wrapped once).
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

const PARAGRAPH: &str = "ChatGPT는 OpenAI가 개발한 대규모 언어 모델입니다. It answers questions, \
writes code and explains things; 日本語の質問にも答えます。 The quick brown fox jumps over the lazy dog.";

fn app_with(messages: usize) -> App {
    let settings = Settings {
        model: "gpt-4o-mini".into(),
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
        let mut app = app_with(n);
        let mut ui = Ui::default();
        let area = Rect::new(0, 0, 120, 40);
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
        ui::prepare(&mut ui, &mut app, area);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                ui::prepare(&mut ui, &mut app, area);
                terminal.draw(|f| ui::draw(&ui, &app, f)).unwrap();
            });
        });
    }
    group.finish();
}

fn streaming_delta(c: &mut Criterion) {
    let mut group = c.benchmark_group("stream_delta_frame");
    for n in [100usize, 10_000] {
        let mut app = app_with(n);
        let mut ui = Ui::default();
        let area = Rect::new(0, 0, 120, 40);
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
        app.composer.set_text("next question");
        let out = update(
            &mut app,
            Msg::Key(ratatui::crossterm::event::KeyEvent::from(
                ratatui::crossterm::event::KeyCode::Enter,
            )),
        );
        assert!(!out.effects.is_empty());
        let id = RequestId(app.next_request);
        let now = Instant::now();
        update(
            &mut app,
            Msg::Api {
                id,
                event: StreamEvent::Started,
                at: now,
            },
        );
        // An answer already 2,000 words long is streaming.
        update(
            &mut app,
            Msg::Api {
                id,
                event: StreamEvent::Delta(PARAGRAPH.repeat(60)),
                at: now,
            },
        );
        ui::prepare(&mut ui, &mut app, area);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                update(
                    &mut app,
                    Msg::Api {
                        id,
                        event: StreamEvent::Delta(" token".into()),
                        at: now,
                    },
                );
                ui::prepare(&mut ui, &mut app, area);
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

fn resize(c: &mut Criterion) {
    let mut app = app_with(5_000);
    let mut ui = Ui::default();
    let mut wide = true;
    c.bench_function("resize_5000_messages", |b| {
        b.iter(|| {
            wide = !wide;
            let area = Rect::new(0, 0, if wide { 120 } else { 100 }, 40);
            ui::prepare(&mut ui, &mut app, area);
        });
    });
}

criterion_group!(benches, frame, streaming_delta, wrap_long_answer, resize);
criterion_main!(benches);
