//! `TranscriptView`: the wrapped, styled, sanitised lines of every message,
//! cached per (message revision, width), with prefix sums of their heights,
//! and the painter that draws only the visible rows. What the lines of one
//! message are is `lines.rs`; the panel shown while no key is set is
//! `first_run.rs`.
//!
//! Cost per frame does not grow with the conversation: finished messages
//! keep their lines; only a changed message (the streaming one) is wrapped
//! again; painting binary-searches the first visible message. The
//! transcript is never one `Paragraph` (which re-wraps everything above its
//! scroll offset every frame and caps it at 65,535 rows).

mod first_run;
mod lines;

use std::collections::HashMap;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;

use super::markdown::MarkdownCache;
use super::theme;
use crate::app::App;
use crate::app::state::Focus;
use crate::app::transcript::{ScrollAnchor, TranscriptState};
use crate::chat::conversation::{Message, MessageId};
use crate::text::wrap::display_width;
pub use first_run::draw_first_run;
pub use lines::{LineContext, message_lines, styled_rows};
use lines::{footer_lines, line_contexts, render_message};

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
        let contexts = line_contexts(
            &app.conversation,
            app.input.editing.map(|e| e.id),
            &app.browse.thinking_open,
        );
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
