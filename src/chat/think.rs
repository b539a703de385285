//! Inline reasoning in an answer's text: a streaming splitter that takes
//! content deltas and hands back what is reasoning and what is answer.
//!
//! Two shapes are recognised (SPEC "Thinking"): content that starts, after
//! whitespace, with `<think>` (reasoning up to `</think>`), and content whose
//! first `</think>` comes with no `<think>` before it (everything before it
//! was reasoning, as some distilled models send). Tags may be split across
//! deltas at any offset; whitespace right after `</think>` is dropped.
//!
//! The second shape is known only when `</think>` arrives. In `eager` mode
//! (the TUI) text is handed back as answer meanwhile and a `Piece` with
//! `retract` says "what you took as answer so far was reasoning"; in held
//! mode (`kaiwa ask` into a pipe, which cannot take text back) the text is
//! kept until it is clear. Either way the final split is the same.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// What one delta (or the end) adds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Piece {
    /// Everything handed back as answer before this piece was reasoning:
    /// move it, in order, to the end of the reasoning first.
    pub retract: bool,
    pub reasoning: String,
    pub answer: String,
}

impl Piece {
    pub fn is_empty(&self) -> bool {
        !self.retract && self.reasoning.is_empty() && self.answer.is_empty()
    }

    /// Adds this piece to a reasoning and an answer (a retract first moves
    /// the answer so far into the reasoning).
    pub fn apply_to(self, reasoning: &mut String, answer: &mut String) {
        if self.retract {
            let moved = std::mem::take(answer);
            reasoning.push_str(&moved);
        }
        reasoning.push_str(&self.reasoning);
        answer.push_str(&self.answer);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Nothing but whitespace (and maybe the start of `<think>`) so far.
    #[default]
    Start,
    /// Inside `<think>…`.
    Inside,
    /// Right after `</think>`: whitespace is dropped.
    AfterClose,
    /// Answer text that may still turn out to be reasoning (no tag seen).
    Watch,
    /// Plain answer: nothing more to find.
    Plain,
}

/// The splitter for one answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThinkSplitter {
    state: State,
    /// Text not handed back yet.
    pending: String,
    /// Held mode: keep unclear text instead of handing it back as answer.
    hold: bool,
}

impl ThinkSplitter {
    /// Hands text back as answer until it is known to be reasoning (then
    /// `retract`); for a view that can rewrite what it showed.
    pub fn eager() -> Self {
        Self::default()
    }

    /// Keeps text back until it is known which it is; for output that
    /// cannot be taken back.
    pub fn held() -> Self {
        Self {
            hold: true,
            ..Self::default()
        }
    }

    /// Feed one content delta.
    pub fn push(&mut self, delta: &str) -> Piece {
        self.pending.push_str(delta);
        let mut piece = Piece::default();
        self.advance(&mut piece, delta.len());
        piece
    }

    /// The stream ended: whatever is held back, as what it most likely is.
    pub fn finish(&mut self) -> Piece {
        let mut piece = Piece::default();
        let rest = std::mem::take(&mut self.pending);
        match self.state {
            State::Inside => piece.reasoning = rest,
            State::AfterClose => {}
            State::Start | State::Watch | State::Plain => piece.answer = rest,
        }
        self.state = State::Plain;
        piece
    }

    fn advance(&mut self, piece: &mut Piece, added: usize) {
        loop {
            match self.state {
                State::Start => {
                    let text = self.pending.trim_start();
                    if text.is_empty() || (OPEN.starts_with(text) && text.len() < OPEN.len()) {
                        return;
                    }
                    if let Some(after) = text.strip_prefix(OPEN) {
                        self.pending = after.to_string();
                        self.state = State::Inside;
                    } else {
                        self.state = State::Watch;
                    }
                }
                State::Inside => {
                    if let Some((before, after)) = self.pending.split_once(CLOSE) {
                        piece.reasoning.push_str(before);
                        self.pending = after.to_string();
                        self.state = State::AfterClose;
                    } else {
                        let keep = partial_suffix(&self.pending, &[CLOSE]);
                        piece
                            .reasoning
                            .push_str(&take_front(&mut self.pending, keep));
                        return;
                    }
                }
                State::AfterClose => {
                    let text = self.pending.trim_start();
                    if text.is_empty() {
                        self.pending.clear();
                        return;
                    }
                    self.pending = text.to_string();
                    self.state = State::Plain;
                }
                State::Watch => {
                    if self.watch(piece, added) {
                        return;
                    }
                }
                State::Plain => {
                    piece.answer.push_str(&std::mem::take(&mut self.pending));
                    return;
                }
            }
        }
    }

    /// One step of `Watch`; true when it waits for more text.
    fn watch(&mut self, piece: &mut Piece, added: usize) -> bool {
        // Only the end can hold a new tag: what was searched before had
        // no whole tag in it.
        let from = floor_boundary(
            &self.pending,
            self.pending
                .len()
                .saturating_sub(added.saturating_add(CLOSE.len())),
        );
        let tail = self.pending.get(from..).unwrap_or("");
        let close = tail.find(CLOSE).map(|i| i + from);
        let open = tail.find(OPEN).map(|i| i + from);
        match (open, close) {
            (Some(o), Some(c)) if o < c => self.state = State::Plain,
            (Some(_), None) => self.state = State::Plain,
            (_, Some(c)) => {
                piece.retract = true;
                let after = self.pending.split_off(c);
                piece.reasoning.push_str(&self.pending);
                self.pending = after.get(CLOSE.len()..).unwrap_or("").to_string();
                self.state = State::AfterClose;
            }
            (None, None) => {
                if !self.hold {
                    let keep = partial_suffix(&self.pending, &[CLOSE, OPEN]);
                    piece.answer.push_str(&take_front(&mut self.pending, keep));
                }
                return true;
            }
        }
        false
    }
}

/// Bytes at the end of `text` that could begin one of `tags`.
fn partial_suffix(text: &str, tags: &[&str]) -> usize {
    tags.iter()
        .flat_map(|tag| (1..tag.len()).map(move |k| tag.get(..k).unwrap_or("")))
        .filter(|prefix| !prefix.is_empty() && text.ends_with(prefix))
        .map(str::len)
        .max()
        .unwrap_or(0)
}

/// Removes and returns all of `text` but its last `keep` bytes (`keep` is
/// the length of an ASCII suffix, so the cut is on a boundary).
fn take_front(text: &mut String, keep: usize) -> String {
    let at = floor_boundary(text, text.len().saturating_sub(keep));
    let rest = text.split_off(at);
    std::mem::replace(text, rest)
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// A whole text split at once: (reasoning, answer).
pub fn split_all(text: &str) -> (String, String) {
    let mut out = Applied::default();
    let mut splitter = ThinkSplitter::held();
    out.apply(splitter.push(text));
    out.apply(splitter.finish());
    (out.reasoning, out.answer)
}

/// Pieces applied to a reasoning and an answer, as a view does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub reasoning: String,
    pub answer: String,
}

impl Applied {
    pub fn apply(&mut self, piece: Piece) {
        piece.apply_to(&mut self.reasoning, &mut self.answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed(mut splitter: ThinkSplitter, parts: &[&str]) -> Applied {
        let mut out = Applied::default();
        for part in parts {
            out.apply(splitter.push(part));
        }
        out.apply(splitter.finish());
        out
    }

    fn both(parts: &[&str]) -> (Applied, Applied) {
        (
            feed(ThinkSplitter::eager(), parts),
            feed(ThinkSplitter::held(), parts),
        )
    }

    fn expect(text: &str, reasoning: &str, answer: &str) {
        let want = Applied {
            reasoning: reasoning.into(),
            answer: answer.into(),
        };
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        for (at, _) in chars.iter().copied().chain([(text.len(), ' ')]) {
            let (a, b) = text.split_at(at);
            let (eager, held) = both(&[a, b]);
            assert_eq!(eager, want, "eager, split at {at} of {text:?}");
            assert_eq!(held, want, "held, split at {at} of {text:?}");
        }
        let singles: Vec<String> = text.chars().map(String::from).collect();
        let singles: Vec<&str> = singles.iter().map(String::as_str).collect();
        let (eager, held) = both(&singles);
        assert_eq!(eager, want, "eager, char by char: {text:?}");
        assert_eq!(held, want, "held, char by char: {text:?}");
    }

    #[test]
    fn an_opening_tag_after_whitespace_at_every_split() {
        expect("  <think>a b</think>\n\nanswer", "a b", "answer");
    }

    #[test]
    fn a_closing_tag_with_no_opening_one_at_every_split() {
        expect("x</think>y", "x", "y");
        expect("思考中…</think>\n答え", "思考中…", "答え");
    }

    #[test]
    fn text_without_tags_is_all_answer() {
        expect(
            "just an answer, < and </ and <th",
            "",
            "just an answer, < and </ and <th",
        );
        expect("  \n", "", "  \n");
        expect("", "", "");
    }

    #[test]
    fn a_tag_later_in_the_answer_is_text() {
        // An opening tag first: later tags are the answer's own words.
        expect("use <think> then </think>", "", "use <think> then </think>");
        expect("<think>r</think>a </think> b", "r", "a </think> b");
    }

    #[test]
    fn an_unclosed_block_is_all_reasoning() {
        expect("<think>still going", "still going", "");
    }

    #[test]
    fn eager_mode_shows_text_early_and_retracts_it() {
        let mut s = ThinkSplitter::eager();
        let first = s.push("step one ");
        assert_eq!(first.answer, "step one ");
        let second = s.push("</think>done");
        assert!(second.retract);
        assert_eq!(second.answer, "done");
        let mut held = ThinkSplitter::held();
        assert!(held.push("step one ").is_empty());
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_split(
            text in "[ \\n]{0,2}(<think>)?[a-c </>thinke]{0,24}(</think>)?[ \\na-c<>]{0,12}",
            cuts in proptest::collection::vec(0usize..64, 0..6),
        ) {
            let whole = split_all(&text);
            let mut at: Vec<usize> = cuts.into_iter().filter(|c| *c <= text.len()).collect();
            at.sort_unstable();
            at.dedup();
            let mut parts = Vec::new();
            let mut last = 0;
            for c in at.into_iter().chain([text.len()]) {
                parts.push(text.get(last..c).unwrap_or(""));
                last = c;
            }
            let (eager, held) = both(&parts);
            prop_assert_eq!(&(eager.reasoning, eager.answer), &whole);
            prop_assert_eq!((held.reasoning, held.answer), whole);
        }
    }
}
