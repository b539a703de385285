//! The SSE decoder and payload parser against recordings of real servers
//! (`tests/fixtures/sse/`): every fixture gives the same events however its
//! bytes are cut into reads, and what it means (answer text, finish reason,
//! usage, unreadable events) is what the server actually said.

use std::collections::BTreeSet;
use std::path::PathBuf;

use kaiwa::api::error::ApiError;
use kaiwa::api::sse::{SseDecoder, SseEvent, SseItem, decode_all, decode_split};
use kaiwa::api::types::{Payload, ServerError, Usage, parse_payload};
use proptest::prelude::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sse/");

#[allow(
    clippy::panic,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// Every `*.sse` file in the fixtures folder, sorted.
#[allow(
    clippy::unwrap_used,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn sse_fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(PathBuf::from(FIXTURES))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| {
            std::path::Path::new(name)
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("sse"))
        })
        .collect();
    names.sort();
    names
}

/// Feeds `bytes` in pieces of `n` bytes.
fn decode_pieces(bytes: &[u8], n: usize) -> Vec<SseItem> {
    let cuts: Vec<usize> = (n..bytes.len()).step_by(n).collect();
    decode_split(bytes, &cuts)
}

/// Feeds `bytes` one byte at a time with an empty read after each (a body stream may
/// yield empty chunks; one after a `\r` must not split the `\r\n`).
fn decode_with_empty_reads(bytes: &[u8]) -> Vec<SseItem> {
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    decoder.feed(&[], &mut out);
    for piece in bytes.chunks(1) {
        decoder.feed(piece, &mut out);
        decoder.feed(&[], &mut out);
    }
    decoder.finish(&mut out);
    out
}

fn events(items: &[SseItem]) -> Vec<&SseEvent> {
    items
        .iter()
        .filter_map(|item| match item {
            SseItem::Event(e) => Some(e),
            SseItem::Comment => None,
        })
        .collect()
}

fn comments(items: &[SseItem]) -> usize {
    items
        .iter()
        .filter(|item| matches!(item, SseItem::Comment))
        .count()
}

/// What a decoded stream means, the way the client reads it.
#[derive(Debug, Default)]
struct Meaning {
    text: String,
    finish_reason: Option<String>,
    /// The last usage seen.
    usage: Option<Usage>,
    unreadable: usize,
    errors: Vec<ServerError>,
    done: usize,
    chunks: usize,
    /// Roles announced by deltas, in order.
    roles: Vec<String>,
}

fn meaning(items: &[SseItem]) -> Meaning {
    let mut m = Meaning::default();
    for event in events(items) {
        match parse_payload(&event.data) {
            Payload::Done => m.done += 1,
            Payload::Unreadable => m.unreadable += 1,
            Payload::Error(e) => m.errors.push(e),
            Payload::Chunk(chunk) => {
                m.chunks += 1;
                m.text.push_str(&chunk.content);
                if let Some(reason) = &chunk.finish_reason {
                    m.finish_reason = Some(reason.clone());
                }
                if let Some(usage) = chunk.usage {
                    m.usage = Some(usage);
                }
                if let Some(role) = &chunk.role {
                    m.roles.push(role.clone());
                }
            }
        }
    }
    m
}

fn usage_numbers(usage: Option<Usage>) -> Option<(u64, u64, u64, u64)> {
    usage.map(|u| {
        (
            u.prompt_tokens,
            u.completion_tokens,
            u.total_tokens,
            u.cached_tokens,
        )
    })
}

/// Checks the invariant on one byte string: any single cut, and 1-byte reads, give the
/// same items as one read.
fn assert_split_invariant(name: &str, bytes: &[u8]) {
    let whole = decode_all(bytes);
    assert_eq!(
        decode_split(bytes, &[]),
        whole,
        "{name}: feed+finish differs from decode_all"
    );
    for cut in 0..=bytes.len() {
        let split = decode_split(bytes, &[cut]);
        assert!(
            split == whole,
            "{name}: a cut at byte {cut} changed the events"
        );
    }
    assert_eq!(decode_pieces(bytes, 1), whole, "{name}: 1-byte reads");
    assert_eq!(
        decode_with_empty_reads(bytes),
        whole,
        "{name}: 1-byte reads with an empty read after each"
    );
    for n in [2, 3, 7, 64] {
        assert_eq!(decode_pieces(bytes, n), whole, "{name}: {n}-byte reads");
    }
}

#[test]
fn every_fixture_gives_the_same_events_at_every_cut() {
    let names = sse_fixture_names();
    assert!(names.len() >= 18, "fixtures missing: {names:?}");
    for name in &names {
        assert_split_invariant(name, &fixture(name));
    }
}

#[test]
fn every_fixture_has_its_expectations_here() {
    // A new recording must get its own assertions below.
    let covered: BTreeSet<&str> = [
        "litellm_midstream_error.sse",
        "litellm_stream.sse",
        "litellm_stream_error.sse",
        "litellm_stream_usage.sse",
        "llamacpp-py_ping_while_queued.sse",
        "llamacpp-py_random_stream.sse",
        "llamacpp-py_stream.sse",
        "llamacpp-py_stream_overflow.sse",
        "llamacpp-py_stream_usage.sse",
        "llamaserver_stream.sse",
        "llamaserver_stream_overflow.sse",
        "llamaserver_stream_usage.sse",
        "llmock_fault_disconnect.sse",
        "llmock_fault_malformed.sse",
        "llmock_fault_stall.sse",
        "llmock_fault_truncate.sse",
        "llmock_stream.sse",
        "llmock_stream_usage.sse",
    ]
    .into_iter()
    .collect();
    let present = sse_fixture_names();
    let present: BTreeSet<&str> = present.iter().map(String::as_str).collect();
    assert_eq!(present, covered);
}

const TINY_ANSWER: &str = "Hello! I am a tiny test model. Nice to meet you 😀";
const LITELLM_ANSWER: &str = "Hello! I am LiteLLM's mock. Nice to meet you 😀";
const LLMOCK_ANSWER: &str = "Hello! LLMock handled this request for gpt-4o-mini.";

#[test]
fn llamaserver_null_content_role_chunk_and_timings() {
    let items = decode_all(&fixture("llamaserver_stream.sse"));
    // The first chunk is `"delta":{"role":"assistant","content":null}`: a role, no text.
    let first = events(&items)[0];
    let Payload::Chunk(chunk) = parse_payload(&first.data) else {
        panic!("first event is not a chunk: {first:?}")
    };
    assert_eq!(chunk.role.as_deref(), Some("assistant"));
    assert_eq!(chunk.content, "");
    let m = meaning(&items);
    assert_eq!(m.text, TINY_ANSWER);
    assert_eq!(m.finish_reason.as_deref(), Some("stop"));
    // `timings` on the finish chunk is not usage.
    assert_eq!(usage_numbers(m.usage), None);
    assert_eq!((m.unreadable, m.errors.len(), m.done), (0, 0, 1));
    assert_eq!(m.roles, ["assistant"]);
    assert_eq!(m.chunks, 17);
}

#[test]
fn llamaserver_usage_chunk_with_empty_choices() {
    let items = decode_all(&fixture("llamaserver_stream_usage.sse"));
    let m = meaning(&items);
    assert_eq!(m.text, TINY_ANSWER);
    assert_eq!(m.finish_reason.as_deref(), Some("stop"));
    // `"choices":[]`, `usage` with cached tokens, and `timings` beside it.
    assert_eq!(usage_numbers(m.usage), Some((52, 19, 71, 51)));
    assert_eq!(m.usage.unwrap().cost, None);
    let all = events(&items);
    let usage_event = all[all.len() - 2];
    let Payload::Chunk(chunk) = parse_payload(&usage_event.data) else {
        panic!("usage event is not a chunk")
    };
    assert!(usage_event.data.contains("\"choices\":[]"));
    assert!(usage_event.data.contains("\"timings\""));
    assert_eq!(chunk.content, "");
    assert_eq!(chunk.finish_reason, None);
    assert!(chunk.usage.is_some());
    assert_eq!((m.unreadable, m.errors.len(), m.done), (0, 0, 1));
}

#[test]
fn litellm_plain_stream_has_no_usage() {
    let m = meaning(&decode_all(&fixture("litellm_stream.sse")));
    assert_eq!(m.text, LITELLM_ANSWER);
    assert_eq!(m.finish_reason.as_deref(), Some("stop"));
    assert_eq!(usage_numbers(m.usage), None);
    assert_eq!((m.unreadable, m.errors.len(), m.done), (0, 0, 1));
    // The first chunk carries both the role and text ("Hel").
    assert!(m.text.starts_with("Hel"));
    assert_eq!(m.roles, ["assistant"]);
}

#[test]
fn litellm_usage_chunk_has_one_choice_with_empty_delta_and_cost() {
    let items = decode_all(&fixture("litellm_stream_usage.sse"));
    let m = meaning(&items);
    assert_eq!(m.text, LITELLM_ANSWER);
    assert_eq!(m.finish_reason.as_deref(), Some("stop"));
    assert_eq!(usage_numbers(m.usage), Some((17, 15, 32, 0)));
    let cost = m.usage.unwrap().cost.unwrap();
    assert!((cost - 0.000_011_55).abs() < 1e-12, "cost {cost}");
    let all = events(&items);
    let usage_event = all[all.len() - 2];
    assert!(
        usage_event
            .data
            .contains("\"choices\":[{\"index\":0,\"delta\":{}}]")
    );
    let Payload::Chunk(chunk) = parse_payload(&usage_event.data) else {
        panic!("usage event is not a chunk")
    };
    assert_eq!(chunk.content, "");
    assert_eq!(chunk.finish_reason, None);
    assert_eq!((m.unreadable, m.errors.len(), m.done), (0, 0, 1));
}

#[test]
fn llamacpp_python_ignores_include_usage() {
    for name in ["llamacpp-py_stream.sse", "llamacpp-py_stream_usage.sse"] {
        let items = decode_all(&fixture(name));
        let m = meaning(&items);
        // `"\ud83d\ude00"` (a JSON surrogate pair) is the emoji.
        assert_eq!(m.text, TINY_ANSWER, "{name}");
        assert_eq!(m.finish_reason.as_deref(), Some("stop"), "{name}");
        assert_eq!(usage_numbers(m.usage), None, "{name}: no usage at all");
        assert_eq!((m.unreadable, m.errors.len(), m.done), (0, 0, 1), "{name}");
        // The role chunk has no `content` key at all.
        let Payload::Chunk(first) = parse_payload(&events(&items)[0].data) else {
            panic!("{name}: first event")
        };
        assert_eq!(
            (first.role.as_deref(), first.content.as_str()),
            (Some("assistant"), "")
        );
    }
}

#[test]
fn llamacpp_python_random_stream_ends_with_length() {
    let m = meaning(&decode_all(&fixture("llamacpp-py_random_stream.sse")));
    assert_eq!(m.finish_reason.as_deref(), Some("length"));
    assert_eq!(m.chunks, 202);
    assert_eq!(m.text.chars().count(), 950);
    assert_eq!(m.text.len(), 1056);
    assert!(
        m.text
            .starts_with(" frebreak promisesproj warnings Turk loadssimeqModel INTцион")
    );
    assert!(
        m.text
            .ends_with("Hibernate INTaugeo Whenthanништво tiene sunt *.")
    );
    assert!(m.text.contains('り'));
    assert_eq!(usage_numbers(m.usage), None);
    assert_eq!((m.unreadable, m.errors.len(), m.done), (0, 0, 1));
}

#[test]
fn llamacpp_python_pings_while_queued_are_comments_only() {
    let items = decode_all(&fixture("llamacpp-py_ping_while_queued.sse"));
    assert_eq!(comments(&items), 2);
    assert!(events(&items).is_empty());
}

#[test]
fn llamacpp_python_overflow_is_an_empty_body() {
    let bytes = fixture("llamacpp-py_stream_overflow.sse");
    assert!(bytes.is_empty());
    let items = decode_all(&bytes);
    assert!(items.is_empty());
    let m = meaning(&items);
    assert_eq!((m.text.as_str(), m.finish_reason), ("", None));
}

#[test]
fn llmock_plain_and_usage_streams() {
    let m = meaning(&decode_all(&fixture("llmock_stream.sse")));
    assert_eq!(m.text, LLMOCK_ANSWER);
    assert_eq!(m.finish_reason.as_deref(), Some("stop"));
    assert_eq!(usage_numbers(m.usage), None);
    assert_eq!((m.unreadable, m.errors.len(), m.done), (0, 0, 1));

    // `"usage":null` on every chunk, then the usage chunk with `choices: []`.
    let m = meaning(&decode_all(&fixture("llmock_stream_usage.sse")));
    assert_eq!(m.text, LLMOCK_ANSWER);
    assert_eq!(m.finish_reason.as_deref(), Some("stop"));
    assert_eq!(usage_numbers(m.usage), Some((4, 12, 16, 0)));
    assert_eq!((m.unreadable, m.errors.len(), m.done), (0, 0, 1));
}

#[test]
fn llmock_malformed_is_exactly_one_unreadable_event() {
    let m = meaning(&decode_all(&fixture("llmock_fault_malformed.sse")));
    assert_eq!(m.unreadable, 1);
    // The cut chunk ("from ") is lost; everything after it still arrives.
    assert_eq!(
        m.text,
        "Mock response gpt-4o-mini: everything is working as expected."
    );
    assert_eq!(m.finish_reason.as_deref(), Some("stop"));
    assert_eq!(usage_numbers(m.usage), Some((1, 16, 17, 0)));
    assert_eq!((m.errors.len(), m.done), (0, 1));
}

#[test]
fn llmock_disconnect_and_truncate_have_no_finish_reason() {
    for name in ["llmock_fault_disconnect.sse", "llmock_fault_truncate.sse"] {
        let items = decode_all(&fixture(name));
        assert_eq!(events(&items).len(), 3, "{name}");
        let m = meaning(&items);
        assert_eq!(m.text, "Mock response ", "{name}");
        assert_eq!(m.finish_reason, None, "{name}: incomplete");
        assert_eq!(usage_numbers(m.usage), None, "{name}");
        assert_eq!((m.unreadable, m.errors.len(), m.done), (0, 0, 0), "{name}");
    }
}

#[test]
fn llmock_stall_completes_once_it_resumes() {
    let m = meaning(&decode_all(&fixture("llmock_fault_stall.sse")));
    assert_eq!(
        m.text,
        "Mock response from gpt-4o-mini: everything is working as expected."
    );
    assert_eq!(m.finish_reason.as_deref(), Some("stop"));
    assert_eq!(usage_numbers(m.usage), None);
    assert_eq!((m.unreadable, m.errors.len(), m.done), (0, 0, 1));
}

/// The recorded non-200 answers are whole HTTP responses (status line, headers, body):
/// as SSE they carry no event, and their bodies read as typed errors.
#[test]
fn recorded_error_responses() {
    let cases: [(&str, u16, &str, Option<&str>, &str); 3] = [
        (
            "litellm_midstream_error.sse",
            529,
            "litellm.APIError: APIError: OpenAIException - litellm.MockException: This is a mock error raised mid-stream",
            Some("529"),
            "internal_server_error",
        ),
        (
            "litellm_stream_error.sse",
            429,
            "litellm.RateLimitError: this is a mock rate limit error",
            Some("429"),
            "throttling_error",
        ),
        (
            "llamaserver_stream_overflow.sse",
            400,
            "request (3028 tokens) exceeds the available context size (2048 tokens), try increasing it",
            Some("400"),
            "exceed_context_size_error",
        ),
    ];
    for (name, status, message, code, kind) in cases {
        let bytes = fixture(name);
        assert!(events(&decode_all(&bytes)).is_empty(), "{name}");
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let recorded: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        assert_eq!(recorded, status, "{name}");
        let error = ApiError::from_status(status, body.as_bytes(), None, None, "http://x/v1");
        let ApiError::Status {
            status: got,
            error: server,
            ..
        } = &error
        else {
            panic!("{name}: {error:?}")
        };
        assert_eq!(*got, status, "{name}");
        assert!(
            server.message.starts_with(message),
            "{name}: {}",
            server.message
        );
        assert_eq!(server.code.as_deref(), code, "{name}");
        assert_eq!(server.kind.as_deref(), Some(kind), "{name}");
        // A code that only repeats the status gives way to the type: "(529
        // internal_server_error)", never "(529 529)".
        let shown = error.to_string();
        assert!(
            shown.contains(&format!("({status} {kind})")),
            "{name}: {shown}"
        );
        assert!(
            !shown.contains(&format!("{status} {status}")),
            "{name}: {shown}"
        );
    }
}

/// Korean, emoji (4-byte and ZWJ), CRLF, a `: ping` comment, multi-line data, a BOM, a
/// final event without its blank line.
const SYNTHETIC: &str = concat!(
    "\u{feff}: ping - 2026-11-24 21:15:04\r\n\r\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\r\n\r\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ChatGPT는 \"}}]}\r\n\r\n",
    ": ping\r\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"대화형 AI입니다 \"}}]}\r\n\r\n",
    "data: {\"choices\":[{\"index\":0,\r\n",
    "data: \"delta\":{\"content\":\"🤖👩‍🔬\"}}]}\r\n\r\n",
    "data:{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\r\r",
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":14,\"completion_tokens\":9,\"total_tokens\":23}}\n\n",
    "data: [DONE]",
);

#[test]
fn synthetic_korean_emoji_crlf_stream_at_every_cut() {
    let bytes = SYNTHETIC.as_bytes();
    assert_split_invariant("synthetic", bytes);
    let items = decode_all(bytes);
    assert_eq!(comments(&items), 2);
    assert_eq!(events(&items).len(), 7);
    // Two `data:` lines joined with '\n' still parse as JSON.
    assert_eq!(
        events(&items)[3].data,
        "{\"choices\":[{\"index\":0,\n\"delta\":{\"content\":\"🤖👩‍🔬\"}}]}"
    );
    let m = meaning(&items);
    assert_eq!(m.text, "ChatGPT는 대화형 AI입니다 🤖👩‍🔬");
    assert_eq!(m.finish_reason.as_deref(), Some("stop"));
    assert_eq!(usage_numbers(m.usage), Some((14, 9, 23, 0)));
    assert_eq!((m.unreadable, m.done), (0, 1));
    // No U+FFFD anywhere: no character was cut in half.
    for event in events(&items) {
        assert!(!event.data.contains('\u{fffd}'), "{event:?}");
    }
}

#[test]
fn synthetic_stream_at_every_pair_of_cuts_near_multibyte_text() {
    // Two cuts anywhere inside the Korean/emoji events (the single-cut test covers the rest).
    let bytes = SYNTHETIC.as_bytes();
    let whole = decode_all(bytes);
    let start = SYNTHETIC.find("ChatGPT는").unwrap();
    let end = SYNTHETIC.find("👩‍🔬").unwrap() + "👩‍🔬\"}}]}\r\n\r\n".len();
    for a in start..end {
        for b in a..end {
            assert!(decode_split(bytes, &[a, b]) == whole, "cuts at {a},{b}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any set of cuts in a recorded stream gives the same events.
    #[test]
    fn random_cuts_in_a_recording(mut cuts in proptest::collection::vec(0usize..4503, 0..40)) {
        let bytes = fixture("llamaserver_stream_usage.sse");
        prop_assert_eq!(bytes.len(), 4503);
        cuts.sort_unstable();
        prop_assert_eq!(decode_split(&bytes, &cuts), decode_all(&bytes));
    }
}
