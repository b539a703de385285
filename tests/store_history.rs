//! `History`, the TUI's writer thread, against real files: what a sync
//! saves (and when it saves nothing), the streaming journal and crash
//! recovery, every tree change of the browsing issue, new conversations,
//! resume, the ledger, a locked file (spool, then merge), a newer or
//! damaged file, history off, and `save_ask_exchange`.
#![allow(
    clippy::unwrap_used,
    reason = "test helper outside #[test] functions: a failure should panic"
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kaiwa::api::types::{ChatMessage, Role};
use kaiwa::chat::conversation::{Conversation, MessageId, MessageStatus};
use kaiwa::chat::usage::RequestUsage;
use kaiwa::config::{Config, Overrides};
use kaiwa::history::{AskExchange, History, LedgerEntry, SyncMeta};
use kaiwa::store::{LoadedConversation, MessageState, Store, StoredRole};
use pretty_assertions::assert_eq;
use rusqlite::Connection;

const META: SyncMeta<'static> = SyncMeta {
    model: "gpt-4o-mini",
    base_url: "http://127.0.0.1:9/v1",
};
const WAIT: Duration = Duration::from_secs(10);

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn db(&self) -> PathBuf {
        self.dir.path().join("data/history.db")
    }
    fn spool(&self) -> PathBuf {
        self.dir.path().join("state/spool")
    }
    fn start(&self) -> (History, Option<String>) {
        History::start_at(&self.db(), &self.spool())
    }
    fn read(&self) -> Store {
        Store::open_reader(&self.db()).unwrap()
    }
    #[allow(
        clippy::indexing_slicing,
        reason = "asserts just before that there is exactly one"
    )]
    fn only(&self) -> LoadedConversation {
        let store = self.read();
        let list = store.list(false, 10, None).unwrap();
        assert_eq!(list.len(), 1, "{list:#?}");
        store.load(&list[0].uid).unwrap()
    }
    fn count(&self) -> usize {
        if !self.db().exists() {
            return 0;
        }
        self.read().list(false, 100, None).unwrap().len()
    }
    fn spool_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.spool())
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    }
}

fn sync(history: &mut History, conversation: &Conversation) {
    history.sync(conversation, &META);
    assert!(history.flush(WAIT), "flush timed out");
}

fn path_texts(loaded: &LoadedConversation) -> Vec<String> {
    loaded.path().iter().map(|m| m.content.clone()).collect()
}

fn memory_path(c: &Conversation) -> Vec<String> {
    c.messages().iter().map(|m| m.content.clone()).collect()
}

/// The tree as (role, text, parent's text) triples, for comparing memory
/// and file.
fn memory_tree(c: &Conversation) -> BTreeSet<(String, String, Option<String>)> {
    let all: Vec<_> = c.all_messages().collect();
    let text = |id: MessageId| all.iter().find(|m| m.id == id).map(|m| m.content.clone());
    all.iter()
        .map(|m| {
            (
                m.role.as_str().to_string(),
                m.content.clone(),
                m.parent.and_then(text),
            )
        })
        .collect()
}

fn file_tree(l: &LoadedConversation) -> BTreeSet<(String, String, Option<String>)> {
    let text = |id: i64| {
        l.messages
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.content.clone())
    };
    l.messages
        .iter()
        .map(|m| {
            (
                m.role.as_str().to_string(),
                m.content.clone(),
                m.parent.and_then(text),
            )
        })
        .collect()
}

fn assert_same(c: &Conversation, l: &LoadedConversation) {
    assert_eq!(file_tree(l), memory_tree(c));
    assert_eq!(path_texts(l), memory_path(c));
}

#[test]
fn nothing_is_saved_until_there_is_a_question() {
    let env = Env::new();
    let (mut history, notice) = env.start();
    assert_eq!(notice, None);
    let mut c = Conversation::new(Some("You are terse."));
    sync(&mut history, &c);
    assert_eq!(
        env.count(),
        0,
        "a system prompt alone is not a conversation"
    );
    c.push(Role::User, "안녕?".into(), MessageStatus::Complete);
    sync(&mut history, &c);
    let loaded = env.only();
    assert_eq!(path_texts(&loaded), ["You are terse.", "안녕?"]);
    assert_eq!(loaded.summary.preview, "안녕?");
    assert_eq!(loaded.summary.model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(loaded.base_url.as_deref(), Some(META.base_url));
    assert_eq!(
        history.conversation_uid(),
        Some(loaded.summary.uid.as_str())
    );
    // Nothing changed: nothing more is written.
    sync(&mut history, &c);
    assert_eq!(env.only(), loaded);
}

#[test]
fn a_streaming_answer_is_journalled_and_survives_a_crash() {
    let env = Env::new();
    let (mut history, _) = env.start();
    let mut c = Conversation::new(None);
    c.push(Role::User, "q".into(), MessageStatus::Complete);
    let a = c.push(Role::Assistant, String::new(), MessageStatus::Streaming);
    sync(&mut history, &c);
    for piece in ["Hel", "lo ", "wörld", "", " 🎉"] {
        c.update(a, |m| m.content.push_str(piece));
        sync(&mut history, &c);
    }
    let conn = Connection::open(env.db()).unwrap();
    let chunks: i64 = conn
        .query_row("SELECT count(*) FROM stream_chunks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(chunks, 4, "one chunk per sync that brought text");
    // kaiwa dies here: the answer never finishes.
    drop(history);
    let (history, _) = env.start();
    drop(history);
    let loaded = env.only();
    let answer = loaded
        .messages
        .iter()
        .find(|m| m.role == StoredRole::Assistant)
        .unwrap();
    assert_eq!(
        (answer.content.as_str(), answer.state),
        ("Hello wörld 🎉", MessageState::Interrupted)
    );
    let chunks: i64 = conn
        .query_row("SELECT count(*) FROM stream_chunks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(chunks, 0);
}

#[test]
fn every_tree_change_reaches_the_file() {
    let env = Env::new();
    let (mut history, _) = env.start();
    let mut c = Conversation::new(Some("sys"));
    let sys = c.messages()[0].id;
    c.push(Role::User, "q".into(), MessageStatus::Complete);
    let a = c.push(Role::Assistant, String::new(), MessageStatus::Streaming);
    c.update(a, |m| m.model = Some("gpt-4o".into()));
    sync(&mut history, &c);
    c.update(a, |m| m.content.push_str("a1 partial"));
    sync(&mut history, &c);
    // Finished: whole text and state in one go, chunks gone.
    c.update(a, |m| {
        m.content = "a1".into();
        m.status = MessageStatus::Complete;
        m.finish_reason = Some("length".into());
        m.skipped = 2;
    });
    sync(&mut history, &c);
    let l = env.only();
    let a1 = l.messages.iter().find(|m| m.content == "a1").unwrap();
    assert_eq!(
        (
            a1.state,
            a1.finish_reason.as_deref(),
            a1.skipped,
            a1.model.as_deref()
        ),
        (MessageState::Done, Some("length"), 2, Some("gpt-4o"))
    );
    assert_same(&c, &l);

    // Regenerate: a sibling, the head moves to it.
    c.branch_at(2);
    c.push(Role::Assistant, "a2".into(), MessageStatus::Complete);
    sync(&mut history, &c);
    assert_same(&c, &env.only());
    assert_eq!(c.alternatives(2), Some((2, 2)));
    // Back to the first answer.
    assert!(c.switch_alternative(2, -1));
    sync(&mut history, &c);
    assert_same(&c, &env.only());
    assert_eq!(path_texts(&env.only()), ["sys", "q", "a1"]);
    // Edit a question: a sibling question and its answer.
    c.branch_at(1);
    c.push(Role::User, "q edited".into(), MessageStatus::Complete);
    c.push(Role::Assistant, "b".into(), MessageStatus::Stopped);
    sync(&mut history, &c);
    assert_same(&c, &env.only());
    // Edit the system prompt in place (same length, other text).
    c.update(sys, |m| m.content = "SYS".into());
    sync(&mut history, &c);
    assert_same(&c, &env.only());
    // Delete the edited question; its answer follows the system prompt.
    c.delete(1).unwrap();
    sync(&mut history, &c);
    assert_same(&c, &env.only());
    assert_eq!(env.only().messages.len(), 5);
    // Undo puts it back.
    c.undo_delete().unwrap();
    sync(&mut history, &c);
    assert_same(&c, &env.only());
    assert_eq!(env.only().messages.len(), 6);
    let store = env.read();
    assert_eq!(store.search("edited", 5).unwrap().len(), 1);
    assert!(
        store.search("sys", 5).unwrap().is_empty(),
        "system prompts are not indexed"
    );
}

#[test]
fn new_conversation_starts_a_new_row_and_keeps_the_old() {
    let env = Env::new();
    let (mut history, _) = env.start();
    let mut c = Conversation::new(Some("sys"));
    c.push(Role::User, "first".into(), MessageStatus::Complete);
    let a = c.push(
        Role::Assistant,
        "half an ans".into(),
        MessageStatus::Streaming,
    );
    sync(&mut history, &c);
    let first = history.conversation_uid().unwrap().to_string();
    // Ctrl+N mid-answer: the app stops it and clears.
    c.update(a, |m| {
        m.content.push_str("wer");
        m.status = MessageStatus::Stopped;
    });
    history.new_conversation();
    c.clear(Some("sys"));
    sync(&mut history, &c);
    assert_eq!(env.count(), 1, "an empty new conversation is not saved");
    c.push(Role::User, "second".into(), MessageStatus::Complete);
    sync(&mut history, &c);
    assert_eq!(env.count(), 2);
    assert_ne!(history.conversation_uid(), Some(first.as_str()));
    let old = env.read().load(&first).unwrap();
    let answer = old
        .messages
        .iter()
        .find(|m| m.role == StoredRole::Assistant)
        .unwrap();
    assert_eq!(
        (answer.content.as_str(), answer.state),
        ("half an ans", MessageState::Stopped)
    );

    // Without the call, a cleared conversation is still kept (never deleted).
    c.clear(None);
    sync(&mut history, &c);
    c.push(Role::User, "third".into(), MessageStatus::Complete);
    sync(&mut history, &c);
    assert_eq!(env.count(), 3);
}

#[test]
fn a_failed_first_turn_leaves_nothing_behind() {
    for system in [None, Some("sys")] {
        let env = Env::new();
        let (mut history, _) = env.start();
        let mut c = Conversation::new(system);
        let q = c.push(Role::User, "doomed".into(), MessageStatus::Complete);
        let a = c.push(Role::Assistant, String::new(), MessageStatus::Streaming);
        sync(&mut history, &c);
        assert_eq!(env.count(), 1, "the question is saved before the request");
        // The request failed before any text: the app takes the turn back.
        c.remove(a);
        c.remove(q);
        sync(&mut history, &c);
        assert_eq!(env.count(), 0, "{system:?}");
        // The resent question starts a conversation again.
        c.push(Role::User, "doomed".into(), MessageStatus::Complete);
        sync(&mut history, &c);
        assert_eq!(
            path_texts(&env.only()).last().map(String::as_str),
            Some("doomed")
        );
    }
}

#[test]
fn resume_continues_exactly_where_it_was() {
    let env = Env::new();
    let (mut history, _) = env.start();
    let mut c = Conversation::new(Some("sys"));
    c.push(Role::User, "q".into(), MessageStatus::Complete);
    c.push(Role::Assistant, "a1".into(), MessageStatus::Complete);
    c.push(Role::User, "follow".into(), MessageStatus::Complete);
    let cut = c.push(Role::Assistant, "cut".into(), MessageStatus::Streaming);
    sync(&mut history, &c);
    c.branch_at(2);
    c.push(Role::Assistant, "a2".into(), MessageStatus::Complete);
    assert!(c.switch_alternative(2, -1));
    c.update(cut, |m| m.content.push_str(" off"));
    sync(&mut history, &c);
    let uid = history.conversation_uid().unwrap().to_string();
    let before = memory_tree(&c);
    drop(history); // killed with the answer still streaming

    let (mut history, _) = env.start();
    let resumed = history.resume(&uid).unwrap();
    let r = &resumed.conversation;
    assert_eq!(resumed.uid, uid);
    assert_eq!(memory_tree(r), before);
    assert_eq!(memory_path(r), ["sys", "q", "a1", "follow", "cut off"]);
    assert_eq!(r.messages()[4].status, MessageStatus::Interrupted);
    assert_eq!(r.alternatives(2), Some((1, 2)));
    assert_eq!(history.conversation_uid(), Some(uid.as_str()));
    // Going on writes into the same row, and nothing is duplicated.
    let mut r = resumed.conversation;
    sync(&mut history, &r);
    assert_eq!(env.only().messages.len(), 6);
    r.push(Role::User, "more".into(), MessageStatus::Complete);
    sync(&mut history, &r);
    assert_same(&r, &env.only());
    assert!(r.switch_alternative(2, 1));
    sync(&mut history, &r);
    assert_eq!(path_texts(&env.only()), ["sys", "q", "a2"]);
    assert!(history.resume("01nonexistentnonexistent00").is_err());
}

/// An answer that lost unreadable events keeps the count in the file, and
/// a resumed conversation shows the mark under it again.
#[test]
fn a_skipped_events_mark_is_saved_and_shown_again_on_resume() {
    let env = Env::new();
    let (mut history, _) = env.start();
    let mut c = Conversation::new(None);
    c.push(Role::User, "q".into(), MessageStatus::Complete);
    let answer = c.push(Role::Assistant, "part".into(), MessageStatus::Streaming);
    sync(&mut history, &c);
    c.update(answer, |m| {
        m.content.push_str(" and the rest");
        m.status = MessageStatus::Complete;
        m.finish_reason = Some("stop".into());
        m.skipped = 3;
    });
    sync(&mut history, &c);
    let uid = history.conversation_uid().unwrap().to_string();
    drop(history);

    let saved = env.only();
    assert_eq!(saved.messages[1].skipped, 3);
    assert_eq!(saved.messages[1].state, MessageState::Done);
    let (mut history, _) = env.start();
    let resumed = history.resume(&uid).unwrap();
    let m = &resumed.conversation.messages()[1];
    assert_eq!((m.content.as_str(), m.skipped), ("part and the rest", 3));
    let shown: Vec<String> = kaiwa::ui::transcript::message_lines(m, 80)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        shown
            .iter()
            .any(|l| l.trim() == "⚠ 3 unreadable events skipped — text may be missing"),
        "{shown:#?}"
    );
}

#[test]
fn left_out_turns_and_a_summary_keep_their_marks_across_a_resume() {
    let env = Env::new();
    let (mut history, _) = env.start();
    let mut c = Conversation::new(Some("sys"));
    let q = c.push(Role::User, "q".into(), MessageStatus::Complete);
    let a = c.push(Role::Assistant, "a".into(), MessageStatus::Complete);
    sync(&mut history, &c);
    // Trimmed to fit, then summarised: marked after they were saved, and a
    // summary saved with its mark.
    c.update(q, |m| m.not_sent = true);
    c.update(a, |m| m.not_sent = true);
    let s = c.push(Role::System, "the gist".into(), MessageStatus::Complete);
    c.update(s, |m| m.summary = true);
    c.push(Role::User, "next".into(), MessageStatus::Complete);
    sync(&mut history, &c);
    let uid = history.conversation_uid().unwrap().to_string();
    drop(history);

    let (mut history, _) = env.start();
    let resumed = history.resume(&uid).unwrap().conversation;
    let marks: Vec<(&str, bool, bool)> = resumed
        .messages()
        .iter()
        .map(|m| (m.content.as_str(), m.not_sent, m.summary))
        .collect();
    assert_eq!(
        marks,
        [
            ("sys", false, false),
            ("q", true, false),
            ("a", true, false),
            ("the gist", false, true),
            ("next", false, false)
        ]
    );
    // What a request would carry: the left-out turns stay out.
    let sent: Vec<String> = resumed
        .request_messages()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(sent, ["sys", "the gist", "next"]);
}

#[test]
fn resumed_ids_keep_growing() {
    let env = Env::new();
    let (mut history, _) = env.start();
    let mut c = Conversation::new(None);
    for i in 0..5 {
        c.push(Role::User, format!("m{i}"), MessageStatus::Complete);
    }
    sync(&mut history, &c);
    let uid = history.conversation_uid().unwrap().to_string();
    let top = c.all_messages().map(|m| m.id).max().unwrap();
    let resumed = history.resume(&uid).unwrap();
    let lowest = resumed
        .conversation
        .all_messages()
        .map(|m| m.id)
        .min()
        .unwrap();
    assert!(
        lowest > top,
        "display caches key on ids: they never repeat in a run"
    );
}

#[test]
fn the_ledger_links_to_the_answer() {
    let env = Env::new();
    let (mut history, _) = env.start();
    let mut c = Conversation::new(None);
    c.push(Role::User, "q".into(), MessageStatus::Complete);
    let a = c.push(Role::Assistant, "a".into(), MessageStatus::Complete);
    sync(&mut history, &c);
    let usage = RequestUsage {
        prompt: 17,
        completion: 188,
        cost: Some(0.000_115),
        ..RequestUsage::default()
    };
    history.record_request(&LedgerEntry {
        message: Some(a),
        model: "gpt-4o-mini".into(),
        base_url: META.base_url.into(),
        usage: Some(usage),
        status: "done".into(),
        started_at_ms: kaiwa::store::now_ms(),
        duration_ms: Some(900),
        ttft_ms: Some(200),
    });
    assert!(history.flush(WAIT));
    let conn = Connection::open(env.db()).unwrap();
    let (content, prompt, source): (String, i64, String) = conn
        .query_row(
            "SELECT m.content, r.input_tokens, r.usage_source FROM requests r JOIN messages m ON m.id = r.message_id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (content.as_str(), prompt, source.as_str()),
        ("a", 17, "reported")
    );
    let days = env.read().usage_by_day(1, kaiwa::store::now_ms()).unwrap();
    assert_eq!((days[0].prompt, days[0].completion), (17, 188));
    assert!((days[0].cost_usd - 0.000_115).abs() < 1e-12);
}

/// The content of the message each ledger row links to (None: no link), oldest first.
fn ledger_links(env: &Env) -> Vec<Option<String>> {
    let conn = Connection::open(env.db()).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT m.content FROM requests r LEFT JOIN messages m ON m.id = r.message_id \
             ORDER BY r.id",
        )
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn entry(message: MessageId, status: &str) -> LedgerEntry {
    LedgerEntry {
        message: Some(message),
        model: "gpt-4o-mini".into(),
        base_url: META.base_url.into(),
        usage: Some(RequestUsage {
            prompt: 5,
            completion: 3,
            ..RequestUsage::default()
        }),
        status: status.into(),
        started_at_ms: kaiwa::store::now_ms(),
        duration_ms: None,
        ttft_ms: None,
    }
}

/// Ctrl+N, or opening another conversation, while an answer streams: the app stops the
/// answer and the request reaches the ledger only after the history has left that
/// conversation (the runtime's order: new conversation, sync, then the ledger). The row
/// still links to the answer.
#[test]
fn the_ledger_keeps_its_link_when_the_conversation_is_left_mid_answer() {
    let env = Env::new();
    let (mut history, _) = env.start();
    // Ctrl+N.
    let mut c = Conversation::new(None);
    c.push(Role::User, "q1".into(), MessageStatus::Complete);
    let a = c.push(Role::Assistant, "part".into(), MessageStatus::Streaming);
    sync(&mut history, &c);
    let first = history.conversation_uid().unwrap().to_string();
    c.update(a, |m| m.status = MessageStatus::Stopped);
    history.new_conversation();
    c.clear(None);
    sync(&mut history, &c);
    history.record_request(&entry(a, "stopped"));
    assert!(history.flush(WAIT));
    assert_eq!(ledger_links(&env), [Some("part".to_string())]);

    // Opening another conversation (the browser's Enter) while the next one streams.
    c.push(Role::User, "q2".into(), MessageStatus::Complete);
    let b = c.push(Role::Assistant, "half".into(), MessageStatus::Streaming);
    sync(&mut history, &c);
    let opened = history.resume(&first).unwrap();
    history.record_request(&entry(b, "stopped"));
    let mut c = opened.conversation;
    sync(&mut history, &c);
    assert!(history.flush(WAIT));
    assert_eq!(
        ledger_links(&env),
        [Some("part".to_string()), Some("half".to_string())]
    );
    // And the reopened conversation goes on being saved and linked.
    c.push(Role::User, "q3".into(), MessageStatus::Complete);
    let d = c.push(Role::Assistant, "more".into(), MessageStatus::Complete);
    sync(&mut history, &c);
    history.record_request(&entry(d, "done"));
    assert!(history.flush(WAIT));
    assert_eq!(ledger_links(&env).last().unwrap().as_deref(), Some("more"));
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_locked_file_spools_the_turn_and_merges_it_later() {
    let env = Env::new();
    let (mut history, _) = env.start();
    let mut c = Conversation::new(None);
    c.push(Role::User, "before".into(), MessageStatus::Complete);
    sync(&mut history, &c);
    // Another kaiwa holds the write lock.
    let other = Connection::open(env.db()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    c.push(
        Role::User,
        "during the lock".into(),
        MessageStatus::Complete,
    );
    let a = c.push(Role::Assistant, "stream".into(), MessageStatus::Streaming);
    history.sync(&c, &META);
    assert!(history.flush(WAIT), "a lock never blocks the turn for long");
    assert_eq!(
        history.status().as_deref(),
        Some("history: waiting for lock")
    );
    c.update(a, |m| {
        m.content.push_str("ed");
        m.status = MessageStatus::Complete;
    });
    sync(&mut history, &c);
    let files = env.spool_files();
    assert_eq!(files.len(), 1, "{files:?}");
    #[cfg(unix)]
    {
        assert_eq!(mode(&files[0]), 0o600);
        assert_eq!(mode(&env.spool()), 0o700);
    }
    // The lock goes away: the spool is merged, the status clears.
    other.execute_batch("COMMIT").unwrap();
    wait_until("the spool merge", || history.status().is_none());
    assert!(env.spool_files().is_empty());
    let l = env.only();
    assert_same(&c, &l);
    assert_eq!(l.messages[2].state, MessageState::Done);
    // Writing goes on normally afterwards.
    c.push(Role::User, "after".into(), MessageStatus::Complete);
    sync(&mut history, &c);
    assert_same(&c, &env.only());
}

#[test]
fn a_spool_left_by_a_dead_kaiwa_is_merged_at_the_next_start() {
    let env = Env::new();
    let (mut history, _) = env.start();
    let mut c = Conversation::new(None);
    c.push(Role::User, "saved".into(), MessageStatus::Complete);
    sync(&mut history, &c);
    let other = Connection::open(env.db()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    c.push(Role::User, "spooled".into(), MessageStatus::Complete);
    sync(&mut history, &c);
    drop(history); // exits while the file is still locked
    assert_eq!(env.spool_files().len(), 1);
    other.execute_batch("COMMIT").unwrap();
    let (history, _) = env.start();
    drop(history);
    assert!(env.spool_files().is_empty());
    assert_eq!(path_texts(&env.only()), ["saved", "spooled"]);
}

#[test]
fn a_newer_file_is_read_only_and_the_chat_goes_on() {
    let env = Env::new();
    drop(Store::open(&env.db()).unwrap());
    Connection::open(env.db())
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let before = std::fs::read(env.db()).unwrap();
    let (mut history, notice) = env.start();
    assert!(notice.unwrap().contains("read-only"));
    assert_eq!(
        history.status().as_deref(),
        Some("history: read-only (newer file)")
    );
    let mut c = Conversation::new(None);
    c.push(Role::User, "not saved".into(), MessageStatus::Complete);
    sync(&mut history, &c);
    drop(history);
    assert_eq!(std::fs::read(env.db()).unwrap(), before);
}

#[test]
fn a_damaged_file_is_moved_aside_and_saving_goes_on() {
    let env = Env::new();
    std::fs::create_dir_all(env.db().parent().unwrap()).unwrap();
    std::fs::write(env.db(), vec![0xAB; 8192]).unwrap();
    let (mut history, notice) = env.start();
    let notice = notice.unwrap();
    assert!(notice.contains("history.db.corrupt-"), "{notice}");
    assert_eq!(history.status(), None);
    let mut c = Conversation::new(None);
    c.push(Role::User, "fresh start".into(), MessageStatus::Complete);
    sync(&mut history, &c);
    assert_eq!(path_texts(&env.only()), ["fresh start"]);
}

#[test]
fn an_unwritable_folder_keeps_the_conversation_in_memory() {
    let env = Env::new();
    let blocker = env.dir.path().join("data");
    std::fs::write(&blocker, b"a file where the folder should be").unwrap();
    let (mut history, notice) = env.start();
    let notice = notice.unwrap();
    assert!(
        notice.starts_with("history off:") && notice.contains("kept in memory"),
        "{notice}"
    );
    assert_eq!(history.status().as_deref(), Some(notice.as_str()));
    let mut c = Conversation::new(None);
    c.push(Role::User, "only in memory".into(), MessageStatus::Complete);
    sync(&mut history, &c);
}

#[test]
fn disabled_history_does_nothing() {
    let mut history = History::disabled();
    let mut c = Conversation::new(None);
    c.push(Role::User, "x".into(), MessageStatus::Complete);
    history.sync(&c, &META);
    assert!(history.flush(Duration::ZERO));
    assert_eq!(history.status(), None);
    assert!(!history.is_enabled());
    assert!(history.resume("x").is_err());
}

#[test]
fn deleting_the_open_conversation_stops_saving_it() {
    let env = Env::new();
    let (mut history, _) = env.start();
    let mut c = Conversation::new(None);
    c.push(Role::User, "to be deleted".into(), MessageStatus::Complete);
    sync(&mut history, &c);
    let uid = history.conversation_uid().unwrap().to_string();
    history.delete_conversation(&uid);
    sync(&mut history, &c);
    assert_eq!(env.count(), 0);
    assert!(env.read().search("deleted", 5).unwrap().is_empty());
    // Browser actions on other rows.
    c.clear(None);
    c.push(Role::User, "keep".into(), MessageStatus::Complete);
    sync(&mut history, &c);
    let keep = history.conversation_uid().unwrap().to_string();
    history.rename(&keep, Some("Kept"));
    history.archive(&keep, true);
    assert!(history.flush(WAIT));
    let s = env.read().summary(&keep).unwrap().unwrap();
    assert_eq!((s.title.as_deref(), s.archived), (Some("Kept"), true));
}

fn config_in(home: &Path, no_history: bool) -> Config {
    let home = home.to_string_lossy().into_owned();
    let env = move |name: &str| (name == "HOME").then(|| home.clone());
    Config::load(
        &Overrides {
            no_history,
            ..Overrides::default()
        },
        &env,
    )
    .unwrap()
}

#[test]
fn ask_exchanges_are_saved_as_one_turn() {
    let home = tempfile::tempdir().unwrap();
    let config = config_in(home.path(), false);
    let messages = [
        ChatMessage::new(Role::System, "be brief"),
        ChatMessage::new(Role::User, "2+2?"),
    ];
    let exchange = AskExchange {
        model: "gpt-4o-mini",
        base_url: "http://x/v1",
        messages: &messages,
        answer: "4",
        reasoning: None,
        state: MessageState::Done,
        finish_reason: Some("stop"),
        error: None,
        skipped: 0,
        usage: Some(RequestUsage {
            prompt: 12,
            completion: 1,
            estimated: true,
            ..RequestUsage::default()
        }),
        started_at_ms: kaiwa::store::now_ms(),
        duration_ms: Some(300),
    };
    assert_eq!(kaiwa::history::save_ask_exchange(&config, &exchange), None);
    let path = config.history_path.clone().unwrap();
    assert!(path.starts_with(home.path().join(".local/share/kaiwa")));
    let store = Store::open_reader(&path).unwrap();
    let list = store.list(false, 10, None).unwrap();
    assert_eq!(list.len(), 1);
    let l = store.load(&list[0].uid).unwrap();
    assert_eq!(path_texts(&l), ["be brief", "2+2?", "4"]);
    assert_eq!(l.messages[2].model.as_deref(), Some("gpt-4o-mini"));
    let days = store.usage_by_day(1, kaiwa::store::now_ms()).unwrap();
    assert_eq!(
        (days[0].prompt, days[0].estimated, days[0].unpriced),
        (12, true, 1)
    );

    // Locked: the exchange waits in the spool; the next kaiwa merges it.
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let second = AskExchange {
        answer: "four",
        ..exchange.clone()
    };
    assert_eq!(kaiwa::history::save_ask_exchange(&config, &second), None);
    other.execute_batch("COMMIT").unwrap();
    let spool = config.state_dir.join("spool");
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 1);
    let (history, _) = History::start(&config);
    drop(history);
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0);
    assert_eq!(
        Store::open_reader(&path)
            .unwrap()
            .list(false, 10, None)
            .unwrap()
            .len(),
        2
    );

    // --no-history: nothing at all.
    let off = config_in(home.path(), true);
    assert_eq!(off.history_path, None);
    assert_eq!(kaiwa::history::save_ask_exchange(&off, &exchange), None);
    assert_eq!(
        Store::open_reader(&path)
            .unwrap()
            .list(false, 10, None)
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_second_kaiwa_leaves_a_live_answer_streaming() {
    let env = Env::new();
    let (mut first, _) = env.start();
    let mut c = Conversation::new(None);
    c.push(Role::User, "q".into(), MessageStatus::Complete);
    let a = c.push(Role::Assistant, "part one".into(), MessageStatus::Streaming);
    sync(&mut first, &c);
    let (second, _) = env.start();
    drop(second);
    let answer = |env: &Env| {
        let l = env.only();
        let m = l
            .messages
            .iter()
            .find(|m| m.role == StoredRole::Assistant)
            .unwrap()
            .clone();
        (m.content, m.state)
    };
    assert_eq!(
        answer(&env),
        ("part one".to_string(), MessageState::Streaming)
    );
    c.update(a, |m| {
        m.content.push_str(", part two");
        m.status = MessageStatus::Complete;
    });
    sync(&mut first, &c);
    assert_eq!(
        answer(&env),
        ("part one, part two".to_string(), MessageState::Done)
    );
}

#[test]
fn a_file_damaged_while_running_is_replaced_and_the_chat_saved_again() {
    let env = Env::new();
    let (mut history, _) = env.start();
    let mut c = Conversation::new(Some("sys"));
    c.push(
        Role::User,
        "before the damage".into(),
        MessageStatus::Complete,
    );
    sync(&mut history, &c);
    // Something scribbles over the file (same inode), its WAL and index.
    let db = env.db();
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::write(&db, vec![0x5A; usize::try_from(len).unwrap()]).unwrap();
    for side in ["history.db-wal", "history.db-shm"] {
        let p = db.with_file_name(side);
        if p.exists() {
            let n = std::fs::metadata(&p).unwrap().len();
            std::fs::write(&p, vec![0u8; usize::try_from(n).unwrap()]).unwrap();
        }
    }
    c.push(
        Role::User,
        "after the damage".into(),
        MessageStatus::Complete,
    );
    sync(&mut history, &c);
    let notice = history.take_notice().expect("the user is told");
    assert!(notice.contains("history.db.corrupt-"), "{notice}");
    // The next sync sends the whole conversation to the fresh file.
    sync(&mut history, &c);
    assert_eq!(
        path_texts(&env.only()),
        ["sys", "before the damage", "after the damage"]
    );
    let moved = std::fs::read_dir(db.parent().unwrap())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("history.db.corrupt-")
        })
        .count();
    assert!(moved >= 1);
}
