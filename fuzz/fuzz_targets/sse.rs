//! The SSE decoder and the payload parser on arbitrary bytes.
//!
//! Asserts: feeding the bytes in reads cut anywhere (the cuts come from the
//! input's header) gives exactly the events of feeding them whole, and so
//! does one byte per read; classifying each event's data
//! (`parse_payload`), an `error:` field or `event: error` (`stream_error`)
//! and looking for a context overflow in a server error never panic.

#![no_main]

use kaiwa::api::client::stream_error;
use kaiwa::api::overflow;
use kaiwa::api::sse::{SseDecoder, SseItem};
use kaiwa::api::types::{Payload, parse_payload};
use kaiwa_fuzz::cuts_and_payload;
use libfuzzer_sys::fuzz_target;

/// Feed `bytes` in reads ending at `cuts`, then finish.
fn decode(bytes: &[u8], cuts: &[usize]) -> Vec<SseItem> {
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    let mut at = 0;
    for &cut in cuts {
        decoder.feed(&bytes[at..cut], &mut out);
        at = cut;
    }
    decoder.feed(&bytes[at..], &mut out);
    decoder.finish(&mut out);
    out
}

fuzz_target!(|data: &[u8]| {
    let (cuts, bytes) = cuts_and_payload(data);
    let whole = decode(bytes, &[]);
    let split = decode(bytes, &cuts);
    assert_eq!(split, whole, "cuts {cuts:?} changed the events");
    if bytes.len() <= 512 {
        let every: Vec<usize> = (1..bytes.len()).collect();
        assert_eq!(decode(bytes, &every), whole, "one byte per read");
    }
    for item in &whole {
        let SseItem::Event(event) = item else {
            continue;
        };
        if let Some(field) = &event.error_field {
            let _ = overflow::detect(&stream_error(field));
        }
        if event.event == "error" {
            let _ = overflow::detect(&stream_error(&event.data));
        }
        match parse_payload(&event.data) {
            Payload::Error(error) => {
                let _ = overflow::detect(&error);
            }
            Payload::Chunk(_) | Payload::Done | Payload::Unreadable => {}
        }
    }
});
