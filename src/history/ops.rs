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
    /// Add a message (nothing when its uid is already stored).
    Insert(InsertMessage),
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
        /// The reasoning (absent in older spools: left as stored).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reasoning: Option<String>,
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
    /// A message's marks: left out of requests, a summary.
    Flags {
        message: String,
        not_sent: bool,
        summary: bool,
    },
    /// A model's window, learned from an overflow error.
    Limit {
        model: String,
        tokens: u64,
        at: i64,
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

/// The message an `Op::Insert` adds. A newtype variant of an internally
/// tagged enum reads and writes the same JSON as the struct variant it
/// replaced (`{"op":"insert","conversation":…}`), so older spools still read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct InsertMessage {
    pub conversation: String,
    pub uid: String,
    pub parent: Option<String>,
    pub role: String,
    pub content: String,
    pub state: String,
    pub model: Option<String>,
    pub finish_reason: Option<String>,
    pub error: Option<String>,
    pub skipped: u32,
    pub at: i64,
    /// The reasoning (absent in older spools and for messages without).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
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

    /// Runs `f` on the row of message `uid`; nothing when it is not stored.
    fn on_message(
        &mut self,
        store: &mut Store,
        uid: &str,
        f: impl FnOnce(&mut Store, i64) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match self.message(store, uid)? {
            Some(id) => f(store, id),
            None => Ok(()),
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
fn apply(store: &mut Store, ids: &mut Ids, op: &Op) -> Result<(), StoreError> {
    match apply_inner(store, ids, op) {
        Err(StoreError::Invalid(why)) => {
            tracing::warn!(%why, "history operation skipped");
            Ok(())
        }
        Err(StoreError::NotFound(_)) => Ok(()),
        other => other,
    }
}

/// Applies `ops` in order as one transaction: all of them or none (then
/// `ids` is cleared, since rows it knows may be gone).
pub(crate) fn apply_all(store: &mut Store, ids: &mut Ids, ops: &[Op]) -> Result<(), StoreError> {
    let result = store.transaction(|s| {
        for op in ops {
            apply(s, ids, op)?;
        }
        Ok(())
    });
    if result.is_err() {
        ids.clear();
    }
    result
}

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
        Op::Insert(insert) => insert_message(store, ids, insert)?,
        Op::Chunk { message, seq, text } => {
            ids.on_message(store, message, |s, id| s.append_chunk(id, *seq, text))?;
        }
        Op::Finish {
            message,
            content,
            state: st,
            finish_reason,
            error,
            skipped,
            reasoning,
        } => {
            let finish = Finish {
                content: content.clone(),
                state: state(st),
                finish_reason: finish_reason.clone(),
                error: error.clone(),
                skipped: *skipped,
                reasoning: reasoning.clone(),
            };
            ids.on_message(store, message, |s, id| s.finish_message(id, &finish))?;
        }
        Op::Settle { message, state: st } => {
            ids.on_message(store, message, |s, id| s.settle(id, state(st)))?;
        }
        Op::Content { message, content } => {
            ids.on_message(store, message, |s, id| s.update_content(id, content))?;
        }
        Op::Parent { message, parent } => {
            if let Some(id) = ids.message(store, message)? {
                let parent = ids.parent(store, parent.as_ref())?;
                store.set_parent(id, parent)?;
            }
        }
        Op::Delete { message } => {
            ids.on_message(store, message, Store::delete_message)?;
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
        Op::Limit { model, tokens, at } => store.learn_limit(model, *tokens, *at)?,
        Op::Flags {
            message,
            not_sent,
            summary,
        } => {
            ids.on_message(store, message, |s, id| {
                s.set_message_flags(id, *not_sent, *summary)
            })?;
        }
        Op::Archive { uid, archived, at } => store.archive(uid, *archived, *at)?,
        Op::Request { message, row } => {
            let mut row = row.clone();
            row.message_id = ids.parent(store, message.as_ref())?;
            store.record_request(&row)?;
        }
    }
    Ok(())
}

/// Adds the message, and its conversation row first when there is none
/// (its `Op::Conversation` may have been skipped or spooled apart).
fn insert_message(store: &mut Store, ids: &mut Ids, m: &InsertMessage) -> Result<(), StoreError> {
    let conv = match ids.conversation(store, &m.conversation)? {
        Some(id) => id,
        None => {
            store
                .ensure_conversation(&m.conversation, None, None, m.at)?
                .id
        }
    };
    let message = NewMessage {
        uid: Some(m.uid.clone()),
        parent: ids.parent(store, m.parent.as_ref())?,
        role: StoredRole::parse(&m.role).unwrap_or(StoredRole::User),
        content: m.content.clone(),
        state: state(&m.state),
        model: m.model.clone(),
        finish_reason: m.finish_reason.clone(),
        error: m.error.clone(),
        skipped: m.skipped,
        created_at_ms: m.at,
        reasoning: m.reasoning.clone(),
    };
    let id = store.insert_message(conv, &message)?;
    ids.messages.insert(m.uid.clone(), id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spool files written by earlier versions must still read: the JSON
    /// of an operation is a format, not an implementation detail.
    #[test]
    fn an_insert_keeps_its_spool_format() {
        let line = r#"{"op":"insert","conversation":"c1","uid":"m2","parent":"m1","role":"assistant","content":"hi","state":"streaming","model":"gpt-4o","finish_reason":null,"error":null,"skipped":0,"at":1000}"#;
        let op: Op = serde_json::from_str(line).unwrap();
        assert_eq!(serde_json::to_string(&op).unwrap(), line);
        let Op::Insert(m) = &op else {
            panic!("{op:?}");
        };
        assert_eq!((m.uid.as_str(), m.parent.as_deref()), ("m2", Some("m1")));
    }
}
