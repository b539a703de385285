//! Reads: the paginated list, resolving a user's `ID`, the most recently
//! active conversation, and loading one whole tree. Search is `search.rs`.
//!
//! Invariants: the list is keyset-paginated on `(last_active_at, id)` so any
//! page costs the same; a loaded tree lists parents before children, and a
//! message whose parent is missing (or in a cycle) is kept as a root.

use std::collections::{HashMap, HashSet, VecDeque};

use rusqlite::{OptionalExtension, Row, params};

use super::{
    ConversationSummary, LoadedConversation, MessageState, Resolved, Store, StoreError,
    StoredMessage, StoredRole,
};

/// The columns `summary` reads, in order (10 of them).
pub(crate) const SUMMARY: &str = "c.id, c.uid, c.title, c.preview, c.model, c.created_at, \
     c.last_active_at, \
     strftime('%Y-%m-%d %H:%M', c.last_active_at / 1000, 'unixepoch', 'localtime'), \
     c.archived_at IS NOT NULL, \
     (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)";
const SUMMARY_COLUMNS: usize = 10;

pub(crate) fn summary(row: &Row<'_>) -> rusqlite::Result<ConversationSummary> {
    Ok(ConversationSummary {
        id: row.get(0)?,
        uid: row.get(1)?,
        title: row.get(2)?,
        preview: row.get(3)?,
        model: row.get(4)?,
        created_at_ms: row.get(5)?,
        last_active_at_ms: row.get(6)?,
        last_active_local: row.get::<_, Option<String>>(7)?.unwrap_or_default(),
        archived: row.get(8)?,
        message_count: row.get::<_, i64>(9)?.try_into().unwrap_or(0),
    })
}

impl Store {
    /// One page of conversations, most recently active first: archived ones
    /// or the others. `before` is the previous page's last `cursor()`.
    pub fn list(
        &self,
        archived: bool,
        limit: usize,
        before: Option<(i64, i64)>,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = if let Some((at, id)) = before {
            let sql = format!(
                "SELECT {SUMMARY} FROM conversations c
                 WHERE (c.archived_at IS NOT NULL) = ?1 AND (c.last_active_at, c.id) < (?2, ?3)
                 ORDER BY c.last_active_at DESC, c.id DESC LIMIT ?4"
            );
            let mut stmt = self.conn.prepare_cached(&sql)?;
            stmt.query_map(params![archived, at, id, limit], summary)?
                .collect::<Result<Vec<_>, _>>()?
        } else {
            let sql = format!(
                "SELECT {SUMMARY} FROM conversations c
                 WHERE (c.archived_at IS NOT NULL) = ?1
                 ORDER BY c.last_active_at DESC, c.id DESC LIMIT ?2"
            );
            let mut stmt = self.conn.prepare_cached(&sql)?;
            stmt.query_map(params![archived, limit], summary)?
                .collect::<Result<Vec<_>, _>>()?
        };
        Ok(rows)
    }

    /// Every conversation's uid, oldest first (archived ones too).
    pub fn uids(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT uid FROM conversations ORDER BY created_at, id")?;
        let rows = stmt.query_map([], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The summary of conversation `uid`.
    pub fn summary(&self, uid: &str) -> Result<Option<ConversationSummary>, StoreError> {
        let sql = format!("SELECT {SUMMARY} FROM conversations c WHERE c.uid = ?1");
        Ok(self.conn.query_row(&sql, [uid], summary).optional()?)
    }

    /// The most recently *active* conversation that is not archived.
    pub fn most_recent(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT uid FROM conversations c WHERE (c.archived_at IS NOT NULL) = 0
                 ORDER BY c.last_active_at DESC, c.id DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// What the user meant by `text`: a uid, a unique uid prefix of at least
    /// 4 characters, or an exact title.
    pub fn resolve(&self, text: &str) -> Result<Resolved, StoreError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Resolved::NotFound);
        }
        let lower = text.to_ascii_lowercase();
        if let Some(found) = self.summary(&lower)? {
            return Ok(Resolved::Found(found));
        }
        let mut found: Vec<ConversationSummary> = Vec::new();
        if text.chars().count() >= 4 && text.is_ascii() {
            let sql = format!(
                "SELECT {SUMMARY} FROM conversations c WHERE c.uid >= ?1 AND c.uid < ?1 || '~'"
            );
            let mut stmt = self.conn.prepare(&sql)?;
            found.extend(
                stmt.query_map([&lower], summary)?
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        let sql = format!("SELECT {SUMMARY} FROM conversations c WHERE c.title = ?1");
        let mut stmt = self.conn.prepare(&sql)?;
        for s in stmt.query_map([text], summary)? {
            let s = s?;
            if !found.iter().any(|f| f.id == s.id) {
                found.push(s);
            }
        }
        found.sort_by_key(|s| std::cmp::Reverse(s.cursor()));
        Ok(match found.len() {
            0 => Resolved::NotFound,
            1 => found.pop().map_or(Resolved::NotFound, Resolved::Found),
            _ => Resolved::Ambiguous(found),
        })
    }

    /// A whole conversation: every message (parents first) and the head.
    pub fn load(&self, uid: &str) -> Result<LoadedConversation, StoreError> {
        let sql = format!(
            "SELECT {SUMMARY}, c.base_url, c.source, c.source_id, c.head_id
             FROM conversations c WHERE c.uid = ?1"
        );
        let found = self
            .conn
            .query_row(&sql, [uid], |row| {
                Ok((
                    summary(row)?,
                    row.get::<_, Option<String>>(SUMMARY_COLUMNS)?,
                    row.get::<_, String>(SUMMARY_COLUMNS + 1)?,
                    row.get::<_, Option<String>>(SUMMARY_COLUMNS + 2)?,
                    row.get::<_, Option<i64>>(SUMMARY_COLUMNS + 3)?,
                ))
            })
            .optional()?;
        let Some((summary, base_url, source, source_id, head)) = found else {
            return Err(StoreError::NotFound(uid.to_string()));
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, uid, parent_id, role, content, state, model, finish_reason, error,
             skipped, created_at, reasoning,
             (SELECT r.reasoning_tokens FROM requests r WHERE r.message_id = messages.id
              ORDER BY r.id DESC LIMIT 1),
             coalesce(json_extract(meta_json, '$.not_sent'), 0),
             coalesce(json_extract(meta_json, '$.summary'), 0)
             FROM messages WHERE conversation_id = ?1 ORDER BY id",
        )?;
        let messages = stmt
            .query_map([summary.id], |row| {
                let role: String = row.get(3)?;
                let state: String = row.get(5)?;
                Ok(StoredMessage {
                    id: row.get(0)?,
                    uid: row.get(1)?,
                    parent: row.get(2)?,
                    role: StoredRole::parse(&role).unwrap_or(StoredRole::Tool),
                    content: row.get(4)?,
                    state: MessageState::parse(&state).unwrap_or(MessageState::Interrupted),
                    model: row.get(6)?,
                    finish_reason: row.get(7)?,
                    error: row.get(8)?,
                    skipped: row.get::<_, i64>(9)?.try_into().unwrap_or(0),
                    created_at_ms: row.get(10)?,
                    reasoning: row.get(11)?,
                    reasoning_tokens: row
                        .get::<_, Option<i64>>(12)?
                        .and_then(|n| u64::try_from(n).ok()),
                    not_sent: row.get::<_, i64>(13).unwrap_or(0) != 0,
                    summary: row.get::<_, i64>(14).unwrap_or(0) != 0,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LoadedConversation {
            summary,
            base_url,
            source,
            source_id,
            head,
            messages: parents_first(messages),
        })
    }
}

/// Orders a conversation's messages parents first, depth-first from the
/// roots (a thread reads top to bottom), siblings by id. A message whose
/// parent is missing counts as a root, so nothing is ever dropped.
fn parents_first(messages: Vec<StoredMessage>) -> Vec<StoredMessage> {
    let ids: HashSet<i64> = messages.iter().map(|m| m.id).collect();
    let mut children: HashMap<Option<i64>, Vec<usize>> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        let parent = m.parent.filter(|p| ids.contains(p) && *p != m.id);
        children.entry(parent).or_default().push(i);
    }
    let mut order: Vec<usize> = Vec::with_capacity(messages.len());
    let mut placed = vec![false; messages.len()];
    let mut roots: VecDeque<usize> = children.get(&None).cloned().unwrap_or_default().into();
    loop {
        while let Some(root) = roots.pop_front() {
            // Depth-first: a stack holding children in reverse id order.
            let mut stack = vec![root];
            while let Some(i) = stack.pop() {
                if placed.get(i).copied().unwrap_or(true) {
                    continue;
                }
                if let Some(p) = placed.get_mut(i) {
                    *p = true;
                }
                order.push(i);
                if let Some(m) = messages.get(i)
                    && let Some(kids) = children.get(&Some(m.id))
                {
                    stack.extend(kids.iter().rev().copied());
                }
            }
        }
        // Anything unplaced sits in a cycle: break it at its oldest message.
        match placed.iter().position(|p| !p) {
            Some(i) => roots.push_back(i),
            None => break,
        }
    }
    let mut slots: Vec<Option<StoredMessage>> = messages.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(slots.len());
    let mut seen: HashSet<i64> = HashSet::new();
    for i in order {
        if let Some(mut m) = slots.get_mut(i).and_then(Option::take) {
            if m.parent.is_some_and(|p| !seen.contains(&p)) {
                m.parent = None;
            }
            seen.insert(m.id);
            out.push(m);
        }
    }
    out
}
