//! `-c` / `--resume [ID]`: what the TUI should open, decided before it
//! starts (so an unknown ID is an error on the shell, not a screen).
//!
//! Invariant: `-c` with nothing saved is not an error (the TUI starts empty
//! with a notice); history off, an unknown or an ambiguous ID exit 2 with
//! the reason (and the candidates) on stderr.

use super::{fail, open, resolve, store_error};
use crate::cli_io::{Exit, Io};
use crate::config::Config;
use crate::history::Startup;

/// What `-c` / `--resume [ID]` ask the TUI to open. Prints the reason and
/// returns the exit code when it cannot start (history off, unknown or
/// ambiguous ID).
pub fn startup(
    config: &Config,
    continue_last: bool,
    resume: Option<Option<&str>>,
    io: &mut Io<'_>,
) -> Result<Startup, Exit> {
    if !continue_last && resume.is_none() {
        return Ok(Startup::default());
    }
    if config.history_path.is_none() {
        return Err(fail(
            io,
            "history is off for this run (--no-history): there is nothing to reopen",
            Exit::Usage,
        ));
    }
    if resume == Some(None) {
        return Ok(Startup {
            open_browser: true,
            ..Startup::default()
        });
    }
    let nothing = || Startup {
        notice: Some("no saved conversation to continue".to_string()),
        ..Startup::default()
    };
    let store = match open(config, io, false)? {
        Some(store) => store,
        None if continue_last => return Ok(nothing()),
        None => {
            let id = resume.flatten().unwrap_or("");
            return Err(fail(
                io,
                &format!("no saved conversation matches {id:?}"),
                Exit::Usage,
            ));
        }
    };
    if continue_last {
        return match store.most_recent() {
            Ok(Some(uid)) => Ok(Startup {
                resume: Some(uid),
                ..Startup::default()
            }),
            Ok(None) => Ok(nothing()),
            Err(e) => Err(store_error(io, &e)),
        };
    }
    let id = resume.flatten().unwrap_or("");
    match resolve(&store, id, io) {
        Ok(Ok(uid)) => Ok(Startup {
            resume: Some(uid),
            ..Startup::default()
        }),
        Ok(Err(code)) => Err(code),
        Err(e) => Err(store_error(io, &e)),
    }
}
