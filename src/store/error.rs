//! `StoreError`: why a history operation failed, one variant per cause.
//!
//! Invariants: `Display` is written for the user (the CLI prints it after
//! `error: `, the TUI after its own context), and its words are part of the
//! interface: tests compare them. `Locked`, `ReadOnly`, `DiskFull` and
//! `Corrupt` are distinct so callers can act on them (spool, go read-only,
//! keep the conversation in memory, quarantine); a refused tree write
//! (`Invalid`) and a bad import item (`BadImport`) say exactly what was
//! wrong, so a caller can skip or report them without reading strings.

use std::io;

use rusqlite::ErrorCode;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the history file is busy: another kaiwa is writing to it")]
    Locked,
    #[error("the history file is read-only")]
    ReadOnly,
    #[error("the disk is full")]
    DiskFull,
    #[error("the history file is damaged ({0})")]
    Corrupt(String),
    /// No conversation with that ID (or, from `Store::open_reader`, no file
    /// at that path).
    #[error("no saved conversation matches {0:?}")]
    NotFound(String),
    /// History is off for this run (`--no-history`, or its thread could
    /// not start): there is no file to read.
    #[error("history is off")]
    HistoryOff,
    /// The history writer thread has ended, so it answers no more loads.
    #[error("the history writer has stopped")]
    WriterStopped,
    /// A write that would break a conversation's tree was refused; nothing
    /// was changed.
    #[error("{0}")]
    Invalid(TreeError),
    /// A conversation of an import file that cannot go in as it is; the rest
    /// of the file is imported.
    #[error("{0}")]
    BadImport(BadImport),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("history database error: {0}")]
    Sqlite(rusqlite::Error),
}

/// A tree write the store refuses (the ids are row ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// The head to set is not a message of the conversation.
    #[error("message {head} is not in conversation {conversation}")]
    HeadElsewhere { head: i64, conversation: i64 },
    /// The parent of a new message is not in its conversation.
    #[error("parent message {parent} is not in conversation {conversation}")]
    ParentElsewhere { parent: i64, conversation: i64 },
    /// A new parent that is gone, or in another conversation than the
    /// message (or the message itself is gone).
    #[error("message {parent} cannot be the parent of {message}")]
    NotAParent { parent: i64, message: i64 },
    /// A new parent that is the message itself or below it: a cycle.
    #[error("message {parent} is below {message}")]
    ParentBelow { parent: i64, message: i64 },
}

/// Why one conversation of an import file was not imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadImport {
    /// A message uid that is already stored in another conversation.
    #[error("message {uid} already belongs to another conversation")]
    ForeignMessage { uid: String },
    /// A parent uid found neither in the file nor in the conversation.
    #[error("message {uid} has a parent ({parent}) that is not in the file")]
    MissingParent { uid: String, parent: String },
    #[error("two messages share a uid")]
    DuplicateUid,
    #[error("its messages' parents form a loop")]
    ParentLoop,
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        match error.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Self::Locked,
            Some(ErrorCode::DiskFull) => Self::DiskFull,
            Some(ErrorCode::ReadOnly) => Self::ReadOnly,
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                Self::Corrupt(error.to_string())
            }
            _ => Self::Sqlite(error),
        }
    }
}

impl From<TreeError> for StoreError {
    fn from(error: TreeError) -> Self {
        Self::Invalid(error)
    }
}

impl From<BadImport> for StoreError {
    fn from(error: BadImport) -> Self {
        Self::BadImport(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words users (and the CLI tests) read are those of the strings
    /// these variants replaced.
    #[test]
    fn each_cause_reads_as_before() {
        let text = |e: StoreError| e.to_string();
        assert_eq!(text(StoreError::HistoryOff), "history is off");
        assert_eq!(
            text(StoreError::WriterStopped),
            "the history writer has stopped"
        );
        let tree = [
            (
                TreeError::HeadElsewhere {
                    head: 3,
                    conversation: 1,
                },
                "message 3 is not in conversation 1",
            ),
            (
                TreeError::ParentElsewhere {
                    parent: 3,
                    conversation: 1,
                },
                "parent message 3 is not in conversation 1",
            ),
            (
                TreeError::NotAParent {
                    parent: 3,
                    message: 4,
                },
                "message 3 cannot be the parent of 4",
            ),
            (
                TreeError::ParentBelow {
                    parent: 3,
                    message: 4,
                },
                "message 3 is below 4",
            ),
        ];
        for (error, words) in tree {
            assert_eq!(text(error.into()), words);
        }
        let import = [
            (
                BadImport::ForeignMessage { uid: "m1".into() },
                "message m1 already belongs to another conversation",
            ),
            (
                BadImport::MissingParent {
                    uid: "m2".into(),
                    parent: "m0".into(),
                },
                "message m2 has a parent (m0) that is not in the file",
            ),
            (BadImport::DuplicateUid, "two messages share a uid"),
            (BadImport::ParentLoop, "its messages' parents form a loop"),
        ];
        for (error, words) in import {
            assert_eq!(text(error.into()), words);
        }
    }
}
