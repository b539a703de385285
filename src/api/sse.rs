//! Incremental Server-Sent Events decoding: bytes in, events out.
//!
//! Written by hand rather than taken from a crate because the SSE crates fall
//! short on what real servers send (WIRE-NOTES §1.1): `eventsource-stream`
//! 0.2.3 panics on a UTF-8 BOM, swallows everything after one invalid UTF-8
//! byte and drops a last event without its blank line; `reqwest-eventsource`
//! re-POSTs forever. This decoder follows the WHATWG rules and is more lenient
//! at the end: a pending event with data is dispatched at EOF.
//!
//! Invariant: the output does not depend on how the input was split into
//! reads — a split inside a line, inside a UTF-8 character or between `\r`
//! and `\n` gives the same events (tested at every byte offset). A line
//! longer than `MAX_LINE_BYTES` ends the decoding there, however it was
//! split: memory stays bounded and an endless line cannot keep a reader
//! busy forever (`overflowed`).

/// Longest line, and longest event's data, kept in memory. Anything longer
/// (a hostile or broken server, an endless line, endless `data:` lines with
/// no blank line) stops the decoder: nothing from it or after it becomes an
/// event, and `overflowed` says so, so the reader can stop reading.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// One dispatched event, or a sign of life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// A complete event with its (possibly multi-line) data.
    Event(SseEvent),
    /// A comment line (`: ping`): the server is alive, nothing to show.
    Comment,
}

/// A dispatched SSE event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, empty when none was sent.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// Non-standard `error:` field lines (old llama.cpp mid-stream errors).
    pub error_field: Option<String>,
}

/// The decoder state: a partial line and the event being built.
#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` at the start of the next one
    /// belongs to the same line ending.
    pending_cr: bool,
    /// Whether any byte has been seen (the BOM may only be at the very start).
    started: bool,
    /// A line or an event went past `MAX_LINE_BYTES`: decoding stopped
    /// (for good).
    overflow: bool,
    event: String,
    data: String,
    has_data: bool,
    error_field: Option<String>,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed one read; complete items are appended to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<SseItem>) {
        if bytes.is_empty() || self.overflow {
            // Nothing to decode, and a pending `\r` must still meet the next `\n`.
            return;
        }
        if !self.started {
            // Strip one leading UTF-8 BOM, even when it arrives split across reads.
            self.line.extend_from_slice(bytes);
            if self.line.len() < 3 && b"\xEF\xBB\xBF".starts_with(&self.line) {
                return;
            }
            self.started = true;
            let pending = std::mem::take(&mut self.line);
            let rest = pending.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&pending);
            self.feed_started(rest, out);
            return;
        }
        if self.pending_cr {
            self.pending_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        self.feed_started(bytes, out);
    }

    fn feed_started(&mut self, mut bytes: &[u8], out: &mut Vec<SseItem>) {
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (head, tail) = bytes.split_at(pos);
            if !self.push_line_bytes(head) {
                return;
            }
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
            if self.overflow {
                return;
            }
            self.line = line;
            self.line.clear();
            // `tail` starts with the terminator.
            let is_cr = tail.first() == Some(&b'\r');
            bytes = tail.get(1..).unwrap_or_default();
            if is_cr {
                match bytes.first() {
                    Some(b'\n') => bytes = bytes.get(1..).unwrap_or_default(),
                    Some(_) => {}
                    None => self.pending_cr = true,
                }
            }
        }
        self.push_line_bytes(bytes);
    }

    /// Adds to the current line; false (and the decoder stopped, the line
    /// dropped) when that would make it longer than `MAX_LINE_BYTES`.
    fn push_line_bytes(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() > MAX_LINE_BYTES.saturating_sub(self.line.len()) {
            self.stop();
            return false;
        }
        self.line.extend_from_slice(bytes);
        true
    }

    /// Past the cap: stop for good and let go of what was kept.
    fn stop(&mut self) {
        self.overflow = true;
        self.line = Vec::new();
        self.data = String::new();
        self.error_field = None;
    }

    /// End of input: a partial line is processed and a pending event with
    /// data is dispatched (more lenient than the spec, so that a final
    /// `data: [DONE]` without its blank line still counts).
    pub fn finish(&mut self, out: &mut Vec<SseItem>) {
        if self.overflow {
            // The event being built was cut off: nothing of it is sent.
            return;
        }
        if !self.started && !self.line.is_empty() {
            // Only part of a BOM arrived: nothing to decode.
            self.line.clear();
        }
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
            if self.overflow {
                return;
            }
        }
        self.dispatch(out);
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseItem>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.first() == Some(&b':') {
            out.push(SseItem::Comment);
            return;
        }
        // Decode per line, lossily: one bad byte spoils one line, never the stream.
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text.as_ref(), ""),
        };
        let kept = self.data.len() + self.error_field.as_ref().map_or(0, String::len);
        if kept + value.len() >= MAX_LINE_BYTES {
            // One event of endless `data:` lines: cut off like a long line.
            self.stop();
            return;
        }
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => value.clone_into(&mut self.event),
            "error" => {
                let field = self.error_field.get_or_insert_with(String::new);
                if !field.is_empty() {
                    field.push('\n');
                }
                field.push_str(value);
            }
            // `id`, `retry` and unknown fields carry nothing kaiwa uses.
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseItem>) {
        if self.has_data || self.error_field.is_some() {
            out.push(SseItem::Event(SseEvent {
                event: std::mem::take(&mut self.event),
                data: std::mem::take(&mut self.data),
                error_field: self.error_field.take(),
            }));
        }
        self.event.clear();
        self.data.clear();
        self.has_data = false;
    }

    /// Whether a line went past `MAX_LINE_BYTES`: decoding stopped there
    /// (the events before it were all given out), and the reader should
    /// stop reading.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }
}

/// Decode a whole byte string at once (tests, benches, fixtures).
pub fn decode_all(bytes: &[u8]) -> Vec<SseItem> {
    decode_split(bytes, &[])
}

/// Decode a byte string fed in reads cut at `cuts` (ascending offsets),
/// then finish: how a stream arrives (tests, benches, fixtures). A cut
/// before the previous one or past the end is clamped, never a panic.
pub fn decode_split(bytes: &[u8], cuts: &[usize]) -> Vec<SseItem> {
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    let (mut rest, mut at) = (bytes, 0);
    for &cut in cuts {
        let (piece, tail) = rest.split_at(cut.saturating_sub(at).min(rest.len()));
        decoder.feed(piece, &mut out);
        at += piece.len();
        rest = tail;
    }
    decoder.feed(rest, &mut out);
    decoder.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_of(items: &[SseItem]) -> Vec<String> {
        items
            .iter()
            .filter_map(|item| match item {
                SseItem::Event(e) => Some(e.data.clone()),
                SseItem::Comment => None,
            })
            .collect()
    }

    #[test]
    fn basic_events_and_comments() {
        let input = b": ping - 2026\n\ndata: {\"a\":1}\n\ndata:{\"b\":2}\n\ndata: [DONE]\n\n";
        let items = decode_all(input);
        assert_eq!(items[0], SseItem::Comment);
        assert_eq!(data_of(&items), vec!["{\"a\":1}", "{\"b\":2}", "[DONE]"]);
    }

    #[test]
    fn crlf_cr_and_multiline_data() {
        let items = decode_all(b"data: line1\r\ndata: line2\r\n\r\ndata: one\r\rdata: two\r\r");
        assert_eq!(data_of(&items), vec!["line1\nline2", "one", "two"]);
    }

    #[test]
    fn bom_is_stripped_even_split() {
        let input = "\u{feff}data: bom\n\n".as_bytes();
        for cut in 0..input.len() {
            assert_eq!(
                data_of(&decode_split(input, &[cut])),
                vec!["bom"],
                "cut {cut}"
            );
        }
    }

    #[test]
    fn invalid_utf8_spoils_only_its_line() {
        let items = decode_all(b"data: bad\xff\n\ndata: after-bad\n\ndata: [DONE]");
        assert_eq!(data_of(&items), vec!["bad\u{fffd}", "after-bad", "[DONE]"]);
    }

    #[test]
    fn last_event_without_blank_line_is_dispatched() {
        assert_eq!(
            data_of(&decode_all(b"data: one\n\ndata: [DONE]\n")),
            vec!["one", "[DONE]"]
        );
        assert_eq!(data_of(&decode_all(b"data: [DONE]")), vec!["[DONE]"]);
    }

    #[test]
    fn event_and_error_fields() {
        let items = decode_all(b"event: error\ndata: {\"x\":1}\n\nerror: {\"code\":500}\n\n");
        match (&items[0], &items[1]) {
            (SseItem::Event(a), SseItem::Event(b)) => {
                assert_eq!(a.event, "error");
                assert_eq!(b.error_field.as_deref(), Some("{\"code\":500}"));
                assert!(b.data.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn every_split_offset_gives_the_same_events() {
        let text = "data: {\"c\":\"ChatGPT란 무엇입니까? 👩‍🔬\"}\r\n\r\n: keep-alive\r\ndata: a\rdata: b\r\rdata: [DONE]\n\n";
        let bytes = text.as_bytes();
        let whole = decode_all(bytes);
        for cut in 0..=bytes.len() {
            assert_eq!(decode_split(bytes, &[cut]), whole, "single cut at {cut}");
        }
        for a in 0..bytes.len() {
            for b in a..=bytes.len() {
                assert_eq!(decode_split(bytes, &[a, b]), whole, "cuts at {a},{b}");
            }
        }
        let ones: Vec<usize> = (1..bytes.len()).collect();
        assert_eq!(decode_split(bytes, &ones), whole);
    }

    #[test]
    fn an_overlong_line_stops_the_decoder_whatever_the_split() {
        let mut bytes = b"data: before\n\ndata: ".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES));
        bytes.extend_from_slice(b"\n\ndata: after\n\n");
        let before = vec![SseItem::Event(SseEvent {
            data: "before".into(),
            ..SseEvent::default()
        })];
        let len = bytes.len();
        for cuts in [
            vec![],
            vec![20],
            vec![len - 15],
            vec![13, 14, len - 20, len - 1],
        ] {
            assert_eq!(decode_split(&bytes, &cuts), before, "cuts {cuts:?}");
        }
        // Fed in 1 MiB reads: memory stays at the cap, then the decoder stops.
        let mut decoder = SseDecoder::new();
        let mut out = Vec::new();
        decoder.feed(b"data: ", &mut out);
        let chunk = vec![b'x'; 1024 * 1024];
        for _ in 0..7 {
            decoder.feed(&chunk, &mut out);
        }
        assert!(!decoder.overflowed(), "7 MiB is under the cap");
        for _ in 0..3 {
            decoder.feed(&chunk, &mut out);
        }
        assert!(decoder.overflowed());
        assert_eq!(decoder.line.capacity(), 0, "the cut line is let go");
        decoder.feed(b"\n\ndata: more\n\n", &mut out);
        decoder.finish(&mut out);
        assert_eq!(out, []);
        assert!(decoder.overflowed(), "for good");
        // A line of exactly the cap is still a line.
        let mut exact = b"data: ".to_vec();
        exact.extend(std::iter::repeat_n(b'y', MAX_LINE_BYTES - 6));
        exact.extend_from_slice(b"\n\n");
        match decode_all(&exact).as_slice() {
            [SseItem::Event(e)] => assert_eq!(e.data.len(), MAX_LINE_BYTES - 6),
            other => panic!("expected one event, got {} items", other.len()),
        }
    }

    #[test]
    fn endless_data_lines_without_a_blank_line_stop_the_decoder_too() {
        let mut decoder = SseDecoder::new();
        let mut out = Vec::new();
        decoder.feed(b"data: before\n\n", &mut out);
        let mut line = b"data: ".to_vec();
        line.extend(std::iter::repeat_n(b'z', 1024 * 1024));
        line.push(b'\n');
        for _ in 0..7 {
            decoder.feed(&line, &mut out);
        }
        assert!(!decoder.overflowed());
        for _ in 0..2 {
            decoder.feed(&line, &mut out);
        }
        assert!(decoder.overflowed());
        assert_eq!(decoder.data.capacity(), 0);
        decoder.feed(b"\n", &mut out);
        decoder.finish(&mut out);
        assert_eq!(out.len(), 1, "only the event before");
    }
}
