//! The spool: where turns wait while another kaiwa holds the history file.
//! Files are `$XDG_STATE_HOME/kaiwa/spool/<pid>-<time>.jsonl`, one
//! operation a line, 0600, fsynced after every batch.
//!
//! Invariants: a process holds an exclusive lock on its own spool file for
//! as long as it writes to it, so another kaiwa merges only files whose
//! writer is gone; a file is deleted only after its operations were
//! committed; a torn last line (a crash mid-write) is skipped, the rest
//! replayed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use super::ops::Op;
use crate::paths;
use crate::store::{StoreError, now_ms};

/// This process's spool file, opened on first use.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    own: Option<(PathBuf, File)>,
}

impl Spool {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir, own: None }
    }

    /// Whether this process has operations waiting.
    pub(crate) fn is_active(&self) -> bool {
        self.own.is_some()
    }

    /// Appends `ops` and flushes them to disk.
    pub(crate) fn append(&mut self, ops: &[Op]) -> io::Result<()> {
        if self.own.is_none() {
            paths::create_private_dir(&self.dir)?;
            let path = self
                .dir
                .join(format!("{}-{}.jsonl", std::process::id(), now_ms()));
            let mut options = OpenOptions::new();
            options.create(true).append(true).read(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let file = options.open(&path)?;
            // Ours alone while we live; merged by whoever comes after.
            let _ = file.try_lock();
            self.own = Some((path, file));
        }
        let Some((_, file)) = self.own.as_mut() else {
            return Ok(());
        };
        let mut buf = Vec::new();
        for op in ops {
            serde_json::to_writer(&mut buf, op).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        file.write_all(&buf)?;
        file.sync_data()
    }

    /// The operations in this process's spool file.
    pub(crate) fn own_ops(&self) -> Vec<Op> {
        self.own
            .as_ref()
            .map(|(path, _)| read_ops(path))
            .unwrap_or_default()
    }

    /// Deletes this process's spool file (its operations are committed).
    pub(crate) fn clear_own(&mut self) {
        if let Some((path, file)) = self.own.take() {
            let _ = fs::remove_file(&path);
            drop(file);
        }
    }

    /// Spool files left by processes that are gone (their lock is free),
    /// oldest first, each locked by us until dropped.
    pub(crate) fn leftovers(&self) -> Vec<(PathBuf, File)> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let own = self.own.as_ref().map(|(p, _)| p.clone());
        let mut found: Vec<(PathBuf, File)> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .filter(|p| Some(p) != own.as_ref())
            .filter_map(|p| {
                let file = OpenOptions::new().read(true).write(true).open(&p).ok()?;
                file.try_lock().ok()?;
                Some((p, file))
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }
}

/// Replays `found` (from [`Spool::leftovers`]) in order through `commit`,
/// deleting each file once its operations are committed; stops at the first
/// that fails (the file is locked again: the rest waits for the next
/// chance). Returns how many files were merged.
pub(crate) fn replay(
    found: Vec<(PathBuf, File)>,
    mut commit: impl FnMut(&[Op]) -> Result<(), StoreError>,
) -> usize {
    let mut merged = 0;
    for (path, file) in found {
        let ops = read_ops(&path);
        match commit(&ops) {
            Ok(()) => {
                let _ = fs::remove_file(&path);
                merged += 1;
                tracing::info!(path = %path.display(), n = ops.len(), "spool merged");
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "spool not merged");
                break;
            }
        }
        drop(file);
    }
    merged
}

/// Every readable operation in a spool file, in order.
pub(crate) fn read_ops(path: &Path) -> Vec<Op> {
    let Ok(file) = File::open(path) else {
        return Vec::new();
    };
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str(&line).ok())
        .collect()
}
