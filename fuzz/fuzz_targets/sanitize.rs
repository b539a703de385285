//! The sanitiser (`text::sanitize`) on arbitrary text (invalid UTF-8
//! becomes U+FFFD first, as a lossy decode would).
//!
//! Asserts, for `sanitize` and for `StreamSanitizer` fed in pieces cut where
//! the input's header says:
//! - no character that may not reach a terminal is in the output (C0 but
//!   `\n`, ESC, DEL, C1, bidi and invisible format characters, U+2028/9,
//!   tag characters);
//! - the markers are sorted, disjoint, on char boundaries and each covers
//!   one stand-in (`␛`, `␀`…`␟`, `␡`, `␍`, `⟨U+XXXX⟩`);
//! - nothing is lost: the output without its stand-ins and spaces is the
//!   input without what was replaced, tabs and spaces (line breaks become
//!   `\n`), and there is one stand-in per replaced character;
//! - streaming in any split gives the same text as the whole;
//! - widths: each output line is `display_width` wide, which is what
//!   ratatui draws (unicode-width per grapheme cluster), and a tab moves
//!   what follows to a multiple of 4 columns as ratatui draws the line.

#![no_main]

use kaiwa::text::sanitize::{StreamSanitizer, sanitize};
use kaiwa::text::wrap::display_width;
use kaiwa_fuzz::{char_cuts, cuts_and_payload, drawn_width, forbidden, is_stand_in};
use libfuzzer_sys::fuzz_target;

/// The input as the sanitiser should keep it, for the "nothing lost" check:
/// line breaks as `\n`, replaced characters, tabs and spaces left out; and
/// how many characters become a stand-in.
fn kept_and_replaced(input: &str) -> (String, usize) {
    let mut kept = String::new();
    let mut replaced = 0;
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {
                chars.next();
                kept.push('\n');
            }
            '\n' | '\u{2028}' | '\u{2029}' => kept.push('\n'),
            '\t' | ' ' => {}
            c if forbidden(c) => replaced += 1,
            c => kept.push(c),
        }
    }
    (kept, replaced)
}

fuzz_target!(|data: &[u8]| {
    let (cuts, bytes) = cuts_and_payload(data);
    let input = String::from_utf8_lossy(bytes);
    let input = input.as_ref();
    let safe = sanitize(input);
    let out = safe.as_str();

    if let Some(c) = out.chars().find(|&c| forbidden(c)) {
        panic!("U+{:04X} reached the output {out:?}", u32::from(c));
    }

    let mut last_end = 0;
    let mut outside = String::new();
    for marker in safe.markers() {
        assert!(marker.start >= last_end, "markers overlap or are unsorted");
        let stand_in = out
            .get(marker.clone())
            .expect("a marker on char boundaries");
        assert!(is_stand_in(stand_in), "marker covers {stand_in:?}");
        outside.push_str(&out[last_end..marker.start]);
        last_end = marker.end;
    }
    outside.push_str(&out[last_end..]);
    let outside: String = outside.chars().filter(|&c| c != ' ').collect();
    let (kept, replaced) = kept_and_replaced(input);
    assert_eq!(outside, kept, "text lost or changed");
    assert_eq!(
        safe.markers().len(),
        replaced,
        "one stand-in per replaced character"
    );

    let mut stream = StreamSanitizer::new();
    let mut streamed = String::new();
    let mut from = 0;
    for cut in char_cuts(input, &cuts) {
        streamed += &stream.push(&input[from..cut]);
        from = cut;
    }
    streamed += &stream.push(&input[from..]);
    streamed += &stream.finish();
    assert_eq!(streamed, out, "streamed in pieces at {cuts:?}");

    for line in out.split('\n') {
        assert_eq!(display_width(line), drawn_width(line), "width of {line:?}");
    }

    // A tab stop measured as the screen draws the line.
    let line: String = input
        .chars()
        .filter(|c| !matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}'))
        .collect();
    let tabbed = sanitize(&format!("{line}\t|")).into_string();
    let before_bar = tabbed.strip_suffix('|').expect("the bar stays last");
    let column = drawn_width(before_bar);
    assert_eq!(column % 4, 0, "the tab in {line:?} ends at column {column}");
});
