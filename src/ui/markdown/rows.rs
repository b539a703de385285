//! Styled runs into display rows: the sanitised pieces of a logical line
//! (`Run`s) are wrapped to the width and prefixed with the bars and
//! indents of the containers around them.
//!
//! Invariant: text becomes a run only through `push_sanitized`, so no
//! control character reaches a span; rows are measured with `text::wrap`,
//! the measure ratatui draws with.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::text::sanitize::sanitize;
use crate::text::wrap::{display_width, wrap_line};
use crate::ui::theme;

/// A styled run inside a logical line.
pub(super) type Run = (String, Style);

/// Sanitise `text` and append it as runs; the sanitiser's stand-ins are dim.
pub(super) fn push_sanitized(runs: &mut Vec<Run>, text: &str, style: Style) {
    let safe = sanitize(text);
    let s = safe.as_str();
    let mut pos = 0;
    for marker in safe.markers() {
        if let Some(t) = s.get(pos..marker.start).filter(|t| !t.is_empty()) {
            runs.push((t.to_string(), style));
        }
        if let Some(t) = s.get(marker.clone()) {
            runs.push((t.to_string(), style.patch(theme::marker())));
        }
        pos = marker.end;
    }
    if let Some(t) = s.get(pos..).filter(|t| !t.is_empty()) {
        runs.push((t.to_string(), style));
    }
}

pub(super) fn runs_line(runs: Vec<Run>) -> Line<'static> {
    Line::from(
        runs.into_iter()
            .map(|(t, s)| Span::styled(t, s))
            .collect::<Vec<_>>(),
    )
}

/// Word-wrap one logical line made of runs, with prefixes (the first row
/// gets `first`, later rows `rest`; both have the same width).
pub(super) fn emit_wrapped(
    out: &mut Vec<Line<'static>>,
    runs: &[Run],
    first: &[Run],
    rest: &[Run],
    width: usize,
) {
    let text: String = runs.iter().map(|(t, _)| t.as_str()).collect();
    let prefix_width: usize = rest.iter().map(|(t, _)| display_width(t)).sum();
    let avail = width.saturating_sub(prefix_width).max(1);
    let mut offset = 0;
    let mut first_row = true;
    for piece in text.split('\n') {
        for row in wrap_line(piece, avail) {
            let prefix = if first_row { first } else { rest };
            push_row(out, runs, offset + row.start..offset + row.end, prefix);
            first_row = false;
        }
        offset += piece.len() + 1;
    }
}

/// Rows of code: wrapped at grapheme boundaries, indentation kept.
pub(super) fn emit_wrapped_glyph(
    out: &mut Vec<Line<'static>>,
    runs: &[Run],
    prefix: &[Run],
    width: usize,
) {
    let text: String = runs.iter().map(|(t, _)| t.as_str()).collect();
    if text.is_empty() {
        out.push(runs_line(prefix.to_vec()));
        return;
    }
    let mut start = 0;
    let mut col = 0;
    let mut rows = Vec::new();
    for (i, g) in unicode_segmentation::UnicodeSegmentation::grapheme_indices(text.as_str(), true) {
        let w = display_width(g);
        if col + w > width && col > 0 {
            rows.push(start..i);
            start = i;
            col = 0;
        }
        col += w;
    }
    rows.push(start..text.len());
    for row in rows {
        push_row(out, runs, row, prefix);
    }
}

/// One row: the prefix then the parts of `runs` inside `range` (byte
/// offsets into the concatenated run text).
fn push_row(
    out: &mut Vec<Line<'static>>,
    runs: &[Run],
    range: std::ops::Range<usize>,
    prefix: &[Run],
) {
    let mut spans: Vec<Span<'static>> = prefix
        .iter()
        .map(|(t, s)| Span::styled(t.clone(), *s))
        .collect();
    let mut pos = 0;
    for (text, style) in runs {
        let end = pos + text.len();
        let from = range.start.max(pos);
        let to = range.end.min(end);
        if from < to
            && let Some(part) = text.get(from - pos..to - pos)
        {
            spans.push(Span::styled(part.to_string(), *style));
        }
        pos = end;
        if pos >= range.end {
            break;
        }
    }
    out.push(Line::from(spans));
}
