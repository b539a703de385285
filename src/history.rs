//! Saving conversations as they happen, for the TUI: `History` keeps the
//! history file up to date with the in-memory `Conversation` through a
//! writer thread, so the UI never waits on the disk.
//!
//! The runtime calls `sync` after every batch of updates and before
//! drawing; `sync` diffs the conversation against what was sent (cheap:
//! one lookup per message, O(changed) work) and sends operations to the
//! thread, which commits each batch in one transaction. `flush` waits until
//! everything sent is durable. Invariants: nothing here blocks on SQLite
//! except `resume` and `flush` (both with a bound); a locked file never
//! drops a turn (it goes to the spool and is merged later); when the file
//! cannot be written at all the conversation stays in memory and `status`
//! says so. Reopening a saved conversation is `resume.rs`; the Markdown
//! file export is `export.rs`; `save_ask_exchange` (`ask.rs`) is the
//! one-shot path for `kaiwa ask`.

mod ask;
pub mod cli;
mod export;
mod ops;
pub mod prompts;
mod resume;
mod spool;
mod tracker;
pub mod tui;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::chat::conversation::{Conversation, MessageId};
use crate::chat::usage::RequestUsage;
use crate::config::Config;
use crate::store::{LedgerRow, Store, StoreError, now_ms};
pub use ask::{AskExchange, save_ask_exchange};
pub use export::{export_markdown_file, markdown_file_name};
use ops::Op;
pub use resume::Resumed;
use tracker::Tracker;
use writer::{Cmd, Shared};

/// How long `start` waits for the file to open before returning (a later
/// notice comes through `take_notice`).
const OPEN_WAIT: Duration = Duration::from_secs(1);
/// How long dropping a `History` waits for the writer to finish.
const DROP_WAIT: Duration = Duration::from_secs(3);

/// What a conversation row records about where it was held.
#[derive(Debug, Clone, Copy)]
pub struct SyncMeta<'a> {
    pub model: &'a str,
    pub base_url: &'a str,
}

/// How the TUI should start (from `-c` / `--resume`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Startup {
    /// Open this conversation (a resolved uid).
    pub resume: Option<String>,
    /// `--resume` without an id: open the history browser.
    pub open_browser: bool,
    /// Something to show in the status bar at start ("nothing to continue").
    pub notice: Option<String>,
}

/// One request for the usage ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    /// The answer it produced.
    pub message: Option<MessageId>,
    pub model: String,
    pub base_url: String,
    /// What was counted; None when nothing was (refused before billing).
    pub usage: Option<RequestUsage>,
    /// `done`, `stopped`, `interrupted` or `error`.
    pub status: String,
    pub started_at_ms: i64,
    pub duration_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
}

struct Inner {
    tx: Sender<Cmd>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    sent: u64,
}

/// The TUI's handle on the history file.
pub struct History {
    inner: Option<Inner>,
    tracker: Tracker,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("path", &self.path)
            .field("enabled", &self.inner.is_some())
            .finish_non_exhaustive()
    }
}

impl History {
    /// No history (`--no-history`): every call is a cheap no-op.
    pub fn disabled() -> Self {
        Self {
            inner: None,
            tracker: Tracker::default(),
            path: None,
        }
    }

    /// Starts the writer for `config.history_path` (disabled when None).
    /// The notice is for the status bar (a damaged file moved aside, a
    /// newer file opened read-only, history off).
    pub fn start(config: &Config) -> (Self, Option<String>) {
        match &config.history_path {
            Some(path) => Self::start_at(path, &config.state_dir.join("spool")),
            None => (Self::disabled(), None),
        }
    }

    /// Starts the writer for the file at `path`, spooling into `spool_dir`,
    /// and waits (at most `OPEN_WAIT`) until it has opened the file.
    pub fn start_at(path: &Path, spool_dir: &Path) -> (Self, Option<String>) {
        match Self::spawn(path, spool_dir) {
            Ok(history) => {
                if let Some(inner) = &history.inner {
                    inner.shared.wait_for(OPEN_WAIT, |s| s.opened);
                }
                let notice = history.take_notice();
                (history, notice)
            }
            Err(notice) => (Self::disabled(), Some(notice)),
        }
    }

    /// Like [`History::start`] without waiting for the file to open: the
    /// TUI's first frame does not wait for the disk (creating a history
    /// file takes several fsyncs, 7–9 ms). What opening it says comes
    /// through [`History::opening`].
    pub fn start_in_background(config: &Config) -> (Self, Option<String>) {
        match &config.history_path {
            Some(path) => match Self::spawn(path, &config.state_dir.join("spool")) {
                Ok(history) => (history, None),
                Err(notice) => (Self::disabled(), Some(notice)),
            },
            None => (Self::disabled(), None),
        }
    }

    /// For a thread off the loop: waits (at most `OPEN_WAIT`) until the
    /// writer has opened the file, then gives what opening it said (a
    /// damaged file moved aside, history off). None when history is off.
    pub fn opening(&self) -> Option<impl FnOnce() -> Option<String> + Send + 'static> {
        let shared = Arc::clone(&self.inner.as_ref()?.shared);
        Some(move || {
            shared.wait_for(OPEN_WAIT, |s| s.opened);
            shared.state.lock().ok()?.notice.take()
        })
    }

    fn spawn(path: &Path, spool_dir: &Path) -> Result<Self, String> {
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::channel::<Cmd>();
        let thread = {
            let shared = Arc::clone(&shared);
            let path = path.to_path_buf();
            let spool_dir = spool_dir.to_path_buf();
            std::thread::Builder::new()
                .name("kaiwa-history".into())
                .spawn(move || writer::run(path, spool_dir, &rx, &shared))
        };
        let thread = thread.map_err(|e| format!("history off: cannot start its thread ({e})"))?;
        Ok(Self {
            inner: Some(Inner {
                tx,
                shared,
                thread: Some(thread),
                sent: 0,
            }),
            tracker: Tracker::default(),
            path: Some(path.to_path_buf()),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The history file, when enabled.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Uid of the conversation being saved, once it has a row.
    pub fn conversation_uid(&self) -> Option<&str> {
        self.tracker.conversation()
    }

    /// Brings the file up to date with `conversation`. Call after every
    /// batch of updates, before drawing (so the user's message is committed
    /// before its request goes out when the runtime syncs before running
    /// `StartChat`).
    pub fn sync(&mut self, conversation: &Conversation, meta: &SyncMeta<'_>) {
        let Some(inner) = &self.inner else {
            return;
        };
        let resync = inner
            .shared
            .state
            .lock()
            .is_ok_and(|mut s| std::mem::take(&mut s.resync));
        if resync {
            self.tracker.resync();
        }
        let ops = self.tracker.sync(conversation, meta, now_ms());
        self.send(ops);
    }

    /// Ctrl+N: the next `sync` starts a new conversation row (answers still
    /// streaming in the old one are kept, marked stopped). Call it when the
    /// app starts a new conversation, before the next `sync`.
    pub fn new_conversation(&mut self) {
        self.tracker.new_conversation();
    }

    /// Adds a request to the usage ledger (after the `sync` that saved its
    /// answer, so it links to it).
    pub fn record_request(&mut self, entry: &LedgerEntry) {
        if self.inner.is_none() {
            return;
        }
        let mut row = LedgerRow::from_usage(
            &entry.model,
            Some(&entry.base_url),
            entry.usage.as_ref(),
            &entry.status,
            entry.started_at_ms,
        );
        row.duration_ms = entry.duration_ms;
        row.ttft_ms = entry.ttft_ms;
        let message = entry
            .message
            .and_then(|id| self.tracker.uid_of(id))
            .map(str::to_string);
        self.send(vec![Op::Request { message, row }]);
    }

    /// Remembers a model's context window learned from an overflow error
    /// (the running chat's writer).
    pub fn learn_limit(&mut self, model: &str, tokens: u64) {
        self.send(vec![Op::Limit {
            model: model.to_string(),
            tokens,
            at: now_ms(),
        }]);
    }

    /// Renames a saved conversation (None clears the title).
    pub fn rename(&mut self, uid: &str, title: Option<&str>) {
        self.send(vec![Op::Rename {
            uid: uid.to_string(),
            title: title.map(str::to_string),
        }]);
    }

    /// Archives or restores a saved conversation.
    pub fn archive(&mut self, uid: &str, archived: bool) {
        self.send(vec![Op::Archive {
            uid: uid.to_string(),
            archived,
            at: now_ms(),
        }]);
    }

    /// Deletes a saved conversation for good. If it is the one open, it is
    /// no longer saved (the app should start a new conversation).
    pub fn delete_conversation(&mut self, uid: &str) {
        self.tracker.forget(uid);
        self.send(vec![Op::DeleteConversation {
            uid: uid.to_string(),
        }]);
    }

    /// Waits until everything sent so far is committed (or spooled, or
    /// knowingly dropped); false on timeout.
    pub fn flush(&self, timeout: Duration) -> bool {
        let Some(inner) = &self.inner else {
            return true;
        };
        let target = inner.sent;
        inner
            .shared
            .wait_for(timeout, |s| s.done >= target || s.stopped)
    }

    /// A short status-bar text while something is wrong ("history: waiting
    /// for lock"), else None.
    pub fn status(&self) -> Option<String> {
        let inner = self.inner.as_ref()?;
        inner.shared.state.lock().ok()?.status.clone()
    }

    /// A one-time notice that arrived after `start` returned.
    pub fn take_notice(&self) -> Option<String> {
        let inner = self.inner.as_ref()?;
        inner.shared.state.lock().ok()?.notice.take()
    }

    /// A read-only connection to the same file, for the history browser's
    /// list and search (run it off the UI thread).
    pub fn reader(&self) -> Result<Store, StoreError> {
        match &self.path {
            Some(path) => Store::open_reader(path),
            None => Err(StoreError::HistoryOff),
        }
    }

    /// Stops the writer after everything sent is written; false if it did
    /// not finish within `timeout`.
    pub fn shutdown(mut self, timeout: Duration) -> bool {
        self.stop(timeout)
    }

    fn stop(&mut self, timeout: Duration) -> bool {
        let Some(mut inner) = self.inner.take() else {
            return true;
        };
        inner.sent += 1;
        let seq = inner.sent;
        if inner.tx.send(Cmd::Shutdown { seq }).is_err() {
            return true;
        }
        let finished = inner.shared.wait_for(timeout, |s| s.stopped);
        if finished && let Some(thread) = inner.thread.take() {
            let _ = thread.join();
        }
        finished
    }

    fn send(&mut self, ops: Vec<Op>) {
        if ops.is_empty() {
            return;
        }
        let Some(inner) = self.inner.as_mut() else {
            return;
        };
        inner.sent += 1;
        if inner
            .tx
            .send(Cmd::Ops {
                seq: inner.sent,
                ops,
            })
            .is_err()
        {
            tracing::warn!("history writer has stopped; operations dropped");
        }
    }
}

impl Drop for History {
    fn drop(&mut self) {
        self.stop(DROP_WAIT);
    }
}

/// The windows learned from overflow errors, from the history file (none
/// with `--no-history` or when it cannot be read).
pub fn learned_limits(config: &Config) -> Vec<(String, u64)> {
    config
        .history_path
        .as_deref()
        .filter(|path| path.exists())
        .and_then(|path| Store::open_reader(path).ok())
        .and_then(|store| store.learned_limits().ok())
        .unwrap_or_default()
}

/// Remembers a window learned by `kaiwa ask` (a problem goes to the log:
/// it must not fail the command).
pub fn remember_limit(config: &Config, model: &str, tokens: u64) {
    let Some(path) = config.history_path.as_deref() else {
        return;
    };
    let saved = Store::open(path).and_then(|opened| {
        let mut store = opened.store;
        store.learn_limit(model, tokens, now_ms())?;
        store.close_cleanly();
        Ok(())
    });
    if let Err(e) = saved {
        tracing::warn!(%e, "context window not remembered");
    }
}
