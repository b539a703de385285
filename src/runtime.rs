//! The one loop that owns the terminal: it `select!`s over terminal
//! events, messages from request tasks, a frame deadline and a tick (only
//! while something moves), turns inputs into `Msg`, calls `update`, runs
//! the effects and draws when a frame is due.
//!
//! Invariants: only this module (and `runtime::terminal`) writes to the
//! terminal; the loop never awaits the network; idle means no wake-ups at
//! all (no timer is armed unless the app asks for one or a frame is due).

pub mod frames;
pub mod terminal;

use std::collections::HashMap;
use std::io;
use std::time::Instant;

use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{Event, EventStream, KeyEventKind};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::api::client::ApiClient;
use crate::app::state::Settings;
use crate::app::{App, Effect, Msg, RequestId, update};
use crate::chat::estimate;
use crate::chat::pricing::PriceTable;
use crate::config::Config;
use crate::ui::{self, Ui};
use crate::worker;
use frames::FramePacer;
use terminal::TerminalGuard;

/// Build the app's settings from the configuration.
pub fn settings_from(config: &Config) -> Settings {
    Settings {
        model: config.model.clone(),
        system: config.system.clone(),
        extra_models: config.models.clone(),
        base_url: config.base_url.clone(),
        needs_key: config.api_key.is_none() && config.is_openai(),
        temperature: config.temperature,
        max_tokens: config.max_tokens,
        mouse: config.mouse,
    }
}

/// Turn a terminal event into a message (None: nothing to do).
pub fn msg_from_event(event: Event) -> Option<Msg> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => Some(Msg::Key(key)),
        Event::Paste(text) => Some(Msg::Paste(text)),
        Event::Mouse(mouse) => Some(Msg::Mouse(mouse)),
        Event::Resize(width, height) => Some(Msg::Resize { width, height }),
        Event::Key(_) | Event::FocusGained | Event::FocusLost => None,
    }
}

/// Run the chat TUI until the user quits.
pub async fn run(config: &Config) -> io::Result<()> {
    run_with(config, crate::history::Startup::default()).await
}

/// Run the chat TUI, reopening a conversation or the history browser first
/// as `-c` / `--resume` asked.
pub async fn run_with(config: &Config, startup: crate::history::Startup) -> io::Result<()> {
    crate::ui::theme::set_no_color(std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()));
    let client = ApiClient::new(
        &config.base_url,
        config.api_key.clone(),
        config.stream_idle_timeout,
    )
    .map_err(|e| io::Error::other(e.to_string()))?;
    let mut app = App::new(
        settings_from(config),
        PriceTable::new(config.prices.clone()),
    );
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    if app.settings.needs_key {
        app.models = crate::app::model_menu::ModelsState::Failed("no API key".into());
    } else {
        tokio::spawn(worker::models(client.clone(), tx.clone()));
    }
    // Build the tokenizer tables now (~100 ms), off the loop, so a first
    // estimate costs nothing later.
    let model = app.settings.model.clone();
    tokio::task::spawn_blocking(move || estimate::warm_up(&model));

    let (history, history_notice) = crate::history::History::start(config);
    let mut ctx = EffectContext {
        state_dir: config.state_dir.clone(),
        data_dir: config.data_dir.clone(),
        base_url: config.base_url.clone(),
        history,
        epoch: 0,
        resumed_epoch: None,
    };
    app.history_enabled = ctx.history.is_enabled();
    if let Some(text) = history_notice.or(startup.notice.clone()) {
        app.notice = Some(crate::app::state::Notice {
            text,
            is_error: false,
        });
    }
    if let Some(limit) = config.budget_monthly_usd {
        let spent = ctx
            .history
            .reader()
            .ok()
            .and_then(|store| store.month_spend(crate::store::now_ms()).ok())
            .unwrap_or(0.0);
        app.budget = Some(crate::app::state::Budget {
            limit_usd: limit,
            spent_before_usd: spent,
        });
    }
    reopen(&mut app, &mut ctx, startup.resume.as_deref());
    ctx.epoch = app.conversation.epoch();
    if startup.open_browser {
        let out = update(
            &mut app,
            Msg::Key(ratatui::crossterm::event::KeyEvent::from(
                ratatui::crossterm::event::KeyCode::F(3),
            )),
        );
        for effect in out.effects {
            if let Effect::LoadHistory {
                seq,
                query,
                archived,
                after,
            } = effect
            {
                load_history(&ctx, tx.clone(), (seq, query, archived, after));
            }
        }
    }
    let history_path = ctx.state_dir.join(PROMPT_HISTORY_FILE);
    let history_tx = tx.clone();
    tokio::task::spawn_blocking(move || {
        let _ = history_tx.send(Msg::PromptHistoryLoaded(load_prompts(&history_path)));
    });
    let guard = TerminalGuard::enter(app.mouse_capture)?;
    let result = event_loop(&mut app, &mut ctx, &client, &tx, &mut rx).await;
    drop(guard);
    // Everything said is committed before kaiwa goes.
    ctx.history
        .sync(&app.conversation, &sync_meta(&app, &ctx.base_url));
    ctx.history.shutdown(std::time::Duration::from_secs(3));
    result
}

/// `-c` / `--resume`: open the saved conversation before the first frame.
fn reopen(app: &mut App, ctx: &mut EffectContext, uid: Option<&str>) {
    if let Some(uid) = uid {
        match ctx.history.resume(uid) {
            Ok(resumed) => {
                ctx.resumed_epoch = Some(resumed.conversation.epoch());
                let opened = crate::app::msg::OpenedConversation {
                    conversation: resumed.conversation,
                    title: resumed.title,
                    model: resumed.model,
                };
                update(app, Msg::ConversationOpened(Ok(opened)));
            }
            Err(e) => {
                app.notice = Some(crate::app::state::Notice {
                    text: format!("cannot reopen {uid}: {e}"),
                    is_error: true,
                });
            }
        }
    }
}

fn sync_meta<'a>(app: &'a App, base_url: &'a str) -> crate::history::SyncMeta<'a> {
    crate::history::SyncMeta {
        model: &app.settings.model,
        base_url,
    }
}

/// Save what changed: called after every batch, before effects run (so a
/// question is committed before its request is sent) and before drawing.
fn persist(app: &mut App, ctx: &mut EffectContext) {
    let epoch = app.conversation.epoch();
    if epoch != ctx.epoch {
        // Ctrl+N: the next message starts a new saved conversation — unless
        // this is a conversation just reopened, which `resume` already tracks.
        if ctx.resumed_epoch != Some(epoch) {
            ctx.history.new_conversation();
        }
        ctx.epoch = epoch;
    }
    ctx.history
        .sync(&app.conversation, &sync_meta(app, &ctx.base_url));
    for done in app.finished.drain(..) {
        ctx.history
            .record_request(&ledger_entry(&done, &ctx.base_url));
    }
    if let Some(notice) = ctx.history.take_notice() {
        app.notice = Some(crate::app::state::Notice {
            text: notice,
            is_error: false,
        });
    }
    // Mirror the writer's status both ways: "waiting for lock" goes once the
    // spool is merged (the frame arm only ever sets it).
    app.history_status = ctx.history.status();
}

fn ledger_entry(
    done: &crate::app::state::FinishedRequest,
    base_url: &str,
) -> crate::history::LedgerEntry {
    let now = Instant::now();
    let now_ms = crate::store::now_ms();
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let started_at_ms = done
        .started
        .map_or(now_ms, |s| now_ms - ms(now.saturating_duration_since(s)));
    crate::history::LedgerEntry {
        message: Some(done.message),
        model: done.model.clone(),
        base_url: base_url.to_string(),
        usage: done.usage,
        status: done.status.to_string(),
        started_at_ms,
        duration_ms: done
            .started
            .zip(done.ended)
            .map(|(s, e)| ms(e.saturating_duration_since(s))),
        ttft_ms: done
            .started
            .zip(done.first_text)
            .map(|(s, f)| ms(f.saturating_duration_since(s))),
    }
}

/// Load the browser's list or search results off the loop.
/// What the browser asked for: (seq, query, archived, the page after).
type HistoryQuery = (u64, String, bool, Option<(i64, i64)>);

fn load_history(ctx: &EffectContext, tx: mpsc::UnboundedSender<Msg>, ask: HistoryQuery) {
    let (seq, query, archived, after) = ask;
    let reader = ctx.history.reader();
    tokio::task::spawn_blocking(move || {
        let result = reader.map_err(|e| e.to_string()).and_then(|store| {
            if query.trim().is_empty() {
                store
                    .list(archived, crate::app::history_browser::PAGE, after)
                    .map(|rows| rows.into_iter().map(|s| browser_item(&s, None)).collect())
            } else {
                store.search(&query, SEARCH_LIMIT).map(|hits| {
                    hits.into_iter()
                        .filter(|h| h.conversation.archived == archived)
                        .map(|h| browser_item(&h.conversation, Some(h.snippet)))
                        .collect()
                })
            }
            .map_err(|e| e.to_string())
        });
        let _ = tx.send(Msg::HistoryLoaded { seq, result });
    });
}

/// Conversations a search shows at most (newest matches first).
const SEARCH_LIMIT: usize = 500;

fn browser_item(
    s: &crate::store::ConversationSummary,
    snippet: Option<String>,
) -> crate::app::history_browser::BrowserItem {
    crate::app::history_browser::BrowserItem {
        uid: s.uid.clone(),
        title: s
            .title
            .clone()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| s.preview.clone()),
        model: s.model.clone(),
        when: s.last_active_local.clone(),
        messages: s.message_count,
        archived: s.archived,
        snippet,
        key: s.cursor(),
    }
}

async fn event_loop(
    app: &mut App,
    ctx: &mut EffectContext,
    client: &ApiClient,
    tx: &mpsc::UnboundedSender<Msg>,
    rx: &mut mpsc::UnboundedReceiver<Msg>,
) -> io::Result<()> {
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    full_redraw(&mut terminal)?;
    let mut events = EventStream::new();
    let mut ui = Ui::default();
    let mut pacer = FramePacer::default();
    let mut tasks: HashMap<RequestId, AbortHandle> = HashMap::new();
    let mut batch: Vec<Msg> = Vec::new();
    pacer.mark_dirty();
    loop {
        let now = Instant::now();
        let frame_due = pacer.deadline(now);
        let wake = app.next_wakeup(now);
        tokio::select! {
            biased;
            () = sleep_until(frame_due) => {
                if app.in_flight.is_some() {
                    // What is drawn is committed first (bounded: the UI never
                    // waits long on the disk).
                    ctx.history.flush(std::time::Duration::from_millis(25));
                }
                if let Some(status) = ctx.history.status() {
                    app.history_status = Some(status);
                }
                draw(&mut terminal, &mut ui, app)?;
                pacer.drawn(Instant::now());
                continue;
            }
            event = events.next() => match event {
                Some(Ok(event)) => batch.extend(msg_from_event(event)),
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            Some(msg) = rx.recv() => batch.push(msg),
            () = sleep_until(wake) => batch.push(Msg::Tick(Instant::now())),
        }
        // Drain what else is waiting before drawing (many deltas, one frame).
        while let Ok(msg) = rx.try_recv() {
            batch.push(msg);
        }
        let mut quit = false;
        let mut effects = Vec::new();
        for msg in batch.drain(..) {
            debug_panic_trigger(&msg);
            let out = update(app, msg);
            if out.changed {
                pacer.mark_dirty();
            }
            effects.extend(out.effects);
        }
        persist(app, ctx);
        if effects
            .iter()
            .any(|e| matches!(e, Effect::StartChat { .. }))
        {
            // The question is committed before its request is sent.
            ctx.history.flush(std::time::Duration::from_millis(500));
        }
        for effect in effects {
            quit |= run_effect(effect, ctx, client, tx, &mut tasks, &mut terminal)?;
        }
        if quit {
            for handle in tasks.values() {
                handle.abort();
            }
            return Ok(());
        }
    }
}

/// Perform one effect; returns true on `Quit`.
fn run_effect(
    effect: Effect,
    ctx: &mut EffectContext,
    client: &ApiClient,
    tx: &mpsc::UnboundedSender<Msg>,
    tasks: &mut HashMap<RequestId, AbortHandle>,
    terminal: &mut Terminal<CrosstermBackend<io::Stdout>>,
) -> io::Result<bool> {
    match effect {
        Effect::StartChat { id, request } => {
            // The syntax set is loaded while the server thinks, not at
            // start-up: a session that never sees code never loads it.
            if !crate::ui::markdown::highlighting_loaded() {
                tokio::task::spawn_blocking(crate::ui::markdown::warm_up);
            }
            tasks.retain(|_, handle| !handle.is_finished());
            let handle = tokio::spawn(worker::chat(client.clone(), id, request, tx.clone()));
            tasks.insert(id, handle.abort_handle());
        }
        Effect::CancelChat { id } => {
            if let Some(handle) = tasks.remove(&id) {
                handle.abort();
            }
        }
        Effect::FetchModels => {
            tokio::spawn(worker::models(client.clone(), tx.clone()));
        }
        Effect::SetMouseCapture(on) => {
            terminal::set_mouse(on)?;
            // Some terminals redraw on mode changes; repaint everything.
            full_redraw(terminal)?;
        }
        Effect::Copy { text, what } => {
            copy(&text);
            let _ = tx.send(Msg::Copied(what));
        }
        Effect::OpenEditor { text } => {
            let result = tokio::task::block_in_place(|| edit_outside(&text, &ctx.state_dir));
            full_redraw(terminal)?;
            let _ = tx.send(Msg::EditorClosed(result));
        }
        Effect::SavePrompt(prompt) => {
            let path = ctx.state_dir.join(PROMPT_HISTORY_FILE);
            tokio::task::spawn_blocking(move || append_prompt(&path, &prompt));
        }
        Effect::LoadHistory {
            seq,
            query,
            archived,
            after,
        } => {
            load_history(ctx, tx.clone(), (seq, query, archived, after));
        }
        Effect::OpenConversation { uid } => {
            persist_now(ctx);
            let result = tokio::task::block_in_place(|| ctx.history.resume(&uid));
            let msg = match result {
                Ok(resumed) => {
                    ctx.resumed_epoch = Some(resumed.conversation.epoch());
                    Ok(crate::app::msg::OpenedConversation {
                        conversation: resumed.conversation,
                        title: resumed.title,
                        model: resumed.model,
                    })
                }
                Err(e) => Err(format!("cannot open that conversation: {e}")),
            };
            let _ = tx.send(Msg::ConversationOpened(msg));
        }
        Effect::RenameConversation { uid, title } => ctx.history.rename(&uid, title.as_deref()),
        Effect::ArchiveConversation { uid, archived } => {
            ctx.history.archive(&uid, archived);
            let text = if archived {
                "archived (Tab shows archived ones)"
            } else {
                "restored"
            };
            let _ = tx.send(Msg::Notice {
                text: text.into(),
                is_error: false,
            });
        }
        Effect::DeleteConversation { uid } => {
            let current = ctx.history.conversation_uid() == Some(uid.as_str());
            ctx.history.delete_conversation(&uid);
            if current {
                // The open conversation is gone from the file: start afresh
                // so what follows is saved as a new one.
                let _ = tx.send(Msg::OpenConversationDeleted);
            }
            let _ = tx.send(Msg::Notice {
                text: "conversation deleted".into(),
                is_error: false,
            });
        }
        Effect::ExportConversation { uid } => export_markdown(ctx, tx.clone(), uid),
        Effect::Quit => return Ok(true),
    }
    Ok(false)
}

/// Wait briefly for the writer before switching conversations.
fn persist_now(ctx: &EffectContext) {
    ctx.history.flush(std::time::Duration::from_millis(500));
}

/// Write a conversation as Markdown under the data folder (0600) and say where.
fn export_markdown(ctx: &EffectContext, tx: mpsc::UnboundedSender<Msg>, uid: String) {
    let reader = ctx.history.reader();
    let dir = ctx.data_dir.join("exports");
    tokio::task::spawn_blocking(move || {
        let result = reader.map_err(|e| e.to_string()).and_then(|store| {
            let text = store.export_markdown(&uid).map_err(|e| e.to_string())?;
            crate::paths::create_private_dir(&dir).map_err(|e| e.to_string())?;
            let path = dir.join(format!("{uid}.md"));
            let mut file = crate::paths::create_private_file(&path).map_err(|e| e.to_string())?;
            std::io::Write::write_all(&mut file, text.as_bytes()).map_err(|e| e.to_string())?;
            Ok(path)
        });
        let msg = match result {
            Ok(path) => Msg::Notice {
                text: format!("exported to {}", path.display()),
                is_error: false,
            },
            Err(why) => Msg::Notice {
                text: format!("export failed: {why}"),
                is_error: true,
            },
        };
        let _ = tx.send(msg);
    });
}

/// What effects need besides the client and the channel.
struct EffectContext {
    state_dir: std::path::PathBuf,
    data_dir: std::path::PathBuf,
    base_url: String,
    history: crate::history::History,
    /// The conversation last saved (see `persist`).
    epoch: u64,
    /// A conversation reopened by `resume`, already tracked by the history.
    resumed_epoch: Option<u64>,
}

const PROMPT_HISTORY_FILE: &str = "prompt_history.jsonl";

/// OSC 52 always (through tmux's passthrough when inside tmux), and the
/// system clipboard where there is one (off the loop: it may talk to X11).
fn copy(text: &str) {
    use std::io::Write as _;
    let inside_tmux = std::env::var_os("TMUX").is_some();
    if let Some(sequence) = crate::clipboard::osc52(text, inside_tmux) {
        let mut out = io::stdout();
        let _ = out.write_all(sequence.as_bytes());
        let _ = out.flush();
    }
    let owned = text.to_string();
    tokio::task::spawn_blocking(move || crate::clipboard::set_system_clipboard(&owned));
}

/// Leave the TUI, run the editor, come back.
fn edit_outside(text: &str, state_dir: &std::path::Path) -> Result<String, String> {
    terminal::restore();
    let command = crate::editor::editor_command(&crate::paths::real_env);
    let result = crate::editor::edit(text, &command, state_dir).map_err(|e| e.to_string());
    if let Err(e) = terminal::reenter() {
        return Err(format!("cannot restore the screen: {e}"));
    }
    result
}

fn append_prompt(path: &std::path::Path, prompt: &str) {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        let _ = crate::paths::create_private_dir(dir);
    }
    if let (Ok(mut file), Ok(line)) = (
        crate::paths::open_private_append(path),
        serde_json::to_string(prompt),
    ) {
        let _ = writeln!(file, "{line}");
    }
}

/// The last prompts from the history file, oldest first.
fn load_prompts(path: &std::path::Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut prompts: Vec<String> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<String>(line).ok())
        .collect();
    let excess = prompts
        .len()
        .saturating_sub(crate::app::state::PROMPT_HISTORY_MAX);
    prompts.drain(..excess);
    prompts
}

fn draw(
    terminal: &mut Terminal<CrosstermBackend<io::Stdout>>,
    ui: &mut Ui,
    app: &mut App,
) -> io::Result<()> {
    let size = terminal.size()?;
    ui::prepare(
        ui,
        app,
        ratatui::layout::Rect::new(0, 0, size.width, size.height),
    );
    // Synchronized update: fast streams don't tear; terminals that don't
    // know it ignore it.
    let _ = execute!(io::stdout(), BeginSynchronizedUpdate);
    let result = terminal.draw(|frame| ui::draw(ui, app, frame));
    let _ = execute!(io::stdout(), EndSynchronizedUpdate);
    result.map(|_| ())
}

/// Clear the screen and make the next frame repaint every cell. Not
/// `Terminal::clear`, which asks the terminal for the cursor position and
/// fails after 2 s on terminals that never answer.
fn full_redraw(terminal: &mut Terminal<CrosstermBackend<io::Stdout>>) -> io::Result<()> {
    let size = terminal.size()?;
    terminal.resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Debug builds only: F11 with `KAIWA_TEST_PANIC=1` panics, so a test can
/// check that the terminal is restored on panic. Release builds lack it.
#[cfg(debug_assertions)]
fn debug_panic_trigger(msg: &Msg) {
    use ratatui::crossterm::event::KeyCode;
    if let Msg::Key(key) = msg
        && key.code == KeyCode::F(11)
        && std::env::var_os("KAIWA_TEST_PANIC").is_some()
    {
        #[allow(clippy::panic, reason = "deliberate, for the terminal-restore test")]
        {
            panic!("test panic requested with F11");
        }
    }
}

#[cfg(not(debug_assertions))]
fn debug_panic_trigger(_msg: &Msg) {}
