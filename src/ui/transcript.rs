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
use std::time::{Duration, Instant};

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
    /// The width `lines` were wrapped at: after a resize, lines of another
    /// width are kept (their count stands in for the height) until the
    /// entry is in view or there is time to wrap it again.
    width: u16,
    lines: Vec<Line<'static>>,
    /// Incremental markdown state of an answer (reused while it streams).
    markdown: MarkdownCache,
}

impl Entry {
    /// An entry not drawn yet: `sync` renders it (no revision matches).
    fn unrendered(id: MessageId, context: LineContext) -> Self {
        Self {
            id,
            rev: u64::MAX,
            context,
            width: 0,
            lines: Vec::new(),
            markdown: MarkdownCache::default(),
        }
    }
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
    /// Entries below this index may still be wrapped at an earlier width
    /// (0: none): `settle` works down from it, newest first.
    stale_below: usize,
}

/// How long one frame spends wrapping off-screen entries again after a
/// resize (the entries in view are always done at once).
const REWRAP_BUDGET: Duration = Duration::from_millis(4);
/// Rounds of "wrap what is in view, place the view again" per frame: the
/// view's entries change height as they are wrapped, so what is in view
/// changes; two rounds settle it in practice.
const MAX_SETTLE_PASSES: usize = 4;

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
        let started = Instant::now();
        self.area = area;
        if app.transcript.generation != self.generation {
            self.entries.clear();
            self.prefix.clear();
            self.generation = app.transcript.generation;
        }
        self.last_rewrapped = 0;
        if area.width != self.width {
            // Nothing is wrapped again here: `settle` does what is in view
            // at once and the rest over the next frames.
            self.width = area.width;
            self.stale_below = self.entries.len();
        }
        let contexts = line_contexts(
            &app.conversation,
            app.input.editing.map(|e| e.id),
            &app.browse.thinking_open,
        );
        let messages = app.conversation.messages();
        self.sync(messages, &contexts);
        self.stale_below = self.stale_below.min(self.entries.len());
        self.footer = footer_lines(app, area.width);
        let height = usize::from(area.height);
        self.resolve_scroll(&app.transcript, height);
        self.settle(messages, height, started);
        self.more_below = self.top + height < self.total_rows();
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
                    by_id
                        .remove(&m.id)
                        .unwrap_or_else(|| Entry::unrendered(m.id, LineContext::default()))
                })
                .collect();
            self.prefix.clear();
        }
        let width = self.width;
        let mut first_changed = None;
        for (i, message) in messages.iter().enumerate() {
            let context = contexts.get(&message.id).copied().unwrap_or_default();
            if self.entries.get(i).is_none() {
                self.entries.push(Entry::unrendered(message.id, context));
            }
            let Some(entry) = self.entries.get_mut(i) else {
                continue;
            };
            if entry.rev == message.rev && entry.context == context && !entry.lines.is_empty() {
                continue;
            }
            entry.lines = render_message(message, width, context, &mut entry.markdown);
            entry.width = width;
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
            self.sum_heights_from(from);
        }
    }

    /// Recomputes `prefix` from entry `from` on.
    fn sum_heights_from(&mut self, from: usize) {
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

    /// Wraps entry `i` again at the current width; true if it was stale.
    fn rewrap(&mut self, i: usize, messages: &[Message]) -> bool {
        let width = self.width;
        let (Some(entry), Some(message)) = (self.entries.get_mut(i), messages.get(i)) else {
            return false;
        };
        if entry.width == width {
            return false;
        }
        entry.lines = render_message(message, width, entry.context, &mut entry.markdown);
        entry.width = width;
        self.last_rewrapped += 1;
        true
    }

    /// Entries still wrapped at another width (after a resize).
    pub fn settling(&self) -> bool {
        self.stale_below > 0
    }

    /// After a resize: wrap again the entries in view (so what is drawn is
    /// right), then others, newest first, for at most `REWRAP_BUDGET`;
    /// the rest wait for the next frames (`settling`). The view keeps its
    /// anchor (a message and a row in it, or the bottom) while heights
    /// change under it.
    fn settle(&mut self, messages: &[Message], height: usize, started: Instant) {
        if self.stale_below == 0 {
            return;
        }
        for _ in 0..MAX_SETTLE_PASSES {
            let (mut row, end) = (self.top, self.top + height);
            let mut changed = None;
            while row < end {
                let Some((i, _)) = self.locate(row) else {
                    break;
                };
                if self.rewrap(i, messages) {
                    changed.get_or_insert(i);
                }
                row = self.prefix.get(i + 1).copied().unwrap_or(end).max(row + 1);
            }
            let Some(from) = changed else { break };
            self.sum_heights_from(from);
            self.top = self.anchored_top(height);
        }
        // Off-screen entries, newest first, while the frame has time.
        let mut lowest = None;
        while self.stale_below > 0 && started.elapsed() < REWRAP_BUDGET {
            let i = self.stale_below - 1;
            self.stale_below = i;
            if self.rewrap(i, messages) {
                lowest = Some(i);
            }
        }
        if let Some(from) = lowest {
            self.sum_heights_from(from);
            self.top = self.anchored_top(height);
        }
        while self.stale_below > 0
            && self
                .entries
                .get(self.stale_below - 1)
                .is_some_and(|e| e.width == self.width)
        {
            self.stale_below -= 1;
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

    /// The top row the anchor puts the view at.
    fn anchored_top(&self, height: usize) -> usize {
        let max_top = self.total_rows().saturating_sub(height);
        let top = match self.anchor {
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
        top.min(max_top)
    }

    fn resolve_scroll(&mut self, asked: &TranscriptState, height: usize) {
        let total = self.total_rows();
        let max_top = total.saturating_sub(height);
        let done = std::mem::replace(&mut self.applied, *asked);
        if asked.to_bottom != done.to_bottom {
            self.anchor = ScrollAnchor::Bottom;
        }
        let mut top = self.anchored_top(height);
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

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::api::types::Role;
    use crate::app::state::Settings;
    use crate::chat::conversation::MessageStatus;
    use crate::chat::pricing::PriceTable;
    use crate::ui::{self, Ui};

    fn long_app(messages: usize) -> App {
        let mut app = App::new(Settings::default(), PriceTable::default());
        for i in 0..messages {
            let (role, text) = if i % 2 == 0 {
                (Role::User, format!("question {i}?"))
            } else {
                (
                    Role::Assistant,
                    format!(
                        "answer {i}: ChatGPT는 대규모 언어 모델입니다. {}",
                        "word ".repeat(60)
                    ),
                )
            };
            app.conversation.push(role, text, MessageStatus::Complete);
        }
        app
    }

    fn screen(ui: &mut Ui, app: &App, width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        ui::prepare(ui, app, Rect::new(0, 0, width, height));
        terminal.draw(|f| ui::draw(ui, app, f)).unwrap();
        format!("{:?}", terminal.backend().buffer())
    }

    /// A resize wraps what is in view at once and the rest over later
    /// frames; every frame shows what a view built afresh at that width
    /// shows, and once settled the whole transcript is.
    #[test]
    fn a_resize_wraps_the_view_first_and_the_rest_lazily() {
        let mut app = long_app(3_000);
        let mut ui = Ui::default();
        screen(&mut ui, &app, 120, 30);
        assert_eq!(ui.transcript.last_rewrapped, 3_000);

        let resized = screen(&mut ui, &app, 70, 30);
        assert!(
            ui.transcript.last_rewrapped < 3_000,
            "not everything at once: {}",
            ui.transcript.last_rewrapped
        );
        assert!(ui.transcript.settling());
        assert_eq!(resized, screen(&mut Ui::default(), &app, 70, 30), "bottom");

        // Scrolled up while settling: the heights above the view are still
        // estimates, so where 40 pages up lands may differ from a view that
        // knew every height, but what is drawn there is exactly what a
        // fresh view anchored at the same place draws.
        app.transcript.scrolled_pages -= 40;
        let scrolled = screen(&mut ui, &app, 70, 30);
        assert!(matches!(ui.transcript.anchor, ScrollAnchor::At { .. }));
        let mut fresh = Ui::default();
        fresh.transcript.anchor = ui.transcript.anchor;
        fresh.transcript.applied = app.transcript;
        assert_eq!(scrolled, screen(&mut fresh, &app, 70, 30), "40 pages up");

        let mut frames = 0;
        while ui.transcript.settling() {
            screen(&mut ui, &app, 70, 30);
            frames += 1;
            assert!(frames < 10_000, "settles");
        }
        assert_eq!(ui.transcript.total_rows(), fresh.transcript.total_rows());
        assert_eq!(
            screen(&mut ui, &app, 70, 30),
            screen(&mut fresh, &app, 70, 30)
        );
    }
}
