//! Reopening a saved conversation: loading it (through the writer, so it
//! reads what was sent before) and rebuilding it in memory.
//!
//! Invariants: a rebuilt conversation's message ids lie above every id the
//! tracker has seen, so nothing of an earlier conversation is confused with
//! it; tool output is left out (its children hang on its parent); the
//! saved head's path becomes the current path.

use std::collections::HashMap;
use std::sync::mpsc;

use super::History;
use super::writer::Cmd;
use crate::api::types::Role;
use crate::chat::conversation::{Conversation, Message, MessageId, MessageStatus};
use crate::store::{LoadedConversation, MessageState, StoreError, StoredRole};

/// A conversation reopened from the file.
#[derive(Debug, Clone)]
pub struct Resumed {
    pub conversation: Conversation,
    pub uid: String,
    pub title: Option<String>,
    /// The model it was last held with.
    pub model: Option<String>,
    pub base_url: Option<String>,
}

impl History {
    /// Loads conversation `uid` (every branch, the head path current) and
    /// makes it the one being saved. Blocks until the writer answers (it
    /// answers after committing what was sent before). Sync the current
    /// conversation first: answers still streaming in it are settled as
    /// stopped.
    pub fn resume(&mut self, uid: &str) -> Result<Resumed, StoreError> {
        let Some(inner) = &self.inner else {
            return Err(StoreError::HistoryOff);
        };
        let (reply, answer) = mpsc::channel();
        inner
            .tx
            .send(Cmd::Load {
                uid: uid.to_string(),
                reply,
            })
            .map_err(|_| StoreError::WriterStopped)?;
        let loaded = answer.recv().map_err(|_| StoreError::WriterStopped)??;
        Ok(self.adopt(&loaded))
    }

    /// Like `resume`, for a conversation loaded elsewhere (with `reader()`
    /// off the UI thread): rebuilds it in memory, with ids above every id
    /// seen so far, and makes it the one being saved. Cheap.
    pub fn adopt(&mut self, loaded: &LoadedConversation) -> Resumed {
        let floor = self.tracker.max_seen();
        let (conversation, uids) = rebuild(loaded, floor);
        let ops = self
            .tracker
            .seed(&loaded.summary.uid, &conversation, &uids, floor);
        self.send(ops);
        Resumed {
            conversation,
            uid: loaded.summary.uid.clone(),
            title: loaded.summary.title.clone(),
            model: loaded.summary.model.clone(),
            base_url: loaded.base_url.clone(),
        }
    }
}

/// The in-memory conversation for a loaded one: message ids above `floor`
/// (parents first), tool output left out (its children hang on its
/// parent), and each message's saved uid.
fn rebuild(loaded: &LoadedConversation, floor: u64) -> (Conversation, HashMap<MessageId, String>) {
    let mut scratch = Conversation::default();
    let template_id = scratch.push(Role::User, String::new(), MessageStatus::Complete);
    let template: Option<Message> = scratch.get(template_id).cloned();
    let mut ids: HashMap<i64, Option<MessageId>> = HashMap::new();
    let mut uids = HashMap::new();
    let mut messages = Vec::new();
    let mut next = floor;
    for m in &loaded.messages {
        let parent = m.parent.and_then(|p| ids.get(&p).copied().flatten());
        let role = match m.role {
            StoredRole::System => Role::System,
            StoredRole::User => Role::User,
            StoredRole::Assistant => Role::Assistant,
            StoredRole::Tool => {
                ids.insert(m.id, parent);
                continue;
            }
        };
        let Some(template) = template.clone() else {
            break;
        };
        next += 1;
        let id = MessageId(next);
        ids.insert(m.id, Some(id));
        uids.insert(id, m.uid.clone());
        let status = match m.state {
            MessageState::Done => MessageStatus::Complete,
            MessageState::Stopped => MessageStatus::Stopped,
            MessageState::Streaming | MessageState::Interrupted | MessageState::Error => {
                MessageStatus::Interrupted
            }
        };
        messages.push(Message {
            id,
            parent,
            role,
            content: m.content.clone(),
            status,
            rev: 0,
            model: m.model.clone(),
            error: m.error.clone(),
            skipped: m.skipped,
            finish_reason: m.finish_reason.clone(),
            reasoning: m.reasoning.clone().unwrap_or_default(),
            reasoning_tokens: m.reasoning_tokens,
            not_sent: m.not_sent,
            summary: m.summary,
            ..template
        });
    }
    let head = loaded
        .path()
        .last()
        .and_then(|h| ids.get(&h.id).copied().flatten());
    (Conversation::from_saved(messages, head), uids)
}
