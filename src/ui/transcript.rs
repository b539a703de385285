//! `TranscriptView`: the wrapped, styled, sanitised lines of every message,
//! cached per (message revision, width), with prefix sums of their heights,
//! and the painter that draws only the visible rows.
//!
//! Cost per frame does not grow with the conversation: finished messages
//! keep their lines; only a changed message (the streaming one) is wrapped
//! again; painting binary-searches the first visible message. The
//! transcript is never one `Paragraph` (which re-wraps everything above its
//! scroll offset every frame and caps it at 65,535 rows).

use std::collections::HashMap;
use std::ops::Range;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::markdown::MarkdownCache;
use super::theme;
use crate::api::types::Role;
use crate::app::App;
use crate::app::state::Focus;
use crate::app::transcript::{ScrollAnchor, TranscriptState};
use crate::app::update::skipped_text;
use crate::chat::conversation::{Conversation, Message, MessageId, MessageStatus};
use crate::text::sanitize::{SafeText, sanitize};
use crate::text::wrap::{display_width, wrap_text};

/// Columns of indentation before message text.
const INDENT: u16 = 2;

/// What a message's display lines depend on besides its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineContext {
    /// `(position, count)` among its alternatives.
    pub alternatives: Option<(usize, usize)>,
    /// It is being edited in the input box.
    pub editing: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    id: MessageId,
    rev: u64,
    context: LineContext,
    lines: Vec<Line<'static>>,
    /// Incremental markdown state of an answer (reused while it streams).
    markdown: MarkdownCache,
}

/// The cache and the resolved scroll position.
#[derive(Debug, Default)]
pub struct TranscriptView {
    width: u16,
    entries: Vec<Entry>,
    /// `prefix[i]` = rows before entry `i`; one longer than `entries`.
    prefix: Vec<usize>,
    /// Rows after the messages (an error notice).
    footer: Vec<Line<'static>>,
    /// The first visible row, resolved by `prepare`.
    top: usize,
    /// The area of the last layout (mouse hit tests).
    area: Rect,
    /// The conversation the cache was built for (`TranscriptState::generation`).
    generation: u64,
    /// The resolved scroll position: following the bottom, or pinned.
    anchor: ScrollAnchor,
    /// The app's scroll requests applied so far (`TranscriptState`).
    applied: TranscriptState,
    /// There are rows below the view.
    more_below: bool,
    /// Entries re-wrapped by the last `prepare` (for tests and benches).
    pub last_rewrapped: usize,
}

impl TranscriptView {
    pub fn total_rows(&self) -> usize {
        self.prefix.last().copied().unwrap_or(0) + self.footer.len()
    }

    pub fn top(&self) -> usize {
        self.top
    }

    /// Update the cache for `area` and turn the app's scroll requests made
    /// since the last frame into a top row. Reads the app, never writes it.
    pub fn prepare(&mut self, app: &App, area: Rect) {
        self.area = area;
        if area.width != self.width || app.transcript.generation != self.generation {
            self.entries.clear();
            self.prefix.clear();
            self.width = area.width;
            self.generation = app.transcript.generation;
        }
        let contexts = line_contexts(&app.conversation, app.input.editing.map(|e| e.id));
        self.sync(app.conversation.messages(), &contexts);
        self.footer = footer_lines(app, area.width);
        self.resolve_scroll(&app.transcript, usize::from(area.height));
    }

    /// Where the view is scrolled to.
    pub fn anchor(&self) -> ScrollAnchor {
        self.anchor
    }

    /// The view follows the bottom (new text stays in view).
    pub fn is_following(&self) -> bool {
        self.anchor == ScrollAnchor::Bottom
    }

    /// There are rows below the view (the "more below" mark is shown).
    pub fn more_below(&self) -> bool {
        self.more_below
    }

    fn sync(&mut self, messages: &[Message], contexts: &HashMap<MessageId, LineContext>) {
        let same_ids = self.entries.len() <= messages.len()
            && self.entries.iter().zip(messages).all(|(e, m)| e.id == m.id);
        if !same_ids {
            let mut by_id: HashMap<MessageId, Entry> =
                self.entries.drain(..).map(|e| (e.id, e)).collect();
            self.entries = messages
                .iter()
                .map(|m| {
                    by_id.remove(&m.id).unwrap_or_else(|| Entry {
                        id: m.id,
                        rev: u64::MAX,
                        context: LineContext::default(),
                        lines: Vec::new(),
                        markdown: MarkdownCache::default(),
                    })
                })
                .collect();
            self.prefix.clear();
        }
        let width = self.width;
        let mut first_changed = None;
        self.last_rewrapped = 0;
        for (i, message) in messages.iter().enumerate() {
            let context = contexts.get(&message.id).copied().unwrap_or_default();
            if self.entries.get(i).is_none() {
                self.entries.push(Entry {
                    id: message.id,
                    rev: u64::MAX,
                    context,
                    lines: Vec::new(),
                    markdown: MarkdownCache::default(),
                });
            }
            let Some(entry) = self.entries.get_mut(i) else {
                continue;
            };
            if entry.rev == message.rev && entry.context == context && !entry.lines.is_empty() {
                continue;
            }
            entry.lines = render_message(message, width, context, &mut entry.markdown);
            entry.rev = message.rev;
            entry.context = context;
            first_changed.get_or_insert(i);
            self.last_rewrapped += 1;
        }
        if self.prefix.len() != self.entries.len() + 1 {
            first_changed = Some(
                first_changed.map_or(0, |f: usize| f.min(self.prefix.len().saturating_sub(1))),
            );
        }
        if let Some(from) = first_changed {
            let from = from.min(self.prefix.len().saturating_sub(1));
            self.prefix.truncate(from + 1);
            if self.prefix.is_empty() {
                self.prefix.push(0);
            }
            let mut acc = self.prefix.last().copied().unwrap_or(0);
            for entry in self.entries.iter().skip(from) {
                acc += entry.lines.len();
                self.prefix.push(acc);
            }
        }
    }

    fn index_of(&self, id: MessageId) -> Option<usize> {
        self.entries.binary_search_by_key(&id, |e| e.id).ok()
    }

    /// The entry containing absolute row `row`, and the row within it.
    fn locate(&self, row: usize) -> Option<(usize, usize)> {
        let count = self.entries.len();
        if count == 0 {
            return None;
        }
        // First entry whose end is past `row`.
        let i = self.prefix.get(1..)?.partition_point(|&end| end <= row);
        (i < count).then(|| (i, row - self.prefix.get(i).copied().unwrap_or(0)))
    }

    fn anchor_at(&self, top: usize, max_top: usize) -> ScrollAnchor {
        if top >= max_top {
            return ScrollAnchor::Bottom;
        }
        match self.locate(top) {
            Some((i, row)) => ScrollAnchor::At {
                message: self.entries.get(i).map_or(MessageId(0), |e| e.id),
                row,
            },
            None => ScrollAnchor::Bottom,
        }
    }

    fn resolve_scroll(&mut self, asked: &TranscriptState, height: usize) {
        let total = self.total_rows();
        let max_top = total.saturating_sub(height);
        let done = std::mem::replace(&mut self.applied, *asked);
        if asked.to_bottom != done.to_bottom {
            self.anchor = ScrollAnchor::Bottom;
        }
        let mut top = match self.anchor {
            ScrollAnchor::Bottom => max_top,
            // A resize can leave the message shorter than the anchored row:
            // stay on its last row rather than slide into the next message.
            ScrollAnchor::At { message, row } => self
                .index_of(message)
                .and_then(|i| {
                    let rows = self.entries.get(i)?.lines.len();
                    Some(self.prefix.get(i)? + row.min(rows.saturating_sub(1)))
                })
                .unwrap_or(max_top),
        };
        // A page is the view's height less two rows of context.
        let page = i64::try_from(height.saturating_sub(2).max(1)).unwrap_or(i64::MAX);
        let rows = asked
            .scrolled_rows
            .saturating_sub(done.scrolled_rows)
            .saturating_add(
                asked
                    .scrolled_pages
                    .saturating_sub(done.scrolled_pages)
                    .saturating_mul(page),
            );
        if rows != 0 {
            let moved = i64::try_from(top).unwrap_or(i64::MAX).saturating_add(rows);
            top = usize::try_from(moved.max(0)).unwrap_or(0).min(max_top);
            self.anchor = self.anchor_at(top, max_top);
        }
        if let Some((seq, id)) = asked.reveal
            && done.reveal.map(|(seen, _)| seen) != Some(seq)
            && let Some(i) = self.index_of(id)
        {
            // Keep the selected message in view: its start, or as much of it as fits.
            let start = self.prefix.get(i).copied().unwrap_or(0);
            let end = self.prefix.get(i + 1).copied().unwrap_or(start);
            if start < top || end - start > height {
                top = start;
            } else if end > top + height {
                top = end - height;
            }
            top = top.min(max_top);
            self.anchor = self.anchor_at(top, max_top);
        }
        top = top.min(max_top);
        self.top = top;
        self.more_below = top + height < total;
    }

    /// The message drawn at screen cell (x, y), if any (a mouse click).
    pub fn message_at(&self, x: u16, y: u16) -> Option<MessageId> {
        let area = self.area;
        if x < area.x || x >= area.right() || y < area.y || y >= area.bottom() {
            return None;
        }
        let row = self.top + usize::from(y - area.y);
        let (i, _) = self.locate(row)?;
        self.entries.get(i).map(|entry| entry.id)
    }

    /// Paint the visible rows into `area`.
    pub fn draw(&self, app: &App, buf: &mut Buffer, area: Rect) {
        let height = usize::from(area.height);
        let messages_end = self.prefix.last().copied().unwrap_or(0);
        let selected = if app.browse.focus == Focus::Transcript {
            app.browse.selected
        } else {
            None
        };
        let query = app
            .browse
            .search
            .as_ref()
            .map(|s| s.query.to_lowercase())
            .filter(|q| !q.is_empty());
        let mut y = area.y;
        let mut row = self.top;
        let mut cursor = self.locate(row);
        while usize::from(y - area.y) < height {
            let (line, owner, row_in_entry) = if row < messages_end {
                let Some((i, r)) = cursor else { break };
                let Some(entry) = self.entries.get(i) else {
                    break;
                };
                cursor = if r + 1 < entry.lines.len() {
                    Some((i, r + 1))
                } else {
                    Some((i + 1, 0))
                };
                (entry.lines.get(r), Some(entry.id), r)
            } else {
                (self.footer.get(row - messages_end), None, 0)
            };
            let Some(line) = line else { break };
            buf.set_line(area.x, y, line, area.width);
            if let Some(q) = &query {
                highlight_matches(buf, area.x, y, area.width, line, q);
            }
            if owner.is_some() && owner == selected {
                let row_area = Rect {
                    x: area.x,
                    y,
                    width: area.width,
                    height: 1,
                };
                if row_in_entry == 0 {
                    buf.set_style(row_area, theme::selected());
                } else {
                    buf.set_string(area.x, y, "▌", theme::selection_bar());
                }
            }
            y += 1;
            row += 1;
        }
        if self.more_below && area.height > 0 && area.width >= 24 {
            let label = " ↓ more below · Ctrl+End ";
            let w = u16::try_from(crate::text::wrap::display_width(label)).unwrap_or(0);
            let x = area.right().saturating_sub(w);
            buf.set_string(x, area.bottom() - 1, label, theme::selected());
        }
    }
}

/// Alternatives of every path message that has some, computed once per
/// frame from the branches (cheap: none at all in most conversations).
fn line_contexts(
    conversation: &Conversation,
    editing: Option<MessageId>,
) -> HashMap<MessageId, LineContext> {
    let mut siblings: HashMap<Option<MessageId>, Vec<MessageId>> = HashMap::new();
    for m in conversation.branches() {
        siblings.entry(m.parent).or_default().push(m.id);
    }
    let mut out = HashMap::new();
    if let Some(id) = editing {
        out.insert(
            id,
            LineContext {
                alternatives: None,
                editing: true,
            },
        );
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

/// Mark the cells of `line` (drawn at `x, y`) that match `query_lower`.
fn highlight_matches(
    buf: &mut Buffer,
    x: u16,
    y: u16,
    width: u16,
    line: &Line<'_>,
    query_lower: &str,
) {
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        // Lower-casing changed byte lengths (rare scripts): no column mapping.
        return;
    }
    let mut from = 0;
    while let Some(pos) = lower.get(from..).and_then(|rest| rest.find(query_lower)) {
        let start = from + pos;
        let end = start + query_lower.len();
        let (Some(before), Some(hit)) = (text.get(..start), text.get(start..end)) else {
            break;
        };
        let col = u16::try_from(display_width(before)).unwrap_or(u16::MAX);
        let w = u16::try_from(display_width(hit)).unwrap_or(0);
        if col >= width {
            break;
        }
        let cells = Rect {
            x: x + col,
            y,
            width: w.min(width - col),
            height: 1,
        };
        buf.set_style(cells, theme::search_match());
        from = end.max(start + 1);
    }
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
fn render_message(
    message: &Message,
    width: u16,
    context: LineContext,
    markdown: &mut MarkdownCache,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let label = match message.role {
        Role::User => "you",
        Role::Assistant => "assistant",
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
    lines.push(Line::from(header));
    let text_width = usize::from(width.saturating_sub(INDENT).max(1));
    let body = Style::default();
    if message.content.is_empty() {
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
    lines.push(Line::default());
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
fn footer_lines(app: &App, width: u16) -> Vec<Line<'static>> {
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

/// The first-run panel: how to give kaiwa a key, or use a local server.
pub fn draw_first_run(app: &App, buf: &mut Buffer, area: Rect) {
    let base = sanitize(&app.settings.base_url);
    let text = [
        (
            "Welcome to kaiwa — no API key is set",
            Style::default().add_modifier(Modifier::BOLD),
        ),
        ("", Style::default()),
        (
            &*format!("kaiwa talks to {} and needs a key for it:", base.as_str()),
            Style::default(),
        ),
        ("", Style::default()),
        (
            "  • export OPENAI_API_KEY=sk-…   and start kaiwa again",
            Style::default(),
        ),
        ("  • or in ~/.config/kaiwa/config.toml:", Style::default()),
        ("      api_key_cmd = \"pass show openai\"", theme::dim()),
        (
            "  • or use a local server that needs no key:",
            Style::default(),
        ),
        (
            "      kaiwa --base-url http://localhost:8080/v1",
            theme::dim(),
        ),
        ("", Style::default()),
        ("Ctrl+Q quits · F1 shows every key", theme::dim()),
    ]
    .iter()
    .map(|(t, s)| ((*t).to_string(), *s))
    .collect::<Vec<_>>();
    let mut y = area.y;
    for (line, style) in text {
        for row in styled_rows(
            &sanitize(&line),
            usize::from(area.width.saturating_sub(2).max(1)),
            style,
            1,
        ) {
            if y >= area.bottom() {
                return;
            }
            buf.set_line(area.x, y, &row, area.width);
            y += 1;
        }
    }
}
