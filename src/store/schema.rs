//! The schema as a list of migrations, and the code that applies them.
//!
//! Invariant: `PRAGMA user_version` is the number of migrations applied.
//! All pending steps run in one IMMEDIATE transaction that also sets
//! `user_version`, so a file is at one version or the next, never between;
//! an existing file with data is copied with `VACUUM INTO` first; a file from
//! a newer kaiwa is never touched (the caller opens it read-only). Steps are
//! append-only: a released step is never edited.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;
use crate::paths;

/// Migration 1: conversations as trees, the crash journal of a streaming
/// answer, full-text search (FTS5, trigram) over settled user and assistant
/// text, and the usage ledger. PERSISTENCE-NOTES §0.1, plus `stopped` as a
/// state, `skipped` (unreadable events) and costs in nano-dollars.
const V1: &str = r"
CREATE TABLE conversations (
  id             INTEGER PRIMARY KEY,
  uid            TEXT NOT NULL UNIQUE,
  title          TEXT,
  preview        TEXT NOT NULL DEFAULT '',
  head_id        INTEGER REFERENCES messages(id) ON DELETE SET NULL,
  model          TEXT,
  base_url       TEXT,
  params_json    TEXT,
  cwd            TEXT,
  created_at     INTEGER NOT NULL,
  last_active_at INTEGER NOT NULL,
  archived_at    INTEGER,
  source         TEXT NOT NULL DEFAULT 'kaiwa',
  source_id      TEXT,
  UNIQUE (source, source_id)
);
CREATE INDEX conv_list ON conversations((archived_at IS NOT NULL), last_active_at DESC, id DESC);
CREATE INDEX conv_title ON conversations(title) WHERE title IS NOT NULL;

CREATE TABLE messages (
  id              INTEGER PRIMARY KEY,
  uid             TEXT NOT NULL UNIQUE,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  parent_id       INTEGER REFERENCES messages(id) ON DELETE CASCADE,
  role            TEXT NOT NULL CHECK (role IN ('system','user','assistant','tool')),
  content         TEXT NOT NULL DEFAULT '',
  reasoning       TEXT,
  state           TEXT NOT NULL DEFAULT 'done'
                  CHECK (state IN ('streaming','done','stopped','interrupted','error')),
  model           TEXT,
  finish_reason   TEXT,
  error           TEXT,
  skipped         INTEGER NOT NULL DEFAULT 0,
  edited_from     INTEGER REFERENCES messages(id) ON DELETE SET NULL,
  created_at      INTEGER NOT NULL,
  meta_json       TEXT
);
CREATE INDEX msg_children ON messages(parent_id, id);
CREATE INDEX msg_conv     ON messages(conversation_id, id);
CREATE INDEX msg_streaming ON messages(state) WHERE state = 'streaming';

CREATE TABLE stream_chunks (
  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  seq        INTEGER NOT NULL,
  text       TEXT NOT NULL,
  PRIMARY KEY (message_id, seq)
) WITHOUT ROWID;

CREATE VIEW messages_searchable AS
  SELECT id, content FROM messages
  WHERE role IN ('user','assistant') AND state <> 'streaming';
CREATE VIRTUAL TABLE messages_fts USING fts5(
  content, content='messages_searchable', content_rowid='id',
  tokenize='trigram remove_diacritics 1');
INSERT INTO messages_fts(messages_fts, rank) VALUES ('secure-delete', 1);

CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages
  WHEN new.state <> 'streaming' AND new.role IN ('user','assistant') BEGIN
  INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages
  WHEN old.state <> 'streaming' AND old.role IN ('user','assistant') BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER messages_fts_au AFTER UPDATE OF content, state ON messages
  WHEN new.role IN ('user','assistant') BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, content)
    SELECT 'delete', old.id, old.content WHERE old.state <> 'streaming';
  INSERT INTO messages_fts(rowid, content)
    SELECT new.id, new.content WHERE new.state <> 'streaming';
END;

CREATE TABLE requests (
  id               INTEGER PRIMARY KEY,
  message_id       INTEGER REFERENCES messages(id) ON DELETE SET NULL,
  started_at       INTEGER NOT NULL,
  duration_ms      INTEGER,
  ttft_ms          INTEGER,
  base_url         TEXT,
  model            TEXT NOT NULL,
  resolved_model   TEXT,
  input_tokens     INTEGER,
  cached_tokens    INTEGER,
  output_tokens    INTEGER,
  reasoning_tokens INTEGER,
  usage_source     TEXT NOT NULL CHECK (usage_source IN ('reported','estimated','none')),
  cost_nanousd     INTEGER,
  price_source     TEXT,
  status           TEXT NOT NULL,
  usage_json       TEXT
);
CREATE INDEX requests_time ON requests(started_at, model);
CREATE INDEX requests_message ON requests(message_id) WHERE message_id IS NOT NULL;
";

/// Version 2: context windows learned from servers' overflow errors, per
/// model id (SPEC, Context).
const V2: &str = "
CREATE TABLE context_limits (
  model      TEXT PRIMARY KEY,
  tokens     INTEGER NOT NULL CHECK (tokens > 0),
  learned_at INTEGER NOT NULL
);
";

/// Every migration, in order: `MIGRATIONS[n]` takes a file from version `n`
/// to `n + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2];

/// The schema version this build writes.
#[allow(clippy::cast_possible_wrap, reason = "a handful of migrations")]
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// `PRAGMA user_version`.
pub(crate) fn version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// Brings the file at `path` from `current` to the last of `steps`. A file
/// that already holds data (`current > 0`) is first copied to
/// `<name>.pre-vN.bak` (0600). Returns the backup's path when one was made.
pub(crate) fn migrate(
    conn: &mut Connection,
    path: Option<&Path>,
    current: i64,
    steps: &[&str],
) -> Result<Option<PathBuf>, StoreError> {
    let target = i64::try_from(steps.len()).unwrap_or(i64::MAX);
    if current >= target {
        return Ok(None);
    }
    let backup = match path {
        Some(path) if current > 0 => Some(backup(conn, path, target)?),
        _ => None,
    };
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another kaiwa may have migrated between our read and our lock.
    let now: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let start = usize::try_from(now.max(0)).unwrap_or(usize::MAX);
    for step in steps.iter().skip(start) {
        tx.execute_batch(step)?;
    }
    if now < target {
        tx.execute_batch(&format!("PRAGMA user_version = {target}"))?;
    }
    tx.commit()?;
    Ok(backup)
}

/// `VACUUM INTO` a fresh 0600 file beside `path`.
fn backup(conn: &Connection, path: &Path, target: i64) -> Result<PathBuf, StoreError> {
    let name = path
        .file_name()
        .map_or_else(|| "history.db".into(), |n| n.to_string_lossy().into_owned());
    let mut candidate = path.with_file_name(format!("{name}.pre-v{target}.bak"));
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = path.with_file_name(format!("{name}.pre-v{target}.{n}.bak"));
    }
    // VACUUM INTO accepts an empty file: create it 0600 so the copy is private.
    paths::create_private_file(&candidate).map_err(|source| StoreError::Io {
        context: format!("cannot create the backup {}", candidate.display()),
        source,
    })?;
    conn.execute("VACUUM INTO ?1", [candidate.to_string_lossy().as_ref()])?;
    Ok(candidate)
}
