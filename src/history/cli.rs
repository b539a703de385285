//! The history commands for the shell: `kaiwa history list|search|export|
//! import|path`, `kaiwa usage`, and resolving `-c` / `--resume ID` before
//! the TUI starts. This file holds what they share (opening the file,
//! resolving an ID, reporting); `list.rs`, `transfer.rs` (export, import),
//! `usage.rs` and `startup.rs` are the commands.
//!
//! Invariants: human output is plain, aligned text (sanitised when it goes
//! to a terminal, since titles and answers come from the network); `--json`
//! output is stable (documented in README's "History" section) and never
//! sanitised; exit codes are 0 (done), 1 (the store failed, or an import
//! had failures), 2 (usage: history off, unknown or ambiguous ID); a
//! closed stdout ends quietly. Files written are 0600, folders 0700.

mod list;
mod startup;
mod transfer;
mod usage;

use std::io;
use std::path::Path;

use crate::cli::HistoryCommand;
use crate::cli_io::{Exit, Io};
use crate::config::Config;
use crate::store::{Resolved, Store, StoreError};
use crate::text::sanitize::sanitize_str;
use list::{list, search};
pub use startup::startup;
use transfer::{export, import};
pub use usage::run_usage;

fn say(io: &mut Io<'_>, line: &str) {
    let text = if io.stderr_is_terminal {
        sanitize_str(line)
    } else {
        line.to_string()
    };
    let _ = writeln!(io.stderr, "{text}");
}

fn fail(io: &mut Io<'_>, message: &str, code: Exit) -> Exit {
    say(io, &format!("error: {message}"));
    code
}

/// Text for stdout: sanitised on a terminal, as stored into a pipe.
fn shown(io: &Io<'_>, text: &str) -> String {
    if io.stdout_is_terminal {
        sanitize_str(text)
    } else {
        text.to_string()
    }
}

fn out(io: &mut Io<'_>, text: &str) -> io::Result<()> {
    io.stdout.write_all(text.as_bytes())
}

/// `--json` output: pretty-printed, then a newline.
fn out_json(io: &mut Io<'_>, value: &impl serde::Serialize) {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    let _ = out(io, &format!("{text}\n"));
}

fn history_path<'c>(config: &'c Config, io: &mut Io<'_>) -> Result<&'c Path, Exit> {
    config.history_path.as_deref().ok_or_else(|| {
        fail(
            io,
            "history is off for this run (--no-history)",
            Exit::Usage,
        )
    })
}

/// Opens the file for a command; `Ok(None)` when it does not exist yet and
/// `create` is false.
fn open(config: &Config, io: &mut Io<'_>, create: bool) -> Result<Option<Store>, Exit> {
    let path = history_path(config, io)?;
    if !create && !path.exists() {
        return Ok(None);
    }
    match Store::open(path) {
        Ok(opened) => {
            if let Some(notice) = &opened.notice {
                say(io, &format!("kaiwa: {notice}"));
            }
            let mut store = opened.store;
            if !opened.read_only {
                merge_spool(config, &mut store);
                // Answers cut off by a crash read as interrupted, with the
                // text that arrived (answers still streaming in a live kaiwa
                // are left alone).
                if let Err(e) = store.recover_interrupted() {
                    tracing::warn!(error = %e, "recovering interrupted answers");
                }
            }
            Ok(Some(store))
        }
        Err(e) => Err(fail(
            io,
            &format!("cannot open {}: {e}", path.display()),
            Exit::Api,
        )),
    }
}

/// Merges turns a kaiwa left in the spool (the file was locked until it
/// quit), so `-c`, the listings and the exports see them. Quiet: a file
/// that is locked again waits for the next chance.
fn merge_spool(config: &Config, store: &mut Store) {
    let found = super::spool::Spool::new(config.state_dir.join("spool")).leftovers();
    if found.is_empty() {
        return;
    }
    let _ = store.set_busy_timeout(super::writer::WRITER_BUSY_TIMEOUT);
    let mut ids = super::ops::Ids::default();
    super::spool::replay(found, |ops| super::ops::apply_all(store, &mut ids, ops));
    let _ = store.set_busy_timeout(crate::store::DEFAULT_BUSY_TIMEOUT);
}

fn store_error(io: &mut Io<'_>, e: &StoreError) -> Exit {
    match e {
        StoreError::NotFound(what) => fail(
            io,
            &format!("no saved conversation matches {what:?}"),
            Exit::Usage,
        ),
        StoreError::Locked
        | StoreError::ReadOnly
        | StoreError::DiskFull
        | StoreError::Corrupt(_)
        | StoreError::HistoryOff
        | StoreError::WriterStopped
        | StoreError::Invalid(_)
        | StoreError::BadImport(_)
        | StoreError::Io { .. }
        | StoreError::Sqlite(_) => fail(io, &e.to_string(), Exit::Api),
    }
}

/// `kaiwa history …`
pub fn run_history(config: &Config, command: &HistoryCommand, io: &mut Io<'_>) -> Exit {
    let result = match command {
        HistoryCommand::Path => match history_path(config, io) {
            Ok(path) => {
                let line = format!("{}\n", path.display());
                out(io, &line).map(|()| Exit::Ok).or(Ok(Exit::Ok))
            }
            Err(code) => Ok(code),
        },
        HistoryCommand::List { archived, json } => list(config, *archived, *json, io),
        HistoryCommand::Search { query, json } => search(config, &query.join(" "), *json, io),
        HistoryCommand::Export {
            id,
            all,
            format,
            output,
        } => export(config, id.as_deref(), *all, *format, output.as_deref(), io),
        HistoryCommand::Import { file } => Ok(import(config, file, io)),
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => store_error(io, &e),
    };
    let _ = io.stdout.flush();
    code
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Resolves a user's ID; on failure prints why (with the candidates) and
/// gives the exit code.
fn resolve(store: &Store, id: &str, io: &mut Io<'_>) -> Result<Result<String, Exit>, StoreError> {
    Ok(match store.resolve(id)? {
        Resolved::Found(s) => Ok(s.uid),
        Resolved::NotFound => Err(fail(
            io,
            &format!("no saved conversation matches {id:?}"),
            Exit::Usage,
        )),
        Resolved::Ambiguous(candidates) => {
            say(
                io,
                &format!(
                    "error: {} conversations match {id:?}; use more of the ID:",
                    candidates.len()
                ),
            );
            for c in candidates.iter().take(20) {
                say(
                    io,
                    &format!(
                        "  {}  {}  {}",
                        c.uid,
                        c.last_active_local,
                        first_line(c.display_title())
                    ),
                );
            }
            Err(Exit::Usage)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::usage::cost_text;

    #[test]
    fn slugs_and_costs() {
        let name = |t: &str| super::super::markdown_file_name("01x", t);
        assert_eq!(name("Hello, World!"), "01x-hello-world.md");
        assert_eq!(name("東京 タワー"), "01x-東京-タワー.md");
        assert_eq!(name("!!!"), "01x-conversation.md");
        assert_eq!(cost_text(0.0, 2, 2, false), "unpriced");
        assert_eq!(cost_text(0.5, 2, 1, false), "≥$0.5000");
        assert_eq!(cost_text(0.00012, 2, 0, true), "~$0.0001");
    }
}
