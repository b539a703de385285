//! The display lines of each message (a header with role, model, state
//! and alternatives; the text as Markdown for answers, as typed for
//! questions; notes on errors and skipped events) and of the footer (an
//! error that belongs to no message).
//!
//! Invariant: every string passes through `text::sanitize` before it
//! becomes a span; the sanitiser's stand-ins are drawn dim. Lines depend
//! only on the message and its `LineContext`, which is what
//! `TranscriptView` caches them by.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::api::types::Role;
use crate::app::App;
use crate::app::update::skipped_text;
use crate::chat::conversation::{Conversation, Message, MessageId, MessageStatus};
use crate::chat::estimate::rough_tokens;
use crate::text::sanitize::{SafeText, sanitize};
use crate::text::wrap::wrap_text;
use crate::ui::markdown::MarkdownCache;
use crate::ui::theme;

/// Columns of indentation before message text.
const INDENT: u16 = 2;

/// What a message's display lines depend on besides its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineContext {
    /// `(position, count)` among its alternatives.
    pub alternatives: Option<(usize, usize)>,
    /// It is being edited in the input box.
    pub editing: bool,
    /// Its thinking was opened with `t`.
    pub thinking_open: bool,
}

/// Alternatives of every path message that has some, computed once per
/// frame from the branches (cheap: none at all in most conversations).
pub(super) fn line_contexts(
    conversation: &Conversation,
    editing: Option<MessageId>,
    thinking_open: &BTreeSet<MessageId>,
) -> HashMap<MessageId, LineContext> {
    let mut siblings: HashMap<Option<MessageId>, Vec<MessageId>> = HashMap::new();
    for m in conversation.branches() {
        siblings.entry(m.parent).or_default().push(m.id);
    }
    let mut out: HashMap<MessageId, LineContext> = HashMap::new();
    if let Some(id) = editing {
        out.entry(id).or_default().editing = true;
    }
    for id in thinking_open {
        out.entry(*id).or_default().thinking_open = true;
    }
    if siblings.is_empty() {
        return out;
    }
    for m in conversation.messages() {
        if let Some(others) = siblings.get(&m.parent) {
            let mut ids = others.clone();
            ids.push(m.id);
            ids.sort();
            if let Some(pos) = ids.iter().position(|id| *id == m.id) {
                out.entry(m.id).or_default().alternatives = Some((pos + 1, ids.len()));
            }
        }
    }
    out
}

/// The status word shown after the role.
fn status_word(message: &Message) -> Option<&'static str> {
    match message.status {
        MessageStatus::Complete => None,
        MessageStatus::Streaming => Some("streaming…"),
        MessageStatus::Stopped => Some("stopped"),
        MessageStatus::Interrupted => Some("interrupted"),
    }
}

/// The display lines of one message: a header, the wrapped text, notes,
/// and a blank separator.
pub fn message_lines(message: &Message, width: u16) -> Vec<Line<'static>> {
    render_message(
        message,
        width,
        LineContext::default(),
        &mut MarkdownCache::default(),
    )
}

/// The display lines of one message, reusing `markdown` while an answer grows.
pub(super) fn render_message(
    message: &Message,
    width: u16,
    context: LineContext,
    markdown: &mut MarkdownCache,
) -> Vec<Line<'static>> {
    let mut lines = vec![header_line(message, context)];
    let text_width = usize::from(width.saturating_sub(INDENT).max(1));
    lines.extend(thinking_lines(message, context, text_width));
    let body = Style::default();
    let folded_summary = message.summary
        && !context.thinking_open
        && message.status != MessageStatus::Streaming
        && !message.content.is_empty();
    if folded_summary {
        // Sent in place of the turns it summarises; `t` opens it.
        lines.push(Line::styled(
            format!(
                "  ▸ summary of the earlier turns · ~{} tokens (t opens it)",
                rough_tokens(&message.content)
            ),
            theme::dim(),
        ));
    } else if message.content.is_empty() {
        let placeholder = match message.status {
            MessageStatus::Streaming => "…",
            MessageStatus::Complete => "(empty answer)",
            MessageStatus::Stopped | MessageStatus::Interrupted => "(no text arrived)",
        };
        lines.push(Line::from(vec![
            Span::raw("  "),
            Span::styled(placeholder, theme::dim()),
        ]));
    } else if message.role == Role::Assistant {
        // Answers are markdown; what the user typed is shown as typed.
        let pad = " ".repeat(usize::from(INDENT));
        for line in markdown.render(&message.content, text_width).lines {
            let mut spans = vec![Span::raw(pad.clone())];
            spans.extend(line.spans);
            lines.push(Line::from(spans));
        }
    } else {
        lines.extend(styled_rows(
            &sanitize(&message.content),
            text_width,
            body,
            INDENT,
        ));
    }
    let mut notes = Vec::new();
    if let Some(error) = &message.error {
        notes.push((format!("⚠ {error}"), theme::error()));
    }
    if message.skipped > 0 {
        notes.push((format!("⚠ {}", skipped_text(message.skipped)), theme::dim()));
    }
    if let Some(reason) = message.finish_reason.as_ref().filter(|r| *r != "stop") {
        let why = match reason.as_str() {
            "length" => "the answer hit the token limit (finish_reason: length)".to_string(),
            "content_filter" => "the answer was cut by the content filter".to_string(),
            other => format!("finish_reason: {other}"),
        };
        notes.push((why, theme::dim()));
    }
    for (note, style) in notes {
        lines.extend(styled_rows(&sanitize(&note), text_width, style, INDENT));
    }
    if message.not_sent {
        // Left out of the requests to fit the window: shown, dimmed.
        lines = lines
            .into_iter()
            .map(|line| line.patch_style(theme::dim()))
            .collect();
    }
    lines.push(Line::default());
    lines
}

/// `▍assistant · gpt-4o-mini · 2/3 · stopped · not sent`.
fn header_line(message: &Message, context: LineContext) -> Line<'static> {
    let label = match message.role {
        Role::User => "you",
        Role::Assistant => "assistant",
        Role::System if message.summary => "summary",
        Role::System => "system",
    };
    let mut header = vec![Span::styled(
        format!("▍{label}"),
        theme::role_label(message.role),
    )];
    if let Some(model) = &message.model {
        header.push(Span::styled(
            format!(" · {}", sanitize(model).as_str()),
            theme::dim(),
        ));
    }
    if context.editing {
        header.push(Span::styled(" · ✎ editing", theme::alternatives()));
    }
    if let Some((pos, count)) = context.alternatives {
        header.push(Span::styled(
            format!(" · {pos}/{count}"),
            theme::alternatives(),
        ));
    }
    if let Some(word) = status_word(message) {
        let style = match message.status {
            MessageStatus::Streaming => theme::dim(),
            MessageStatus::Stopped => theme::stopped(),
            MessageStatus::Complete | MessageStatus::Interrupted => theme::error(),
        };
        header.push(Span::styled(format!(" · {word}"), style));
    }
    if message.not_sent {
        header.push(Span::styled(" · not sent", theme::stopped()));
    }
    Line::from(header)
}

/// The thinking block above an answer: open (a `thinking` header and the
/// text) while it streams and no answer text has come, or when opened with
/// `t`; else one folded line `▸ thinking · N tokens`. N is the server's
/// count, else a rough `~N`. Nothing when there is no reasoning.
fn thinking_lines(message: &Message, context: LineContext, width: usize) -> Vec<Line<'static>> {
    let reasoning = message.reasoning.trim();
    if reasoning.is_empty() {
        return Vec::new();
    }
    let streaming = message.status == MessageStatus::Streaming && message.content.is_empty();
    let tokens = message.reasoning_tokens.map_or_else(
        || format!("~{}", rough_tokens(reasoning)),
        |n| n.to_string(),
    );
    let pad = " ".repeat(usize::from(INDENT));
    if !streaming && !context.thinking_open {
        return vec![Line::styled(
            format!("{pad}▸ thinking · {tokens} tokens"),
            theme::dim(),
        )];
    }
    let header = if streaming {
        format!("{pad}▾ thinking…")
    } else {
        format!("{pad}▾ thinking · {tokens} tokens")
    };
    let mut lines = vec![Line::styled(header, theme::dim())];
    lines.extend(styled_rows(
        &sanitize(reasoning),
        width.saturating_sub(2).max(1),
        theme::dim(),
        INDENT + 2,
    ));
    if !message.content.is_empty() {
        lines.push(Line::default());
    }
    lines
}

/// Wrap sanitised text into lines, indented, with the sanitiser's stand-ins dim.
pub fn styled_rows(text: &SafeText, width: usize, base: Style, indent: u16) -> Vec<Line<'static>> {
    let s = text.as_str();
    let markers = text.markers();
    let pad = " ".repeat(usize::from(indent));
    wrap_text(s, width)
        .into_iter()
        .map(|range| {
            let mut spans = Vec::new();
            if indent > 0 {
                spans.push(Span::raw(pad.clone()));
            }
            spans.extend(split_markers(s, range, markers, base));
            Line::from(spans)
        })
        .collect()
}

fn split_markers(
    s: &str,
    range: Range<usize>,
    markers: &[Range<usize>],
    base: Style,
) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    let mut pos = range.start;
    let first = markers.partition_point(|m| m.end <= range.start);
    for marker in markers.iter().skip(first) {
        if marker.start >= range.end {
            break;
        }
        let start = marker.start.max(pos);
        if start > pos
            && let Some(t) = s.get(pos..start)
        {
            spans.push(Span::styled(t.to_string(), base));
        }
        let end = marker.end.min(range.end);
        if let Some(t) = s.get(start..end) {
            spans.push(Span::styled(t.to_string(), base.patch(theme::marker())));
        }
        pos = end;
    }
    if pos < range.end
        && let Some(t) = s.get(pos..range.end)
    {
        spans.push(Span::styled(t.to_string(), base));
    }
    spans
}

/// An error that belongs to no message (a request that failed before any
/// text, whose question went back to the input box). An answer that broke
/// half-way shows its error under itself instead.
pub(super) fn footer_lines(app: &App, width: u16) -> Vec<Line<'static>> {
    let shown_on_a_message = app
        .conversation
        .messages()
        .last()
        .is_some_and(|m| m.error.is_some());
    match &app.notice {
        Some(notice) if notice.is_error && app.in_flight.is_none() && !shown_on_a_message => {
            let text = sanitize(&format!("⚠ {}", notice.text));
            // A header of its own, so the error does not read as part of the
            // answer above it.
            let header = Line::styled("▍error", theme::error().add_modifier(Modifier::BOLD));
            let mut lines = vec![header];
            lines.extend(styled_rows(
                &text,
                usize::from(width.saturating_sub(INDENT).max(1)),
                theme::error(),
                INDENT,
            ));
            if !app.input.composer.is_blank() {
                lines.push(Line::styled(
                    "  (the question is back in the input box: Enter resends it)",
                    theme::dim(),
                ));
            }
            lines
        }
        _ => Vec::new(),
    }
}
