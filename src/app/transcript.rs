//! Where the transcript is scrolled to, as an anchor rather than a row
//! number: following the bottom, or pinned to a row of a message so that
//! text growing below cannot move the view (SPEC: new text does not pull a
//! scrolled-up view down). Rows are known only to the view, so `update`
//! records scroll requests and `ui::prepare` resolves them.

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

/// The transcript's scroll state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TranscriptState {
    pub anchor: ScrollAnchor,
    /// Rows to scroll by (negative: up), applied by `ui::prepare`.
    pub pending_scroll: i64,
    /// Set by `ui::prepare`: there are rows below the view.
    pub more_below: bool,
    /// Rows of the transcript area at the last layout (for page scrolling).
    pub page_rows: u16,
    /// Bring this message into view at the next layout (selection moved).
    pub reveal: Option<MessageId>,
    /// Which conversation is shown, counted by `update` each time another
    /// one replaces it: display caches keyed on message ids start over.
    pub generation: u64,
}

impl TranscriptState {
    pub fn scroll_by(&mut self, rows: i64) {
        self.pending_scroll = self.pending_scroll.saturating_add(rows);
    }

    pub fn page(&self) -> i64 {
        i64::from(self.page_rows.saturating_sub(2).max(1))
    }

    /// Another conversation is shown: start over at its bottom.
    pub fn new_conversation(&mut self) {
        self.generation += 1;
        self.to_bottom();
    }

    /// Follow the bottom again.
    pub fn to_bottom(&mut self) {
        self.anchor = ScrollAnchor::Bottom;
        self.pending_scroll = 0;
        self.more_below = false;
    }

    pub fn is_following(&self) -> bool {
        self.anchor == ScrollAnchor::Bottom && self.pending_scroll >= 0
    }
}
