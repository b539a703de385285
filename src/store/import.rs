//! Import: kaiwa's own JSON and JSONL, and ChatGPT's data export (the zip,
//! `conversations.json`, split `conversations-NNN.json`).
//!
//! Invariants: one transaction per conversation, so one bad conversation
//! never sinks the file (it is reported as failed, with the reason, and the
//! rest goes in); importing is idempotent: a conversation is found again by
//! its uid or `(source, source_id)`, a message by its uid, and only what is
//! missing is added (existing rows are never changed), and an item whose
//! parent only a later item brings is tried again at the end, so a second
//! import of the same file changes nothing; a large array is
//! read one conversation at a time; a zip is read from its file, never
//! whole: only its `conversations*.json` entries with safe names are looked
//! at and read into memory. Reading the file is `read.rs`; kaiwa's own
//! format is `kaiwa.rs`, ChatGPT's `store/chatgpt.rs`.

mod kaiwa;
mod read;

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Cursor};
use std::ops::{ControlFlow, Deref, DerefMut};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::export::FORMAT;
use super::write::insert_message;
use super::{
    BadImport, ImportNote, ImportReport, ImportSource, MessageState, NewMessage, Store, StoreError,
    StoredRole, chatgpt,
};

/// A conversation ready to import, whatever its source.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub uid: String,
    pub title: Option<String>,
    pub created_at_ms: i64,
    pub last_active_at_ms: i64,
    pub archived_at_ms: Option<i64>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub source: String,
    pub source_id: Option<String>,
    /// Uid of the head message.
    pub head: Option<String>,
    pub messages: Vec<IncomingMessage>,
}

#[derive(Debug, Clone)]
pub(crate) struct IncomingMessage {
    pub uid: String,
    pub parent_uid: Option<String>,
    pub role: StoredRole,
    pub content: String,
    pub state: MessageState,
    pub model: Option<String>,
    pub finish_reason: Option<String>,
    pub error: Option<String>,
    pub skipped: u32,
    pub created_at_ms: i64,
    pub reasoning: Option<String>,
}

/// Items set aside at most: beyond it, such an item fails at once (a
/// hostile file must not sit in memory, nor be tried again forever).
const MAX_DEFERRED: usize = 256;

/// An item one of whose messages names a parent neither in it nor stored
/// yet: a later item of the same file may bring the parent, so it is
/// tried again once the rest of the file is in (importing a file twice must
/// change nothing the second time).
struct Deferred {
    label: String,
    value: Value,
    /// Its failure, if nothing brings the parent.
    note: ImportNote,
    /// Where in `failed` that failure goes (the file's order).
    at: usize,
}

/// One import's report and the items it set aside.
#[derive(Default)]
pub(super) struct Tally {
    report: ImportReport,
    deferred: Vec<Deferred>,
    /// The store took no more (locked, full, read-only).
    stopped: bool,
}

impl Deref for Tally {
    type Target = ImportReport;

    fn deref(&self) -> &ImportReport {
        &self.report
    }
}

impl DerefMut for Tally {
    fn deref_mut(&mut self) -> &mut ImportReport {
        &mut self.report
    }
}

enum Outcome {
    Imported,
    Updated,
    Skipped(String),
}

impl Store {
    /// Imports every conversation in `input`; never fails as a whole: the
    /// report says what went in and what did not, and why.
    pub fn import(&mut self, input: ImportSource) -> ImportReport {
        let mut tally = Tally::default();
        self.import_into(input, &mut tally);
        self.retry_deferred(&mut tally);
        tally.report
    }

    fn import_into(&mut self, input: ImportSource, report: &mut Tally) {
        match input {
            ImportSource::File(path) => {
                let name = path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                let opened = match read::open_file(&path) {
                    Ok(opened) => opened,
                    Err(e) => {
                        report.failed.push(ImportNote {
                            item: path.display().to_string(),
                            reason: format!("cannot read it: {e}"),
                        });
                        return;
                    }
                };
                if self.refuse_read_only(&name, report) {
                    return;
                }
                match opened {
                    read::Opened::Data(data) => {
                        let _ = self.import_bytes(&name, &data, report);
                    }
                    read::Opened::Zip(file) => {
                        self.import_zip(&name, BufReader::new(file), report);
                    }
                }
            }
            ImportSource::Bytes { name, data } => {
                if self.refuse_read_only(&name, report) {
                    return;
                }
                if read::is_zip(&data) {
                    self.import_zip(&name, Cursor::new(&data), report);
                } else {
                    let _ = self.import_bytes(&name, &data, report);
                }
            }
        }
    }

    /// A read-only store takes nothing: true (and reported) when so.
    fn refuse_read_only(&self, name: &str, report: &mut Tally) -> bool {
        if self.read_only {
            report.failed.push(ImportNote {
                item: name.to_string(),
                reason: StoreError::ReadOnly.to_string(),
            });
        }
        self.read_only
    }

    fn import_value(&mut self, label: &str, value: &Value, report: &mut Tally) -> ControlFlow<()> {
        let title = value.get("title").and_then(Value::as_str).unwrap_or("");
        let item = if title.is_empty() {
            label.to_string()
        } else {
            format!("{label} {title:?}")
        };
        let parsed = if value.get("format").and_then(Value::as_str) == Some(FORMAT) {
            kaiwa::from_kaiwa(value).map(Some)
        } else if chatgpt::is_chatgpt(value) {
            chatgpt::parse(value)
        } else {
            Err("not a kaiwa or ChatGPT conversation".to_string())
        };
        let incoming = match parsed {
            Ok(Some(incoming)) => incoming,
            Ok(None) => {
                report.skipped.push(ImportNote {
                    item,
                    reason: "no visible messages".to_string(),
                });
                return ControlFlow::Continue(());
            }
            Err(reason) => {
                report.failed.push(ImportNote { item, reason });
                return ControlFlow::Continue(());
            }
        };
        match self.import_one(&incoming) {
            Ok(Outcome::Imported) => report.imported += 1,
            Ok(Outcome::Updated) => report.updated += 1,
            Ok(Outcome::Skipped(reason)) => report.skipped.push(ImportNote { item, reason }),
            Err(e @ (StoreError::Locked | StoreError::DiskFull | StoreError::ReadOnly)) => {
                report.failed.push(ImportNote {
                    item,
                    reason: format!("{e}; the import stopped here"),
                });
                report.stopped = true;
                return ControlFlow::Break(());
            }
            Err(e @ StoreError::BadImport(BadImport::MissingParent { .. }))
                if report.deferred.len() < MAX_DEFERRED =>
            {
                let at = report.failed.len();
                report.deferred.push(Deferred {
                    label: label.to_string(),
                    value: value.clone(),
                    note: ImportNote {
                        item,
                        reason: e.to_string(),
                    },
                    at,
                });
            }
            Err(e) => report.failed.push(ImportNote {
                item,
                reason: e.to_string(),
            }),
        }
        ControlFlow::Continue(())
    }

    /// The items set aside for a parent a later item might bring, tried
    /// again while any of them goes in (each may bring another's parent);
    /// those still waiting fail, each reported where it was in the file.
    fn retry_deferred(&mut self, tally: &mut Tally) {
        loop {
            let waiting = std::mem::take(&mut tally.deferred);
            let before = waiting.len();
            for item in waiting {
                if tally.stopped {
                    tally.deferred.push(item);
                    continue;
                }
                let queued = tally.deferred.len();
                let _ = self.import_value(&item.label, &item.value, tally);
                if tally.deferred.len() > queued {
                    // Still waiting: its failure keeps its first place.
                    if let Some(again) = tally.deferred.last_mut() {
                        again.at = item.at;
                    }
                }
            }
            if tally.stopped || tally.deferred.is_empty() || tally.deferred.len() == before {
                break;
            }
        }
        for item in std::mem::take(&mut tally.deferred).into_iter().rev() {
            let at = item.at.min(tally.report.failed.len());
            tally.report.failed.insert(at, item.note);
        }
    }

    /// One conversation, in one transaction.
    fn import_one(&mut self, c: &Incoming) -> Result<Outcome, StoreError> {
        let messages = parents_first(&c.messages)?;
        self.transaction(|store| {
            let db = &store.conn;
            let existing: Option<i64> = db
                .query_row(
                    "SELECT id FROM conversations WHERE uid = ?1
                     OR (?2 IS NOT NULL AND source = ?3 AND source_id = ?2)",
                    params![c.uid, c.source_id, c.source],
                    |row| row.get(0),
                )
                .optional()?;
            let is_new = existing.is_none();
            let conversation = if let Some(id) = existing {
                id
            } else {
                db.execute(
                    "INSERT INTO conversations (uid, title, model, base_url, created_at,
                     last_active_at, archived_at, source, source_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        c.uid,
                        c.title,
                        c.model,
                        c.base_url,
                        c.created_at_ms,
                        c.last_active_at_ms,
                        c.archived_at_ms,
                        c.source,
                        c.source_id,
                    ],
                )?;
                db.last_insert_rowid()
            };
            let (rows, added) = add_missing(db, conversation, &messages)?;
            if !is_new && added == 0 {
                return Ok(Outcome::Skipped(
                    "already imported, nothing new".to_string(),
                ));
            }
            let head = c.head.as_deref().and_then(|h| rows.get(h).copied());
            if is_new {
                db.execute(
                    "UPDATE conversations SET head_id = ?2, last_active_at = ?3 WHERE id = ?1",
                    params![conversation, head, c.last_active_at_ms],
                )?;
                Ok(Outcome::Imported)
            } else {
                db.execute(
                    "UPDATE conversations SET head_id = coalesce(?2, head_id),
                     last_active_at = max(last_active_at, ?3) WHERE id = ?1",
                    params![conversation, head, c.last_active_at_ms],
                )?;
                Ok(Outcome::Updated)
            }
        })
    }
}

/// Inserts the messages the conversation lacks (parents first); returns
/// every message's row id by uid and how many were added.
fn add_missing<'m>(
    db: &Connection,
    conversation: i64,
    messages: &[&'m IncomingMessage],
) -> Result<(HashMap<&'m str, i64>, usize), StoreError> {
    let mut rows: HashMap<&str, i64> = HashMap::new();
    let mut added = 0usize;
    for m in messages {
        let found: Option<(i64, i64)> = db
            .query_row(
                "SELECT id, conversation_id FROM messages WHERE uid = ?1",
                [&m.uid],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        if let Some((id, owner)) = found {
            if owner != conversation {
                return Err(BadImport::ForeignMessage { uid: m.uid.clone() }.into());
            }
            rows.insert(&m.uid, id);
            continue;
        }
        let parent = match &m.parent_uid {
            None => None,
            Some(p) => Some(match rows.get(p.as_str()) {
                Some(id) => *id,
                None => db
                    .query_row(
                        "SELECT id FROM messages WHERE uid = ?1 AND conversation_id = ?2",
                        params![p, conversation],
                        |row| row.get(0),
                    )
                    .optional()?
                    .ok_or_else(|| BadImport::MissingParent {
                        uid: m.uid.clone(),
                        parent: p.clone(),
                    })?,
            }),
        };
        let id = insert_message(
            db,
            conversation,
            &NewMessage {
                uid: Some(m.uid.clone()),
                parent,
                role: m.role,
                content: m.content.clone(),
                state: m.state,
                model: m.model.clone(),
                finish_reason: m.finish_reason.clone(),
                error: m.error.clone(),
                skipped: m.skipped,
                created_at_ms: m.created_at_ms,
                reasoning: m.reasoning.clone(),
            },
            None,
        )?;
        rows.insert(&m.uid, id);
        added += 1;
    }
    Ok((rows, added))
}

/// Orders messages parents first, otherwise keeping the given order (so
/// an export imports with the same sibling order); a parent named but
/// absent from the list stays as a reference (it may already be stored).
fn parents_first(messages: &[IncomingMessage]) -> Result<Vec<&IncomingMessage>, StoreError> {
    let uids: HashSet<&str> = messages.iter().map(|m| m.uid.as_str()).collect();
    if uids.len() != messages.len() {
        return Err(BadImport::DuplicateUid.into());
    }
    let mut out: Vec<&IncomingMessage> = Vec::with_capacity(messages.len());
    let mut placed: HashSet<&str> = HashSet::new();
    let mut waiting: HashMap<&str, Vec<&IncomingMessage>> = HashMap::new();
    for m in messages {
        match m.parent_uid.as_deref() {
            Some(p) if uids.contains(p) && !placed.contains(p) => {
                waiting.entry(p).or_default().push(m);
            }
            _ => {
                // Place it, then whatever was waiting for it, depth-first.
                let mut stack = vec![m];
                while let Some(next) = stack.pop() {
                    out.push(next);
                    placed.insert(next.uid.as_str());
                    if let Some(kids) = waiting.remove(next.uid.as_str()) {
                        stack.extend(kids.into_iter().rev());
                    }
                }
            }
        }
    }
    if out.len() != messages.len() {
        return Err(BadImport::ParentLoop.into());
    }
    Ok(out)
}
