//! The Markdown renderer (`ui::markdown`) on arbitrary text at an
//! arbitrary width, whole and streamed.
//!
//! Input: byte 0 is the width (0–127), then the cuts header of
//! `cuts_and_payload`; the rest is the answer (lossy UTF-8).
//!
//! Asserts:
//! - streaming: `MarkdownCache::render` called on growing prefixes (ending
//!   at the cuts, as deltas arrive) and then on the whole text gives the
//!   lines and code blocks `render` gives for the whole text at once;
//! - no span holds a character the sanitiser keeps from the terminal;
//! - no line is wider than the width where the renderer can keep to it:
//!   the prefixes of the quotes and list items around a line leave room for
//!   a wide character and a code box's borders, and every table has room
//!   for its borders and two columns a cell (deep nesting and many-column
//!   tables are left to issue 15's other parts).

#![no_main]

use kaiwa::ui::markdown::{MarkdownCache, render};
use kaiwa_fuzz::{char_cuts, cuts_and_payload, drawn_width, forbidden};
use libfuzzer_sys::fuzz_target;
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use ratatui::text::Line;

/// Whether the renderer has room to keep every line of `src` within
/// `width`: the widest stack of container prefixes (quote `│ `, list
/// marker or its blank) plus a code box's borders and a 2-column
/// character fit, and each table's borders (3 a column, plus 1) and two
/// columns a cell fit beside its prefixes.
fn fits(src: &str, width: usize) -> bool {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    // Per open list: its next number (None for bullets).
    let mut lists: Vec<Option<u64>> = Vec::new();
    // Width of each open container's prefix.
    let mut prefixes: Vec<usize> = Vec::new();
    let mut table: Option<(usize, usize)> = None; // (outer width, widest row)
    let mut row = 0;
    for event in Parser::new_ext(src, options) {
        match event {
            Event::Start(Tag::BlockQuote(_)) => prefixes.push(2),
            Event::Start(Tag::List(start)) => lists.push(start),
            Event::Start(Tag::Item) => {
                let marker = match lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ").len();
                        *n += 1;
                        m
                    }
                    _ => 2,
                };
                prefixes.push(marker);
            }
            Event::End(TagEnd::BlockQuote(_) | TagEnd::Item) => {
                prefixes.pop();
            }
            Event::End(TagEnd::List(_)) => {
                lists.pop();
            }
            Event::Start(Tag::Table(_)) => table = Some((prefixes.iter().sum(), 0)),
            Event::Start(Tag::TableHead | Tag::TableRow) => row = 0,
            Event::Start(Tag::TableCell) => {
                row += 1;
                if let Some((_, widest)) = &mut table {
                    *widest = (*widest).max(row);
                }
            }
            Event::End(TagEnd::Table) => {
                if let Some((outer, columns)) = table.take() {
                    if outer + 5 * columns + 1 > width {
                        return false;
                    }
                }
            }
            _ => {}
        }
        if prefixes.iter().sum::<usize>() + 4 > width {
            return false;
        }
    }
    true
}

fn text_of(line: &Line<'_>) -> String {
    line.spans.iter().map(|s| s.content.as_ref()).collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&width, rest)) = data.split_first() else {
        return;
    };
    let width = usize::from(width % 128);
    let (cuts, bytes) = cuts_and_payload(rest);
    let src = String::from_utf8_lossy(bytes);
    let src = src.as_ref();

    let whole = render(src, width, 1);
    let mut cache = MarkdownCache::default();
    for cut in char_cuts(src, &cuts) {
        cache.render(&src[..cut], width);
    }
    let streamed = cache.render(src, width);
    let whole_text: Vec<String> = whole.lines.iter().map(text_of).collect();
    let streamed_text: Vec<String> = streamed.lines.iter().map(text_of).collect();
    assert_eq!(
        streamed_text, whole_text,
        "streamed at {cuts:?}: text differs"
    );
    assert_eq!(
        streamed.lines, whole.lines,
        "streamed at {cuts:?}: styles differ"
    );
    assert_eq!(streamed.code_blocks, whole.code_blocks);

    for line in &whole_text {
        if let Some(c) = line.chars().find(|&c| forbidden(c) || c == '\n') {
            panic!("U+{:04X} in the line {line:?}", u32::from(c));
        }
    }
    // `render` draws at least 4 columns wide.
    let width = width.max(4);
    if fits(src, width) {
        for line in &whole.lines {
            let drawn: usize = line.spans.iter().map(|s| drawn_width(&s.content)).sum();
            assert!(
                drawn <= width,
                "a line {drawn} wide at width {width}: {:?}",
                text_of(line)
            );
        }
    }
});
