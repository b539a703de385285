//! The writer thread: the only place the TUI's history is written. It
//! owns the store's connection, applies batches of operations, answers
//! loads, and falls back to the spool when the file is locked.
//!
//! Invariants: operations are applied in the order they were sent, each
//! batch in one IMMEDIATE transaction; once one batch could not be
//! committed because of the lock, every later operation goes to the spool
//! too (order is kept) until the spool is merged; `done` is published only
//! after a batch is committed, spooled, or knowingly dropped (history off),
//! so `History::flush` means "nothing sent is only in memory here".

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::ops::{self, Ids, Op};
use super::spool::{self, Spool};
use crate::store::{LoadedConversation, Store, StoreError};

/// How long a write waits for another kaiwa before the turn is spooled.
pub(crate) const WRITER_BUSY_TIMEOUT: Duration = Duration::from_secs(1);
/// How often a spooling writer tries the file again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

pub(crate) enum Cmd {
    Ops {
        seq: u64,
        ops: Vec<Op>,
    },
    Load {
        uid: String,
        reply: Sender<Result<LoadedConversation, StoreError>>,
    },
    Shutdown {
        seq: u64,
    },
}

/// What the writer tells the UI.
#[derive(Debug, Default)]
pub(crate) struct SharedState {
    /// Highest operation batch that is durable (or knowingly dropped).
    pub done: u64,
    /// Something wrong now, for the status bar.
    pub status: Option<String>,
    /// Something to tell once (a file moved aside).
    pub notice: Option<String>,
    /// The store was opened (or failed to).
    pub opened: bool,
    /// The thread has ended.
    pub stopped: bool,
    /// The file was replaced (a damaged one moved aside): the front must
    /// send the whole conversation again.
    pub resync: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub state: Mutex<SharedState>,
    pub cond: Condvar,
}

impl Shared {
    pub(crate) fn update(&self, f: impl FnOnce(&mut SharedState)) {
        if let Ok(mut state) = self.state.lock() {
            f(&mut state);
        }
        self.cond.notify_all();
    }

    /// Waits until `ready` holds or `timeout` passes; returns whether it held.
    pub(crate) fn wait_for(&self, timeout: Duration, ready: impl Fn(&SharedState) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        loop {
            if ready(&state) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            match self.cond.wait_timeout(state, deadline - now) {
                Ok((next, _)) => state = next,
                Err(_) => return false,
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Normal,
    /// Locked: operations go to the spool until it can be merged.
    Spooling,
    /// Not writing (read-only, disk full, unusable); the conversation stays
    /// in memory.
    Off,
}

pub(crate) struct Writer {
    path: PathBuf,
    store: Option<Store>,
    ids: Ids,
    spool: Spool,
    mode: Mode,
    shared: Arc<Shared>,
    last_try: Instant,
}

/// The thread's body.
pub(crate) fn run(path: PathBuf, spool_dir: PathBuf, rx: &Receiver<Cmd>, shared: &Arc<Shared>) {
    let mut writer = Writer::open(path, spool_dir, Arc::clone(shared));
    writer.serve(rx);
    // Close the file and release the spool's lock before saying so.
    drop(writer);
    shared.update(|s| s.stopped = true);
}

impl Writer {
    fn open(path: PathBuf, spool_dir: PathBuf, shared: Arc<Shared>) -> Self {
        let mut writer = Self {
            path,
            store: None,
            ids: Ids::default(),
            spool: Spool::new(spool_dir),
            mode: Mode::Normal,
            shared,
            last_try: Instant::now(),
        };
        let (status, notice) = match Store::open(&writer.path) {
            Ok(opened) if opened.read_only => {
                writer.store = Some(opened.store);
                writer.mode = Mode::Off;
                (
                    Some("history: read-only (newer file)".to_string()),
                    opened.notice,
                )
            }
            Ok(mut opened) => {
                let _ = opened.store.set_busy_timeout(WRITER_BUSY_TIMEOUT);
                if let Err(e) = opened.store.claim_writer() {
                    tracing::warn!(error = %e, "no writer lock; recovery cannot tell live answers");
                }
                writer.store = Some(opened.store);
                // Spools first: an answer they start is settled just after.
                writer.merge_leftovers();
                writer.recover();
                (None, opened.notice)
            }
            Err(StoreError::Locked) => {
                writer.mode = Mode::Spooling;
                (Some("history: waiting for lock".to_string()), None)
            }
            Err(e) => {
                writer.mode = Mode::Off;
                let text = format!("history off: {e} — kept in memory");
                (Some(text.clone()), Some(text))
            }
        };
        writer.shared.update(|s| {
            s.status = status;
            s.notice = notice;
            s.opened = true;
        });
        writer
    }

    fn serve(&mut self, rx: &Receiver<Cmd>) {
        loop {
            let first = if self.mode == Mode::Spooling {
                match rx.recv_timeout(RETRY_EVERY) {
                    Ok(cmd) => cmd,
                    Err(RecvTimeoutError::Timeout) => {
                        self.try_merge();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match rx.recv() {
                    Ok(cmd) => cmd,
                    Err(_) => break,
                }
            };
            let mut batch = vec![first];
            while let Ok(cmd) = rx.try_recv() {
                batch.push(cmd);
            }
            let mut ops: Vec<Op> = Vec::new();
            let mut done = None;
            let mut shutdown = false;
            for cmd in batch {
                match cmd {
                    Cmd::Ops { seq, ops: more } => {
                        ops.extend(more);
                        done = Some(seq);
                    }
                    Cmd::Load { uid, reply } => {
                        self.write(std::mem::take(&mut ops));
                        let _ = reply.send(self.load(&uid));
                    }
                    Cmd::Shutdown { seq } => {
                        done = Some(seq);
                        shutdown = true;
                    }
                }
            }
            self.write(ops);
            if shutdown {
                self.finish();
            }
            if let Some(seq) = done {
                self.shared.update(|s| s.done = s.done.max(seq));
            }
            if shutdown {
                return;
            }
        }
        self.finish();
    }

    fn load(&mut self, uid: &str) -> Result<LoadedConversation, StoreError> {
        match self.store.as_ref() {
            Some(store) => store.load(uid),
            None => Err(StoreError::Locked),
        }
    }

    fn write(&mut self, ops: Vec<Op>) {
        if ops.is_empty() {
            return;
        }
        match self.mode {
            Mode::Off => {}
            Mode::Spooling => {
                self.spool_ops(&ops);
                if self.last_try.elapsed() >= RETRY_EVERY {
                    self.try_merge();
                }
            }
            Mode::Normal => match self.commit(&ops) {
                Ok(()) => {}
                Err(StoreError::Locked) => {
                    self.mode = Mode::Spooling;
                    self.last_try = Instant::now();
                    self.set_status(Some("history: waiting for lock"));
                    self.spool_ops(&ops);
                }
                Err(StoreError::Corrupt(why)) => self.replace_damaged(&why),
                Err(e @ (StoreError::DiskFull | StoreError::ReadOnly)) => self.off(&e),
                Err(e) => {
                    // Something unexpected in one operation: save the rest.
                    tracing::warn!(error = %e, "history batch failed; retrying one by one");
                    for op in ops {
                        if let Err(e) = self.commit(std::slice::from_ref(&op)) {
                            tracing::warn!(error = %e, "history operation lost");
                        }
                    }
                }
            },
        }
    }

    fn commit(&mut self, ops: &[Op]) -> Result<(), StoreError> {
        let Some(store) = self.store.as_mut() else {
            return Err(StoreError::Locked);
        };
        ops::apply_all(store, &mut self.ids, ops)
    }

    fn spool_ops(&mut self, ops: &[Op]) {
        if let Err(e) = self.spool.append(ops) {
            tracing::warn!(error = %e, "cannot write the history spool");
            self.mode = Mode::Off;
            self.set_status(Some(&format!(
                "history off: cannot keep the turn ({e}) — kept in memory"
            )));
        }
    }

    fn off(&mut self, error: &StoreError) {
        self.mode = Mode::Off;
        let text = match error {
            StoreError::DiskFull => "history off: disk full — kept in memory".to_string(),
            StoreError::ReadOnly => {
                "history off: the file cannot be written — kept in memory".to_string()
            }
            StoreError::Locked
            | StoreError::Corrupt(_)
            | StoreError::NotFound(_)
            | StoreError::HistoryOff
            | StoreError::WriterStopped
            | StoreError::Invalid(_)
            | StoreError::BadImport(_)
            | StoreError::Io { .. }
            | StoreError::Sqlite(_) => format!("history off: {error} — kept in memory"),
        };
        tracing::warn!(%error, "history off");
        self.set_status(Some(&text));
    }

    fn set_status(&self, text: Option<&str>) {
        let text = text.map(str::to_string);
        self.shared.update(|s| s.status = text);
    }

    /// Opens the file if need be and replays this process's spool.
    fn try_merge(&mut self) {
        self.last_try = Instant::now();
        if self.store.is_none() {
            match Store::open(&self.path) {
                Ok(opened) if opened.read_only => {
                    self.store = Some(opened.store);
                    self.off(&StoreError::ReadOnly);
                    return;
                }
                Ok(mut opened) => {
                    let _ = opened.store.set_busy_timeout(WRITER_BUSY_TIMEOUT);
                    let _ = opened.store.claim_writer();
                    if let Some(notice) = opened.notice {
                        self.shared.update(|s| s.notice = Some(notice));
                    }
                    self.store = Some(opened.store);
                    self.recover();
                }
                Err(StoreError::Locked) => return,
                Err(e) => {
                    self.off(&e);
                    return;
                }
            }
        }
        if !self.spool.is_active() {
            self.mode = Mode::Normal;
            self.set_status(None);
            return;
        }
        let ops = self.spool.own_ops();
        match self.commit(&ops) {
            Ok(()) => {
                self.spool.clear_own();
                self.mode = Mode::Normal;
                self.set_status(None);
            }
            Err(StoreError::Locked) => {}
            Err(e) => self.off(&e),
        }
    }

    /// The file turned out damaged while running: move it aside, start a
    /// fresh one, and have the front send the open conversation again.
    fn replace_damaged(&mut self, why: &str) {
        tracing::warn!(%why, "history file damaged");
        // Our connection (and writer lock) must be gone before the rename.
        self.store = None;
        self.ids.clear();
        match Store::reopen_after_damage(&self.path) {
            Ok(mut opened) => {
                let _ = opened.store.set_busy_timeout(WRITER_BUSY_TIMEOUT);
                let _ = opened.store.claim_writer();
                let notice = opened.notice.take();
                self.store = Some(opened.store);
                self.shared.update(|s| {
                    s.notice = notice;
                    s.resync = true;
                });
            }
            Err(e) => self.off(&e),
        }
    }

    /// Settles the answers of kaiwas that died while they streamed.
    fn recover(&mut self) {
        let Some(store) = self.store.as_mut() else {
            return;
        };
        match store.recover_interrupted() {
            Ok(0) => {}
            Ok(n) => tracing::info!(n, "interrupted answers recovered"),
            Err(e) => tracing::warn!(error = %e, "recovering interrupted answers"),
        }
    }

    /// Replays spool files left by kaiwas that are gone.
    fn merge_leftovers(&mut self) {
        let found = self.spool.leftovers();
        spool::replay(found, |ops| self.commit(ops));
    }

    fn finish(&mut self) {
        if self.mode == Mode::Spooling {
            self.try_merge();
        }
        // Still locked out: the checkpoint would only wait for the lock.
        if self.mode != Mode::Spooling
            && let Some(store) = self.store.as_ref()
        {
            store.close_cleanly();
        }
    }
}
