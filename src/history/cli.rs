//! The history commands for the shell: `kaiwa history list|search|export|
//! import|path`, `kaiwa usage`, and resolving `-c` / `--resume ID` before
//! the TUI starts.
//!
//! Invariants: human output is plain, aligned text (sanitised when it goes
//! to a terminal, since titles and answers come from the network); `--json`
//! output is stable (documented in README's "History" section) and never
//! sanitised; exit codes are 0 (done), 1 (the store failed, or an import
//! had failures), 2 (usage: history off, unknown or ambiguous ID); a
//! closed stdout ends quietly. Files written are 0600, folders 0700.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;

use serde_json::{Value, json};

use super::Startup;
use crate::chat::usage::format_usd;
use crate::cli::{ExportFormat, HistoryCommand, UsageArgs};
use crate::cli_io::{Exit, Io};
use crate::config::Config;
use crate::paths;
use crate::store::{
    ConversationSummary, ImportSource, Resolved, SearchHit, Store, StoreError, UsageDay, now_ms,
};
use crate::text::sanitize::sanitize_str;

/// Conversations per page when listing everything.
const PAGE: usize = 500;
/// Most conversations a search prints.
const SEARCH_LIMIT: usize = 100;

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
    super::spool::replay(found, |ops| {
        let result = store.transaction(|s| {
            for op in ops {
                super::ops::apply(s, &mut ids, op)?;
            }
            Ok(())
        });
        if result.is_err() {
            ids.clear();
        }
        result
    });
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
        | StoreError::Invalid(_)
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

fn summary_json(s: &ConversationSummary) -> Value {
    json!({
        "uid": s.uid,
        "title": s.title,
        "preview": s.preview,
        "model": s.model,
        "created_at": s.created_at_ms,
        "last_active_at": s.last_active_at_ms,
        "archived": s.archived,
        "messages": s.message_count,
    })
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

fn list(
    config: &Config,
    archived: bool,
    as_json: bool,
    io: &mut Io<'_>,
) -> Result<Exit, StoreError> {
    let store = match open(config, io, false) {
        Ok(store) => store,
        Err(code) => return Ok(code),
    };
    let mut rows: Vec<ConversationSummary> = Vec::new();
    if let Some(store) = &store {
        let mut cursor = None;
        loop {
            let page = store.list(archived, PAGE, cursor)?;
            let full = page.len() == PAGE;
            cursor = page.last().map(ConversationSummary::cursor);
            rows.extend(page);
            if !full {
                break;
            }
        }
    }
    if as_json {
        let list: Vec<Value> = rows.iter().map(summary_json).collect();
        let text = serde_json::to_string_pretty(&list).unwrap_or_default();
        let _ = out(io, &format!("{text}\n"));
        return Ok(Exit::Ok);
    }
    if rows.is_empty() {
        let which = if archived { "archived " } else { "" };
        say(io, &format!("no {which}conversations saved yet"));
        return Ok(Exit::Ok);
    }
    let model_width = rows
        .iter()
        .map(|r| r.model.as_deref().unwrap_or("-").chars().count())
        .max()
        .unwrap_or(0)
        .clamp(5, 32);
    let mut text = format!(
        "{:<26}  {:<16}  {:<model_width$}  {:>5}  TITLE\n",
        "ID", "LAST ACTIVE", "MODEL", "MSGS"
    );
    for r in &rows {
        let model = shown(io, r.model.as_deref().unwrap_or("-"));
        let title = shown(io, first_line(r.display_title()));
        let _ = writeln!(
            text,
            "{:<26}  {:<16}  {:<model_width$}  {:>5}  {}",
            r.uid, r.last_active_local, model, r.message_count, title
        );
    }
    let _ = out(io, &text);
    Ok(Exit::Ok)
}

fn hit_json(h: &SearchHit) -> Value {
    let mut value = summary_json(&h.conversation);
    if let Some(obj) = value.as_object_mut() {
        obj.insert("matches".into(), json!(h.matches));
        obj.insert("message_uid".into(), json!(h.message_uid));
        obj.insert("snippet".into(), json!(h.snippet));
    }
    value
}

fn search(
    config: &Config,
    query: &str,
    as_json: bool,
    io: &mut Io<'_>,
) -> Result<Exit, StoreError> {
    let store = match open(config, io, false) {
        Ok(store) => store,
        Err(code) => return Ok(code),
    };
    let hits = match &store {
        Some(store) => store.search(query, SEARCH_LIMIT)?,
        None => Vec::new(),
    };
    if as_json {
        let list: Vec<Value> = hits.iter().map(hit_json).collect();
        let text = serde_json::to_string_pretty(&list).unwrap_or_default();
        let _ = out(io, &format!("{text}\n"));
        return Ok(Exit::Ok);
    }
    if hits.is_empty() {
        say(io, "nothing found");
        return Ok(Exit::Ok);
    }
    let mut text = String::new();
    for h in &hits {
        let c = &h.conversation;
        let plural = if h.matches == 1 { "match" } else { "matches" };
        let archived = if c.archived { " [archived]" } else { "" };
        let _ = write!(
            text,
            "{:<26}  {:<16}  {}{archived} ({} {plural})\n    {}\n",
            c.uid,
            c.last_active_local,
            shown(io, first_line(c.display_title())),
            h.matches,
            shown(io, &h.snippet),
        );
    }
    let _ = out(io, &text);
    Ok(Exit::Ok)
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

fn write_private(path: &Path, text: &str) -> io::Result<()> {
    let mut file = paths::create_private_file(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

fn export(
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
                if let Err(e) = super::export_markdown_file(&store, uid, dir) {
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
            if let Err(e) = write_private(file, &written) {
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

fn import(config: &Config, file: &Path, io: &mut Io<'_>) -> Exit {
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

/// Token counts with a `~` when estimated.
fn count(n: u64, estimated: bool) -> String {
    if estimated {
        format!("~{n}")
    } else {
        n.to_string()
    }
}

/// `$0.0012`, `~$…` when estimated, `≥$…` when some requests had no
/// price, `unpriced` when none had one.
fn cost_text(cost: f64, requests: u64, unpriced: u64, estimated: bool) -> String {
    if unpriced >= requests && requests > 0 && cost == 0.0 {
        return "unpriced".to_string();
    }
    let partial = if unpriced > 0 { "≥" } else { "" };
    let approx = if estimated { "~" } else { "" };
    format!("{partial}{approx}${}", format_usd(cost))
}

fn day_json(d: &UsageDay) -> Value {
    json!({
        "day": d.day,
        "model": d.model,
        "requests": d.requests,
        "prompt_tokens": d.prompt,
        "cached_tokens": d.cached,
        "completion_tokens": d.completion,
        "cost_usd": d.cost_usd,
        "unpriced_requests": d.unpriced,
        "estimated": d.estimated,
    })
}

/// `kaiwa usage`.
pub fn run_usage(config: &Config, args: &UsageArgs, io: &mut Io<'_>) -> Exit {
    let store = match open(config, io, false) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let now = now_ms();
    let figures = store
        .as_ref()
        .map(|s| Ok::<_, StoreError>((s.usage_by_day(args.days, now)?, s.month_spend(now)?)))
        .transpose();
    let (days, month) = match figures {
        Ok(found) => found.unwrap_or_default(),
        Err(e) => return store_error(io, &e),
    };
    let mut total = UsageDay {
        day: String::new(),
        model: String::new(),
        requests: 0,
        prompt: 0,
        cached: 0,
        completion: 0,
        cost_usd: 0.0,
        unpriced: 0,
        estimated: false,
    };
    for d in &days {
        total.requests += d.requests;
        total.prompt += d.prompt;
        total.cached += d.cached;
        total.completion += d.completion;
        total.cost_usd += d.cost_usd;
        total.unpriced += d.unpriced;
        total.estimated |= d.estimated;
    }
    if args.json {
        let mut total_json = day_json(&total);
        if let Some(obj) = total_json.as_object_mut() {
            obj.remove("day");
            obj.remove("model");
        }
        let value = json!({
            "days": args.days,
            "rows": days.iter().map(day_json).collect::<Vec<_>>(),
            "total": total_json,
            "month_spend_usd": month,
            "budget_monthly_usd": config.budget_monthly_usd,
        });
        let text = serde_json::to_string_pretty(&value).unwrap_or_default();
        let _ = out(io, &format!("{text}\n"));
        let _ = io.stdout.flush();
        return Exit::Ok;
    }
    if days.is_empty() {
        say(io, &format!("no requests in the last {} days", args.days));
        return Exit::Ok;
    }
    let model_width = days
        .iter()
        .map(|d| d.model.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(5, 32);
    let row = |day: &str, model: &str, d: &UsageDay| {
        format!(
            "{day:<10}  {model:<model_width$}  {:>8}  {:>10}  {:>10}  {:>10}  {}\n",
            d.requests,
            count(d.prompt, d.estimated),
            count(d.cached, d.estimated),
            count(d.completion, d.estimated),
            cost_text(d.cost_usd, d.requests, d.unpriced, d.estimated),
        )
    };
    let mut text = format!(
        "{:<10}  {:<model_width$}  {:>8}  {:>10}  {:>10}  {:>10}  COST\n",
        "DAY", "MODEL", "REQUESTS", "PROMPT", "CACHED", "COMPLETION"
    );
    for d in &days {
        text.push_str(&row(&d.day, &shown(io, &d.model), d));
    }
    text.push_str(&row("total", "", &total));
    let month_text = format!("this month: ${}", format_usd(month));
    match config.budget_monthly_usd {
        Some(budget) if budget > 0.0 => {
            let percent = (month / budget * 100.0).round();
            let _ = writeln!(
                text,
                "{month_text} of a ${} monthly budget ({percent} %)",
                format_usd(budget)
            );
        }
        _ => {
            text.push_str(&month_text);
            text.push('\n');
        }
    }
    let _ = out(io, &text);
    let _ = io.stdout.flush();
    Exit::Ok
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
