//! The history store: every conversation in one SQLite file (rusqlite,
//! bundled, FTS5 with the trigram tokenizer), read and written through one
//! connection with a plain synchronous API. `history` runs it on its own
//! thread; the CLI uses it directly.
//!
//! Invariants: the folder is 0700 and the file is created 0600 *before*
//! SQLite opens it (so `-wal`/`-shm` inherit the mode); every connection runs
//! WAL, `synchronous=NORMAL`, foreign keys on, `secure_delete` on and a busy
//! timeout; every write that touches more than one row is one IMMEDIATE
//! transaction; a file from a newer kaiwa is opened read-only and never
//! written; a damaged file is renamed aside (`history.db.corrupt-<time>`),
//! never deleted; a locked file surfaces as `StoreError::Locked` so the
//! caller can keep the turn elsewhere. User text never reaches `MATCH`
//! unquoted. Row ids stay inside; the outside names things by `uid`.

mod chatgpt;
mod error;
mod export;
mod import;
mod journal;
mod limits;
mod owner;
mod query;
mod schema;
mod search;
pub mod time;
pub mod types;
pub mod uid;
mod usage;
mod write;

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use error::{BadImport, StoreError, TreeError};
pub use schema::LATEST as SCHEMA_VERSION;
pub use time::{iso_utc, now_ms};
pub use types::{
    ConversationRow, ConversationSummary, Finish, ImportNote, ImportReport, ImportSource,
    LedgerRow, LoadedConversation, MessageState, NewMessage, Resolved, SearchHit, StoredMessage,
    StoredRole, UsageDay, UsageSource,
};

use crate::paths;

/// How long a statement waits for another writer before `Locked`.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection to the history file.
pub struct Store {
    conn: Connection,
    path: Option<PathBuf>,
    read_only: bool,
    /// Inside `Store::transaction`: steps use savepoints instead of BEGIN.
    in_tx: bool,
    /// This writer's token, when it journals streaming answers.
    claim: Option<owner::Claim>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

/// An opened store and what the user should be told about it.
#[derive(Debug)]
pub struct Opened {
    pub store: Store,
    /// For the status bar or stderr: a moved-aside damaged file, a newer
    /// file opened read-only.
    pub notice: Option<String>,
    pub read_only: bool,
}

impl Store {
    /// Opens (creating, migrating, or quarantining) the history file at
    /// `path`. See the module invariants for what happens to odd files.
    pub fn open(path: &Path) -> Result<Opened, StoreError> {
        prepare_file(path)?;
        match open_rw(path) {
            Err(StoreError::Corrupt(why)) => {
                let moved = quarantine(path)?;
                tracing::warn!(path = %moved.display(), %why, "history file damaged; moved aside");
                prepare_file(path)?;
                let mut opened = open_rw(path)?;
                opened.notice = Some(damaged_notice(&moved));
                Ok(opened)
            }
            other => other,
        }
    }

    /// Moves a damaged file found while running aside and opens a fresh
    /// one at the same path (see `open`); the notice says where the old one
    /// went. Call it with no other `Store` of this process on the file.
    pub fn reopen_after_damage(path: &Path) -> Result<Opened, StoreError> {
        let moved = quarantine(path)?;
        tracing::warn!(path = %moved.display(), "history file damaged while running; moved aside");
        prepare_file(path)?;
        let mut opened = open_rw(path)?;
        opened.notice = Some(damaged_notice(&moved));
        Ok(opened)
    }

    /// A read-only connection (for the history browser and the CLI's
    /// listings): never writes, never migrates.
    pub fn open_reader(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError::NotFound(path.display().to_string()));
        }
        open_read_only(path)
    }

    /// A private in-memory store (tests, `--no-history` previews).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let mut conn = Connection::open_in_memory()?;
        apply_pragmas(&conn)?;
        schema::migrate(&mut conn, None, 0, schema::MIGRATIONS)?;
        Ok(Self {
            conn,
            path: None,
            read_only: false,
            in_tx: false,
            claim: None,
        })
    }

    /// The file, when not in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Marks this store as the writer of answers that stream (the TUI's
    /// writer thread): answers it starts are never settled by another
    /// kaiwa's recovery while this store is open.
    pub fn claim_writer(&mut self) -> Result<(), StoreError> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let claim = owner::claim(&path, now_ms()).map_err(|source| StoreError::Io {
            context: format!("cannot claim {}", owner::dir_of(&path).display()),
            source,
        })?;
        self.claim = Some(claim);
        Ok(())
    }

    /// How long a write waits for another writer before `Locked`.
    pub fn set_busy_timeout(&mut self, timeout: Duration) -> Result<(), StoreError> {
        self.conn.busy_timeout(timeout)?;
        Ok(())
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        schema::version(&self.conn)
    }

    /// Runs `f` as one IMMEDIATE transaction (nested calls join it): all of
    /// it is committed or none.
    pub fn transaction<R>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        if self.in_tx {
            return f(self);
        }
        self.writable()?;
        run(&self.conn, "BEGIN IMMEDIATE")?;
        self.in_tx = true;
        let result = f(self);
        self.in_tx = false;
        self.end(result)
    }

    /// `PRAGMA optimize` and a WAL checkpoint, for a clean exit.
    pub fn close_cleanly(&self) {
        if self.read_only {
            return;
        }
        let _ = self.conn.execute_batch("PRAGMA optimize;");
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }

    /// `PRAGMA quick_check`: Ok when the file reads as sound.
    pub fn quick_check(&self) -> Result<(), StoreError> {
        let result: String = self
            .conn
            .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))?;
        if result == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt(result))
        }
    }

    fn writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            Err(StoreError::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// One write step that must be atomic: its own IMMEDIATE transaction,
    /// or a savepoint inside `transaction`.
    fn atomic<R>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.writable()?;
        if self.in_tx {
            run(&self.conn, "SAVEPOINT kaiwa_step")?;
            let result = f(&self.conn);
            if result.is_err() {
                let _ = run(&self.conn, "ROLLBACK TO kaiwa_step");
            }
            run(&self.conn, "RELEASE kaiwa_step")?;
            return result;
        }
        run(&self.conn, "BEGIN IMMEDIATE")?;
        let result = f(&self.conn);
        self.end(result)
    }

    fn end<R>(&self, result: Result<R, StoreError>) -> Result<R, StoreError> {
        match result {
            Ok(value) => match run(&self.conn, "COMMIT") {
                Ok(()) => Ok(value),
                Err(e) => {
                    let _ = run(&self.conn, "ROLLBACK");
                    Err(e.into())
                }
            },
            Err(e) => {
                let _ = run(&self.conn, "ROLLBACK");
                Err(e)
            }
        }
    }
}

/// A statement without results, through the connection's statement cache:
/// the transaction verbs run several times a frame while an answer
/// streams, and parsing them every time was a tenth of the history
/// writer's time (a 20,000-token answer, docs/PERFORMANCE.md).
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// The folder (0700) and an empty 0600 file, before SQLite sees the path.
fn prepare_file(path: &Path) -> Result<(), StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        paths::create_private_dir(dir).map_err(|source| StoreError::Io {
            context: format!("cannot create the folder {}", dir.display()),
            source,
        })?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Io {
            context: format!("cannot create {}", path.display()),
            source,
        }),
    }
}

fn apply_pragmas(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(DEFAULT_BUSY_TIMEOUT)?;
    // journal_mode answers with a row; the rest are silent.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = ON;
         PRAGMA journal_size_limit = 67108864;",
    )?;
    Ok(())
}

/// Caps on history files' size in pages, by path: `cap_pages_for_tests`.
static PAGE_CAPS: Mutex<Vec<(PathBuf, u32)>> = Mutex::new(Vec::new());

/// For tests of a full disk: every read-write connection opened on `path`
/// after this call caps the file at `pages` pages (`PRAGMA max_page_count`;
/// a cap below the file's size counts as its size), so a write that needs
/// one page more fails as on a full disk: SQLite answers `SQLITE_FULL`,
/// which is `StoreError::DiskFull`. `None` lifts the cap. kaiwa itself
/// never calls it; a cap on one path leaves every other file alone, so
/// tests in one process do not disturb each other.
#[doc(hidden)]
pub fn cap_pages_for_tests(path: &Path, pages: Option<u32>) {
    let mut caps = PAGE_CAPS.lock().unwrap_or_else(PoisonError::into_inner);
    caps.retain(|(p, _)| p != path);
    if let Some(pages) = pages {
        caps.push((path.to_path_buf(), pages));
    }
}

fn page_cap(path: &Path) -> Option<u32> {
    let caps = PAGE_CAPS.lock().unwrap_or_else(PoisonError::into_inner);
    caps.iter()
        .find(|(p, _)| p == path)
        .map(|(_, pages)| *pages)
}

fn open_rw(path: &Path) -> Result<Opened, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(DEFAULT_BUSY_TIMEOUT)?;
    // Both read the file: garbage or a truncated file fails here.
    let version = schema::version(&conn)?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
    if version > schema::LATEST {
        drop(conn);
        let store = open_read_only(path)?;
        return Ok(Opened {
            store,
            notice: Some(format!(
                "history: read-only ({} is from a newer kaiwa: schema v{version}, this one \
                 knows v{}); this session is not saved",
                path.display(),
                schema::LATEST
            )),
            read_only: true,
        });
    }
    apply_pragmas(&conn)?;
    if let Some(pages) = page_cap(path) {
        let _cap: i64 =
            conn.pragma_update_and_check(None, "max_page_count", pages, |row| row.get(0))?;
    }
    if let Some(backup) = schema::migrate(&mut conn, Some(path), version, schema::MIGRATIONS)? {
        tracing::info!(backup = %backup.display(), from = version, "history file migrated");
    }
    Ok(Opened {
        store: Store {
            conn,
            path: Some(path.to_path_buf()),
            read_only: false,
            in_tx: false,
            claim: None,
        },
        notice: None,
        read_only: false,
    })
}

fn open_read_only(path: &Path) -> Result<Store, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(DEFAULT_BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA query_only = ON;")?;
    schema::version(&conn)?;
    Ok(Store {
        conn,
        path: Some(path.to_path_buf()),
        read_only: true,
        in_tx: false,
        claim: None,
    })
}

/// What the user is told about a damaged file moved aside.
fn damaged_notice(moved: &Path) -> String {
    format!(
        "the history file was damaged and was moved to {} (sqlite3 can try to recover it: \
         sqlite3 '{}' .recover); a new one was started",
        moved.display(),
        moved.display()
    )
}

/// Renames `path` (and its `-wal`/`-shm`) to `<name>.corrupt-<time>`;
/// returns the new path of the main file.
fn quarantine(path: &Path) -> Result<PathBuf, StoreError> {
    let name = path
        .file_name()
        .map_or_else(|| "history.db".into(), |n| n.to_string_lossy().into_owned());
    let stamp = time::file_stamp(now_ms());
    let mut target = path.with_file_name(format!("{name}.corrupt-{stamp}"));
    let mut n = 1;
    while target.exists() {
        n += 1;
        target = path.with_file_name(format!("{name}.corrupt-{stamp}-{n}"));
    }
    std::fs::rename(path, &target).map_err(|source| StoreError::Io {
        context: format!("cannot move the damaged {} aside", path.display()),
        source,
    })?;
    for suffix in ["-wal", "-shm"] {
        let side = path.with_file_name(format!("{name}{suffix}"));
        if side.exists() {
            let to = target.with_file_name(format!(
                "{}{suffix}",
                target
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ));
            let _ = std::fs::rename(&side, to);
        }
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_sqlite_has_fts5_and_trigram() {
        let store = Store::open_in_memory().unwrap();
        let fts: i64 = store
            .conn
            .query_row("SELECT sqlite_compileoption_used('ENABLE_FTS5')", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(fts, 1);
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn migration_steps_run_in_one_go_with_a_private_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let mut opened = Store::open(&path).unwrap();
        let row = opened
            .store
            .create_conversation("m", "http://x", 1000)
            .unwrap();
        drop(opened);
        // A pretend next version on top of the real ones.
        let real = schema::MIGRATIONS.len();
        let mut steps = schema::MIGRATIONS.to_vec();
        steps.push("ALTER TABLE conversations ADD COLUMN pinned INTEGER;");
        let (now, next) = (schema::LATEST, schema::LATEST + 1);
        let mut conn = Connection::open(&path).unwrap();
        let backup = schema::migrate(&mut conn, Some(&path), now, &steps)
            .unwrap()
            .unwrap();
        assert_eq!(schema::version(&conn).unwrap(), next);
        let pinned: Option<i64> = conn
            .query_row(
                "SELECT pinned FROM conversations WHERE uid = ?1",
                [&row.uid],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(pinned, None);
        assert!(
            backup
                .to_string_lossy()
                .ends_with(&format!("history.db.pre-v{next}.bak"))
        );
        let old = Connection::open(&backup).unwrap();
        assert_eq!(schema::version(&old).unwrap(), now);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A failing step leaves the file at the old version.
        let mut bad = steps.clone();
        bad.push("SELECT nonsense FROM nowhere;");
        assert!(schema::migrate(&mut conn, Some(&path), next, &bad).is_err());
        assert_eq!(schema::version(&conn).unwrap(), next);
        assert_eq!(steps.len(), real + 1);
    }
}
