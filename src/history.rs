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
//! says so. `save_ask_exchange` is the one-shot path for `kaiwa ask`.

pub mod cli;
mod ops;
pub mod prompts;
mod spool;
mod tracker;
pub mod tui;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::api::types::{ChatMessage, Role};
use crate::chat::conversation::{Conversation, Message, MessageId, MessageStatus};
use crate::chat::usage::RequestUsage;
use crate::config::Config;
use crate::store::{
    LedgerRow, LoadedConversation, MessageState, Store, StoreError, StoredRole, now_ms,
};
use ops::Op;
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

/// A conversation reopened from the file.
#[derive(Debug, Clone)]
pub struct Resumed {
    pub conversation: Conversation,
    pub uid: String,
    pub title: Option<String>,
    /// The model it was last held with.
    pub model: Option<String>,
    pub base_url: Option<String>,
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

    /// Starts the writer for the file at `path`, spooling into `spool_dir`.
    pub fn start_at(path: &Path, spool_dir: &Path) -> (Self, Option<String>) {
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
        let thread = match thread {
            Ok(handle) => handle,
            Err(e) => {
                let notice = format!("history off: cannot start its thread ({e})");
                return (Self::disabled(), Some(notice));
            }
        };
        shared.wait_for(OPEN_WAIT, |s| s.opened);
        let history = Self {
            inner: Some(Inner {
                tx,
                shared,
                thread: Some(thread),
                sent: 0,
            }),
            tracker: Tracker::default(),
            path: Some(path.to_path_buf()),
        };
        let notice = history.take_notice();
        (history, notice)
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

    /// Loads conversation `uid` (every branch, the head path current) and
    /// makes it the one being saved. Blocks until the writer answers (it
    /// answers after committing what was sent before). Sync the current
    /// conversation first: answers still streaming in it are settled as
    /// stopped.
    pub fn resume(&mut self, uid: &str) -> Result<Resumed, StoreError> {
        let Some(inner) = &self.inner else {
            return Err(StoreError::Invalid("history is off".to_string()));
        };
        let (reply, answer) = mpsc::channel();
        let stopped = || StoreError::Invalid("the history writer has stopped".to_string());
        inner
            .tx
            .send(Cmd::Load {
                uid: uid.to_string(),
                reply,
            })
            .map_err(|_| stopped())?;
        let loaded = answer.recv().map_err(|_| stopped())??;
        Ok(self.adopt(&loaded))
    }

    /// Like `resume`, for a conversation loaded elsewhere (with `reader()`
    /// off the UI thread): rebuilds it in memory, with ids above every id
    /// seen so far, and makes it the one being saved. Cheap.
    pub fn adopt(&mut self, loaded: &LoadedConversation) -> Resumed {
        let floor = self.tracker.max_seen();
        let (conversation, uids) = rebuild(loaded, floor);
        let ops = self
            .tracker
            .seed(&loaded.summary.uid, &conversation, &uids, floor);
        self.send(ops);
        Resumed {
            conversation,
            uid: loaded.summary.uid.clone(),
            title: loaded.summary.title.clone(),
            model: loaded.summary.model.clone(),
            base_url: loaded.base_url.clone(),
        }
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
            None => Err(StoreError::Invalid("history is off".to_string())),
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

/// `<uid>-<title-slug>.md`: sorts by time, says what it is.
pub fn markdown_file_name(uid: &str, title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.chars().count() >= 48 {
            break;
        }
    }
    let slug = slug.trim_matches('-');
    let slug = if slug.is_empty() {
        "conversation"
    } else {
        slug
    };
    format!("{uid}-{slug}.md")
}

/// Writes conversation `uid` of `store` as Markdown into `dir` (0700 if
/// created, the file 0600); returns the file's path.
pub fn export_markdown_file(store: &Store, uid: &str, dir: &Path) -> Result<PathBuf, StoreError> {
    use std::io::Write as _;
    let text = store.export_markdown(uid)?;
    let title = store
        .summary(uid)?
        .map(|s| s.display_title().to_string())
        .unwrap_or_default();
    let io_error = |context: String| move |source| StoreError::Io { context, source };
    crate::paths::create_private_dir(dir)
        .map_err(io_error(format!("cannot create {}", dir.display())))?;
    let file = dir.join(markdown_file_name(uid, &title));
    crate::paths::create_private_file(&file)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .map_err(io_error(format!("cannot write {}", file.display())))?;
    Ok(file)
}

/// The in-memory conversation for a loaded one: message ids above `floor`
/// (parents first), tool output left out (its children hang on its
/// parent), and each message's saved uid.
fn rebuild(loaded: &LoadedConversation, floor: u64) -> (Conversation, HashMap<MessageId, String>) {
    let mut scratch = Conversation::default();
    let template_id = scratch.push(Role::User, String::new(), MessageStatus::Complete);
    let template: Option<Message> = scratch.get(template_id).cloned();
    let mut ids: HashMap<i64, Option<MessageId>> = HashMap::new();
    let mut uids = HashMap::new();
    let mut messages = Vec::new();
    let mut next = floor;
    for m in &loaded.messages {
        let parent = m.parent.and_then(|p| ids.get(&p).copied().flatten());
        let role = match m.role {
            StoredRole::System => Role::System,
            StoredRole::User => Role::User,
            StoredRole::Assistant => Role::Assistant,
            StoredRole::Tool => {
                ids.insert(m.id, parent);
                continue;
            }
        };
        let Some(template) = template.clone() else {
            break;
        };
        next += 1;
        let id = MessageId(next);
        ids.insert(m.id, Some(id));
        uids.insert(id, m.uid.clone());
        let status = match m.state {
            MessageState::Done => MessageStatus::Complete,
            MessageState::Stopped => MessageStatus::Stopped,
            MessageState::Streaming | MessageState::Interrupted | MessageState::Error => {
                MessageStatus::Interrupted
            }
        };
        messages.push(Message {
            id,
            parent,
            role,
            content: m.content.clone(),
            status,
            rev: 0,
            model: m.model.clone(),
            error: m.error.clone(),
            skipped: m.skipped,
            finish_reason: m.finish_reason.clone(),
            ..template
        });
    }
    let head = loaded
        .path()
        .last()
        .and_then(|h| ids.get(&h.id).copied().flatten());
    (Conversation::from_saved(messages, head), uids)
}

/// One `kaiwa ask` exchange, saved as a conversation of one turn.
#[derive(Debug, Clone, PartialEq)]
pub struct AskExchange<'a> {
    pub model: &'a str,
    pub base_url: &'a str,
    /// What was sent: the system prompt (if any) and the question.
    pub messages: &'a [ChatMessage],
    pub answer: &'a str,
    /// `Done`, `Interrupted`, `Stopped` or `Error` (no text arrived).
    pub state: MessageState,
    pub finish_reason: Option<&'a str>,
    pub error: Option<&'a str>,
    /// What was counted for the request, if anything.
    pub usage: Option<RequestUsage>,
    pub started_at_ms: i64,
    pub duration_ms: Option<i64>,
}

/// Saves a `kaiwa ask` exchange (blocking: opens the file, one
/// transaction, closes it). Nothing happens with `--no-history`. When the
/// file is locked the exchange goes to the spool (merged by the next kaiwa
/// that opens the file). Returns a line for stderr when the user should
/// know something (a damaged file moved aside, history could not be saved).
pub fn save_ask_exchange(config: &Config, exchange: &AskExchange<'_>) -> Option<String> {
    let path = config.history_path.as_ref()?;
    let ops = ask_ops(exchange);
    let opened = match Store::open(path) {
        Ok(opened) => opened,
        Err(StoreError::Locked) => return spool_ask(config, &ops),
        Err(e) => return Some(format!("history: not saved ({e})")),
    };
    let notice = opened.notice.clone();
    if opened.read_only {
        return notice;
    }
    let mut store = opened.store;
    let _ = store.set_busy_timeout(writer::WRITER_BUSY_TIMEOUT);
    let mut ids = ops::Ids::default();
    let result = store.transaction(|s| {
        for op in &ops {
            ops::apply(s, &mut ids, op)?;
        }
        Ok(())
    });
    match result {
        Ok(()) => {
            store.close_cleanly();
            notice
        }
        Err(StoreError::Locked) => spool_ask(config, &ops).or(notice),
        Err(e) => Some(format!("history: not saved ({e})")),
    }
}

fn spool_ask(config: &Config, ops: &[Op]) -> Option<String> {
    let mut spool = spool::Spool::new(config.state_dir.join("spool"));
    match spool.append(ops) {
        Ok(()) => None,
        Err(e) => Some(format!("history: not saved (the file is locked and {e})")),
    }
}

fn ask_ops(x: &AskExchange<'_>) -> Vec<Op> {
    let at = x.started_at_ms;
    let conversation = crate::store::uid::new_uid(at);
    let mut ops = vec![Op::Conversation {
        uid: conversation.clone(),
        model: Some(x.model.to_string()),
        base_url: Some(x.base_url.to_string()),
        at,
    }];
    let mut parent: Option<String> = None;
    for m in x.messages {
        let uid = crate::store::uid::new_uid(at);
        ops.push(Op::Insert {
            conversation: conversation.clone(),
            uid: uid.clone(),
            parent: parent.take(),
            role: tracker::stored_role(m.role).as_str().to_string(),
            content: m.content.clone(),
            state: MessageState::Done.as_str().to_string(),
            model: None,
            finish_reason: None,
            error: None,
            skipped: 0,
            at,
        });
        parent = Some(uid);
    }
    let answer = crate::store::uid::new_uid(at);
    let end = at + x.duration_ms.unwrap_or(0);
    ops.push(Op::Insert {
        conversation: conversation.clone(),
        uid: answer.clone(),
        parent,
        role: StoredRole::Assistant.as_str().to_string(),
        content: x.answer.to_string(),
        state: x.state.as_str().to_string(),
        model: Some(x.model.to_string()),
        finish_reason: x.finish_reason.map(str::to_string),
        error: x.error.map(str::to_string),
        skipped: 0,
        at: end,
    });
    ops.push(Op::Head {
        conversation,
        head: Some(answer.clone()),
        at: end,
    });
    let mut row = LedgerRow::from_usage(
        x.model,
        Some(x.base_url),
        x.usage.as_ref(),
        x.state.as_str(),
        at,
    );
    row.duration_ms = x.duration_ms;
    ops.push(Op::Request {
        message: Some(answer),
        row,
    });
    ops
}
