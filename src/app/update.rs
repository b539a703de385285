//! `update`: the only place the app's state changes. It routes each `Msg`
//! to the area it concerns and returns the effects the runtime must run.
//!
//! Invariant: events from a request that is no longer in flight are
//! ignored (a stopped answer cannot grow); text that arrived is never
//! dropped — a stopped or broken answer keeps it, and a question whose
//! request failed before any text goes back into the input box.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};

use super::effect::Effect;
use super::keymap::{self, Command, Context};
use super::lifecycle::{conversation_opened, new_conversation, quit, started, terminated};
use super::model_menu::{ListState, MenuModel, ModelMenu};
use super::msg::Msg;
use super::state::{App, Focus, Notice, Popup};
use super::{browse, history_browser, requests};
use crate::api::error::ApiError;

/// What `update` did.
#[derive(Debug, Default, PartialEq)]
pub struct Update {
    /// The screen must be redrawn.
    pub changed: bool,
    pub effects: Vec<Effect>,
}

impl Update {
    pub(super) fn changed() -> Self {
        Self {
            changed: true,
            effects: Vec::new(),
        }
    }

    pub(super) fn unchanged() -> Self {
        Self::default()
    }

    pub(super) fn with(effect: Effect) -> Self {
        Self::with_all(vec![effect])
    }

    pub(super) fn with_all(effects: Vec<Effect>) -> Self {
        Self {
            changed: true,
            effects,
        }
    }
}

/// Rows the mouse wheel scrolls per notch.
pub const WHEEL_ROWS: i64 = 3;

pub fn update(app: &mut App, msg: Msg) -> Update {
    let out = route(app, msg);
    app.input.fit();
    out
}

fn route(app: &mut App, msg: Msg) -> Update {
    match msg {
        Msg::Key(key) => {
            if key.kind == KeyEventKind::Release {
                return Update::unchanged();
            }
            on_key(app, &key)
        }
        Msg::Paste(text) => on_paste(app, &text),
        Msg::Mouse(mouse) => on_mouse(app, mouse),
        Msg::Clicked(id) => {
            app.browse.selected = Some(id);
            app.browse.focus = Focus::Transcript;
            Update::changed()
        }
        Msg::Resize { width, height } => {
            app.input.room = Some((width, super::input::max_text_rows(height)));
            Update::changed()
        }
        Msg::Api { id, event, at } => requests::on_api(app, id, event, at),
        Msg::EditorClosed(result) => {
            match result {
                Ok(text) => app.input.composer.set_text(&text),
                Err(why) => {
                    app.say(Notice::error(why.to_string()));
                }
            }
            Update::changed()
        }
        Msg::PromptHistoryLoaded(mut entries) => {
            // Prompts sent before the file finished loading come after it.
            entries.append(&mut app.input.recall.entries);
            app.input.recall.entries = entries;
            Update::unchanged()
        }
        Msg::HistoryLoaded { seq, result } => history_browser::loaded(app, seq, result),
        Msg::ConversationOpened(result) => conversation_opened(app, result),
        Msg::OpenConversationDeleted => {
            let mut out = new_conversation(app);
            app.say(Notice::info("conversation deleted — this is a new one"));
            out.changed = true;
            out
        }
        Msg::Notice(notice) => {
            app.say(notice);
            Update::changed()
        }
        Msg::Terminated(signal) => terminated(app, signal),
        Msg::Started(state) => started(app, state),
        Msg::TokenizerReady => super::requests::tokenizer_ready(app),
        Msg::HistoryStatus(status) => {
            if app.history.status == status {
                return Update::unchanged();
            }
            app.history.status = status;
            Update::changed()
        }
        Msg::Models { provider, result } => models_loaded(app, &provider, result),
        Msg::LimitsLoaded(limits) => {
            for (model, tokens) in limits {
                app.usage.prices.learn(&model, tokens);
            }
            Update::changed()
        }
        Msg::Discovered { servers, done } => super::first_run::discovered(app, servers, done),
        Msg::Tick(now) => {
            app.clock.now = Some(now);
            if app.in_flight.is_some() {
                app.clock.spinner = app.clock.spinner.wrapping_add(1);
                Update::changed()
            } else {
                Update::unchanged()
            }
        }
    }
}

fn on_mouse(app: &mut App, mouse: ratatui::crossterm::event::MouseEvent) -> Update {
    match mouse.kind {
        MouseEventKind::ScrollUp => {
            app.transcript.scroll_by(-WHEEL_ROWS);
            Update::changed()
        }
        MouseEventKind::ScrollDown => {
            app.transcript.scroll_by(WHEEL_ROWS);
            Update::changed()
        }
        // A left click on a message arrives as `Msg::Clicked`.
        MouseEventKind::Down(_)
        | MouseEventKind::Up(_)
        | MouseEventKind::Drag(_)
        | MouseEventKind::Moved
        | MouseEventKind::ScrollLeft
        | MouseEventKind::ScrollRight => Update::unchanged(),
    }
}

/// A provider's model list arrived (or could not be had); an open menu
/// shows it, keeping what was typed to filter it.
fn models_loaded(
    app: &mut App,
    provider: &str,
    result: Result<Vec<MenuModel>, ApiError>,
) -> Update {
    let state = match result {
        Ok(models) => ListState::Loaded(models),
        Err(why) => ListState::Failed(why.to_string()),
    };
    // The list may give the current model's window: the meter changes.
    let meter = app.context_meter();
    app.models.set(provider, state);
    if let Some(Popup::ModelMenu(menu)) = &mut app.popup {
        menu.refresh(
            &app.models,
            &app.settings.extra_models,
            &app.settings.model,
            &app.usage.prices,
        );
        return Update::changed();
    }
    if app.context_meter() == meter {
        Update::unchanged()
    } else {
        Update::changed()
    }
}

fn on_key(app: &mut App, key: &KeyEvent) -> Update {
    // 1. An open popup.
    if let Some(result) = popup_key(app, key) {
        return result;
    }
    // 2. The first-run panel's list of local servers.
    if let Some(result) = super::first_run::key(app, key) {
        return result;
    }
    // 3. A running stream: Esc stops it whatever has the focus.
    if app.in_flight.is_some()
        && keymap::lookup(Context::Streaming, key) == Some(Command::StopAnswer)
    {
        return run(app, Command::StopAnswer);
    }
    // 3. A pending question of the transcript (search text, code block number).
    if app.browse.search.as_ref().is_some_and(|s| s.editing) {
        return browse::search_key(app, key);
    }
    if app.browse.pending_code_pick.is_some() {
        return browse::code_pick_key(app, key);
    }
    // 4. kaiwa's bindings for the focused area.
    if let Some(command) = keymap::lookup(Context::Global, key) {
        return run(app, command);
    }
    match app.browse.focus {
        Focus::Transcript => match keymap::lookup(Context::Transcript, key) {
            Some(command) => run(app, command),
            None => Update::unchanged(),
        },
        Focus::Input => {
            if let Some(command) = keymap::lookup(Context::Input, key) {
                return run(app, command);
            }
            if app.input.recall_key(key) {
                return Update::changed();
            }
            // 5. The input box.
            if app.input.composer.edit(key) {
                app.input.recall.index = None;
                Update::changed()
            } else {
                Update::unchanged()
            }
        }
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
                    menu.edit_filter(|f| f.push(c));
                    Some(Update::changed())
                }
                KeyCode::Backspace => {
                    menu.edit_filter(|f| {
                        f.pop();
                    });
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
        Popup::Raw(raw) => {
            match keymap::lookup(Context::RawView, key) {
                Some(Command::ClosePopup) => return Some(run(app, Command::ClosePopup)),
                Some(Command::CopyMessage) => {
                    let text = crate::clipboard::clipboard_text(&raw.text);
                    let what = format!(
                        "copied raw JSON ({} chars)",
                        browse::thousands(text.chars().count())
                    );
                    return Some(Update::with(Effect::Copy { text, what }));
                }
                _ => {}
            }
            let delta: i32 = match key.code {
                KeyCode::Up | KeyCode::Char('k') => -1,
                KeyCode::Down | KeyCode::Char('j') => 1,
                KeyCode::PageUp => -20,
                KeyCode::PageDown => 20,
                KeyCode::Home | KeyCode::Char('g') => -100_000,
                KeyCode::End | KeyCode::Char('G') => 100_000,
                _ => return pass_through(key),
            };
            raw.scroll =
                u16::try_from((i32::from(raw.scroll) + delta).clamp(0, i32::from(u16::MAX)))
                    .unwrap_or(0);
            Some(Update::changed())
        }
        Popup::History(_) => {
            // Quit and stop still work with the browser open.
            if matches!(
                keymap::lookup(Context::Global, key),
                Some(Command::Quit | Command::QuitOrStop)
            ) {
                return None;
            }
            Some(history_browser::key(app, key))
        }
        Popup::Overflow(_) => {
            if matches!(
                keymap::lookup(Context::Global, key),
                Some(Command::Quit | Command::QuitOrStop)
            ) {
                return None;
            }
            Some(super::context::dialog_key(app, key))
        }
        Popup::ConfirmBudget => {
            app.popup = None;
            if matches!(key.code, KeyCode::Char('y' | 'Y')) {
                app.usage.budget_confirmed = true;
                return Some(requests::submit(app));
            }
            app.say(Notice::info("not sent (monthly budget)"));
            Some(Update::changed())
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
            menu.edit_filter(|f| f.push_str(text.lines().next().unwrap_or_default()));
        }
        Some(Popup::History(browser)) => {
            let line = text.lines().next().unwrap_or_default();
            return Update::with(browser.edit_query(|q| q.push_str(line)));
        }
        Some(Popup::Help { .. } | Popup::Raw(_) | Popup::ConfirmBudget | Popup::Overflow(_)) => {
            return Update::unchanged();
        }
        None => app.input.composer.paste(text),
    }
    Update::changed()
}

/// Carry out a command.
#[allow(clippy::too_many_lines, reason = "one arm per command: routing only")]
fn run(app: &mut App, command: Command) -> Update {
    match command {
        Command::Submit => requests::submit(app),
        Command::InsertNewline => {
            app.input.composer.insert_newline();
            Update::changed()
        }
        Command::StopAnswer => requests::stop(app),
        Command::QuitOrStop => {
            if app.in_flight.is_some() {
                requests::stop(app)
            } else {
                quit(app)
            }
        }
        Command::Quit => quit(app),
        Command::Suspend => Update::with(Effect::Suspend),
        Command::OpenModelMenu => {
            app.popup = Some(Popup::ModelMenu(ModelMenu::open(
                &app.models,
                &app.settings.extra_models,
                &app.settings.model,
                &app.usage.prices,
            )));
            Update::changed()
        }
        Command::ScrollPageUp => {
            app.transcript.scroll_pages(-1);
            Update::changed()
        }
        Command::ScrollPageDown => {
            app.transcript.scroll_pages(1);
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
        Command::ToggleMouse => toggle_mouse(app),
        Command::MenuUp | Command::MenuDown => {
            if let Some(Popup::ModelMenu(menu)) = &mut app.popup {
                menu.move_cursor(if command == Command::MenuUp { -1 } else { 1 });
            }
            Update::changed()
        }
        Command::MenuPick => {
            if let Some(Popup::ModelMenu(menu)) = &app.popup
                && let Some(model) = menu.pick()
            {
                app.say(Notice::info(format!("model: {model}")));
                app.settings.model = model;
                app.popup = None;
            }
            Update::changed()
        }
        Command::ClosePopup => {
            app.popup = None;
            Update::changed()
        }
        Command::FocusTranscript => browse::focus_transcript(app),
        Command::OpenEditor => Update::with(Effect::OpenEditor {
            text: app.input.composer.text(),
        }),
        Command::CycleRole if app.input.cycle_role() => Update::changed(),
        Command::OpenHistory => history_browser::open(app),
        Command::CancelEdit if app.input.cancel_edit() => {
            app.say(Notice::info("edit cancelled"));
            Update::changed()
        }
        // Nothing to cycle or cancel while editing / not editing.
        Command::CycleRole | Command::CancelEdit => Update::unchanged(),
        Command::FocusInput
        | Command::SelectPrev
        | Command::SelectNext
        | Command::SelectFirst
        | Command::SelectLast
        | Command::CopyMessage
        | Command::CopyCode
        | Command::EditMessage
        | Command::Regenerate
        | Command::PrevAlternative
        | Command::NextAlternative
        | Command::DeleteMessage
        | Command::UndoDelete
        | Command::RawView
        | Command::ToggleThinking
        | Command::StartSearch
        | Command::NextMatch
        | Command::PrevMatch => browse::run(app, command),
    }
}

/// F12: mouse capture on or off, saying what that means.
fn toggle_mouse(app: &mut App) -> Update {
    app.mouse_capture = !app.mouse_capture;
    app.say(Notice::info(if app.mouse_capture {
        "mouse capture on: the wheel scrolls"
    } else {
        "mouse capture off: select text with the mouse; F12 turns it back on"
    }));
    Update::with(Effect::SetMouseCapture(app.mouse_capture))
}

pub use crate::chat::conversation::skipped_text;
