//! Saving a `kaiwa ask` exchange: one blocking transaction that writes a
//! conversation of one turn and its ledger row.
//!
//! Invariants: nothing is written with `--no-history`; a locked file never
//! loses the exchange (it goes to the spool, merged by the next kaiwa that
//! opens the file); a problem with the history never fails the answer, it
//! becomes a line for stderr.

use super::ops::{self, InsertMessage, Op};
use super::{spool, tracker, writer};
use crate::api::types::ChatMessage;
use crate::chat::usage::RequestUsage;
use crate::config::Config;
use crate::store::{LedgerRow, MessageState, Store, StoreError, StoredRole};

/// One `kaiwa ask` exchange, saved as a conversation of one turn.
#[derive(Debug, Clone, PartialEq)]
pub struct AskExchange<'a> {
    pub model: &'a str,
    pub base_url: &'a str,
    /// What was sent: the system prompt (if any) and the question.
    pub messages: &'a [ChatMessage],
    pub answer: &'a str,
    /// The model's reasoning, when it sent any (saved apart, never sent).
    pub reasoning: Option<&'a str>,
    /// `Done`, `Interrupted`, `Stopped` or `Error` (no text arrived).
    pub state: MessageState,
    pub finish_reason: Option<&'a str>,
    pub error: Option<&'a str>,
    /// Unreadable events skipped while the answer streamed (saved with it:
    /// the answer may be missing text).
    pub skipped: u32,
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
    match ops::apply_all(&mut store, &mut ops::Ids::default(), &ops) {
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
        ops.push(Op::Insert(InsertMessage {
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
            reasoning: None,
        }));
        parent = Some(uid);
    }
    let answer = crate::store::uid::new_uid(at);
    let end = at + x.duration_ms.unwrap_or(0);
    ops.push(Op::Insert(InsertMessage {
        conversation: conversation.clone(),
        uid: answer.clone(),
        parent,
        role: StoredRole::Assistant.as_str().to_string(),
        content: x.answer.to_string(),
        state: x.state.as_str().to_string(),
        model: Some(x.model.to_string()),
        finish_reason: x.finish_reason.map(str::to_string),
        error: x.error.map(str::to_string),
        skipped: x.skipped,
        at: end,
        reasoning: x.reasoning.map(str::to_string),
    }));
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
