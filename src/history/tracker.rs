//! What of the in-memory conversation has been sent to the writer, and the
//! operations that bring the file up to date with it.
//!
//! Invariants: `sync` compares each message's `rev` (and parent) with what
//! was saved, so a frame with nothing new costs one hash lookup per message
//! and produces no operation; a streaming answer is journalled as the text
//! added since the last sync (append-only chunks); operations are ordered
//! parents before children, updates before deletes, the head last; a
//! conversation row exists only once it has a user or assistant message;
//! messages of an earlier conversation (ids at or below `floor`) are never
//! touched again.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::SyncMeta;
use super::ops::{InsertMessage, Op};
use crate::api::types::Role;
use crate::chat::conversation::{Conversation, Message, MessageId, MessageStatus};
use crate::store::uid::new_uid;
use crate::store::{MessageState, StoredRole};

/// What was saved of one message.
#[derive(Debug, Clone)]
struct Saved {
    uid: String,
    rev: u64,
    parent: Option<MessageId>,
    role: Role,
    status: MessageStatus,
    /// Bytes of content saved (content + chunks while streaming).
    len: usize,
    /// Bytes of reasoning when last synced: reasoning that grows under
    /// saved text means the text was rewritten (an inline `</think>` moved
    /// it into the reasoning), so it is written whole, not appended.
    reasoning_len: usize,
    /// Hash of the content, for settled messages (edits keep the length).
    hash: u64,
    /// Next chunk number while streaming.
    seq: i64,
    /// `not_sent` and `summary` as last saved.
    flags: (bool, bool),
    /// The sync generation that last saw it.
    seen: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Tracker {
    /// Uid of the conversation row being written, once there is one.
    conversation: Option<String>,
    saved: HashMap<MessageId, Saved>,
    head: Option<MessageId>,
    /// Ids at or below this belong to an earlier conversation.
    floor: u64,
    max_seen: u64,
    generation: u64,
    /// Set by `new_conversation`: the next sync starts a new row.
    detach_next: bool,
    /// Answers that were streaming when their conversation was left (Ctrl+N,
    /// another one opened): their request reaches the ledger after that, and
    /// must still link to them. One entry per such answer, so it stays tiny.
    left_streaming: HashMap<MessageId, String>,
}

pub(crate) fn stored_role(role: Role) -> StoredRole {
    match role {
        Role::System => StoredRole::System,
        Role::User => StoredRole::User,
        Role::Assistant => StoredRole::Assistant,
    }
}

pub(crate) fn state_of(m: &Message) -> MessageState {
    match m.status {
        MessageStatus::Complete => MessageState::Done,
        MessageStatus::Streaming => MessageState::Streaming,
        MessageStatus::Stopped => MessageState::Stopped,
        MessageStatus::Interrupted if m.content.is_empty() && m.error.is_some() => {
            MessageState::Error
        }
        MessageStatus::Interrupted => MessageState::Interrupted,
    }
}

/// The reasoning to save with a message, if it has any.
fn reasoning_of(m: &Message) -> Option<String> {
    (!m.reasoning.is_empty()).then(|| m.reasoning.clone())
}

fn hash_of(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

impl Tracker {
    pub(crate) fn conversation(&self) -> Option<&str> {
        self.conversation.as_deref()
    }

    pub(crate) fn max_seen(&self) -> u64 {
        self.max_seen
    }

    /// The saved uid of message `id`, in the conversation being written or
    /// an answer left streaming in an earlier one.
    pub(crate) fn uid_of(&self, id: MessageId) -> Option<&str> {
        self.saved
            .get(&id)
            .map(|s| s.uid.as_str())
            .or_else(|| self.left_streaming.get(&id).map(String::as_str))
    }

    /// The next sync starts a new conversation row.
    pub(crate) fn new_conversation(&mut self) {
        self.detach_next = true;
    }

    /// Stops writing the conversation `uid` (it was deleted): its messages
    /// are left alone from now on.
    pub(crate) fn forget(&mut self, uid: &str) {
        if self.conversation.as_deref() == Some(uid) {
            self.floor = self.floor.max(self.max_seen);
            self.reset();
        }
    }

    /// The file was replaced: everything still on screen is new again
    /// (a new row), earlier conversations stay behind the floor.
    pub(crate) fn resync(&mut self) {
        self.reset();
        self.detach_next = false;
    }

    fn reset(&mut self) {
        self.conversation = None;
        self.saved.clear();
        self.head = None;
    }

    /// Leaves the current conversation: answers still streaming are settled
    /// from their journal as stopped; later messages start a new row.
    fn detach(&mut self) -> Vec<Op> {
        let mut ops = Vec::new();
        for (id, s) in &self.saved {
            if s.status == MessageStatus::Streaming {
                ops.push(Op::Settle {
                    message: s.uid.clone(),
                    state: MessageState::Stopped.as_str().to_string(),
                });
                self.left_streaming.insert(*id, s.uid.clone());
            }
        }
        let top = self.saved.keys().map(|id| id.0).max().unwrap_or(0);
        self.floor = self.floor.max(top);
        self.reset();
        ops
    }

    /// After a resume: everything in `conversation` is saved as it is, in
    /// the row `uid`; `uids` maps its messages to their saved uids.
    /// Returns the operations that settle the conversation left behind.
    pub(crate) fn seed(
        &mut self,
        uid: &str,
        conversation: &Conversation,
        uids: &HashMap<MessageId, String>,
        floor: u64,
    ) -> Vec<Op> {
        let ops = self.detach();
        self.detach_next = false;
        self.floor = floor;
        self.conversation = Some(uid.to_string());
        for m in conversation.all_messages() {
            self.max_seen = self.max_seen.max(m.id.0);
            if let Some(uid) = uids.get(&m.id) {
                self.saved.insert(m.id, saved_of(m, uid.clone(), 0));
            }
        }
        self.head = conversation.head();
        ops
    }

    /// The operations that make the file match `conversation`.
    pub(crate) fn sync(
        &mut self,
        conversation: &Conversation,
        meta: &SyncMeta<'_>,
        now: i64,
    ) -> Vec<Op> {
        let mut ops = Vec::new();
        if std::mem::take(&mut self.detach_next) {
            ops.extend(self.detach());
        }
        self.generation += 1;
        let (mut new, changed, tracked_present) = self.scan(conversation);
        if !self.saved.is_empty() && !tracked_present {
            // Everything saved left at once: a failed first turn (dropped),
            // or the conversation was cleared (kept; a new row follows).
            if self.is_failed_first_turn() {
                ops.extend(self.drop_conversation());
            } else {
                ops.extend(self.detach());
                new.retain(|m| m.id.0 > self.floor);
            }
        }
        let Some(conv_uid) = self.ensure_row(&new, meta, now, &mut ops) else {
            return ops;
        };
        self.insert_new(new, &conv_uid, now, &mut ops);
        for m in changed {
            self.diff(m, &mut ops);
        }
        if self.delete_gone(&conv_uid, &mut ops) {
            return ops;
        }
        let head = conversation.head().filter(|h| self.saved.contains_key(h));
        if head != self.head {
            ops.push(Op::Head {
                conversation: conv_uid,
                head: head.and_then(|h| self.uid_of(h)).map(str::to_string),
                at: now,
            });
            self.head = head;
        }
        ops
    }

    /// Marks every saved message still present as seen in this generation;
    /// returns the messages not saved yet, those changed since (text or
    /// parent), and whether any saved one is still present. Messages of an
    /// earlier conversation (at or below `floor`) are left out.
    fn scan<'c>(
        &mut self,
        conversation: &'c Conversation,
    ) -> (Vec<&'c Message>, Vec<&'c Message>, bool) {
        let mut new = Vec::new();
        let mut changed = Vec::new();
        let mut tracked_present = false;
        for m in conversation.all_messages() {
            self.max_seen = self.max_seen.max(m.id.0);
            if m.id.0 <= self.floor {
                continue;
            }
            match self.saved.get_mut(&m.id) {
                Some(s) => {
                    s.seen = self.generation;
                    tracked_present = true;
                    if s.rev != m.rev || s.parent != m.parent {
                        changed.push(m);
                    }
                }
                None => new.push(m),
            }
        }
        (new, changed, tracked_present)
    }

    /// The uid of the conversation row, made now (an `Op::Conversation`)
    /// if there is none yet; None while there is none and `new` holds no
    /// user or assistant message (a system prompt alone is not saved).
    fn ensure_row(
        &mut self,
        new: &[&Message],
        meta: &SyncMeta<'_>,
        now: i64,
        ops: &mut Vec<Op>,
    ) -> Option<String> {
        if self.conversation.is_none() {
            if !new.iter().any(|m| m.role != Role::System) {
                return None;
            }
            let uid = new_uid(now);
            ops.push(Op::Conversation {
                uid: uid.clone(),
                model: Some(meta.model.to_string()),
                base_url: Some(meta.base_url.to_string()),
                at: now,
            });
            self.conversation = Some(uid);
        }
        self.conversation.clone()
    }

    /// Inserts the new messages in id order (a message is made after its
    /// parent, so parents come first).
    fn insert_new(&mut self, mut new: Vec<&Message>, conv_uid: &str, now: i64, ops: &mut Vec<Op>) {
        new.sort_by_key(|m| m.id);
        for m in new {
            let parent = m.parent.and_then(|p| self.uid_of(p)).map(str::to_string);
            let uid = new_uid(now);
            ops.push(Op::Insert(InsertMessage {
                conversation: conv_uid.to_string(),
                uid: uid.clone(),
                parent,
                role: stored_role(m.role).as_str().to_string(),
                content: m.content.clone(),
                state: state_of(m).as_str().to_string(),
                model: m.model.clone(),
                finish_reason: m.finish_reason.clone(),
                error: m.error.clone(),
                skipped: m.skipped,
                at: now,
                reasoning: reasoning_of(m),
            }));
            if m.not_sent || m.summary {
                ops.push(Op::Flags {
                    message: uid.clone(),
                    not_sent: m.not_sent,
                    summary: m.summary,
                });
            }
            self.saved.insert(m.id, saved_of(m, uid, self.generation));
        }
    }

    /// Deletes the saved messages this generation did not see, children
    /// first; true when that left only a system prompt, so the conversation
    /// row went too (an empty conversation is not kept).
    fn delete_gone(&mut self, conv_uid: &str, ops: &mut Vec<Op>) -> bool {
        let mut gone: Vec<MessageId> = self
            .saved
            .iter()
            .filter(|(_, s)| s.seen != self.generation)
            .map(|(id, _)| *id)
            .collect();
        gone.sort_by(|a, b| b.cmp(a));
        for id in &gone {
            if let Some(s) = self.saved.remove(id) {
                ops.push(Op::Delete { message: s.uid });
            }
        }
        if !gone.is_empty() && !self.saved.values().any(|s| s.role != Role::System) {
            ops.push(Op::DeleteConversation {
                uid: conv_uid.to_string(),
            });
            self.reset();
            return true;
        }
        false
    }

    /// The saved messages are one question and empty answers: a first turn
    /// whose request failed (its text went back into the input box).
    fn is_failed_first_turn(&self) -> bool {
        let users = self.saved.values().filter(|s| s.role == Role::User).count();
        users <= 1
            && self.saved.values().all(|s| match s.role {
                Role::User => true,
                Role::Assistant => s.len == 0,
                Role::System => false,
            })
    }

    fn drop_conversation(&mut self) -> Vec<Op> {
        let ops = self
            .conversation
            .clone()
            .map(|uid| Op::DeleteConversation { uid })
            .into_iter()
            .collect();
        self.reset();
        ops
    }

    fn diff(&mut self, m: &Message, ops: &mut Vec<Op>) {
        let parent_uid = m.parent.and_then(|p| self.uid_of(p)).map(str::to_string);
        let Some(s) = self.saved.get_mut(&m.id) else {
            return;
        };
        if s.parent != m.parent {
            ops.push(Op::Parent {
                message: s.uid.clone(),
                parent: parent_uid,
            });
            s.parent = m.parent;
        }
        let len = m.content.len();
        let rewritten = s.len > 0 && m.reasoning.len() != s.reasoning_len;
        s.reasoning_len = m.reasoning.len();
        if m.status == MessageStatus::Streaming {
            let grew = s.status == MessageStatus::Streaming
                && !rewritten
                && len > s.len
                && m.content.is_char_boundary(s.len);
            if grew {
                ops.push(Op::Chunk {
                    message: s.uid.clone(),
                    seq: s.seq,
                    text: m.content.get(s.len..).unwrap_or("").to_string(),
                });
                s.seq += 1;
            } else if len != s.len || rewritten || s.status != MessageStatus::Streaming {
                // Not an append (or streaming again): write the whole text.
                ops.push(Op::Finish {
                    message: s.uid.clone(),
                    content: m.content.clone(),
                    state: MessageState::Streaming.as_str().to_string(),
                    finish_reason: None,
                    error: None,
                    skipped: 0,
                    reasoning: reasoning_of(m),
                });
            }
            s.len = len;
        } else if s.status != m.status || s.status == MessageStatus::Streaming {
            ops.push(Op::Finish {
                message: s.uid.clone(),
                content: m.content.clone(),
                state: state_of(m).as_str().to_string(),
                finish_reason: m.finish_reason.clone(),
                error: m.error.clone(),
                skipped: m.skipped,
                reasoning: reasoning_of(m),
            });
            s.len = len;
            s.hash = hash_of(&m.content);
        } else {
            let hash = hash_of(&m.content);
            if hash != s.hash || len != s.len {
                ops.push(Op::Content {
                    message: s.uid.clone(),
                    content: m.content.clone(),
                });
                s.len = len;
                s.hash = hash;
            }
        }
        if s.flags != (m.not_sent, m.summary) {
            ops.push(Op::Flags {
                message: s.uid.clone(),
                not_sent: m.not_sent,
                summary: m.summary,
            });
            s.flags = (m.not_sent, m.summary);
        }
        s.status = m.status;
        s.rev = m.rev;
    }
}

fn saved_of(m: &Message, uid: String, generation: u64) -> Saved {
    Saved {
        uid,
        rev: m.rev,
        parent: m.parent,
        role: m.role,
        status: m.status,
        len: m.content.len(),
        reasoning_len: m.reasoning.len(),
        hash: if m.status == MessageStatus::Streaming {
            0
        } else {
            hash_of(&m.content)
        },
        seq: 0,
        flags: (m.not_sent, m.summary),
        seen: generation,
    }
}
