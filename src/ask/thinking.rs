//! The model's reasoning in `kaiwa ask`: split from the answer (reasoning
//! deltas and inline `<think>` blocks), kept for the history, and printed
//! to stderr with `--thinking` (dim and sanitised when stderr is a
//! terminal). stdout gets the answer alone.
//!
//! Into a pipe, answer text that might still turn out to be reasoning (no
//! tag seen yet: a `</think>` may come) is held until it is clear, so what
//! a script reads is the answer; on a terminal it is shown as it arrives.

use super::Collected;
use crate::chat::think::ThinkSplitter;
use crate::cli_io::Io;
use crate::text::sanitize::StreamSanitizer;

const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

pub(super) struct Thinking {
    splitter: ThinkSplitter,
    /// `--thinking`.
    show: bool,
    /// stderr is a terminal: dim and sanitised.
    sanitizer: Option<StreamSanitizer>,
    /// Reasoning was printed and its line is not ended yet.
    open_line: bool,
}

impl Thinking {
    pub(super) fn new(show: bool, io: &Io<'_>) -> Self {
        Self {
            splitter: if io.stdout_is_terminal {
                ThinkSplitter::eager()
            } else {
                ThinkSplitter::held()
            },
            show,
            sanitizer: io.stderr_is_terminal.then(StreamSanitizer::new),
            open_line: false,
        }
    }

    /// A reasoning delta (`reasoning_content` / `reasoning`).
    pub(super) fn reasoning(&mut self, io: &mut Io<'_>, collected: &mut Collected, text: &str) {
        collected.reasoning.push_str(text);
        self.print(io, text);
    }

    /// A content delta: its reasoning part is kept (and printed); returns
    /// the answer part.
    pub(super) fn content(
        &mut self,
        io: &mut Io<'_>,
        collected: &mut Collected,
        delta: &str,
    ) -> String {
        let piece = self.splitter.push(delta);
        self.take(io, collected, piece)
    }

    /// The stream ended: what was held back, the answer part returned.
    pub(super) fn finish(&mut self, io: &mut Io<'_>, collected: &mut Collected) -> String {
        let piece = self.splitter.finish();
        let answer = self.take(io, collected, piece);
        if let Some(rest) = self.sanitizer.as_mut().map(StreamSanitizer::finish) {
            self.write(io, &rest);
        }
        self.end_line(io);
        answer
    }

    fn take(
        &mut self,
        io: &mut Io<'_>,
        collected: &mut Collected,
        piece: crate::chat::think::Piece,
    ) -> String {
        if piece.retract {
            // Shown as answer on the terminal already; kept as reasoning.
            let moved = std::mem::take(&mut collected.text);
            collected.reasoning.push_str(&moved);
        }
        collected.reasoning.push_str(&piece.reasoning);
        self.print(io, &piece.reasoning);
        if !piece.answer.is_empty() {
            self.end_line(io);
        }
        piece.answer
    }

    fn print(&mut self, io: &mut Io<'_>, text: &str) {
        if !self.show || text.is_empty() {
            return;
        }
        let text = match self.sanitizer.as_mut() {
            Some(s) => s.push(text),
            None => text.to_string(),
        };
        self.write(io, &text);
    }

    fn write(&mut self, io: &mut Io<'_>, text: &str) {
        if text.is_empty() {
            return;
        }
        let out = if self.sanitizer.is_some() {
            format!("{DIM}{text}{RESET}")
        } else {
            text.to_string()
        };
        let _ = io
            .stderr
            .write_all(out.as_bytes())
            .and_then(|()| io.stderr.flush());
        self.open_line = !text.ends_with('\n');
    }

    /// The answer starts (or all ended): the reasoning's last line ends.
    fn end_line(&mut self, io: &mut Io<'_>) {
        if self.open_line {
            let _ = io.stderr.write_all(b"\n").and_then(|()| io.stderr.flush());
            self.open_line = false;
        }
    }
}

/// (reasoning, answer) of a whole `chat.completion` (`--raw`): the
/// message's reasoning field and any inline `<think>` block.
pub(super) fn of_response(value: &serde_json::Value) -> (String, String) {
    let message = value.pointer("/choices/0/message");
    let field = |key: &str| {
        message
            .and_then(|m| m.get(key))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut reasoning = field("reasoning_content");
    if reasoning.is_empty() {
        reasoning = field("reasoning");
    }
    let (inline, answer) = crate::chat::think::split_all(&field("content"));
    reasoning.push_str(&inline);
    (reasoning, answer)
}
