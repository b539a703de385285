//! SSE decode + payload parse throughput over a realistic ~1 MB OpenAI stream.
//!
//! `cargo bench --bench sse -- --warm-up-time 1 --measurement-time 3`
//!
//! The stream is what OpenAI sends with `include_usage`: a role chunk, content chunks of a
//! few characters each (English, Korean, emoji, code), a finish chunk, the usage chunk with
//! `choices: []`, `[DONE]`. It is fed as the network would hand it over: 1 KiB reads, and
//! (worst case) 7-byte reads that cut lines and UTF-8 characters.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "bench"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kaiwa::api::sse::{SseDecoder, SseItem};
use kaiwa::api::types::{Payload, parse_payload};
use serde_json::json;

const TARGET_BYTES: usize = 1024 * 1024;

fn event(choices: &serde_json::Value, usage: &serde_json::Value) -> String {
    let chunk = json!({
        "id": "chatcmpl-BwoiPxYzAbCdEfGhIjKlMnOpQrStU",
        "object": "chat.completion.chunk",
        "created": 1_753_357_673,
        "model": "gpt-4o-mini-2024-07-18",
        "service_tier": "default",
        "system_fingerprint": "fp_51e1070cf2",
        "choices": choices,
        "usage": usage,
        "obfuscation": "2c6Xq1",
    });
    format!("data: {chunk}\n\n")
}

/// About 1 MB of stream and the answer text it carries.
fn stream() -> (Vec<u8>, String) {
    let words = [
        "The",
        " quick",
        " brown",
        " fox",
        " 여우가",
        " 빠르게",
        " 달립니다",
        ".",
        " 😀",
        " `fn",
        " main()",
        " {}`",
        "\n\n",
        " Café",
        " naïve",
        " 日本語",
        " テキスト",
        ",",
    ];
    let mut out = event(
        &json!([{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": null}, "logprobs": null, "finish_reason": null}]),
        &serde_json::Value::Null,
    );
    let mut text = String::new();
    let mut i = 0;
    while out.len() < TARGET_BYTES {
        let word = words[i % words.len()];
        i += 1;
        text.push_str(word);
        out.push_str(&event(
            &json!([{"index": 0, "delta": {"content": word}, "logprobs": null, "finish_reason": null}]),
            &serde_json::Value::Null,
        ));
    }
    out.push_str(&event(
        &json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": "stop"}]),
        &serde_json::Value::Null,
    ));
    out.push_str(&event(
        &json!([]),
        &json!({"prompt_tokens": 19, "completion_tokens": i, "total_tokens": 19 + i,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                    "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}),
    ));
    out.push_str("data: [DONE]\n\n");
    (out.into_bytes(), text)
}

/// Decode and parse the whole stream in reads of `read` bytes; returns the answer length
/// and the completion tokens reported.
fn decode_and_parse(bytes: &[u8], read: usize) -> (usize, u64) {
    let mut decoder = SseDecoder::new();
    let mut items = Vec::new();
    let mut text_len = 0;
    let mut completion = 0;
    let mut handle = |items: &mut Vec<SseItem>| {
        for item in items.drain(..) {
            if let SseItem::Event(event) = item {
                match parse_payload(&event.data) {
                    Payload::Chunk(chunk) => {
                        text_len += chunk.content.len();
                        if let Some(usage) = chunk.usage {
                            completion = usage.completion_tokens;
                        }
                    }
                    Payload::Done => {}
                    Payload::Error(_) | Payload::Unreadable => panic!("bad event"),
                }
            }
        }
    };
    for piece in bytes.chunks(read) {
        decoder.feed(piece, &mut items);
        handle(&mut items);
    }
    decoder.finish(&mut items);
    handle(&mut items);
    (text_len, completion)
}

fn bench(c: &mut Criterion) {
    let (bytes, text) = stream();
    // The bench measures the right thing: everything arrives, whatever the reads.
    for read in [1024, 7] {
        let (len, completion) = decode_and_parse(&bytes, read);
        assert_eq!(len, text.len());
        assert!(completion > 0);
    }
    let mut group = c.benchmark_group("sse");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("decode+parse 1MB, 1KiB reads", |b| {
        b.iter(|| decode_and_parse(black_box(&bytes), 1024));
    });
    group.bench_function("decode+parse 1MB, 7-byte reads", |b| {
        b.iter(|| decode_and_parse(black_box(&bytes), 7));
    });
    group.bench_function("decode only 1MB, 1KiB reads", |b| {
        b.iter(|| {
            let mut decoder = SseDecoder::new();
            let mut items = Vec::new();
            let mut events = 0usize;
            for piece in black_box(&bytes).chunks(1024) {
                decoder.feed(piece, &mut items);
                events += items.len();
                items.clear();
            }
            decoder.finish(&mut items);
            events + items.len()
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
