//! `MarkdownCache`: incremental rendering of one answer while it streams.
//!
//! Invariant: the result equals rendering the whole text at once. The
//! finished blocks (up to the last blank line outside a code fence that
//! starts a new top-level block) are rendered once and kept; only the open
//! tail is rendered again, so a long answer costs time linear in its
//! length. The cache starts over when the width, the reference-link
//! definitions or the text before the tail change. A piece resolves a
//! reference link it does not define (`[a][1]`) by the definitions of the
//! whole text as pulldown-cmark reads them (in a quote or a list too).

use pulldown_cmark::{Event, Parser, RefDefs};
use ratatui::text::Line;

use super::{OPTIONS, Rendered, render_with};

/// Incremental rendering of one message while it streams: the finished
/// blocks (up to the last blank line outside a code fence) are rendered
/// once; only the open tail is rendered again.
#[derive(Debug, Clone, Default)]
pub struct MarkdownCache {
    width: usize,
    /// The source text the stable part was rendered from (so an edit in
    /// place, not only growth, is noticed).
    stable_src: String,
    stable: Rendered,
    /// The reference-link definitions of the whole text the stable part
    /// was rendered with (`signature`), so that a change starts over.
    definitions: String,
}

impl MarkdownCache {
    /// Render `src` at `width`, reusing the finished part from last time
    /// when `src` only grew.
    pub fn render(&mut self, src: &str, width: usize) -> Rendered {
        // Parsing the whole text again costs; only a text with a `]:` can
        // define a link.
        let whole = src.contains("]:").then(|| Parser::new_ext(src, OPTIONS));
        let defs = whole.as_ref().map(Parser::reference_definitions);
        let definitions = defs.map(signature).unwrap_or_default();
        let reusable = self.width == width
            && src.starts_with(self.stable_src.as_str())
            && definitions == self.definitions;
        if !reusable {
            *self = Self {
                width,
                definitions,
                ..Self::default()
            };
        }
        let stable_len = self.stable_src.len();
        let boundary = stable_boundary(src, stable_len);
        if boundary > stable_len
            && let Some(chunk) = src.get(stable_len..boundary)
        {
            let more = render_with(chunk, width, 1 + self.stable.code_blocks.len(), defs);
            if !self.stable.lines.is_empty() && !more.lines.is_empty() {
                self.stable.lines.push(Line::default());
            }
            self.stable.lines.extend(more.lines);
            self.stable.code_blocks.extend(more.code_blocks);
            self.stable_src.push_str(chunk);
        }
        let tail = src.get(self.stable_src.len()..).unwrap_or("");
        let mut out = self.stable.clone();
        if !tail.trim().is_empty() {
            let rendered = render_with(tail, width, 1 + out.code_blocks.len(), defs);
            if !out.lines.is_empty() && !rendered.lines.is_empty() {
                out.lines.push(Line::default());
            }
            out.lines.extend(rendered.lines);
            out.code_blocks.extend(rendered.code_blocks);
        }
        out
    }
}

/// The definitions as text (label, address, title; sorted), to notice
/// when they change.
fn signature(defs: &RefDefs<'_>) -> String {
    let mut all: Vec<String> = defs
        .iter()
        .map(|(label, def)| format!("{label}\u{0}{}\u{0}{:?}", def.dest, def.title))
        .collect();
    all.sort_unstable();
    all.join("\n")
}

/// The end of the last blank line after `from` that is outside a code
/// fence and not inside a list or quote continuation (the next line starts
/// at column 0 with ordinary text) and where pulldown-cmark, reading the
/// text from `from`, starts a top-level block; or `from` when there is
/// none. The line scan finds the candidates cheaply; the parse has the last
/// word, so what CommonMark reads differently from the scan (a form feed
/// before a fence, an HTML comment or `<pre>` over blank lines) is never
/// cut.
fn stable_boundary(src: &str, from: usize) -> usize {
    let Some(rest) = src.get(from..) else {
        return from;
    };
    let candidates = candidates(rest);
    if candidates.is_empty() {
        return from;
    }
    let starts = top_level_starts(rest);
    candidates
        .iter()
        .rev()
        .find(|at| starts.binary_search(at).is_ok())
        .map_or(from, |at| from + at)
}

/// Offsets (ascending) where a top-level block (or a rule) of `text`
/// starts, as pulldown-cmark reads it.
fn top_level_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut depth = 0usize;
    for (event, range) in Parser::new_ext(text, OPTIONS).into_offset_iter() {
        match event {
            Event::Start(_) => {
                if depth == 0 {
                    starts.push(range.start);
                }
                depth += 1;
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Rule if depth == 0 => starts.push(range.start),
            Event::Rule
            | Event::Text(_)
            | Event::Code(_)
            | Event::InlineMath(_)
            | Event::DisplayMath(_)
            | Event::Html(_)
            | Event::InlineHtml(_)
            | Event::FootnoteReference(_)
            | Event::SoftBreak
            | Event::HardBreak
            | Event::TaskListMarker(_) => {}
        }
    }
    starts
}

/// The offsets in `rest` of the line scan's candidates, ascending.
fn candidates(rest: &str) -> Vec<usize> {
    let mut in_fence: Option<(char, usize)> = None;
    let mut found = Vec::new();
    let mut prev_blank = false;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        let complete = line.ends_with('\n');
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let fence_char = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        if let Some(c) = fence_char {
            let run = trimmed.chars().take_while(|x| *x == c).count();
            if run >= 3 && indent < 4 && complete {
                // A backtick fence's info string holds no backtick
                // (CommonMark): "```a`" is a paragraph, not a fence.
                let info = trimmed.get(run..).unwrap_or_default();
                match in_fence {
                    None if c == '`' && info.contains('`') => {}
                    None => in_fence = Some((c, run)),
                    Some((fc, fr))
                        if fc == c && run >= fr && trimmed.trim_end().chars().all(|x| x == c) =>
                    {
                        in_fence = None;
                    }
                    Some(_) => {}
                }
            }
        }
        let blank = line.trim().is_empty() && complete;
        // A block may start here if the previous line was blank, we are not
        // inside a fence, and this line is not indented (no continuation).
        if prev_blank
            && in_fence.is_none()
            && indent == 0
            && !blank
            && complete
            && !is_list_item(trimmed)
        {
            found.push(offset);
        }
        prev_blank = blank && in_fence.is_none();
        offset += line.len();
    }
    found
}

/// A list item's first line: a marker then a space, or a bare marker (an
/// empty item, `-` or `1.` alone on its line).
fn is_list_item(line: &str) -> bool {
    let line = line.trim_end_matches(['\n', '\r']);
    let after_marker = |rest: &str| rest.is_empty() || rest.starts_with([' ', '\t']);
    let bullet = line.strip_prefix(['-', '*', '+']).is_some_and(after_marker);
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let numbered = digits > 0
        && line
            .get(digits..)
            .and_then(|rest| rest.strip_prefix(['.', ')']))
            .is_some_and(after_marker);
    bullet || numbered
}
