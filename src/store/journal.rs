//! The stream journal: an answer's text while it arrives (appended as
//! chunks), finishing it, and settling the answers of a kaiwa that died
//! while they streamed.
//!
//! Invariants: a streaming answer's text is its `content` plus its chunks
//! in `seq` order; finishing or recovering it folds the chunks into
//! `content` and drops them in the same transaction; an answer still
//! arriving in a live kaiwa (its writer's lock is held, `owner.rs`) is
//! never settled by another.

use rusqlite::{Connection, params};

use super::write::touch_by_message;
use super::{Finish, MessageState, Store, StoreError};

impl Store {
    /// Journals `text` as piece `seq` of the streaming answer `message`.
    pub fn append_chunk(&mut self, message: i64, seq: i64, text: &str) -> Result<(), StoreError> {
        self.atomic(|conn| {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO stream_chunks (message_id, seq, text) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![message, seq, text])?;
            Ok(())
        })
    }

    /// Settles an answer: its whole text and how it ended; its chunks go.
    pub fn finish_message(&mut self, message: i64, finish: &Finish) -> Result<(), StoreError> {
        self.atomic(|conn| {
            let changed = conn.execute(
                "UPDATE messages SET content = ?2, state = ?3, finish_reason = ?4, error = ?5,
                 skipped = ?6, reasoning = coalesce(?7, reasoning) WHERE id = ?1",
                params![
                    message,
                    finish.content,
                    finish.state.as_str(),
                    finish.finish_reason,
                    finish.error,
                    finish.skipped,
                    finish.reasoning,
                ],
            )?;
            conn.execute("DELETE FROM stream_chunks WHERE message_id = ?1", [message])?;
            if changed > 0 {
                touch_by_message(conn, message, super::now_ms())?;
            }
            Ok(())
        })
    }

    /// At startup (and before the CLI reads): every answer still marked
    /// `streaming` whose writer is gone (kaiwa died while it arrived) gets
    /// the text that was journalled and becomes `interrupted`; answers
    /// still arriving in a live kaiwa are left alone. Returns how many were
    /// settled.
    pub fn recover_interrupted(&mut self) -> Result<usize, StoreError> {
        // Usually there is nothing to do: find out without a write lock.
        let pending: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE state = 'streaming')
                 OR EXISTS (SELECT 1 FROM stream_chunks)",
            [],
            |row| row.get(0),
        )?;
        if !pending {
            if let Some(db) = &self.path {
                super::owner::sweep(db, self.claim.as_ref().map(|c| c.token.as_str()));
            }
            return Ok(0);
        }
        let own = self.claim.as_ref().map(|c| c.token.clone());
        let path = self.path.clone();
        let live = |meta: Option<&str>| -> bool {
            let token = meta
                .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
                .and_then(|v| v.get("writer").and_then(|w| w.as_str()).map(str::to_string));
            match (&path, token) {
                (Some(db), Some(token)) => super::owner::is_alive(db, &token, own.as_deref()),
                _ => false,
            }
        };
        let settled = self.atomic(|conn| {
            let rows: Vec<(i64, Option<String>)> = conn
                .prepare("SELECT id, meta_json FROM messages WHERE state = 'streaming'")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut settled = 0;
            for (id, meta) in &rows {
                if !live(meta.as_deref()) {
                    fold_chunks(conn, *id, MessageState::Interrupted)?;
                    settled += 1;
                }
            }
            // A safety net: chunks left on a settled answer (journalled by
            // a writer after someone else settled it) are folded in too.
            let leftovers: Vec<(i64, String)> = conn
                .prepare(
                    "SELECT DISTINCT m.id, m.state FROM stream_chunks c
                     JOIN messages m ON m.id = c.message_id WHERE m.state <> 'streaming'",
                )?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?;
            for (id, state) in leftovers {
                if state == MessageState::Interrupted.as_str() {
                    conn.execute(
                        "UPDATE messages SET content = content || coalesce((SELECT
                           group_concat(text, '') FROM (SELECT text FROM stream_chunks
                           WHERE message_id = ?1 ORDER BY seq)), '') WHERE id = ?1",
                        [id],
                    )?;
                }
                conn.execute("DELETE FROM stream_chunks WHERE message_id = ?1", [id])?;
            }
            Ok(settled)
        })?;
        if let Some(db) = &self.path {
            super::owner::sweep(db, self.claim.as_ref().map(|c| c.token.as_str()));
        }
        Ok(settled)
    }

    /// Settles one streaming answer from what was journalled (its content
    /// plus its chunks) as `state`; a settled answer is left alone.
    pub fn settle(&mut self, message: i64, state: MessageState) -> Result<(), StoreError> {
        self.atomic(|conn| fold_chunks(conn, message, state))
    }
}

/// `content || chunks`, the given state, chunks dropped; only while streaming.
fn fold_chunks(conn: &Connection, message: i64, state: MessageState) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE messages SET state = ?2,
         content = content || coalesce((SELECT group_concat(text, '') FROM
           (SELECT text FROM stream_chunks WHERE message_id = ?1 ORDER BY seq)), '')
         WHERE id = ?1 AND state = 'streaming'",
        params![message, state.as_str()],
    )?;
    conn.execute("DELETE FROM stream_chunks WHERE message_id = ?1", [message])?;
    Ok(())
}
