//! The conversation as the user sees it: messages with a role, their exact
//! text and a status, and the rule for what is sent.
//!
//! Invariant: text is stored exactly as typed or received (unsanitised), so
//! resending, copying and saving see what the server sent; sanitising
//! happens only when text becomes display lines. Every change bumps the
//! message's `rev`, which is what the display cache keys on.

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
    /// `finish_reason` other than `stop` worth showing (`length`, `content_filter`).
    pub finish_note: Option<String>,
}

/// The messages of one conversation, in order.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    messages: Vec<Message>,
    next_id: u64,
}

impl Conversation {
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

    /// Append a message; returns its id.
    pub fn push(&mut self, role: Role, content: String, status: MessageStatus) -> MessageId {
        self.next_id += 1;
        let id = MessageId(self.next_id);
        self.messages.push(Message {
            id,
            role,
            content,
            status,
            rev: 0,
            model: None,
            error: None,
            skipped: 0,
            finish_note: None,
        });
        id
    }

    pub fn index_of(&self, id: MessageId) -> Option<usize> {
        // Ids grow with position, so a binary search finds it.
        self.messages.binary_search_by_key(&id, |m| m.id).ok()
    }

    pub fn get(&self, id: MessageId) -> Option<&Message> {
        self.index_of(id).and_then(|i| self.messages.get(i))
    }

    /// Change a message; its revision is bumped.
    pub fn update(&mut self, id: MessageId, f: impl FnOnce(&mut Message)) -> bool {
        let Some(message) = self.index_of(id).and_then(|i| self.messages.get_mut(i)) else {
            return false;
        };
        f(message);
        message.rev += 1;
        true
    }

    /// Remove a message, returning it.
    pub fn remove(&mut self, id: MessageId) -> Option<Message> {
        let index = self.index_of(id)?;
        Some(self.messages.remove(index))
    }

    /// What is sent: every message in order, the system prompt first as it
    /// is stored first; answers that were stopped or interrupted with the
    /// text that arrived; nothing empty (a failed turn has no text).
    pub fn request_messages(&self) -> Vec<ChatMessage> {
        self.messages
            .iter()
            .filter(|m| !m.content.is_empty())
            .map(|m| ChatMessage::new(m.role, m.content.clone()))
            .collect()
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
    fn blank_system_prompt_is_dropped() {
        assert!(Conversation::new(Some("  ")).is_empty());
    }
}
