//! Who is streaming what: a writer that journals answers claims a token,
//! held as an exclusive lock on `<db>.writers/<token>.lock` for as long as
//! it lives; each answer it starts records the token (`meta_json.writer`).
//!
//! Invariant: crash recovery settles a `streaming` answer only when its
//! writer is gone (its lock can be taken, or it has none), so a second
//! kaiwa, or a `kaiwa history` command, never cuts short an answer that is
//! still arriving in another one. The kernel drops the lock when a process
//! dies, even by SIGKILL. When locks cannot be made (an odd file system),
//! every writer counts as gone, which is the behaviour without tokens.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::uid::new_uid;
use crate::paths;

/// This process's claim; released (and its file removed) on drop.
#[derive(Debug)]
pub(crate) struct Claim {
    pub token: String,
    path: PathBuf,
    _file: File,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// `<db>.writers`, beside the history file.
pub(crate) fn dir_of(db: &Path) -> PathBuf {
    let name = db
        .file_name()
        .map_or_else(|| "history.db".into(), |n| n.to_string_lossy().into_owned());
    db.with_file_name(format!("{name}.writers"))
}

fn open_lock(path: &Path, create: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(create);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Takes a new token for the writer of `db`.
pub(crate) fn claim(db: &Path, now_ms: i64) -> io::Result<Claim> {
    let dir = dir_of(db);
    paths::create_private_dir(&dir)?;
    let token = new_uid(now_ms);
    let path = dir.join(format!("{token}.lock"));
    let file = open_lock(&path, true)?;
    file.try_lock().map_err(io::Error::other)?;
    Ok(Claim {
        token,
        path,
        _file: file,
    })
}

/// Whether the writer holding `token` is alive (its lock is held by
/// someone else).
pub(crate) fn is_alive(db: &Path, token: &str, own: Option<&str>) -> bool {
    if Some(token) == own || token.contains(['/', '\\']) || token.contains("..") {
        return false;
    }
    let path = dir_of(db).join(format!("{token}.lock"));
    match open_lock(&path, false) {
        Ok(file) => matches!(file.try_lock(), Err(fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// Removes lock files whose writers are gone.
pub(crate) fn sweep(db: &Path, own: Option<&str>) {
    let Ok(entries) = fs::read_dir(dir_of(db)) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let token = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if Some(token.as_str()) == own {
            continue;
        }
        if let Ok(file) = open_lock(&path, false)
            && file.try_lock().is_ok()
        {
            let _ = fs::remove_file(&path);
        }
    }
}
