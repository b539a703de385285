//! The conversation as the user sees it: messages with a role, their exact
//! text and a status, and the rule for what is sent.
//!
//! A conversation is a tree: every message has a parent; `messages()` is the
//! current path (what is shown and sent), and the other branches — earlier
//! answers of a regenerated turn, the turns after an edited question — are
//! kept off the path, never overwritten. Switching alternatives swaps a
//! branch onto the path.
//!
//! Invariant: text is stored exactly as typed or received (unsanitised), so
//! resending, copying and saving see what the server sent; sanitising
//! happens only when text becomes display lines. Every change bumps the
//! message's `rev`, which is what the display cache keys on; ids are never
//! reused within a run.

use crate::api::types::{ChatMessage, Role};

/// Stable identity of a message within a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub u64);

/// Where an answer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    /// Written by the user, or a finished answer (a `finish_reason` arrived).
    Complete,
    /// Text is still arriving.
    Streaming,
    /// The user stopped it; the text that arrived is kept.
    Stopped,
    /// The stream broke or ended early; the text that arrived is kept.
    Interrupted,
}

/// One message of the transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: MessageId,
    /// The message this one answers or follows; None at the top.
    pub parent: Option<MessageId>,
    pub role: Role,
    pub content: String,
    pub status: MessageStatus,
    /// Bumped on every change (display caches key on it).
    pub rev: u64,
    /// Model that wrote an answer.
    pub model: Option<String>,
    /// Why an answer ended early, shown under it.
    pub error: Option<String>,
    /// Unreadable events skipped while it streamed.
    pub skipped: u32,
    /// The server's `finish_reason` (`stop`, `length`, …), kept for history; anything
    /// but `stop` is shown under the answer.
    pub finish_reason: Option<String>,
    /// For an answer: what was asked and what came back (the raw view).
    pub exchange: Option<Box<Exchange>>,
    /// Left out of every request from now on (trimmed to fit the model's
    /// context window); still shown, dimmed, and still saved.
    pub not_sent: bool,
    /// A summary of earlier turns (sent as a system message in their place;
    /// shown folded, `t` opens it).
    pub summary: bool,
    /// The model's reasoning (reasoning deltas, inline `<think>`), kept
    /// apart from `content`: shown folded, saved, never sent.
    pub reasoning: String,
    /// Reasoning tokens as the server counted them, once its usage came.
    pub reasoning_tokens: Option<u64>,
}

/// What an answer that lost events says, under it in the TUI, in the
/// notice when it ends and on `kaiwa ask`'s stderr (SPEC: "1 unreadable
/// event skipped — text may be missing"): a skipped event may have carried
/// text, so the answer may not be whole.
pub fn skipped_text(n: u32) -> String {
    let plural = if n == 1 { "event" } else { "events" };
    format!("{n} unreadable {plural} skipped — text may be missing")
}

/// The request behind an answer and the response it got. The request is
/// kept as the ids of the messages sent plus the parameters (rebuilt into
/// JSON on demand), so memory does not grow with the square of the
/// conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub sent: Vec<MessageId>,
    pub model: String,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    /// The `chat.completion` object assembled from the stream.
    pub response: Option<serde_json::Value>,
    /// `data:` events received.
    pub chunks: u32,
}

/// The messages of one conversation: the current path in order, and the
/// branches off it.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    /// A stamp that changes with every change to the conversation, unique
    /// across conversations of this process (0: an empty new one), for
    /// caches of what is computed from the whole of it.
    version: u64,
    messages: Vec<Message>,
    /// Messages on other branches (alternatives), in id order.
    off_path: Vec<Message>,
    next_id: u64,
    /// Deleted messages, newest last, for undo.
    deleted: Vec<Deleted>,
}

/// A deleted message and how to put it back.
#[derive(Debug, Clone)]
struct Deleted {
    index: usize,
    message: Message,
    /// Messages whose parent was the deleted one (re-parented on delete).
    children: Vec<MessageId>,
}

/// The last version stamp handed out.
static VERSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Conversation {
    /// Changes `version`: every method that changes the conversation calls it.
    fn stamp(&mut self) {
        self.version = VERSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    }

    /// The version stamp: equal stamps mean the same messages.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// A new conversation, starting with the system prompt when there is one.
    pub fn new(system: Option<&str>) -> Self {
        let mut conversation = Self::default();
        if let Some(system) = system.filter(|s| !s.trim().is_empty()) {
            conversation.push(Role::System, system.to_string(), MessageStatus::Complete);
        }
        conversation
    }

    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Start over with only the system prompt; ids keep growing (display
    /// caches key on them).
    pub fn clear(&mut self, system: Option<&str>) {
        self.stamp();
        self.messages.clear();
        self.off_path.clear();
        self.deleted.clear();
        if let Some(system) = system.filter(|s| !s.trim().is_empty()) {
            self.push(Role::System, system.to_string(), MessageStatus::Complete);
        }
    }

    /// Append a message to the current path; returns its id.
    pub fn push(&mut self, role: Role, content: String, status: MessageStatus) -> MessageId {
        self.stamp();
        self.next_id += 1;
        let id = MessageId(self.next_id);
        let parent = self.messages.last().map(|m| m.id);
        self.messages.push(Message {
            id,
            parent,
            role,
            content,
            status,
            rev: 0,
            model: None,
            error: None,
            skipped: 0,
            finish_reason: None,
            exchange: None,
            not_sent: false,
            summary: false,
            reasoning: String::new(),
            reasoning_tokens: None,
        });
        id
    }

    pub fn index_of(&self, id: MessageId) -> Option<usize> {
        // Ids grow with position, so a binary search finds it.
        self.messages.binary_search_by_key(&id, |m| m.id).ok()
    }

    /// A message on the path or on another branch.
    pub fn find(&self, id: MessageId) -> Option<&Message> {
        self.get(id).or_else(|| {
            self.off_path
                .binary_search_by_key(&id, |m| m.id)
                .ok()
                .and_then(|i| self.off_path.get(i))
        })
    }

    pub fn get(&self, id: MessageId) -> Option<&Message> {
        self.index_of(id).and_then(|i| self.messages.get(i))
    }

    /// Change a message; its revision is bumped.
    pub fn update(&mut self, id: MessageId, f: impl FnOnce(&mut Message)) -> bool {
        self.stamp();
        let Some(message) = self.index_of(id).and_then(|i| self.messages.get_mut(i)) else {
            return false;
        };
        f(message);
        message.rev += 1;
        true
    }

    /// Remove a message, returning it.
    pub fn remove(&mut self, id: MessageId) -> Option<Message> {
        self.stamp();
        let index = self.index_of(id)?;
        Some(self.messages.remove(index))
    }

    /// Move the path from `index` on off the path (kept as a branch), so the
    /// next `push` starts an alternative to the message at `index`.
    pub fn branch_at(&mut self, index: usize) {
        self.stamp();
        if index >= self.messages.len() {
            return;
        }
        let tail = self.messages.split_off(index);
        self.off_path.extend(tail);
        self.off_path.sort_by_key(|m| m.id);
    }

    fn siblings(&self, index: usize) -> Vec<MessageId> {
        let Some(message) = self.messages.get(index) else {
            return Vec::new();
        };
        let mut ids: Vec<MessageId> = self
            .off_path
            .iter()
            .filter(|m| m.parent == message.parent)
            .map(|m| m.id)
            .chain(std::iter::once(message.id))
            .collect();
        ids.sort();
        ids
    }

    /// `(position, count)` of the message at `index` among its alternatives
    /// (1-based position), or None when it has none.
    pub fn alternatives(&self, index: usize) -> Option<(usize, usize)> {
        let siblings = self.siblings(index);
        let id = self.messages.get(index)?.id;
        let pos = siblings.iter().position(|s| *s == id)?;
        (siblings.len() > 1).then_some((pos + 1, siblings.len()))
    }

    /// Show the previous (`-1`) or next (`+1`) alternative of the message at
    /// `index`; the path below follows that alternative's newest branch.
    pub fn switch_alternative(&mut self, index: usize, delta: isize) -> bool {
        self.stamp();
        let siblings = self.siblings(index);
        let Some(current) = self.messages.get(index).map(|m| m.id) else {
            return false;
        };
        let Some(pos) = siblings.iter().position(|s| *s == current) else {
            return false;
        };
        let Some(target) = pos
            .checked_add_signed(delta)
            .and_then(|p| siblings.get(p))
            .copied()
        else {
            return false;
        };
        self.branch_at(index);
        self.extend_with_branch(target);
        true
    }

    /// Delete the message at `index` from the path (its children now follow
    /// its parent). `undo_delete` puts it back.
    pub fn delete(&mut self, index: usize) -> Option<MessageId> {
        self.stamp();
        if index >= self.messages.len() {
            return None;
        }
        let message = self.messages.remove(index);
        let mut children = Vec::new();
        for m in self.messages.iter_mut().chain(self.off_path.iter_mut()) {
            if m.parent == Some(message.id) {
                m.parent = message.parent;
                m.rev += 1;
                children.push(m.id);
            }
        }
        let id = message.id;
        self.deleted.push(Deleted {
            index,
            message,
            children,
        });
        Some(id)
    }

    /// Undo the last delete; returns the index it is back at on the path, or
    /// None when the path has changed since and it went back onto its branch
    /// (or there was nothing to undo: see `can_undo`).
    pub fn undo_delete(&mut self) -> Option<usize> {
        self.stamp();
        let Deleted {
            index,
            message,
            children,
        } = self.deleted.pop()?;
        let _ = index;
        for m in self.messages.iter_mut().chain(self.off_path.iter_mut()) {
            if children.contains(&m.id) {
                m.parent = Some(message.id);
                m.rev += 1;
            }
        }
        // Back where it belongs in the tree: right after its parent when the
        // parent is on the path and what follows it is one of its children
        // (or nothing); otherwise the path has moved on (a regenerate, an
        // edit, another alternative) and it goes back onto its branch.
        let at = match message.parent {
            None => Some(0),
            Some(parent) => self.index_of(parent).map(|i| i + 1),
        };
        let fits = at.is_some_and(|i| {
            self.messages
                .get(i)
                .is_none_or(|next| children.contains(&next.id))
        });
        match at {
            Some(i) if fits => {
                self.messages.insert(i, message);
                Some(i)
            }
            _ => {
                let id = message.id;
                let pos = self.off_path.partition_point(|m| m.id < id);
                self.off_path.insert(pos, message);
                None
            }
        }
    }

    /// Whether there is a delete to undo.
    pub fn can_undo(&self) -> bool {
        !self.deleted.is_empty()
    }

    /// Every message of the tree, path and branches (for saving).
    pub fn all_messages(&self) -> impl Iterator<Item = &Message> {
        self.messages.iter().chain(self.off_path.iter())
    }

    /// The messages on other branches (alternatives), in id order.
    pub fn branches(&self) -> impl Iterator<Item = &Message> {
        self.off_path.iter()
    }

    /// The last message of the current path.
    pub fn head(&self) -> Option<MessageId> {
        self.messages.last().map(|m| m.id)
    }

    /// Ids of the messages `request_messages` sends, in order.
    pub fn request_ids(&self) -> Vec<MessageId> {
        self.sendable().map(|m| m.id).collect()
    }

    /// The messages that are sent: everything with text, except the
    /// question of a failed turn — one whose answers (up to the next
    /// question) all have no text, as when Esc stopped it before any text
    /// arrived (SPEC: failed turns are not sent; it also avoids two user
    /// messages in a row, which strict chat templates reject).
    fn sendable(&self) -> impl Iterator<Item = &Message> {
        self.messages.iter().enumerate().filter_map(|(i, m)| {
            if m.content.is_empty() || m.not_sent {
                return None;
            }
            if m.role == Role::User {
                let rest = self.messages.get(i + 1..).unwrap_or_default();
                let turn: Vec<&Message> =
                    rest.iter().take_while(|n| n.role != Role::User).collect();
                let answered = turn
                    .iter()
                    .any(|n| n.role == Role::Assistant && !n.content.is_empty());
                let failed = !answered
                    && turn.iter().any(|n| {
                        n.role == Role::Assistant
                            && matches!(
                                n.status,
                                MessageStatus::Stopped | MessageStatus::Interrupted
                            )
                    });
                if failed {
                    return None;
                }
            }
            Some(m)
        })
    }

    /// Put the branch starting at `id` (an off-path child of the path's last
    /// message) back onto the path, following its newest children.
    pub fn extend_with_branch(&mut self, id: MessageId) {
        self.stamp();
        let mut next = Some(id);
        while let Some(id) = next {
            let Ok(at) = self.off_path.binary_search_by_key(&id, |m| m.id) else {
                break;
            };
            let mut message = self.off_path.remove(at);
            message.rev += 1;
            self.messages.push(message);
            next = self
                .off_path
                .iter()
                .filter(|m| m.parent == Some(id))
                .map(|m| m.id)
                .max();
        }
    }

    /// What is sent: every message in order, the system prompt first as it
    /// is stored first; answers that were stopped or interrupted with the
    /// text that arrived; nothing empty (a failed turn has no text).
    pub fn request_messages(&self) -> Vec<ChatMessage> {
        self.sendable()
            .map(|m| ChatMessage::new(m.role, m.content.clone()))
            .collect()
    }

    /// A conversation rebuilt from saved messages (resuming from history):
    /// the path up from `head` becomes the current path, every other
    /// message an off-path branch. Ids must grow from parent to child (the
    /// history loader numbers them parents first); a missing head falls back
    /// to the newest message. Later pushes get ids above every saved one.
    pub fn from_saved(messages: Vec<Message>, head: Option<MessageId>) -> Self {
        let mut all = messages;
        all.sort_by_key(|m| m.id);
        all.dedup_by_key(|m| m.id);
        let next_id = all.last().map_or(0, |m| m.id.0);
        let find = |id: MessageId, all: &[Message]| all.binary_search_by_key(&id, |m| m.id).ok();
        let start = head
            .filter(|h| find(*h, &all).is_some())
            .or_else(|| all.last().map(|m| m.id));
        // Walk up; ids strictly fall on the way, which also rules out loops.
        let mut path_ids: Vec<MessageId> = Vec::new();
        let mut next = start;
        while let Some(id) = next {
            if path_ids.last().is_some_and(|below| id >= *below) {
                break;
            }
            let Some(at) = find(id, &all) else { break };
            path_ids.push(id);
            next = all.get(at).and_then(|m| m.parent);
        }
        path_ids.sort();
        let (messages, off_path): (Vec<Message>, Vec<Message>) = all
            .into_iter()
            .partition(|m| path_ids.binary_search(&m.id).is_ok());
        let mut conversation = Self {
            messages,
            off_path,
            next_id,
            ..Self::default()
        };
        conversation.stamp();
        conversation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sushi_conversation_is_sent_in_order() {
        // The seed's example: system, user, a hand-written assistant turn, user.
        let mut c = Conversation::new(Some("あなたは寿司職人です。"));
        c.push(Role::User, "おすすめは？".into(), MessageStatus::Complete);
        c.push(
            Role::Assistant,
            "今日はマグロです。".into(),
            MessageStatus::Complete,
        );
        c.push(Role::User, "じゃあそれで".into(), MessageStatus::Complete);
        let sent = c.request_messages();
        let roles: Vec<_> = sent.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [Role::System, Role::User, Role::Assistant, Role::User]
        );
        assert_eq!(sent[2].content, "今日はマグロです。");
    }

    #[test]
    fn empty_answers_are_not_sent_and_partial_ones_are() {
        let mut c = Conversation::new(None);
        c.push(Role::User, "q".into(), MessageStatus::Complete);
        let a = c.push(Role::Assistant, String::new(), MessageStatus::Streaming);
        assert_eq!(c.request_messages().len(), 1);
        c.update(a, |m| {
            m.content.push_str("part");
            m.status = MessageStatus::Stopped;
        });
        assert_eq!(c.request_messages().len(), 2);
        assert_eq!(c.get(a).unwrap().rev, 1);
    }

    #[test]
    fn regenerate_keeps_alternatives_and_switching_follows_branches() {
        let mut c = Conversation::new(None);
        let q = c.push(Role::User, "q".into(), MessageStatus::Complete);
        let a1 = c.push(Role::Assistant, "a1".into(), MessageStatus::Complete);
        c.push(Role::User, "follow-up".into(), MessageStatus::Complete);
        c.push(Role::Assistant, "a1-2".into(), MessageStatus::Complete);
        assert_eq!(c.alternatives(1), None);
        // Regenerate the first answer.
        c.branch_at(1);
        let a2 = c.push(Role::Assistant, "a2".into(), MessageStatus::Complete);
        assert_eq!(c.get(a2).unwrap().parent, Some(q));
        assert_eq!(c.alternatives(1), Some((2, 2)));
        assert_eq!(c.len(), 2);
        // Back to the first answer: its follow-up returns with it.
        assert!(c.switch_alternative(1, -1));
        let texts: Vec<_> = c.messages().iter().map(|m| m.content.as_str()).collect();
        assert_eq!(texts, ["q", "a1", "follow-up", "a1-2"]);
        assert_eq!(c.messages()[1].id, a1);
        assert_eq!(c.alternatives(1), Some((1, 2)));
        assert!(!c.switch_alternative(1, -1));
        assert!(c.switch_alternative(1, 1));
        assert_eq!(c.messages().len(), 2);
        assert_eq!(c.all_messages().count(), 5);
    }

    #[test]
    fn delete_and_undo() {
        let mut c = Conversation::new(Some("sys"));
        c.push(Role::User, "q".into(), MessageStatus::Complete);
        let a = c.push(Role::Assistant, "a".into(), MessageStatus::Complete);
        let q = c.messages()[1].id;
        assert_eq!(c.delete(1), Some(q));
        assert_eq!(c.get(a).unwrap().parent, Some(c.messages()[0].id));
        assert_eq!(c.request_messages().len(), 2);
        assert_eq!(c.undo_delete(), Some(1));
        assert_eq!(c.get(a).unwrap().parent, Some(q));
        assert_eq!(c.request_messages().len(), 3);
        assert!(!c.can_undo());
    }

    #[test]
    fn clear_keeps_ids_growing() {
        let mut c = Conversation::new(Some("sys"));
        let first = c.push(Role::User, "q".into(), MessageStatus::Complete);
        c.clear(Some("sys"));
        assert_eq!(c.len(), 1);
        assert!(c.messages()[0].id > first);
    }

    #[test]
    fn blank_system_prompt_is_dropped() {
        assert!(Conversation::new(Some("  ")).is_empty());
    }
}
