//! `kaiwa history export` and `kaiwa history import`: one conversation or
//! all of them as Markdown or JSON (JSONL with `--all`), to stdout or a
//! file; and a kaiwa or ChatGPT export file read back in.
//!
//! Invariants: files written are 0600 and synced; `--all --format md`
//! writes one file per conversation into a named folder; an import reports
//! every conversation it skipped or could not take, and exits 1 when any
//! failed.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::{fail, open, out, resolve, say, shown};
use crate::cli::ExportFormat;
use crate::cli_io::{Exit, Io};
use crate::config::Config;
use crate::paths;
use crate::store::{ImportSource, StoreError};

pub(super) fn export(
    config: &Config,
    id: Option<&str>,
    all: bool,
    format: ExportFormat,
    output: Option<&Path>,
    io: &mut Io<'_>,
) -> Result<Exit, StoreError> {
    if all && format == ExportFormat::Md && output.is_none() {
        return Ok(fail(
            io,
            "--all --format md writes one file per conversation: name a folder with -o",
            Exit::Usage,
        ));
    }
    let store = match open(config, io, false) {
        Ok(Some(store)) => store,
        Ok(None) if all => return Ok(Exit::Ok),
        Ok(None) => {
            return Ok(fail(
                io,
                &format!("no saved conversation matches {:?}", id.unwrap_or("")),
                Exit::Usage,
            ));
        }
        Err(code) => return Ok(code),
    };
    let uids = if all {
        store.uids()?
    } else {
        match resolve(&store, id.unwrap_or(""), io)? {
            Ok(uid) => vec![uid],
            Err(code) => return Ok(code),
        }
    };
    let written = match (format, all) {
        (ExportFormat::Md, true) => {
            let dir = output.unwrap_or_else(|| Path::new("."));
            for uid in &uids {
                if let Err(e) = crate::history::export_markdown_file(&store, uid, dir) {
                    return Ok(fail(io, &e.to_string(), Exit::Api));
                }
            }
            say(
                io,
                &format!("exported {} conversations to {}", uids.len(), dir.display()),
            );
            return Ok(Exit::Ok);
        }
        (ExportFormat::Md, false) => uids
            .first()
            .map(|uid| store.export_markdown(uid))
            .transpose()?
            .unwrap_or_default(),
        (ExportFormat::Json, false) => {
            let value = uids
                .first()
                .map(|uid| store.export_json(uid))
                .transpose()?
                .unwrap_or(Value::Null);
            format!(
                "{}\n",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            )
        }
        (ExportFormat::Json, true) => {
            let mut text = String::new();
            for uid in &uids {
                let value = store.export_json(uid)?;
                text.push_str(&serde_json::to_string(&value).unwrap_or_default());
                text.push('\n');
            }
            text
        }
    };
    match output {
        Some(file) => {
            if let Err(e) = paths::write_private(file, written.as_bytes()) {
                return Ok(fail(
                    io,
                    &format!("cannot write {}: {e}", file.display()),
                    Exit::Api,
                ));
            }
        }
        None => {
            let _ = out(io, &written);
        }
    }
    Ok(Exit::Ok)
}

pub(super) fn import(config: &Config, file: &Path, io: &mut Io<'_>) -> Exit {
    if !file.is_file() {
        return fail(
            io,
            &format!("{} is not a readable file", file.display()),
            Exit::Usage,
        );
    }
    let mut store = match open(config, io, true) {
        Ok(Some(store)) => store,
        Ok(None) => return Exit::Api,
        Err(code) => return code,
    };
    let report = store.import(ImportSource::File(file.to_path_buf()));
    store.close_cleanly();
    let mut text = format!("{}\n", report.summary());
    for note in &report.skipped {
        let _ = writeln!(text, "skipped  {}: {}", note.item, note.reason);
    }
    for note in &report.failed {
        let _ = writeln!(text, "failed   {}: {}", note.item, note.reason);
    }
    let text = shown(io, &text);
    let _ = out(io, &text);
    if report.failed.is_empty() {
        Exit::Ok
    } else {
        Exit::Api
    }
}
