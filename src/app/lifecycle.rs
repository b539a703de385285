//! Which conversation is on screen, and kaiwa's own start and end: start-up
//! state, a saved conversation reopened, Ctrl+N, quitting and being ended
//! by a signal. Part of `update`: only it calls these.

use super::effect::Effect;
use super::model_menu::{ListState, ModelsState};
use super::requests;
use super::state::{App, Notice};
use super::update::Update;
use crate::api::types::Role;

/// What start-up found: history on or off, the budget spent, a notice.
pub(super) fn started(app: &mut App, state: super::msg::StartupState) -> Update {
    app.history.enabled = state.history_enabled;
    app.usage.budget = state.budget;
    if let Some(text) = state.notice {
        app.say(Notice::info(text));
    }
    app.models = ModelsState::loading(&app.settings.providers);
    if app.settings.needs_key {
        app.models.set(
            crate::provider::DEFAULT,
            ListState::Failed("no API key".into()),
        );
    }
    Update::changed()
}

/// A saved conversation was reopened (or could not be).
pub(super) fn conversation_opened(
    app: &mut App,
    result: Result<super::msg::OpenedConversation, super::msg::OpenError>,
) -> Update {
    let opened = match result {
        Ok(opened) => opened,
        Err(why) => {
            app.say(Notice::error(why.to_string()));
            return Update::changed();
        }
    };
    let mut effects = requests::stop(app).effects;
    effects.push(Effect::ConversationSwitched { resumed: true });
    app.conversation = opened.conversation;
    // Continue with the model of its last answer (the row's model is the
    // one it started with).
    let last_model = app
        .conversation
        .messages()
        .iter()
        .rev()
        .find_map(|m| m.model.clone().filter(|m| !m.is_empty()));
    if let Some(model) = last_model.or(opened.model.filter(|m| !m.is_empty())) {
        app.settings.model = model;
    }
    let title = opened.title.clone().or_else(|| {
        // Untitled: name it by its first question.
        app.conversation
            .messages()
            .iter()
            .find(|m| m.role == Role::User)
            .map(|m| {
                let first = m.content.lines().next().unwrap_or("");
                crate::text::wrap::first_chars(first, 60).0.to_string()
            })
    });
    app.history.title = opened.title;
    app.popup = None;
    another_conversation_shown(app);
    app.say(Notice::info(format!(
        "opened: {}",
        title.as_deref().unwrap_or("conversation")
    )));
    Update {
        changed: true,
        effects,
    }
}

/// SIGTERM or SIGHUP: the answer in progress is kept as interrupted (as a
/// broken stream keeps it), then kaiwa quits.
pub fn terminated(app: &mut App, signal: &str) -> Update {
    let mut out = requests::interrupt(app, &format!("kaiwa was ended by {signal}"));
    out.effects.extend(quit(app).effects);
    out.changed = true;
    out
}

pub(super) fn quit(app: &mut App) -> Update {
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

/// What belonged to the conversation that was on screen goes with it: the
/// selection, the search, an edit; the view starts over at the bottom.
fn another_conversation_shown(app: &mut App) {
    app.browse = super::state::BrowseState::default();
    app.input.editing = None;
    app.transcript.new_conversation();
}

pub(super) fn new_conversation(app: &mut App) -> Update {
    // A running answer is stopped as Esc stops it, so a billed request counts.
    let mut effects = requests::stop(app).effects;
    effects.push(Effect::ConversationSwitched { resumed: false });
    app.conversation.clear(app.settings.system.as_deref());
    another_conversation_shown(app);
    app.say(Notice::info("new conversation"));
    Update {
        changed: true,
        effects,
    }
}
