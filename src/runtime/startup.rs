//! Start-up of the chat TUI: the app built from the configuration and what
//! the history knows (budget spent, a conversation to reopen), and the
//! background work that starts with it (the model list, the learned
//! windows, the prompt file). Nothing here touches the terminal.

use std::collections::HashMap;
use std::io;

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use tokio::sync::mpsc;

use super::effects::EffectContext;
use crate::api::routes::Clients;
use crate::app::first_run::{FirstRun, LocalServer};
use crate::app::msg::{OpenError, OpenedConversation, StartupState};
use crate::app::state::{Budget, Settings};
use crate::app::{App, Effect, Msg, update};
use crate::chat::pricing::PriceTable;
use crate::config::Config;
use crate::history::prompts::PromptFile;
use crate::history::{History, Startup};
use crate::secret::ApiKey;

/// The app's settings from the configuration; `listed` names the providers
/// whose models the menu shows.
pub fn settings_from(config: &Config, listed: Vec<String>) -> Settings {
    Settings {
        model: config.model.clone(),
        system: config.system.clone(),
        extra_models: config.models.clone(),
        base_url: config.base_url.clone(),
        providers: listed,
        needs_key: config.lacks_needed_key(),
        temperature: config.temperature,
        context_overflow: config.context_overflow,
        max_tokens: config.max_tokens,
        mouse: config.mouse,
    }
}

/// Everything the loop starts with: the app, what effects need, the channel
/// the tasks answer on, and the effects start-up itself produced.
pub(super) struct Started {
    pub app: App,
    pub ctx: EffectContext,
    pub rx: mpsc::UnboundedReceiver<Msg>,
    pub effects: Vec<Effect>,
}

pub(super) fn start(
    config: &Config,
    key: Option<(String, Option<ApiKey>)>,
    startup: &Startup,
) -> io::Result<Started> {
    let mut clients = Clients::new(config.providers.clone(), config.stream_idle_timeout)
        .map_err(|e| io::Error::other(e.to_string()))?;
    if let Some((provider, key)) = key {
        clients.set_key(&provider, key);
    }
    let facts = PriceTable::for_config(config);
    let (tx, rx) = mpsc::unbounded_channel::<Msg>();
    let (history, history_notice) = History::start_in_background(config);
    if let Some(opening) = history.opening() {
        // What opening the file says (a damaged file moved aside…) reaches
        // the status bar when it is open; the first frame does not wait.
        let tx = tx.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(text) = opening() {
                let _ = tx.send(Msg::Notice(crate::app::state::Notice::info(text)));
            }
        });
    }
    let budget = config.budget_monthly_usd.map(|limit| Budget {
        limit_usd: limit,
        spent_before_usd: history
            .reader()
            .ok()
            .and_then(|store| store.month_spend(crate::store::now_ms()).ok())
            .unwrap_or(0.0),
    });
    let mut app = App::new(settings_from(config, clients.listed()), facts.clone());
    let mut effects = update(
        &mut app,
        Msg::Started(StartupState {
            history_enabled: history.is_enabled(),
            budget,
            notice: history_notice.or_else(|| startup.notice.clone()),
        }),
    )
    .effects;
    let mut ctx = EffectContext {
        state_dir: config.state_dir.clone(),
        data_dir: config.data_dir.clone(),
        config_path: config.config_path.clone(),
        history,
        prompts: PromptFile::new(&config.state_dir, config.history_path.is_some()),
        clients,
        facts,
        tx,
        tasks: HashMap::new(),
    };
    if let Some(uid) = &startup.resume {
        effects.extend(reopen(&mut app, &mut ctx, uid));
    }
    if startup.open_browser {
        effects.extend(update(&mut app, Msg::Key(KeyEvent::from(KeyCode::F(3)))).effects);
    }
    if config.wants_discovery() {
        app.first_run = Some(FirstRun {
            searching: true,
            ..FirstRun::default()
        });
        discover(ctx.tx.clone());
    }
    background(&app, &mut ctx);
    Ok(Started {
        app,
        ctx,
        rx,
        effects,
    })
}

/// The first run: look for a server on this machine (at most
/// `discover::BUDGET`), off the loop.
fn discover(tx: mpsc::UnboundedSender<Msg>) {
    tokio::spawn(async move {
        let ports = crate::discover::ports(&crate::paths::real_env);
        let mut servers: Vec<(u16, LocalServer)> = Vec::new();
        // Each server is shown as soon as it answers: a port that accepts
        // and never answers holds back only the end of the search.
        crate::discover::probe_each(&ports, crate::discover::BUDGET, |server| {
            servers.push((
                server.port,
                LocalServer {
                    address: server.address(),
                    kind: server.kind.to_string(),
                    base_url: server.base_url(),
                    models: server.models.into_iter().map(|m| m.id).collect(),
                    needs_key: server.needs_key,
                },
            ));
            servers.sort_by_key(|(port, _)| ports.iter().position(|p| p == port));
            let list = servers.iter().map(|(_, s)| s.clone()).collect();
            let _ = tx.send(Msg::Discovered {
                servers: list,
                done: false,
            });
        })
        .await;
        let list = servers.into_iter().map(|(_, s)| s).collect();
        let _ = tx.send(Msg::Discovered {
            servers: list,
            done: true,
        });
    });
}

/// `-c` / `--resume`: the saved conversation, opened before the first frame.
fn reopen(app: &mut App, ctx: &mut EffectContext, uid: &str) -> Vec<Effect> {
    let opened = ctx
        .history
        .resume(uid)
        .map(|resumed| OpenedConversation {
            conversation: resumed.conversation,
            title: resumed.title,
            model: resumed.model,
        })
        .map_err(|e| OpenError {
            what: uid.to_string(),
            error: e.into(),
        });
    update(app, Msg::ConversationOpened(opened)).effects
}

/// Work that starts with the TUI, off the loop: the model list, the learned
/// windows, the prompt file. (The tokenizer tables are built only when an
/// answer ends without the server's usage, the highlighter only for the
/// first code block.)
fn background(app: &App, ctx: &mut EffectContext) {
    if !app.settings.needs_key || app.settings.providers.len() > 1 {
        ctx.fetch_models();
    }
    if let Ok(store) = ctx.history.reader() {
        let tx = ctx.tx.clone();
        tokio::task::spawn_blocking(move || {
            if let Ok(limits) = store.learned_limits()
                && !limits.is_empty()
            {
                let _ = tx.send(Msg::LimitsLoaded(limits));
            }
        });
    }
    let prompts = ctx.prompts.clone();
    let tx = ctx.tx.clone();
    tokio::task::spawn_blocking(move || {
        let _ = tx.send(Msg::PromptHistoryLoaded(prompts.load()));
    });
}
