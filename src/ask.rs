//! One-shot mode: `kaiwa ask` and `kaiwa models`, for the shell.
//!
//! The answer streams to stdout as it arrives, flushed per chunk. On a
//! terminal it goes through the sanitiser (model text may carry escape
//! sequences); into a pipe or file it is data and is written unchanged.
//! `--raw` always prints the server's exact JSON, re-indented. The model's
//! reasoning never reaches stdout (`--thinking` prints it to stderr:
//! `ask/thinking.rs`). Errors are one
//! or two lines on stderr; exit codes are 0 (success), 1 (API/network),
//! 2 (usage/config). A closed stdout (`| head`) ends quietly with 0.

mod context;
mod models;
mod session;
mod thinking;

use std::io::{self, Write};
use std::time::Duration;

pub use models::run_models;

use crate::api::client::{ApiClient, StreamEnd, StreamEvent};
use crate::api::error::ApiError;
use crate::api::types::{ChatMessage, ChatRequest, Role, Usage};
use crate::chat::conversation::skipped_text;
use crate::chat::estimate;
use crate::chat::pricing::PriceTable;
use crate::chat::usage::{RequestUsage, UsageTotals};
use crate::cli::AskArgs;
use crate::cli_io::{Exit, Io};
use crate::config::Config;
use crate::history;
use crate::store::MessageState;
use crate::text::sanitize::{StreamSanitizer, sanitize_str};

/// Ctrl+C or SIGTERM.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Build the prompt from the arguments and stdin, as SPEC.md says.
pub fn read_prompt(args: &[String], io: &mut Io<'_>) -> Result<String, String> {
    let explicit_stdin =
        args.is_empty() || (args.len() == 1 && args.first().is_some_and(|a| a == "-"));
    let joined = if explicit_stdin {
        String::new()
    } else {
        args.join(" ")
    };
    let read_stdin = !io.stdin_is_terminal || (explicit_stdin && !args.is_empty());
    if explicit_stdin && args.is_empty() && io.stdin_is_terminal {
        return Err(
            "no prompt: give it as arguments or pipe it on stdin (see kaiwa ask --help)".into(),
        );
    }
    let mut piped = String::new();
    if read_stdin {
        let mut bytes = Vec::new();
        io.stdin
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        piped = String::from_utf8_lossy(&bytes).into_owned();
    }
    let piped = piped.trim_end_matches(['\n', '\r']);
    let prompt = match (joined.trim().is_empty(), piped.trim().is_empty()) {
        (true, true) => return Err("the prompt is empty".into()),
        (false, true) => joined,
        (true, false) => piped.to_string(),
        (false, false) => format!("{joined}\n\n{piped}"),
    };
    Ok(prompt)
}

/// `kaiwa ask`.
pub async fn run_ask(config: &Config, args: &AskArgs, io: &mut Io<'_>) -> Exit {
    let prompt = match read_prompt(&args.prompt, io) {
        Ok(p) => p,
        Err(message) => {
            io.error_line(&message);
            return Exit::Usage;
        }
    };
    let mut session = match session::open(config, io, true).await {
        Ok(session) => session,
        Err(code) => return code,
    };
    let client = match session.clients.route(&session.model) {
        Ok(client) => client,
        Err(e) => {
            io.error_line(&e.to_string());
            return Exit::Usage;
        }
    };
    let mut messages = Vec::new();
    if let Some(system) = config.system.as_deref().filter(|s| !s.is_empty()) {
        messages.push(ChatMessage::new(Role::System, system));
    }
    messages.push(ChatMessage::new(Role::User, prompt));
    let request = ChatRequest {
        model: session.model.clone(),
        messages,
        temperature: config.temperature,
        max_tokens: config.max_tokens,
    };
    let mut prices = session.facts;
    context::learn_saved(config, &mut prices);
    if let Some(line) = context::will_not_fit(config, &prices, &request) {
        io.error_line(&line);
        return Exit::Api;
    }
    if args.raw {
        ask_raw(config, &client, &request, &prices, args, io).await
    } else {
        ask_stream(config, &client, &request, &prices, args, io).await
    }
}

/// A retry wait, shown to a person at a terminal only: into a pipe or file a
/// failure stays the one `error:` line scripts expect (the log has the waits).
fn retry_note(io: &mut Io<'_>, attempt: u32, wait: Duration, cause: Option<&ApiError>) {
    if !io.stderr_is_terminal {
        return;
    }
    let cause = cause.map(|c| format!(": {c}")).unwrap_or_default();
    let line = format!(
        "retrying in {:.1}s (attempt {attempt} of 2){cause}",
        wait.as_secs_f64()
    );
    let _ = writeln!(io.stderr, "kaiwa: {}", sanitize_str(&line));
}

async fn ask_raw(
    config: &Config,
    client: &ApiClient,
    request: &ChatRequest,
    prices: &PriceTable,
    args: &AskArgs,
    io: &mut Io<'_>,
) -> Exit {
    let started = std::time::Instant::now();
    let result = {
        let stderr = &mut *io.stderr;
        let tty = io.stderr_is_terminal;
        let mut on_retry = |attempt: u32, wait: Duration| {
            if !tty {
                return;
            }
            let _ = writeln!(
                stderr,
                "kaiwa: retrying in {:.1}s (attempt {attempt} of 2)",
                wait.as_secs_f64()
            );
        };
        client.complete_raw(request, &mut on_retry).await
    };
    match result {
        Ok((_, value)) => {
            let (reasoning, answer) = thinking::of_response(&value);
            let usage = value.get("usage").and_then(Usage::from_json).map_or_else(
                || estimate_usage(request, &answer, prices),
                |u| RequestUsage::from_server(&u, &request.model, prices),
            );
            let finish = value
                .pointer("/choices/0/finish_reason")
                .and_then(serde_json::Value::as_str);
            let outcome = Outcome {
                text: &answer,
                reasoning: Some(&reasoning),
                state: MessageState::Done,
                finish_reason: finish,
                error: None,
                skipped: 0,
            };
            save(
                config,
                client.base_url(),
                request,
                &outcome,
                Some(usage),
                started,
                io.stderr,
            );
            let pretty = serde_json::to_string_pretty(&value).unwrap_or_default();
            if writeln!(io.stdout, "{pretty}")
                .and_then(|()| io.stdout.flush())
                .is_err()
            {
                return Exit::Ok;
            }
            if args.usage {
                let usage = value.get("usage").and_then(Usage::from_json);
                let line = match usage {
                    Some(u) => usage_line(&RequestUsage::from_server(&u, &request.model, prices)),
                    None => usage_line(&estimate_usage(
                        request,
                        content_of(&value).as_deref().unwrap_or(""),
                        prices,
                    )),
                };
                let _ = writeln!(io.stderr, "{line}");
            }
            Exit::Ok
        }
        Err(e) => {
            let why =
                context::after_error(config, &request.model, &e).unwrap_or_else(|| e.to_string());
            let outcome = Outcome {
                text: "",
                reasoning: None,
                state: MessageState::Error,
                finish_reason: None,
                error: Some(&why),
                skipped: 0,
            };
            save(
                config,
                client.base_url(),
                request,
                &outcome,
                None,
                started,
                io.stderr,
            );
            io.error_line(&why);
            Exit::Api
        }
    }
}

fn content_of(value: &serde_json::Value) -> Option<String> {
    value
        .pointer("/choices/0/message/content")?
        .as_str()
        .map(str::to_string)
}

fn estimate_usage(request: &ChatRequest, answer: &str, prices: &PriceTable) -> RequestUsage {
    RequestUsage::estimated(
        estimate::prompt_tokens(&request.model, &request.messages),
        estimate::text_tokens(&request.model, answer),
        &request.model,
        prices,
    )
}

fn usage_line(usage: &RequestUsage) -> String {
    let mut totals = UsageTotals::default();
    totals.add(&RequestUsage {
        cost: None,
        ..*usage
    });
    totals.status_text()
}

/// What the streaming sink collected.
#[derive(Default)]
struct Collected {
    text: String,
    /// The model's reasoning (saved with the answer, never on stdout).
    reasoning: String,
    usage: Option<Usage>,
    end: Option<StreamEnd>,
    stdout_closed: bool,
    ends_with_newline: bool,
    /// Ctrl+C / SIGTERM stopped the answer.
    stopped: bool,
}

/// What came back, as it is saved.
struct Outcome<'a> {
    text: &'a str,
    reasoning: Option<&'a str>,
    state: MessageState,
    finish_reason: Option<&'a str>,
    error: Option<&'a str>,
    /// Unreadable events skipped (the answer is saved with the mark).
    skipped: u32,
}

/// Save the exchange as a conversation of one turn (unless --no-history).
/// A problem with the history file never fails the answer: it is one
/// `kaiwa: history: …` line on stderr (not saved and why, a damaged file
/// moved aside, a newer file left alone), after the answer.
fn save(
    config: &Config,
    base_url: &str,
    request: &ChatRequest,
    outcome: &Outcome<'_>,
    usage: Option<RequestUsage>,
    started: std::time::Instant,
    stderr: &mut dyn Write,
) {
    let now_ms = crate::store::now_ms();
    let elapsed = i64::try_from(started.elapsed().as_millis()).unwrap_or(0);
    let exchange = history::AskExchange {
        model: &request.model,
        base_url,
        messages: &request.messages,
        answer: outcome.text,
        reasoning: outcome.reasoning.filter(|r| !r.is_empty()),
        state: outcome.state,
        finish_reason: outcome.finish_reason,
        error: outcome.error,
        skipped: outcome.skipped,
        usage,
        started_at_ms: now_ms - elapsed,
        duration_ms: Some(elapsed),
    };
    if let Some(problem) = history::save_ask_exchange(config, &exchange) {
        tracing::warn!(%problem, "ask exchange: history");
        let _ = writeln!(stderr, "kaiwa: {}", sanitize_str(&problem));
    }
}

async fn ask_stream(
    config: &Config,
    client: &ApiClient,
    request: &ChatRequest,
    prices: &PriceTable,
    args: &AskArgs,
    io: &mut Io<'_>,
) -> Exit {
    let started = std::time::Instant::now();
    let mut collected = stream_answer(client, request, args.thinking, io).await;
    if !collected.ends_with_newline && !collected.stdout_closed {
        let _ = io.stdout.write_all(b"\n").and_then(|()| io.stdout.flush());
    }
    let end = collected.end.take().unwrap_or_default();
    if end.skipped > 0 {
        let _ = writeln!(io.stderr, "kaiwa: {}", skipped_text(end.skipped));
    }
    let answered = !collected.text.is_empty();
    // A request counts when the server billed it: not when it was refused.
    let billed = answered || end.error.is_none() || end.finish_reason.is_some();
    let usage = billed.then(|| match &collected.usage {
        Some(u) => RequestUsage::from_server(u, &request.model, prices),
        None => estimate_usage(request, &collected.text, prices),
    });
    if args.usage
        && let Some(usage) = &usage
    {
        let _ = writeln!(io.stderr, "{}", usage_line(usage));
    }
    let state = match (&end.error, answered, end.finish_reason.is_some()) {
        _ if collected.stopped => MessageState::Stopped,
        (None, _, true) => MessageState::Done,
        (_, true, _) => MessageState::Interrupted,
        _ => MessageState::Error,
    };
    let error_text = end.error.as_ref().map(ToString::to_string);
    let outcome = Outcome {
        text: &collected.text,
        reasoning: Some(&collected.reasoning),
        state,
        finish_reason: end.finish_reason.as_deref(),
        error: error_text.as_deref(),
        skipped: end.skipped,
    };
    save(
        config,
        client.base_url(),
        request,
        &outcome,
        usage,
        started,
        io.stderr,
    );
    if collected.stopped {
        io.error_line("stopped (Ctrl+C); the text that arrived was kept");
        return Exit::Interrupted;
    }
    match end.error {
        None => Exit::Ok,
        Some(error) => {
            let message = if answered {
                format!("{error} (the answer above is incomplete: interrupted)")
            } else if let Some(line) = context::after_error(config, &request.model, &error) {
                line
            } else if error == ApiError::EndedEarly
                && end.chunks == 0
                && context::near_window(prices, request)
            {
                format!(
                    "{error}: no text at all — the prompt is probably too long for {}",
                    request.model
                )
            } else {
                error.to_string()
            };
            io.error_line(&message);
            Exit::Api
        }
    }
}

/// Streams the answer to stdout as it arrives (through the sanitiser on a
/// terminal) until it ends, or Ctrl+C / SIGTERM stops it; retry waits go
/// to stderr on a terminal.
async fn stream_answer(
    client: &ApiClient,
    request: &ChatRequest,
    show_thinking: bool,
    io: &mut Io<'_>,
) -> Collected {
    let mut collected = Collected {
        ends_with_newline: true,
        ..Collected::default()
    };
    let mut sanitizer = io.stdout_is_terminal.then(StreamSanitizer::new);
    let mut thinking = thinking::Thinking::new(show_thinking, io);
    let mut sink = |event: StreamEvent| match event {
        StreamEvent::Retrying {
            attempt,
            wait,
            cause,
        } => retry_note(io, attempt, wait, Some(&cause)),
        StreamEvent::Started => {}
        StreamEvent::Reasoning(text) => thinking.reasoning(io, &mut collected, &text),
        StreamEvent::Delta(text) => {
            let text = thinking.content(io, &mut collected, &text);
            answer_out(io, &mut collected, sanitizer.as_mut(), &text);
        }
        StreamEvent::Usage(usage) => collected.usage = Some(usage),
        StreamEvent::End(end) => {
            let rest = thinking.finish(io, &mut collected);
            answer_out(io, &mut collected, sanitizer.as_mut(), &rest);
            if let Some(s) = sanitizer.as_mut() {
                let rest = s.finish();
                write_out(io, &mut collected, &rest);
            }
            collected.end = Some(end);
        }
    };
    // Ctrl+C (or SIGTERM) stops the answer as Esc does in the TUI: what
    // arrived is kept, saved and counted, and kaiwa exits 130.
    let stopped = tokio::select! {
        () = client.stream_chat(request, &mut sink) => false,
        () = interrupted() => true,
    };
    if stopped {
        let rest = thinking.finish(io, &mut collected);
        answer_out(io, &mut collected, sanitizer.as_mut(), &rest);
        collected.end = Some(StreamEnd::default());
        collected.stopped = true;
    }
    collected
}

/// Answer text: kept, and written to stdout (through the sanitiser on a
/// terminal).
fn answer_out(
    io: &mut Io<'_>,
    collected: &mut Collected,
    sanitizer: Option<&mut StreamSanitizer>,
    text: &str,
) {
    if text.is_empty() {
        return;
    }
    collected.text.push_str(text);
    let out = match sanitizer {
        Some(s) => s.push(text),
        None => text.to_string(),
    };
    write_out(io, collected, &out);
}

fn write_out(io: &mut Io<'_>, collected: &mut Collected, text: &str) {
    if text.is_empty() || collected.stdout_closed {
        return;
    }
    match io
        .stdout
        .write_all(text.as_bytes())
        .and_then(|()| io.stdout.flush())
    {
        Ok(()) => collected.ends_with_newline = text.ends_with('\n'),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => collected.stdout_closed = true,
        Err(_) => collected.stdout_closed = true,
    }
}

/// `kaiwa config`: the settings in effect and where each came from.
pub fn run_config(config: &Config, io: &mut Io<'_>) -> Exit {
    let report = crate::config::show::report(config);
    let report = if io.stdout_is_terminal {
        sanitize_str(&report)
    } else {
        report
    };
    let _ = io.stdout.write_all(report.as_bytes());
    let _ = io.stdout.flush();
    Exit::Ok
}
