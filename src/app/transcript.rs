//! Where the transcript is scrolled to, as an anchor rather than a row
//! number: following the bottom, or pinned to a row of a message so that
//! text growing below cannot move the view (SPEC: new text does not pull a
//! scrolled-up view down). Rows are known only to the view, so `update`
//! counts scroll requests and the view (`ui::transcript`) resolves them
//! into its own anchor; the anchor type lives here, beside the requests.

use crate::chat::conversation::MessageId;

/// The scroll position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScrollAnchor {
    /// Follow the bottom: new text stays in view.
    #[default]
    Bottom,
    /// The top row of the view is row `row` of message `message`.
    At { message: MessageId, row: usize },
}

/// What the user asked of the transcript's scrolling, as counters that only
/// `update` moves: the view remembers what it has applied and turns the
/// difference into a position (rows are known only to the view), so drawing
/// never writes the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TranscriptState {
    /// Rows scrolled by the wheel, in all (negative: up).
    pub scrolled_rows: i64,
    /// Pages scrolled by PageUp/PageDown, in all (negative: up).
    pub scrolled_pages: i64,
    /// "Follow the bottom again" (Ctrl+End, sending), counted.
    pub to_bottom: u64,
    /// Bring this message into view (the selection moved), numbered so each
    /// request is seen once.
    pub reveal: Option<(u64, MessageId)>,
    /// Which conversation is shown, counted by `update` each time another
    /// one replaces it: display caches keyed on message ids start over.
    pub generation: u64,
}

impl TranscriptState {
    pub fn scroll_by(&mut self, rows: i64) {
        self.scrolled_rows = self.scrolled_rows.saturating_add(rows);
    }

    pub fn scroll_pages(&mut self, pages: i64) {
        self.scrolled_pages = self.scrolled_pages.saturating_add(pages);
    }

    /// Follow the bottom again.
    pub fn to_bottom(&mut self) {
        self.to_bottom += 1;
    }

    /// Keep message `id` in view.
    pub fn reveal(&mut self, id: MessageId) {
        let seq = self.reveal.map_or(1, |(seq, _)| seq + 1);
        self.reveal = Some((seq, id));
    }

    /// The message last asked to be brought into view.
    pub fn revealing(&self) -> Option<MessageId> {
        self.reveal.map(|(_, id)| id)
    }

    /// Another conversation is shown: start over at its bottom.
    pub fn new_conversation(&mut self) {
        self.generation += 1;
        self.to_bottom();
    }
}
