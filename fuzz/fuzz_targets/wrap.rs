//! The wrapper (`text::wrap`) on arbitrary text at an arbitrary width.
//!
//! Input: byte 0 is the width (0–255); the rest is the text (lossy UTF-8).
//!
//! Asserts, for `wrap_line` (the text as one logical line) and `wrap_text`
//! (split at `\n`):
//! - rows are in order, do not overlap and start and end on grapheme
//!   cluster boundaries (of the line, for `wrap_text`);
//! - no row is wider than the width (0 counts as 1) as ratatui draws it,
//!   except a row of one grapheme cluster wider than the width (a 2-column
//!   character at width 1);
//! - nothing is dropped: between, before and after the rows there is only
//!   whitespace the wrapper may break at (not a no-break space), and
//!   `wrap_text`'s rows never hold `\n`;
//! - `display_width` is what ratatui draws, `truncate_to_width` keeps to
//!   the width and keeps a prefix of the text, and `first_chars` cuts at
//!   a char count.

#![no_main]

use std::ops::Range;

use kaiwa::text::wrap::{display_width, first_chars, truncate_to_width, wrap_line, wrap_text};
use kaiwa_fuzz::drawn_width;
use libfuzzer_sys::fuzz_target;
use unicode_segmentation::UnicodeSegmentation;

/// What the wrapper may leave out at a break (`is_break_space` in wrap.rs).
fn droppable(gap: &str) -> bool {
    gap.chars()
        .all(|c| c.is_whitespace() && !matches!(c, '\u{a0}' | '\u{2007}' | '\u{202f}'))
}

/// Grapheme cluster boundaries of `text`, or of each of its `\n`-separated
/// lines (`wrap_text` splits there first, even inside a `\r\n` cluster).
fn boundaries(text: &str, by_line: bool) -> Vec<usize> {
    if !by_line {
        return text
            .grapheme_indices(true)
            .map(|(i, _)| i)
            .chain([text.len()])
            .collect();
    }
    let mut bounds = Vec::new();
    let mut offset = 0;
    for line in text.split('\n') {
        bounds.extend(line.grapheme_indices(true).map(|(i, _)| offset + i));
        bounds.push(offset + line.len());
        offset += line.len() + 1;
    }
    bounds
}

fn check(text: &str, rows: &[Range<usize>], width: usize, what: &str) {
    assert!(!rows.is_empty(), "{what}: no rows");
    let bounds = boundaries(text, what == "wrap_text");
    let mut covered = 0;
    for row in rows {
        assert!(
            covered <= row.start && row.start <= row.end,
            "{what}: rows out of order: {rows:?}"
        );
        assert!(
            bounds.binary_search(&row.start).is_ok() && bounds.binary_search(&row.end).is_ok(),
            "{what}: row {row:?} splits a grapheme cluster"
        );
        let gap = &text[covered..row.start];
        assert!(droppable(gap), "{what}: dropped {gap:?}");
        let shown = &text[row.clone()];
        let drawn = drawn_width(shown);
        let clusters = shown.graphemes(true).filter(|g| drawn_width(g) > 0).count();
        assert!(
            drawn <= width.max(1) || clusters == 1,
            "{what}: row {shown:?} is {drawn} wide at width {width}"
        );
        covered = row.end;
    }
    let tail = &text[covered..];
    assert!(droppable(tail), "{what}: dropped the tail {tail:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&width, rest)) = data.split_first() else {
        return;
    };
    let width = usize::from(width);
    let text = String::from_utf8_lossy(rest);
    let text = text.as_ref();

    check(text, &wrap_line(text, width), width, "wrap_line");
    let rows = wrap_text(text, width);
    check(text, &rows, width, "wrap_text");
    for row in &rows {
        assert!(
            !text[row.clone()].contains('\n'),
            "wrap_text: a row holds \\n"
        );
    }
    assert!(rows.len() >= text.split('\n').count());

    assert_eq!(display_width(text), drawn_width(text));
    let cut = truncate_to_width(text, width);
    if width >= 1 {
        assert!(
            display_width(&cut) <= width,
            "truncated {cut:?} is too wide"
        );
    }
    let kept = cut.strip_suffix('…').unwrap_or(&cut);
    assert!(text.starts_with(kept), "truncate_to_width changed the text");
    let (head, more) = first_chars(text, width);
    assert!(text.starts_with(head));
    assert_eq!(head.chars().count(), width.min(text.chars().count()));
    assert_eq!(more, text.chars().count() > width);
});
