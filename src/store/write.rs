//! Writes of the tree: conversations, messages (insert, edit, re-parent,
//! delete), the head pointer, titles, archive, delete. The stream journal
//! and crash recovery are `journal.rs`; the usage ledger is `usage.rs`.
//!
//! Invariants: each method is atomic (its own IMMEDIATE transaction, or a
//! savepoint inside `Store::transaction`); inserting a uid that exists is a
//! no-op returning the existing row, so replaying a spool is harmless; no
//! message is ever left pointing at a parent in another conversation, or
//! below itself.

use rusqlite::{Connection, OptionalExtension, params};

use super::uid::new_uid;
use super::{ConversationRow, MessageState, NewMessage, Store, StoreError, StoredRole, TreeError};

/// The first line of a question, at most 120 characters: the list's preview.
pub(crate) fn preview_of(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    match crate::text::wrap::first_chars(line, 120) {
        // Longer: 119 characters and the ellipsis, 120 in all.
        (kept, true) => format!("{}…", crate::text::wrap::first_chars(kept, 119).0),
        (kept, false) => kept.to_string(),
    }
}

impl Store {
    /// A new, empty conversation.
    pub fn create_conversation(
        &mut self,
        model: &str,
        base_url: &str,
        now_ms: i64,
    ) -> Result<ConversationRow, StoreError> {
        let uid = new_uid(now_ms);
        self.ensure_conversation(&uid, Some(model), Some(base_url), now_ms)
    }

    /// The conversation `uid`, created (empty) if it does not exist.
    pub fn ensure_conversation(
        &mut self,
        uid: &str,
        model: Option<&str>,
        base_url: Option<&str>,
        now_ms: i64,
    ) -> Result<ConversationRow, StoreError> {
        self.atomic(|conn| {
            conn.execute(
                "INSERT INTO conversations (uid, model, base_url, created_at, last_active_at)
                 VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT(uid) DO NOTHING",
                params![uid, model, base_url, now_ms],
            )?;
            let id = conn.query_row(
                "SELECT id FROM conversations WHERE uid = ?1",
                [uid],
                |row| row.get(0),
            )?;
            Ok(ConversationRow {
                id,
                uid: uid.to_string(),
            })
        })
    }

    /// Row id of the conversation `uid`.
    pub fn conversation_id(&self, uid: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM conversations WHERE uid = ?1",
                [uid],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Row id of the message `uid`.
    pub fn message_id(&self, uid: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT id FROM messages WHERE uid = ?1", [uid], |row| {
                row.get(0)
            })
            .optional()?)
    }

    /// Adds a message to conversation `conv`; returns its row id. Bumps the
    /// conversation's `last_active_at` and sets its preview from the first
    /// question.
    pub fn insert_message(&mut self, conv: i64, m: &NewMessage) -> Result<i64, StoreError> {
        let writer = self.claim.as_ref().map(|c| c.token.clone());
        self.atomic(|conn| insert_message(conn, conv, m, writer.as_deref()))
    }

    /// Changes a message's text in place (an edited system or assistant message).
    pub fn update_content(&mut self, message: i64, content: &str) -> Result<(), StoreError> {
        self.atomic(|conn| {
            conn.execute(
                "UPDATE messages SET content = ?2 WHERE id = ?1",
                params![message, content],
            )?;
            Ok(())
        })
    }

    /// Moves `message` under `parent` (None: a root). The parent must be in
    /// the same conversation and not below the message.
    pub fn set_parent(&mut self, message: i64, parent: Option<i64>) -> Result<(), StoreError> {
        self.atomic(|conn| {
            if let Some(parent) = parent {
                check_parent(conn, message, parent)?;
            }
            conn.execute(
                "UPDATE messages SET parent_id = ?2 WHERE id = ?1",
                params![message, parent],
            )?;
            Ok(())
        })
    }

    /// Deletes one message; its children move up to its parent (and the head
    /// too, if it was the head). Its ledger rows stay, unlinked.
    pub fn delete_message(&mut self, message: i64) -> Result<(), StoreError> {
        self.atomic(|conn| {
            let Some((conv, parent)) = conn
                .query_row(
                    "SELECT conversation_id, parent_id FROM messages WHERE id = ?1",
                    [message],
                    |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Option<i64>>(1)?)),
                )
                .optional()?
            else {
                return Ok(());
            };
            conn.execute(
                "UPDATE messages SET parent_id = ?2 WHERE parent_id = ?1",
                params![message, parent],
            )?;
            conn.execute(
                "UPDATE conversations SET head_id = ?3 WHERE id = ?1 AND head_id = ?2",
                params![conv, message, parent],
            )?;
            conn.execute("DELETE FROM messages WHERE id = ?1", [message])?;
            Ok(())
        })
    }

    /// Points the conversation's current path at `head` and marks it active.
    pub fn set_head(
        &mut self,
        conv: i64,
        head: Option<i64>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.atomic(|conn| {
            if let Some(head) = head {
                let owner: Option<i64> = conn
                    .query_row(
                        "SELECT conversation_id FROM messages WHERE id = ?1",
                        [head],
                        |row| row.get(0),
                    )
                    .optional()?;
                if owner != Some(conv) {
                    return Err(TreeError::HeadElsewhere {
                        head,
                        conversation: conv,
                    }
                    .into());
                }
            }
            conn.execute(
                "UPDATE conversations SET head_id = ?2,
                 last_active_at = max(last_active_at, ?3) WHERE id = ?1",
                params![conv, head, now_ms],
            )?;
            Ok(())
        })
    }

    /// Sets (or with None clears) a conversation's title.
    pub fn rename(&mut self, uid: &str, title: Option<&str>) -> Result<(), StoreError> {
        let title = title.map(str::trim).filter(|t| !t.is_empty());
        self.atomic(|conn| {
            let n = conn.execute(
                "UPDATE conversations SET title = ?2 WHERE uid = ?1",
                params![uid, title],
            )?;
            found(n, uid)
        })
    }

    /// Archives (hides from the default list) or restores a conversation.
    pub fn archive(&mut self, uid: &str, archived: bool, now_ms: i64) -> Result<(), StoreError> {
        self.atomic(|conn| {
            let n = conn.execute(
                "UPDATE conversations SET archived_at = CASE WHEN ?2 THEN ?3 END WHERE uid = ?1",
                params![uid, archived, now_ms],
            )?;
            found(n, uid)
        })
    }

    /// Really deletes a conversation: its messages, their search entries and
    /// stream chunks go (SQLite's and FTS5's secure-delete overwrite them);
    /// its ledger rows stay, unlinked.
    pub fn delete_conversation(&mut self, uid: &str) -> Result<(), StoreError> {
        self.atomic(|conn| {
            let Some(conv) = conn
                .query_row(
                    "SELECT id FROM conversations WHERE uid = ?1",
                    [uid],
                    |row| row.get::<_, i64>(0),
                )
                .optional()?
            else {
                return Err(StoreError::NotFound(uid.to_string()));
            };
            conn.execute(
                "UPDATE conversations SET head_id = NULL WHERE id = ?1",
                [conv],
            )?;
            // Children first is not needed (parent_id cascades), but one
            // statement over the conversation keeps the triggers simple.
            conn.execute("DELETE FROM messages WHERE conversation_id = ?1", [conv])?;
            conn.execute("DELETE FROM conversations WHERE id = ?1", [conv])?;
            Ok(())
        })
    }
}

fn found(changed: usize, uid: &str) -> Result<(), StoreError> {
    if changed == 0 {
        Err(StoreError::NotFound(uid.to_string()))
    } else {
        Ok(())
    }
}

/// Inserts `m`; a streaming answer records `writer` (see `owner`).
pub(crate) fn insert_message(
    conn: &Connection,
    conversation: i64,
    m: &NewMessage,
    writer: Option<&str>,
) -> Result<i64, StoreError> {
    if let Some(uid) = &m.uid {
        let existing: Option<i64> = conn
            .query_row("SELECT id FROM messages WHERE uid = ?1", [uid], |row| {
                row.get(0)
            })
            .optional()?;
        if let Some(id) = existing {
            return Ok(id);
        }
    }
    if let Some(parent) = m.parent {
        let owner: Option<i64> = conn
            .query_row(
                "SELECT conversation_id FROM messages WHERE id = ?1",
                [parent],
                |row| row.get(0),
            )
            .optional()?;
        if owner != Some(conversation) {
            return Err(TreeError::ParentElsewhere {
                parent,
                conversation,
            }
            .into());
        }
    }
    let uid = m.uid.clone().unwrap_or_else(|| new_uid(m.created_at_ms));
    let meta = writer
        .filter(|_| m.state == MessageState::Streaming)
        .map(|token| serde_json::json!({ "writer": token }).to_string());
    conn.execute(
        "INSERT INTO messages (uid, conversation_id, parent_id, role, content, state, model,
         finish_reason, error, skipped, created_at, meta_json, reasoning)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            uid,
            conversation,
            m.parent,
            m.role.as_str(),
            m.content,
            m.state.as_str(),
            m.model,
            m.finish_reason,
            m.error,
            m.skipped,
            m.created_at_ms,
            meta,
            m.reasoning,
        ],
    )?;
    let id = conn.last_insert_rowid();
    if m.role == StoredRole::User {
        conn.execute(
            "UPDATE conversations SET preview = ?2 WHERE id = ?1 AND preview = ''",
            params![conversation, preview_of(&m.content)],
        )?;
    }
    conn.execute(
        "UPDATE conversations SET last_active_at = max(last_active_at, ?2) WHERE id = ?1",
        params![conversation, m.created_at_ms],
    )?;
    Ok(id)
}

pub(super) fn touch_by_message(
    conn: &Connection,
    message: i64,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE conversations SET last_active_at = max(last_active_at, ?2)
         WHERE id = (SELECT conversation_id FROM messages WHERE id = ?1)",
        params![message, now_ms],
    )?;
    Ok(())
}

/// `parent` must exist in `message`'s conversation and not be `message` or
/// below it.
fn check_parent(conn: &Connection, message: i64, parent: i64) -> Result<(), StoreError> {
    let same: Option<bool> = conn
        .query_row(
            "SELECT a.conversation_id = b.conversation_id FROM messages a, messages b
             WHERE a.id = ?1 AND b.id = ?2",
            params![message, parent],
            |row| row.get(0),
        )
        .optional()?;
    if same != Some(true) {
        return Err(TreeError::NotAParent { parent, message }.into());
    }
    let cycle: bool = conn.query_row(
        "WITH RECURSIVE up(id) AS (SELECT ?2 UNION SELECT m.parent_id FROM messages m, up
           WHERE m.id = up.id AND m.parent_id IS NOT NULL)
         SELECT EXISTS (SELECT 1 FROM up WHERE id = ?1)",
        params![message, parent],
        |row| row.get(0),
    )?;
    if cycle {
        return Err(TreeError::ParentBelow { parent, message }.into());
    }
    Ok(())
}
