//! `update`: the only place the app's state changes. It routes each `Msg`
//! to the area it concerns and returns the effects the runtime must run.
//!
//! Invariant: events from a request that is no longer in flight are
//! ignored (a stopped answer cannot grow); text that arrived is never
//! dropped — a stopped or broken answer keeps it, and a question whose
//! request failed before any text goes back into the input box.

use std::time::Instant;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};

use super::effect::Effect;
use super::keymap::{self, Command, Context};
use super::model_menu::{ModelMenu, ModelsState};
use super::msg::{Msg, RequestId};
use super::state::{App, InFlight, Notice, Popup, RetryWait};
use crate::api::client::{StreamEnd, StreamEvent};
use crate::api::types::{ChatRequest, Role};
use crate::chat::conversation::MessageStatus;
use crate::chat::estimate;
use crate::chat::usage::RequestUsage;

/// What `update` did.
#[derive(Debug, Default, PartialEq)]
pub struct Update {
    /// The screen must be redrawn.
    pub changed: bool,
    pub effects: Vec<Effect>,
}

impl Update {
    fn changed() -> Self {
        Self {
            changed: true,
            effects: Vec::new(),
        }
    }

    fn unchanged() -> Self {
        Self::default()
    }

    fn with(effect: Effect) -> Self {
        Self {
            changed: true,
            effects: vec![effect],
        }
    }
}

/// Rows the mouse wheel scrolls per notch.
pub const WHEEL_ROWS: i64 = 3;

pub fn update(app: &mut App, msg: Msg) -> Update {
    match msg {
        Msg::Key(key) => {
            if key.kind == KeyEventKind::Release {
                return Update::unchanged();
            }
            on_key(app, &key)
        }
        Msg::Paste(text) => on_paste(app, &text),
        Msg::Mouse(mouse) => match mouse.kind {
            MouseEventKind::ScrollUp => {
                app.transcript.scroll_by(-WHEEL_ROWS);
                Update::changed()
            }
            MouseEventKind::ScrollDown => {
                app.transcript.scroll_by(WHEEL_ROWS);
                Update::changed()
            }
            MouseEventKind::Down(_)
            | MouseEventKind::Up(_)
            | MouseEventKind::Drag(_)
            | MouseEventKind::Moved
            | MouseEventKind::ScrollLeft
            | MouseEventKind::ScrollRight => Update::unchanged(),
        },
        Msg::Resize { .. } => Update::changed(),
        Msg::Api { id, event, at } => on_api(app, id, event, at),
        Msg::Models(result) => {
            app.models = match result {
                Ok(ids) => ModelsState::Loaded(ids),
                Err(why) => ModelsState::Failed(why),
            };
            if let Some(Popup::ModelMenu(menu)) = &mut app.popup {
                let filter = menu.filter.clone();
                menu.refresh(&app.models, &app.settings.extra_models, &app.settings.model);
                if !filter.is_empty() {
                    menu.set_filter(filter);
                }
                return Update::changed();
            }
            Update::unchanged()
        }
        Msg::Tick(now) => {
            app.now = Some(now);
            if app.in_flight.is_some() {
                app.spinner = app.spinner.wrapping_add(1);
                Update::changed()
            } else {
                Update::unchanged()
            }
        }
    }
}

fn on_key(app: &mut App, key: &KeyEvent) -> Update {
    // 1. An open popup.
    if let Some(result) = popup_key(app, key) {
        return result;
    }
    // 2. A running stream: Esc stops it whatever has the focus.
    if app.in_flight.is_some()
        && keymap::lookup(Context::Streaming, key) == Some(Command::StopAnswer)
    {
        return run(app, Command::StopAnswer);
    }
    // 3. kaiwa's bindings.
    if let Some(command) =
        keymap::lookup(Context::Global, key).or_else(|| keymap::lookup(Context::Input, key))
    {
        return run(app, command);
    }
    // 4. The input box.
    if app.composer.edit(key) {
        Update::changed()
    } else {
        Update::unchanged()
    }
}

/// Keys for the popup on top; None lets the key fall through.
#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "crossterm's KeyCode has dozens of variants; only a few edit"
)]
fn popup_key(app: &mut App, key: &KeyEvent) -> Option<Update> {
    match app.popup.as_mut()? {
        Popup::ModelMenu(menu) => {
            if let Some(command) = keymap::lookup(Context::ModelMenu, key) {
                return Some(run(app, command));
            }
            let plain = !key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
            match key.code {
                KeyCode::Char(c) if plain => {
                    let mut filter = menu.filter.clone();
                    filter.push(c);
                    menu.set_filter(filter);
                    Some(Update::changed())
                }
                KeyCode::Backspace => {
                    let mut filter = menu.filter.clone();
                    filter.pop();
                    menu.set_filter(filter);
                    Some(Update::changed())
                }
                KeyCode::PageUp => {
                    menu.move_cursor(-10);
                    Some(Update::changed())
                }
                KeyCode::PageDown => {
                    menu.move_cursor(10);
                    Some(Update::changed())
                }
                _ => pass_through(key),
            }
        }
        Popup::Help { scroll } => {
            if keymap::lookup(Context::Help, key) == Some(Command::ClosePopup) {
                return Some(run(app, Command::ClosePopup));
            }
            let delta: i32 = match key.code {
                KeyCode::Up | KeyCode::Char('k') => -1,
                KeyCode::Down | KeyCode::Char('j') => 1,
                KeyCode::PageUp => -10,
                KeyCode::PageDown => 10,
                _ => return pass_through(key),
            };
            *scroll = u16::try_from((i32::from(*scroll) + delta).max(0)).unwrap_or(0);
            Some(Update::changed())
        }
    }
}

/// A key the popup does not use: kaiwa's global bindings (quit, stop, F1,
/// F2, F12…) still apply, but the input box hidden behind the popup gets
/// nothing, so no invisible edit happens.
fn pass_through(key: &KeyEvent) -> Option<Update> {
    if keymap::lookup(Context::Global, key).is_some() {
        None
    } else {
        Some(Update::unchanged())
    }
}

fn on_paste(app: &mut App, text: &str) -> Update {
    match &mut app.popup {
        Some(Popup::ModelMenu(menu)) => {
            let mut filter = menu.filter.clone();
            filter.push_str(text.lines().next().unwrap_or_default());
            menu.set_filter(filter);
        }
        Some(Popup::Help { .. }) => return Update::unchanged(),
        None => app.composer.paste(text),
    }
    Update::changed()
}

/// Carry out a command.
fn run(app: &mut App, command: Command) -> Update {
    match command {
        Command::Submit => submit(app),
        Command::InsertNewline => {
            app.composer.insert_newline();
            Update::changed()
        }
        Command::StopAnswer => stop(app),
        Command::QuitOrStop => {
            if app.in_flight.is_some() {
                stop(app)
            } else {
                quit(app)
            }
        }
        Command::Quit => quit(app),
        Command::OpenModelMenu => {
            app.popup = Some(Popup::ModelMenu(ModelMenu::open(
                &app.models,
                &app.settings.extra_models,
                &app.settings.model,
            )));
            Update::changed()
        }
        Command::ScrollPageUp => {
            let page = app.transcript.page();
            app.transcript.scroll_by(-page);
            Update::changed()
        }
        Command::ScrollPageDown => {
            let page = app.transcript.page();
            app.transcript.scroll_by(page);
            Update::changed()
        }
        Command::ScrollToBottom => {
            app.transcript.to_bottom();
            Update::changed()
        }
        Command::NewConversation => new_conversation(app),
        Command::OpenHelp => {
            app.popup = Some(Popup::Help { scroll: 0 });
            Update::changed()
        }
        Command::ToggleMouse => {
            app.mouse_capture = !app.mouse_capture;
            app.notice = Some(Notice {
                text: if app.mouse_capture {
                    "mouse capture on: the wheel scrolls".into()
                } else {
                    "mouse capture off: select text with the mouse; F12 turns it back on".into()
                },
                is_error: false,
            });
            Update::with(Effect::SetMouseCapture(app.mouse_capture))
        }
        Command::MenuUp | Command::MenuDown => {
            if let Some(Popup::ModelMenu(menu)) = &mut app.popup {
                menu.move_cursor(if command == Command::MenuUp { -1 } else { 1 });
            }
            Update::changed()
        }
        Command::MenuPick => {
            if let Some(Popup::ModelMenu(menu)) = &app.popup
                && let Some(model) = menu.selected()
            {
                app.notice = Some(Notice {
                    text: format!("model: {model}"),
                    is_error: false,
                });
                app.settings.model = model;
                app.popup = None;
            }
            Update::changed()
        }
        Command::ClosePopup => {
            app.popup = None;
            Update::changed()
        }
    }
}

fn quit(app: &mut App) -> Update {
    app.should_quit = true;
    let mut effects = Vec::new();
    if let Some(flight) = app.in_flight.take() {
        effects.push(Effect::CancelChat { id: flight.id });
    }
    effects.push(Effect::Quit);
    Update {
        changed: true,
        effects,
    }
}

fn submit(app: &mut App) -> Update {
    if app.settings.needs_key {
        app.notice = Some(Notice {
            text: "no API key: set OPENAI_API_KEY or api_key_cmd, or use --base-url for a local server"
                .into(),
            is_error: true,
        });
        return Update::changed();
    }
    if app.in_flight.is_some() {
        app.notice = Some(Notice {
            text: "an answer is still streaming — Esc stops it".into(),
            is_error: false,
        });
        return Update::changed();
    }
    if app.composer.is_blank() {
        return Update::unchanged();
    }
    let text = app.composer.text();
    app.composer.clear();
    let question = app
        .conversation
        .push(Role::User, text, MessageStatus::Complete);
    let sent = app.conversation.request_messages();
    let model = app.settings.model.clone();
    let message = app
        .conversation
        .push(Role::Assistant, String::new(), MessageStatus::Streaming);
    app.conversation
        .update(message, |m| m.model = Some(model.clone()));
    app.next_request += 1;
    let id = RequestId(app.next_request);
    let request = ChatRequest {
        model: model.clone(),
        messages: sent.clone(),
        temperature: app.settings.temperature,
        max_tokens: app.settings.max_tokens,
    };
    app.in_flight = Some(InFlight {
        id,
        message,
        question,
        model,
        sent,
        started: None,
        first_text: None,
        last_event: None,
        deltas: 0,
        usage: None,
        retry: None,
    });
    app.notice = None;
    app.transcript.to_bottom();
    Update::with(Effect::StartChat { id, request })
}

/// Esc / Ctrl+C while streaming: keep what arrived, mark it stopped, count it.
fn stop(app: &mut App) -> Update {
    let Some(flight) = app.in_flight.take() else {
        return Update::unchanged();
    };
    let text = app
        .conversation
        .get(flight.message)
        .map(|m| m.content.clone())
        .unwrap_or_default();
    app.conversation
        .update(flight.message, |m| m.status = MessageStatus::Stopped);
    // The server billed it once it accepted the request.
    if flight.started.is_some() || flight.usage.is_some() {
        count_usage(app, &flight, &text);
    }
    app.notice = Some(Notice {
        text: "stopped".into(),
        is_error: false,
    });
    Update::with(Effect::CancelChat { id: flight.id })
}

fn new_conversation(app: &mut App) -> Update {
    // A running answer is stopped as Esc stops it, so a billed request counts.
    let effects = stop(app).effects;
    // Ids keep growing across conversations: the display cache keys on them.
    app.conversation.clear(app.settings.system.as_deref());
    app.transcript.to_bottom();
    app.notice = Some(Notice {
        text: "new conversation".into(),
        is_error: false,
    });
    Update {
        changed: true,
        effects,
    }
}

fn count_usage(app: &mut App, flight: &InFlight, answer: &str) {
    let usage = match &flight.usage {
        Some(u) => RequestUsage::from_server(u, &flight.model, &app.prices),
        None => RequestUsage::estimated(
            estimate::prompt_tokens(&flight.model, &flight.sent),
            estimate::text_tokens(&flight.model, answer),
            &flight.model,
            &app.prices,
        ),
    };
    app.totals.add(&usage);
}

fn on_api(app: &mut App, id: RequestId, event: StreamEvent, at: Instant) -> Update {
    let Some(flight) = app.in_flight.as_mut().filter(|f| f.id == id) else {
        return Update::unchanged();
    };
    app.now = Some(at);
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
            app.conversation
                .update(message, |m| m.content.push_str(&text));
        }
        // Reasoning text is not part of the answer; it only shows life.
        StreamEvent::Reasoning(_) => {}
        StreamEvent::Usage(usage) => flight.usage = Some(usage),
        StreamEvent::End(end) => return finish(app, end),
    }
    Update::changed()
}

fn finish(app: &mut App, end: StreamEnd) -> Update {
    let Some(flight) = app.in_flight.take() else {
        return Update::unchanged();
    };
    let text = app
        .conversation
        .get(flight.message)
        .map(|m| m.content.clone())
        .unwrap_or_default();
    if text.is_empty() && end.finish_reason.is_none() {
        // Failed before any answer text: the question goes back into the input.
        app.conversation.remove(flight.message);
        if let Some(question) = app.conversation.remove(flight.question) {
            let typed = app.composer.text();
            let restored = if app.composer.is_blank() {
                question.content
            } else {
                format!("{}\n{typed}", question.content)
            };
            app.composer.set_text(&restored);
        }
        if flight.usage.is_some() {
            count_usage(app, &flight, "");
        }
        let why = end
            .error
            .map_or_else(|| "no answer".to_string(), |e| e.to_string());
        app.notice = Some(Notice {
            text: why,
            is_error: true,
        });
        return Update::changed();
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
        m.finish_note = end.finish_reason.clone().filter(|r| r != "stop");
    });
    count_usage(app, &flight, &text);
    app.notice = match (&end.error, end.skipped) {
        (Some(e), _) => Some(Notice {
            text: format!("interrupted: {e}"),
            is_error: true,
        }),
        (None, 0) => None,
        (None, n) => Some(Notice {
            text: skipped_text(n),
            is_error: false,
        }),
    };
    Update::changed()
}

/// "1 unreadable event skipped" / "3 unreadable events skipped".
pub fn skipped_text(n: u32) -> String {
    let plural = if n == 1 { "event" } else { "events" };
    format!("{n} unreadable {plural} skipped")
}
