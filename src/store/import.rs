//! Import: kaiwa's own JSON and JSONL, and ChatGPT's data export (the zip,
//! `conversations.json`, split `conversations-NNN.json`).
//!
//! Invariants: one transaction per conversation, so one bad conversation
//! never sinks the file (it is reported as failed, with the reason, and the
//! rest goes in); importing is idempotent: a conversation is found again by
//! its uid or `(source, source_id)`, a message by its uid, and only what is
//! missing is added (existing rows are never changed); a large array is
//! read one conversation at a time; a zip is read from its file, never
//! whole: only its `conversations*.json` entries with safe names are looked
//! at and read into memory.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::ops::ControlFlow;

use rusqlite::{Connection, OptionalExtension, params};
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::Value;

use super::export::{FORMAT, FORMAT_VERSION};
use super::write::insert_message;
use super::{
    ImportNote, ImportReport, ImportSource, MessageState, NewMessage, Store, StoreError,
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
}

/// A file to import: a zip, left open to be read entry by entry, or
/// anything else, read whole.
enum Opened {
    Zip(File),
    Data(Vec<u8>),
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
        let mut report = ImportReport::default();
        match input {
            ImportSource::File(path) => {
                let name = path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                // A zip is read from the file (ChatGPT's exports with images
                // run to gigabytes): only its conversations entries are read
                // into memory. Anything else is read whole, as before.
                let opened = File::open(&path).and_then(|mut file| {
                    let zip = is_zip(&sniff(&mut file)?);
                    file.seek(SeekFrom::Start(0))?;
                    if zip {
                        return Ok(Opened::Zip(file));
                    }
                    let mut data = Vec::new();
                    file.read_to_end(&mut data)?;
                    Ok(Opened::Data(data))
                });
                let opened = match opened {
                    Ok(opened) => opened,
                    Err(e) => {
                        report.failed.push(ImportNote {
                            item: path.display().to_string(),
                            reason: format!("cannot read it: {e}"),
                        });
                        return report;
                    }
                };
                if self.refuse_read_only(&name, &mut report) {
                    return report;
                }
                match opened {
                    Opened::Data(data) => {
                        let _ = self.import_bytes(&name, &data, &mut report);
                    }
                    Opened::Zip(file) => {
                        self.import_zip(&name, BufReader::new(file), &mut report);
                    }
                }
            }
            ImportSource::Bytes { name, data } => {
                if self.refuse_read_only(&name, &mut report) {
                    return report;
                }
                if is_zip(&data) {
                    self.import_zip(&name, Cursor::new(&data), &mut report);
                } else {
                    let _ = self.import_bytes(&name, &data, &mut report);
                }
            }
        }
        report
    }

    /// A read-only store takes nothing: true (and reported) when so.
    fn refuse_read_only(&self, name: &str, report: &mut ImportReport) -> bool {
        if self.read_only {
            report.failed.push(ImportNote {
                item: name.to_string(),
                reason: StoreError::ReadOnly.to_string(),
            });
        }
        self.read_only
    }

    /// The conversations entries of a zip, read one at a time from `reader`
    /// (a file or bytes in memory); the other entries are never read.
    fn import_zip<R: Read + Seek>(&mut self, name: &str, reader: R, report: &mut ImportReport) {
        let mut archive = match zip::ZipArchive::new(reader) {
            Ok(a) => a,
            Err(e) => {
                report.failed.push(ImportNote {
                    item: name.to_string(),
                    reason: format!("not a readable zip: {e}"),
                });
                return;
            }
        };
        let mut entries: Vec<(String, usize)> = Vec::new();
        for i in 0..archive.len() {
            let Ok(file) = archive.by_index(i) else {
                continue;
            };
            if file.is_dir() || file.is_symlink() {
                continue;
            }
            // Relative names only: no `..`, no backslashes or drive letters
            // (enclosed_name alone would turn `/abs/x` into `abs/x`).
            let raw = file.name().map(|n| n.to_string()).unwrap_or_default();
            if !safe_entry_name(&raw) {
                continue;
            }
            let Some(path) = file.enclosed_name() else {
                continue;
            };
            let Some(base) = path.file_name().and_then(|b| b.to_str()) else {
                continue;
            };
            if is_conversations_file(base) {
                entries.push((path.to_string_lossy().into_owned(), i));
            }
        }
        if entries.is_empty() {
            report.failed.push(ImportNote {
                item: name.to_string(),
                reason: "the zip holds no conversations.json (or conversations-NNN.json)"
                    .to_string(),
            });
            return;
        }
        entries.sort();
        for (entry, index) in entries {
            let mut bytes = Vec::new();
            let read = archive
                .by_index(index)
                .map_err(|e| e.to_string())
                .and_then(|mut f| f.read_to_end(&mut bytes).map_err(|e| e.to_string()));
            let label = format!("{name}:{entry}");
            match read {
                Ok(_) => {
                    if self.import_bytes(&label, &bytes, report).is_break() {
                        return;
                    }
                }
                Err(e) => report.failed.push(ImportNote {
                    item: label,
                    reason: format!("cannot read the entry: {e}"),
                }),
            }
        }
    }

    /// One JSON or JSONL document; `Break` when the store cannot take more
    /// (locked, full, read-only).
    fn import_bytes(
        &mut self,
        name: &str,
        data: &[u8],
        report: &mut ImportReport,
    ) -> ControlFlow<()> {
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let start = data
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(data.len());
        let body = data.get(start..).unwrap_or(&[]);
        let jsonl = name.to_ascii_lowercase().ends_with(".jsonl");
        match body.first() {
            Some(b'[') if !jsonl => {
                let mut index = 0usize;
                let mut flow = ControlFlow::Continue(());
                let mut each = |value: Value| {
                    index += 1;
                    flow = self.import_value(&format!("{name} #{index}"), &value, report);
                    flow.is_continue()
                };
                let mut de = serde_json::Deserializer::from_slice(body);
                if let Err(e) = EachValue(&mut each).deserialize(&mut de) {
                    report.failed.push(ImportNote {
                        item: name.to_string(),
                        reason: format!("not valid JSON after item {index}: {e}"),
                    });
                }
                flow
            }
            Some(b'{') if !jsonl => match serde_json::from_slice::<Value>(body) {
                Ok(value) => match value.get("conversations").and_then(Value::as_array) {
                    Some(list) => {
                        for (i, item) in list.iter().enumerate() {
                            self.import_value(&format!("{name} #{}", i + 1), item, report)?;
                        }
                        ControlFlow::Continue(())
                    }
                    None => self.import_value(name, &value, report),
                },
                Err(_) => self.import_lines(name, body, report),
            },
            Some(_) if jsonl => self.import_lines(name, body, report),
            Some(_) => {
                report.failed.push(ImportNote {
                    item: name.to_string(),
                    reason: "not a JSON or JSONL file".to_string(),
                });
                ControlFlow::Continue(())
            }
            None => {
                report.failed.push(ImportNote {
                    item: name.to_string(),
                    reason: "the file is empty".to_string(),
                });
                ControlFlow::Continue(())
            }
        }
    }

    fn import_lines(
        &mut self,
        name: &str,
        body: &[u8],
        report: &mut ImportReport,
    ) -> ControlFlow<()> {
        for (i, line) in body.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let label = format!("{name} line {}", i + 1);
            match serde_json::from_slice::<Value>(line) {
                Ok(value) => self.import_value(&label, &value, report)?,
                Err(e) => report.failed.push(ImportNote {
                    item: label,
                    reason: format!("not valid JSON: {e}"),
                }),
            }
        }
        ControlFlow::Continue(())
    }

    fn import_value(
        &mut self,
        label: &str,
        value: &Value,
        report: &mut ImportReport,
    ) -> ControlFlow<()> {
        let title = value.get("title").and_then(Value::as_str).unwrap_or("");
        let item = if title.is_empty() {
            label.to_string()
        } else {
            format!("{label} {title:?}")
        };
        let parsed = if value.get("format").and_then(Value::as_str) == Some(FORMAT) {
            from_kaiwa(value).map(Some)
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
                return ControlFlow::Break(());
            }
            Err(e) => report.failed.push(ImportNote {
                item,
                reason: e.to_string(),
            }),
        }
        ControlFlow::Continue(())
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
                return Err(StoreError::Invalid(format!(
                    "message {} already belongs to another conversation",
                    m.uid
                )));
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
                    .ok_or_else(|| {
                        StoreError::Invalid(format!(
                            "message {} has a parent ({p}) that is not in the file",
                            m.uid
                        ))
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
            },
            None,
        )?;
        rows.insert(&m.uid, id);
        added += 1;
    }
    Ok((rows, added))
}

/// A zip entry name that stays inside the archive's folder.
/// A zip starts with a local file header, or (empty) its end record.
fn is_zip(start: &[u8]) -> bool {
    start.starts_with(b"PK\x03\x04") || start.starts_with(b"PK\x05\x06")
}

/// The first bytes of a file (fewer when it is shorter).
fn sniff(file: &mut File) -> std::io::Result<Vec<u8>> {
    let mut start = Vec::with_capacity(4);
    file.by_ref().take(4).read_to_end(&mut start)?;
    Ok(start)
}

fn safe_entry_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains(':')
        && !name.split('/').any(|part| part == "..")
}

/// `conversations.json` or `conversations-000.json`.
fn is_conversations_file(base: &str) -> bool {
    if base == "conversations.json" {
        return true;
    }
    base.strip_prefix("conversations-")
        .and_then(|rest| rest.strip_suffix(".json"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Orders messages parents first, otherwise keeping the given order (so
/// an export imports with the same sibling order); a parent named but
/// absent from the list stays as a reference (it may already be stored).
fn parents_first(messages: &[IncomingMessage]) -> Result<Vec<&IncomingMessage>, StoreError> {
    let uids: HashSet<&str> = messages.iter().map(|m| m.uid.as_str()).collect();
    if uids.len() != messages.len() {
        return Err(StoreError::Invalid("two messages share a uid".to_string()));
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
        return Err(StoreError::Invalid(
            "its messages' parents form a loop".to_string(),
        ));
    }
    Ok(out)
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A kaiwa JSON document (`"format": "kaiwa.conversation"`).
fn from_kaiwa(value: &Value) -> Result<Incoming, String> {
    let version = value.get("version").and_then(Value::as_u64).unwrap_or(0);
    if version == 0 || version > FORMAT_VERSION {
        return Err(format!(
            "format version {version} is not one this kaiwa reads (1..={FORMAT_VERSION})"
        ));
    }
    let uid = text(value, "uid")
        .filter(|u| !u.is_empty())
        .ok_or("it has no uid")?
        .to_ascii_lowercase();
    let created = value.get("created_at").and_then(Value::as_i64).unwrap_or(0);
    let list = value
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("it has no `messages` list")?;
    let mut messages = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let n = i + 1;
        let uid = text(m, "uid")
            .filter(|u| !u.is_empty())
            .ok_or_else(|| format!("message {n} has no uid"))?;
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .and_then(StoredRole::parse)
            .ok_or_else(|| format!("message {n} has no valid role"))?;
        let content = m
            .get("content")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("message {n} has no text content"))?
            .to_string();
        let state = match m.get("state").and_then(Value::as_str) {
            None => MessageState::Done,
            Some(s) => {
                MessageState::parse(s).ok_or_else(|| format!("message {n} has state {s:?}"))?
            }
        };
        messages.push(IncomingMessage {
            uid,
            parent_uid: text(m, "parent_uid"),
            role,
            content,
            state,
            model: text(m, "model"),
            finish_reason: text(m, "finish_reason"),
            error: text(m, "error"),
            skipped: m
                .get("skipped")
                .and_then(Value::as_u64)
                .and_then(|s| u32::try_from(s).ok())
                .unwrap_or(0),
            created_at_ms: m
                .get("created_at")
                .and_then(Value::as_i64)
                .unwrap_or(created),
        });
    }
    Ok(Incoming {
        uid,
        title: text(value, "title"),
        created_at_ms: created,
        last_active_at_ms: value
            .get("last_active_at")
            .and_then(Value::as_i64)
            .unwrap_or(created),
        archived_at_ms: value.get("archived_at").and_then(Value::as_i64),
        model: text(value, "model"),
        base_url: text(value, "base_url"),
        source: text(value, "source").unwrap_or_else(|| "kaiwa".to_string()),
        source_id: text(value, "source_id"),
        head: text(value, "head"),
        messages,
    })
}

/// Feeds each element of a JSON array to a closure as it is parsed, so a
/// large export never sits in memory as one tree. The closure returns
/// false to stop.
struct EachValue<'a, F>(&'a mut F);

impl<'de, F: FnMut(Value) -> bool> DeserializeSeed<'de> for EachValue<'_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Value) -> bool> Visitor<'de> for EachValue<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of conversations")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Value>()? {
            if !(self.0)(value) {
                break;
            }
        }
        Ok(())
    }
}
