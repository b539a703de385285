//! Everything about requests: sending (a new question, a message composed in
//! another role, an edited question resent, a regenerated answer), the
//! stream's events, stopping, finishing, and the usage they count.
//!
//! Invariant: a question whose request failed before any answer text goes
//! back into the input box and the path is restored as it was (an edit or
//! regenerate brings the earlier branch back); text that arrived is never
//! dropped.

use std::time::Instant;

use super::effect::Effect;
use super::msg::RequestId;
use super::state::{
    App, EditTarget, FinishedRequest, InFlight, Notice, PendingEstimate, RetryWait,
};
use super::update::Update;
use crate::api::client::{StreamEnd, StreamEvent};
use crate::api::error::ApiError;
use crate::api::types::{ChatMessage, ChatRequest, Role};
use crate::chat::conversation::{Exchange, MessageId, MessageStatus, skipped_text};
use crate::chat::estimate;
use crate::chat::usage::{RequestOutcome, RequestUsage};

/// Enter in the input box.
pub fn submit(app: &mut App) -> Update {
    if app.input.composer.is_blank() {
        return Update::unchanged();
    }
    if let Some(target) = app.input.editing {
        return submit_edit(app, target);
    }
    match app.input.role {
        Role::User => {}
        role @ (Role::Assistant | Role::System) => {
            // Written by hand: added to the conversation, not sent (the seed's
            // "sushi" example writes the model's earlier words itself).
            let text = app.input.composer.text();
            app.input.composer.clear();
            app.conversation.push(role, text, MessageStatus::Complete);
            app.input.role = Role::User;
            app.transcript.to_bottom();
            app.say(Notice::info(format!(
                "{} message added — it is sent with the next question",
                role.as_str()
            )));
            return Update::changed();
        }
    }
    if let Some(blocked) = cannot_send(app) {
        return blocked;
    }
    if let Some(stopped) = super::context::before_send(app) {
        return stopped;
    }
    if app.budget_used().is_some_and(|used| used >= 1.0) && !app.usage.budget_confirmed {
        // SPEC: a request past the monthly budget asks first.
        app.popup = Some(super::state::Popup::ConfirmBudget);
        return Update::changed();
    }
    let text = app.input.composer.text();
    app.input.composer.clear();
    app.usage.budget_confirmed = false;
    let mut effects = remember_prompt(app, &text);
    let question = app
        .conversation
        .push(Role::User, text, MessageStatus::Complete);
    effects.push(start(app, Some(question), None));
    Update {
        changed: true,
        effects,
    }
}

/// Why a request cannot start now, as an update that says so.
fn cannot_send(app: &mut App) -> Option<Update> {
    if app.settings.needs_key {
        app.say(Notice::error(
            "no API key: set OPENAI_API_KEY or api_key_cmd, or use --base-url for a local server",
        ));
        return Some(Update::changed());
    }
    if app.in_flight.is_some() {
        app.say(Notice::info("an answer is still streaming — Esc stops it"));
        return Some(Update::changed());
    }
    None
}

fn remember_prompt(app: &mut App, text: &str) -> Vec<Effect> {
    if app.input.recall.remember(text) {
        vec![Effect::SavePrompt(text.to_string())]
    } else {
        Vec::new()
    }
}

/// Enter while editing a message: a question is resent from there (the
/// later turns stay as the old branch); other roles change in place.
fn submit_edit(app: &mut App, target: EditTarget) -> Update {
    let text = app.input.composer.text();
    let Some(index) = app.conversation.index_of(target.id) else {
        app.input.editing = None;
        app.say(Notice::error("the message being edited is gone"));
        return Update::changed();
    };
    if target.role != Role::User {
        app.conversation
            .update(target.id, |m| m.content.clone_from(&text));
        app.input.composer.clear();
        app.input.editing = None;
        app.input.role = Role::User;
        app.say(Notice::info("message changed"));
        return Update::changed();
    }
    if let Some(blocked) = cannot_send(app) {
        return blocked;
    }
    app.input.composer.clear();
    app.input.editing = None;
    app.conversation.branch_at(index);
    let question = app
        .conversation
        .push(Role::User, text, MessageStatus::Complete);
    let effect = start(app, Some(question), Some(target.id));
    Update::with(effect)
}

/// `r` on an answer: a new answer to the same question; the old one stays
/// as an alternative.
pub fn regenerate(app: &mut App, index: usize) -> Update {
    let Some(message) = app.conversation.messages().get(index) else {
        return Update::unchanged();
    };
    if message.role != Role::Assistant {
        app.say(Notice::info(
            "r regenerates an answer: select an assistant message",
        ));
        return Update::changed();
    }
    let old = message.id;
    if let Some(blocked) = cannot_send(app) {
        return blocked;
    }
    app.conversation.branch_at(index);
    let effect = start(app, None, Some(old));
    // Keep the selection on the answer being regenerated (the new one).
    if let Some(flight) = &app.in_flight {
        app.browse.selected = Some(flight.message);
    }
    Update::with(effect)
}

/// Add the streaming answer and ask the runtime to start the request.
fn start(app: &mut App, question: Option<MessageId>, restore: Option<MessageId>) -> Effect {
    let sent = app.conversation.request_messages();
    let sent_ids = app.conversation.request_ids();
    let model = app.settings.model.clone();
    let message = app
        .conversation
        .push(Role::Assistant, String::new(), MessageStatus::Streaming);
    let exchange = Exchange {
        sent: sent_ids,
        model: model.clone(),
        temperature: app.settings.temperature,
        max_tokens: app.settings.max_tokens,
        response: None,
        chunks: 0,
    };
    app.conversation.update(message, |m| {
        m.model = Some(model.clone());
        m.exchange = Some(Box::new(exchange));
    });
    app.next_request += 1;
    let id = RequestId(app.next_request);
    let request = ChatRequest {
        model: model.clone(),
        messages: sent.clone(),
        temperature: app.settings.temperature,
        max_tokens: app.settings.max_tokens,
    };
    app.in_flight = Some(InFlight {
        question,
        restore,
        ..InFlight::new(id, message, model, sent)
    });
    app.notice = None;
    app.transcript.to_bottom();
    Effect::StartChat { id, request }
}

/// The request that writes a summary of earlier turns (`s` in the overflow
/// dialog) into a new system message, folded; returns it and the effect.
pub(super) fn start_summary(app: &mut App, messages: Vec<ChatMessage>) -> (MessageId, Effect) {
    let model = app.settings.model.clone();
    let message = app
        .conversation
        .push(Role::System, String::new(), MessageStatus::Streaming);
    app.conversation.update(message, |m| {
        m.summary = true;
        m.model = Some(model.clone());
    });
    app.next_request += 1;
    let id = RequestId(app.next_request);
    let request = ChatRequest {
        model: model.clone(),
        messages: messages.clone(),
        temperature: app.settings.temperature,
        max_tokens: None,
    };
    app.in_flight = Some(InFlight::new(id, message, model, messages));
    app.transcript.to_bottom();
    (message, Effect::StartChat { id, request })
}

/// Esc / Ctrl+C while streaming: keep what arrived, mark it stopped, count it.
pub fn stop(app: &mut App) -> Update {
    let out = end_early(app, MessageStatus::Stopped, None);
    if out.changed {
        app.say(Notice::info("stopped"));
    }
    out
}

/// The answer in progress, if any, ends as interrupted with `why` (kaiwa
/// itself is going: SIGTERM, SIGHUP); its request is cancelled.
pub fn interrupt(app: &mut App, why: &str) -> Update {
    end_early(app, MessageStatus::Interrupted, Some(why))
}

/// The request in flight, taken, with the text its answer has so far.
fn take_flight(app: &mut App) -> Option<(InFlight, String)> {
    let mut flight = app.in_flight.take()?;
    let rest = flight.think.finish();
    if !rest.is_empty() {
        app.conversation.update(flight.message, |m| {
            rest.apply_to(&mut m.reasoning, &mut m.content);
        });
    }
    let text = app
        .conversation
        .get(flight.message)
        .map(|m| m.content.clone())
        .unwrap_or_default();
    Some((flight, text))
}

/// Ends the answer in progress before its server did: it keeps the text
/// that arrived with `status`, its request is cancelled, and one the
/// server accepted counts.
fn end_early(app: &mut App, status: MessageStatus, why: Option<&str>) -> Update {
    let Some((flight, text)) = take_flight(app) else {
        return Update::unchanged();
    };
    app.conversation.update(flight.message, |m| {
        m.status = status;
        if let Some(why) = why {
            m.error = Some(why.to_string());
        }
    });
    let mut out = Update::with(Effect::CancelChat { id: flight.id });
    summary_ended(app, flight.message, false);
    // The server billed it once it accepted the request.
    if flight.started.is_some() || flight.usage.is_some() {
        let outcome = if status == MessageStatus::Stopped {
            RequestOutcome::Stopped
        } else {
            RequestOutcome::Interrupted
        };
        out.effects
            .extend(count_usage(app, &flight, &text, outcome));
    }
    out
}

/// Adds the request's usage (the server's, else an estimate) to the totals;
/// the effect that records it in the ledger. An estimate made before the
/// tokenizer tables exist is the rough count, shown at once; the tables are
/// built off the loop (`Effect::WarmTokenizer`, once) and the request is
/// counted again and recorded when they land (`tokenizer_ready`).
fn count_usage(
    app: &mut App,
    flight: &InFlight,
    answer: &str,
    outcome: RequestOutcome,
) -> Vec<Effect> {
    let ready = app.usage.tokenizer_ready;
    let usage = match &flight.usage {
        Some(u) => RequestUsage::from_server(u, &flight.model, &app.usage.prices),
        None => RequestUsage::estimated(
            estimate::prompt_tokens_now(&flight.model, &flight.sent, ready),
            estimate::text_tokens_now(&flight.model, answer, ready),
            &flight.model,
            &app.usage.prices,
        ),
    };
    app.usage.totals.add(&usage);
    let sent = app
        .conversation
        .get(flight.message)
        .and_then(|m| m.exchange.as_ref())
        .map(|exchange| exchange.sent.clone())
        .unwrap_or_default();
    super::context::counted(app, sent, flight.message, &usage);
    let finished = FinishedRequest {
        message: flight.message,
        model: flight.model.clone(),
        usage: Some(usage),
        outcome,
        started: flight.started,
        first_text: flight.first_text,
        ended: flight.last_event,
    };
    if flight.usage.is_some() || ready {
        return vec![Effect::RecordUsage(finished)];
    }
    app.usage.pending.push(PendingEstimate {
        finished,
        sent: flight.sent.clone(),
        answer: answer.to_string(),
    });
    if std::mem::replace(&mut app.usage.tokenizer_wanted, true) {
        Vec::new()
    } else {
        vec![Effect::WarmTokenizer {
            model: flight.model.clone(),
        }]
    }
}

/// The tokenizer tables are built: the requests counted roughly meanwhile
/// are counted with them, and recorded.
pub fn tokenizer_ready(app: &mut App) -> Update {
    app.usage.tokenizer_ready = true;
    let pending = std::mem::take(&mut app.usage.pending);
    if pending.is_empty() {
        return Update::unchanged();
    }
    let mut effects = Vec::new();
    for PendingEstimate {
        mut finished,
        sent,
        answer,
    } in pending
    {
        let exact = RequestUsage::estimated(
            estimate::prompt_tokens(&finished.model, &sent),
            estimate::text_tokens(&finished.model, &answer),
            &finished.model,
            &app.usage.prices,
        );
        if let Some(rough) = &finished.usage {
            app.usage.totals.remove(rough);
        }
        app.usage.totals.add(&exact);
        if let Some(base) = app
            .usage
            .context
            .as_mut()
            .filter(|base| base.ids.last() == Some(&finished.message))
        {
            base.tokens = (exact.prompt + exact.completion).saturating_sub(exact.reasoning);
        }
        finished.usage = Some(exact);
        effects.push(Effect::RecordUsage(finished));
    }
    Update {
        changed: true,
        effects,
    }
}

/// An event from the request task `id`.
pub fn on_api(app: &mut App, id: RequestId, event: StreamEvent, at: Instant) -> Update {
    let Some(flight) = app.in_flight.as_mut().filter(|f| f.id == id) else {
        return Update::unchanged();
    };
    app.clock.now = Some(at);
    flight.last_event = Some(at);
    match event {
        StreamEvent::Retrying {
            attempt,
            wait,
            cause,
        } => {
            flight.retry = Some(RetryWait {
                attempt,
                until: at + wait,
                cause: cause.to_string(),
            });
        }
        StreamEvent::Started => {
            flight.started = Some(at);
            flight.retry = None;
        }
        StreamEvent::Delta(text) => {
            flight.deltas += 1;
            flight.first_text.get_or_insert(at);
            let message = flight.message;
            // Inline `<think>` text goes to the reasoning, never the answer.
            let piece = flight.think.push(&text);
            app.conversation.update(message, |m| {
                piece.apply_to(&mut m.reasoning, &mut m.content);
            });
        }
        StreamEvent::Reasoning(text) => {
            let message = flight.message;
            app.conversation
                .update(message, |m| m.reasoning.push_str(&text));
        }
        StreamEvent::Usage(usage) => {
            if usage.reasoning_tokens > 0 {
                let message = flight.message;
                app.conversation.update(message, |m| {
                    m.reasoning_tokens = Some(usage.reasoning_tokens);
                });
            }
            flight.usage = Some(usage);
        }
        StreamEvent::End(end) => return finish(app, end),
    }
    Update::changed()
}

fn finish(app: &mut App, end: StreamEnd) -> Update {
    let Some((flight, text)) = take_flight(app) else {
        return Update::unchanged();
    };
    if text.is_empty() && end.finish_reason.is_none() {
        return failed_before_text(app, &flight, end);
    }
    let complete = end.finish_reason.is_some() && end.error.is_none();
    app.conversation.update(flight.message, |m| {
        m.status = if complete {
            MessageStatus::Complete
        } else {
            MessageStatus::Interrupted
        };
        m.error = end.error.as_ref().map(ToString::to_string);
        m.skipped = end.skipped;
        m.finish_reason.clone_from(&end.finish_reason);
        if let Some(exchange) = &mut m.exchange {
            exchange.response.clone_from(&end.assembled);
            exchange.chunks = end.chunks;
        }
    });
    let record = count_usage(
        app,
        &flight,
        &text,
        if complete {
            RequestOutcome::Done
        } else {
            RequestOutcome::Interrupted
        },
    );
    app.notice = match (&end.error, end.skipped) {
        (Some(e), _) => Some(Notice::error(format!("interrupted: {e}"))),
        (None, 0) => None,
        (None, n) => Some(Notice::info(skipped_text(n))),
    };
    let mut out = Update {
        changed: true,
        effects: record,
    };
    if let Some(after) = summary_ended(app, flight.message, complete) {
        out.effects.extend(after.effects);
    }
    out
}

/// When the request that ended wrote a summary: send the waiting question
/// (written) or put the turns back (not).
fn summary_ended(app: &mut App, message: MessageId, written: bool) -> Option<Update> {
    if app.usage.summary.as_ref()?.message != message {
        return None;
    }
    if !written {
        app.conversation.update(message, |m| m.not_sent = true);
    }
    super::context::summary_done(app, written)
}

/// No answer text arrived: undo the turn so nothing is lost and nothing
/// dangles — the question goes back into the input box, an edited or
/// regenerated turn gets its earlier branch back.
fn failed_before_text(app: &mut App, flight: &InFlight, end: StreamEnd) -> Update {
    app.conversation.remove(flight.message);
    if let Some(question) = flight.question.and_then(|q| app.conversation.remove(q)) {
        let restored = if app.input.composer.is_blank() {
            question.content
        } else {
            format!("{}\n{}", question.content, app.input.composer.text())
        };
        app.input.composer.set_text(&restored);
        // An edited question stays an edit of the original: Enter resends
        // it from the same place, not as a new turn after the old branch.
        if let Some(old) = flight.restore
            && app.input.editing.is_none()
        {
            app.input.editing = Some(EditTarget {
                id: old,
                role: Role::User,
            });
            app.input.role = Role::User;
        }
    }
    if let Some(old) = flight.restore {
        app.conversation.extend_with_branch(old);
    }
    let record = if flight.usage.is_some() {
        count_usage(app, flight, "", RequestOutcome::Error)
    } else {
        // Refused before billing: in the ledger, with nothing counted.
        vec![Effect::RecordUsage(FinishedRequest {
            message: flight.message,
            model: flight.model.clone(),
            usage: None,
            outcome: RequestOutcome::Error,
            started: flight.started,
            first_text: None,
            ended: flight.last_event,
        })]
    };
    if let Some(overflow) = end
        .error
        .as_ref()
        .and_then(|error| super::context::after_overflow(app, error))
    {
        let mut effects = record;
        effects.extend(overflow.effects);
        return Update {
            changed: true,
            effects,
        };
    }
    let near_full = super::context::near_full(app);
    let why = end.error.map_or_else(
        || "no answer".to_string(),
        |e| match e.tui_hint() {
            Some(hint) => format!("{e} — {hint}"),
            // llama-cpp-python answers a streamed overflow with 200 and an
            // empty body: near the window, that is the likely reason.
            None if e == ApiError::EndedEarly && end.chunks == 0 && near_full => format!(
                "{e}: no text at all — the conversation is probably too long for the model \
                 (see ctx in the status bar)"
            ),
            None => e.to_string(),
        },
    );
    app.say(Notice::error(why));
    summary_ended(app, flight.message, false);
    Update {
        changed: true,
        effects: record,
    }
}
