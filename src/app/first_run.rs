//! The first run (SPEC, First run): with no key and no base URL anywhere,
//! kaiwa looks for a server on this machine and lists what it found on the
//! first-run panel; Enter uses the selected model for this run, `s` also
//! saves it to the config file. Part of `update`.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::effect::Effect;
use super::model_menu::ModelsState;
use super::state::{App, Notice};
use super::update::Update;
use crate::provider::Provider;

/// A server found on 127.0.0.1, as the panel shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalServer {
    /// `127.0.0.1:11434`
    pub address: String,
    /// `ollama`, `llamacpp`, … or `local`: the provider's name if chosen.
    pub kind: String,
    /// `http://127.0.0.1:11434/v1`
    pub base_url: String,
    pub models: Vec<String>,
    /// It answered 401: it needs a key kaiwa does not have.
    pub needs_key: bool,
}

/// What the panel knows and which model is selected.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FirstRun {
    /// The probe has not answered yet.
    pub searching: bool,
    pub servers: Vec<LocalServer>,
    /// Index into [`FirstRun::choices`].
    pub cursor: usize,
}

impl FirstRun {
    /// Every model that can be chosen, as (server, model) indexes.
    pub fn choices(&self) -> Vec<(usize, usize)> {
        self.servers
            .iter()
            .enumerate()
            .filter(|(_, server)| !server.needs_key)
            .flat_map(|(s, server)| (0..server.models.len()).map(move |m| (s, m)))
            .collect()
    }

    /// The selected server and model.
    pub fn selected(&self) -> Option<(&LocalServer, &str)> {
        let (s, m) = *self.choices().get(self.cursor)?;
        let server = self.servers.get(s)?;
        Some((server, server.models.get(m)?.as_str()))
    }
}

/// A server answered the probe (every one found so far), or the search
/// is over. The selection stays on the model it was on.
pub(super) fn discovered(app: &mut App, servers: Vec<LocalServer>, done: bool) -> Update {
    if let Some(first_run) = &mut app.first_run {
        let selected = first_run
            .selected()
            .map(|(server, model)| (server.address.clone(), model.to_string()));
        first_run.searching = !done;
        first_run.servers = servers;
        first_run.cursor = selected
            .and_then(|(address, model)| {
                first_run.choices().iter().position(|&(s, m)| {
                    first_run.servers.get(s).is_some_and(|server| {
                        server.address == address && server.models.get(m) == Some(&model)
                    })
                })
            })
            .unwrap_or(0);
    }
    Update::changed()
}

/// Keys for the panel while it lists something to choose and the input is
/// empty (Enter with a typed question also chooses, then sends it). None
/// lets the key through.
#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "crossterm's KeyCode has dozens of variants; only a few answer here"
)]
pub(super) fn key(app: &mut App, key: &KeyEvent) -> Option<Update> {
    let first_run = app.first_run.as_mut()?;
    let count = first_run.choices().len();
    if !app.settings.needs_key
        || count == 0
        || !key.modifiers.difference(KeyModifiers::SHIFT).is_empty()
    {
        return None;
    }
    let empty = app.input.composer.text().trim().is_empty();
    match key.code {
        KeyCode::Up if empty => {
            first_run.cursor = first_run.cursor.saturating_sub(1);
            Some(Update::changed())
        }
        KeyCode::Down if empty => {
            first_run.cursor = (first_run.cursor + 1).min(count - 1);
            Some(Update::changed())
        }
        KeyCode::Enter => {
            let mut update = choose(app, false);
            if !empty {
                update.effects.extend(super::requests::submit(app).effects);
            }
            Some(update)
        }
        KeyCode::Char('s') if empty => Some(choose(app, true)),
        _ => None,
    }
}

/// Use the selected model: a local provider named after the server's kind,
/// for this run (and in the config file when `save`).
fn choose(app: &mut App, save: bool) -> Update {
    let Some((server, model)) = app.first_run.as_ref().and_then(FirstRun::selected) else {
        return Update::unchanged();
    };
    let provider = Provider::local(&server.kind, server.base_url.clone());
    let id = format!("{}:{model}", server.kind);
    let said = format!("using {} ({}) · {id}", server.address, server.kind);
    app.usage.prices.add_provider(provider.clone());
    app.settings.model.clone_from(&id);
    app.settings.needs_key = false;
    app.settings.providers = vec![provider.name.clone()];
    app.models = ModelsState::loading(&app.settings.providers);
    app.first_run = None;
    app.say(Notice::info(said));
    Update::with_all(vec![
        Effect::UseProvider {
            provider,
            model: id,
            save,
        },
        Effect::FetchModels,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::msg::Msg;
    use crate::app::test_support::{keys, settings, warm_app};
    use crate::app::update;

    fn server(port: u16, kind: &str, models: &[&str], needs_key: bool) -> LocalServer {
        LocalServer {
            address: format!("127.0.0.1:{port}"),
            kind: kind.into(),
            base_url: format!("http://127.0.0.1:{port}/v1"),
            models: models.iter().map(|m| (*m).to_string()).collect(),
            needs_key,
        }
    }

    /// A first run whose search has just begun.
    fn searching() -> App {
        let mut app = warm_app(crate::app::state::Settings {
            needs_key: true,
            ..settings()
        });
        app.first_run = Some(FirstRun {
            searching: true,
            ..FirstRun::default()
        });
        app
    }

    /// A first run whose probe found an Ollama with two models and a Jan
    /// that needs a key.
    fn found() -> App {
        let mut app = searching();
        let servers = vec![
            server(11434, "ollama", &["llama3.2:3b", "qwen3:8b"], false),
            server(1337, "jan", &[], true),
        ];
        update::update(
            &mut app,
            Msg::Discovered {
                servers,
                done: true,
            },
        );
        app
    }

    #[test]
    fn enter_uses_the_selected_model_for_this_run() {
        let mut app = found();
        let first_run = app.first_run.as_ref().unwrap();
        assert!(!first_run.searching);
        assert_eq!(first_run.choices(), [(0, 0), (0, 1)]);
        let effects = keys(&mut app, "<Down><Down><Up><Down><Enter>");
        let provider = Provider::local("ollama", "http://127.0.0.1:11434/v1".into());
        assert_eq!(
            effects,
            [
                Effect::UseProvider {
                    provider,
                    model: "ollama:qwen3:8b".into(),
                    save: false
                },
                Effect::FetchModels
            ]
        );
        assert_eq!(app.settings.model, "ollama:qwen3:8b");
        assert!(!app.settings.needs_key);
        assert_eq!(app.first_run, None);
        assert_eq!(app.settings.providers, ["ollama"]);
        // A local model costs nothing: no price, so no cost is shown.
        assert!(app.usage.prices.is_local("ollama:qwen3:8b"));
        assert_eq!(
            app.usage
                .prices
                .lookup("ollama:qwen3:8b")
                .map(|(_, source)| source),
            Some(crate::chat::pricing::PriceSource::Local)
        );
        // And the next question goes to it.
        let effects = keys(&mut app, "hi<Enter>");
        let [Effect::StartChat { request, .. }, ..] = effects.as_slice() else {
            panic!("{effects:?}");
        };
        assert_eq!(request.model, "ollama:qwen3:8b");
    }

    #[test]
    fn s_also_saves_and_a_typed_question_is_sent_with_enter() {
        let mut app = found();
        let effects = keys(&mut app, "s");
        assert!(
            matches!(effects.first(), Some(Effect::UseProvider { save: true, model, .. }) if model == "ollama:llama3.2:3b"),
            "{effects:?}"
        );
        let mut app = found();
        let effects = keys(&mut app, "hello<Enter>");
        assert!(
            matches!(
                effects.first(),
                Some(Effect::UseProvider { save: false, .. })
            ),
            "{effects:?}"
        );
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, Effect::StartChat { request, .. }
                if request.model == "ollama:llama3.2:3b")),
            "{effects:?}"
        );
    }

    #[test]
    fn servers_arriving_one_by_one_keep_the_selection() {
        let mut app = searching();
        let llama = server(8080, "llamacpp", &["qwen", "gemma"], false);
        let servers = vec![llama.clone()];
        update::update(
            &mut app,
            Msg::Discovered {
                servers,
                done: false,
            },
        );
        keys(&mut app, "<Down>");
        assert_eq!(
            app.first_run.as_ref().unwrap().selected().unwrap().1,
            "gemma"
        );
        // An Ollama answers later; it sorts first, the selection stays.
        let servers = vec![server(11434, "ollama", &["llama3.2:3b"], false), llama];
        update::update(
            &mut app,
            Msg::Discovered {
                servers,
                done: true,
            },
        );
        let first_run = app.first_run.as_ref().unwrap();
        assert!(!first_run.searching);
        let (server, model) = first_run.selected().unwrap();
        assert_eq!((server.kind.as_str(), model), ("llamacpp", "gemma"));
    }

    #[test]
    fn nothing_to_choose_leaves_the_keys_to_the_input() {
        let mut app = searching();
        let servers = vec![server(1337, "jan", &[], true)];
        update::update(
            &mut app,
            Msg::Discovered {
                servers,
                done: true,
            },
        );
        keys(&mut app, "s");
        assert_eq!(app.input.composer.text(), "s");
        assert!(app.first_run.is_some());
    }
}
