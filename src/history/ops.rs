//! The writer's operations: what `History` sends to its thread and what a
//! spool file holds, one JSON object per line.
//!
//! Invariant: an operation names rows only by their public uids, never by
//! row id, so it means the same thing in any process and can be replayed
//! from a spool after a restart; replaying one twice is harmless (inserts
//! of a known uid are no-ops, updates set values).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::store::{Finish, LedgerRow, MessageState, NewMessage, Store, StoreError, StoredRole};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Op {
    /// Create the conversation row if it does not exist.
    Conversation {
        uid: String,
        model: Option<String>,
        base_url: Option<String>,
        at: i64,
    },
    Insert {
        conversation: String,
        uid: String,
        parent: Option<String>,
        role: String,
        content: String,
        state: String,
        model: Option<String>,
        finish_reason: Option<String>,
        error: Option<String>,
        skipped: u32,
        at: i64,
    },
    /// Text that arrived for a streaming answer since the last one.
    Chunk {
        message: String,
        seq: i64,
        text: String,
    },
    Finish {
        message: String,
        content: String,
        state: String,
        finish_reason: Option<String>,
        error: Option<String>,
        skipped: u32,
    },
    /// Settle a streaming answer from its journal (it left the screen
    /// before its end was seen).
    Settle {
        message: String,
        state: String,
    },
    Content {
        message: String,
        content: String,
    },
    Parent {
        message: String,
        parent: Option<String>,
    },
    Delete {
        message: String,
    },
    Head {
        conversation: String,
        head: Option<String>,
        at: i64,
    },
    DeleteConversation {
        uid: String,
    },
    Rename {
        uid: String,
        title: Option<String>,
    },
    Archive {
        uid: String,
        archived: bool,
        at: i64,
    },
    Request {
        message: Option<String>,
        row: LedgerRow,
    },
}

/// Row ids by uid, for the writer's connection. Cleared whenever a
/// transaction rolls back (its rows may be gone).
#[derive(Debug, Default)]
pub(crate) struct Ids {
    conversations: HashMap<String, i64>,
    messages: HashMap<String, i64>,
}

impl Ids {
    pub(crate) fn clear(&mut self) {
        self.conversations.clear();
        self.messages.clear();
    }

    fn conversation(&mut self, store: &Store, uid: &str) -> Result<Option<i64>, StoreError> {
        if let Some(id) = self.conversations.get(uid) {
            return Ok(Some(*id));
        }
        let id = store.conversation_id(uid)?;
        if let Some(id) = id {
            self.conversations.insert(uid.to_string(), id);
        }
        Ok(id)
    }

    fn message(&mut self, store: &Store, uid: &str) -> Result<Option<i64>, StoreError> {
        if let Some(id) = self.messages.get(uid) {
            return Ok(Some(*id));
        }
        let id = store.message_id(uid)?;
        if let Some(id) = id {
            self.messages.insert(uid.to_string(), id);
        }
        Ok(id)
    }

    fn parent(&mut self, store: &Store, uid: Option<&String>) -> Result<Option<i64>, StoreError> {
        match uid {
            Some(uid) => self.message(store, uid),
            None => Ok(None),
        }
    }
}

fn state(text: &str) -> MessageState {
    MessageState::parse(text).unwrap_or(MessageState::Interrupted)
}

/// Applies one operation. A row that no longer exists makes it a no-op
/// (`Ok`), and so does a tree change the store refuses; only the store's
/// own failures are errors.
///
/// Why a refused tree change is skipped, not returned: operations are
/// replayed, from this process's spool or another's, into a file another
/// kaiwa may have changed meanwhile (a message deleted or moved, a
/// conversation deleted), so a parent or head can name a message that is
/// no longer where the operation expects it. The store has already refused
/// it (its savepoint rolled back: the tree stays sound), and it will be
/// refused on every retry. Returning it would roll back the whole batch:
/// the writer would retry op by op and lose it anyway, a spool merge would
/// turn history off for the session, and a spool file left by a gone kaiwa
/// would never merge (replay stops at the first file that fails), holding
/// back every file after it. So it is logged and skipped, like an
/// operation on a deleted row.
pub(crate) fn apply(store: &mut Store, ids: &mut Ids, op: &Op) -> Result<(), StoreError> {
    match apply_inner(store, ids, op) {
        Err(StoreError::Invalid(why)) => {
            tracing::warn!(%why, "history operation skipped");
            Ok(())
        }
        Err(StoreError::NotFound(_)) => Ok(()),
        other => other,
    }
}

#[allow(clippy::too_many_lines, reason = "one flat match over every operation")]
fn apply_inner(store: &mut Store, ids: &mut Ids, op: &Op) -> Result<(), StoreError> {
    match op {
        Op::Conversation {
            uid,
            model,
            base_url,
            at,
        } => {
            let row = store.ensure_conversation(uid, model.as_deref(), base_url.as_deref(), *at)?;
            ids.conversations.insert(uid.clone(), row.id);
        }
        Op::Insert {
            conversation,
            uid,
            parent,
            role,
            content,
            state: st,
            model,
            finish_reason,
            error,
            skipped,
            at,
        } => {
            let conv = match ids.conversation(store, conversation)? {
                Some(id) => id,
                None => store.ensure_conversation(conversation, None, None, *at)?.id,
            };
            let parent = ids.parent(store, parent.as_ref())?;
            let id = store.insert_message(
                conv,
                &NewMessage {
                    uid: Some(uid.clone()),
                    parent,
                    role: StoredRole::parse(role).unwrap_or(StoredRole::User),
                    content: content.clone(),
                    state: state(st),
                    model: model.clone(),
                    finish_reason: finish_reason.clone(),
                    error: error.clone(),
                    skipped: *skipped,
                    created_at_ms: *at,
                },
            )?;
            ids.messages.insert(uid.clone(), id);
        }
        Op::Chunk { message, seq, text } => {
            if let Some(id) = ids.message(store, message)? {
                store.append_chunk(id, *seq, text)?;
            }
        }
        Op::Finish {
            message,
            content,
            state: st,
            finish_reason,
            error,
            skipped,
        } => {
            if let Some(id) = ids.message(store, message)? {
                store.finish_message(
                    id,
                    &Finish {
                        content: content.clone(),
                        state: state(st),
                        finish_reason: finish_reason.clone(),
                        error: error.clone(),
                        skipped: *skipped,
                    },
                )?;
            }
        }
        Op::Settle { message, state: st } => {
            if let Some(id) = ids.message(store, message)? {
                store.settle(id, state(st))?;
            }
        }
        Op::Content { message, content } => {
            if let Some(id) = ids.message(store, message)? {
                store.update_content(id, content)?;
            }
        }
        Op::Parent { message, parent } => {
            if let Some(id) = ids.message(store, message)? {
                let parent = ids.parent(store, parent.as_ref())?;
                store.set_parent(id, parent)?;
            }
        }
        Op::Delete { message } => {
            if let Some(id) = ids.message(store, message)? {
                store.delete_message(id)?;
            }
            ids.messages.remove(message);
        }
        Op::Head {
            conversation,
            head,
            at,
        } => {
            if let Some(conv) = ids.conversation(store, conversation)? {
                let head = ids.parent(store, head.as_ref())?;
                store.set_head(conv, head, *at)?;
            }
        }
        Op::DeleteConversation { uid } => {
            store.delete_conversation(uid)?;
            ids.clear();
        }
        Op::Rename { uid, title } => store.rename(uid, title.as_deref())?,
        Op::Archive { uid, archived, at } => store.archive(uid, *archived, *at)?,
        Op::Request { message, row } => {
            let mut row = row.clone();
            row.message_id = ids.parent(store, message.as_ref())?;
            store.record_request(&row)?;
        }
    }
    Ok(())
}
