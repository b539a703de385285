//! Performing what `update` asked for. Everything here is I/O or a task:
//! requests, the clipboard, the editor, the history file, suspending.
//!
//! Invariants: history effects keep their order around the save — a
//! conversation switch is applied before it, ledger rows after it (so the
//! answer they link to has its row); blocking work (SQLite reads, files)
//! runs off the loop; results come back as `Msg`s.

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::{signals, terminal};
use crate::api::client::{StreamEnd, StreamEvent};
use crate::api::routes::Clients;
use crate::app::msg::{HistoryError, OpenError, OpenedConversation};
use crate::app::state::Notice;
use crate::app::{App, Effect, Msg, RequestId};
use crate::chat::pricing::PriceTable;
use crate::history::prompts::PromptFile;
use crate::history::{History, SyncMeta, tui};
use crate::worker;

pub(super) type Term = Terminal<CrosstermBackend<io::Stdout>>;

/// What effects need besides the client and the channel.
pub(super) struct EffectContext {
    pub state_dir: std::path::PathBuf,
    pub data_dir: std::path::PathBuf,
    /// Where `s` on the first-run panel saves its choice.
    pub config_path: std::path::PathBuf,
    pub history: History,
    pub prompts: PromptFile,
    /// Every provider's client; a request goes through its model's.
    pub clients: Clients,
    /// Prices and windows, for the menu's rows.
    pub facts: PriceTable,
    pub tx: mpsc::UnboundedSender<Msg>,
    /// Running request tasks, to abort by id.
    pub tasks: HashMap<RequestId, AbortHandle>,
}

impl EffectContext {
    /// Save what changed, with the history effects of this batch in their
    /// place: switches before the save, ledger rows after it. Called after
    /// every batch, before the other effects run (so a question is committed
    /// before its request is sent). What the history has to say comes back
    /// as messages.
    pub fn persist(&mut self, app: &App, effects: &[Effect]) -> Vec<Msg> {
        for effect in effects {
            if let Effect::ConversationSwitched { resumed: false } = effect {
                self.history.new_conversation();
            }
        }
        let base_url = self.url_of(&app.settings.model);
        let meta = SyncMeta {
            model: &app.settings.model,
            base_url: &base_url,
        };
        self.history.sync(&app.conversation, &meta);
        let (now, now_ms) = (Instant::now(), crate::store::now_ms());
        for effect in effects {
            if let Effect::RecordUsage(done) = effect {
                let base_url = self.url_of(&done.model);
                let entry = tui::ledger_entry(done, &base_url, now, now_ms);
                self.history.record_request(&entry);
            }
        }
        if effects
            .iter()
            .any(|e| matches!(e, Effect::StartChat { .. }))
        {
            // The question is committed before its request is sent.
            self.history.flush(Duration::from_millis(500));
        }
        let mut msgs: Vec<Msg> = self
            .history
            .take_notice()
            .map(|text| Msg::Notice(Notice::info(text)))
            .into_iter()
            .collect();
        msgs.push(Msg::HistoryStatus(self.history.status()));
        msgs
    }

    /// Performs one effect (history ones were done by `persist`); true on
    /// `Quit`.
    pub fn run(&mut self, effect: Effect, terminal: &mut Term) -> io::Result<bool> {
        let tx = &self.tx;
        match effect {
            Effect::StartChat { id, request } => {
                self.tasks.retain(|_, handle| !handle.is_finished());
                match self.clients.route(&request.model) {
                    Ok(client) => {
                        let task = worker::chat(client, id, request, tx.clone());
                        self.tasks.insert(id, tokio::spawn(task).abort_handle());
                    }
                    Err(error) => {
                        let end = StreamEnd {
                            error: Some(error),
                            ..StreamEnd::default()
                        };
                        let _ = tx.send(Msg::Api {
                            id,
                            event: StreamEvent::End(end),
                            at: Instant::now(),
                        });
                    }
                }
            }
            Effect::CancelChat { id } => {
                if let Some(handle) = self.tasks.remove(&id) {
                    handle.abort();
                }
            }
            Effect::FetchModels => self.fetch_models(),
            Effect::WarmTokenizer { model } => {
                let tx = tx.clone();
                tokio::task::spawn_blocking(move || {
                    crate::chat::estimate::warm_up(&model);
                    let _ = tx.send(Msg::TokenizerReady);
                });
            }
            Effect::LearnLimit { model, tokens } => {
                self.facts.learn(&model, tokens);
                self.history.learn_limit(&model, tokens);
            }
            Effect::UseProvider {
                provider,
                model,
                save,
            } => self.use_provider(provider, &model, save),
            Effect::SetMouseCapture(on) => {
                terminal::set_mouse(on)?;
                // Some terminals redraw on mode changes; repaint everything.
                terminal::full_redraw(terminal)?;
            }
            Effect::Copy { text, what } => {
                copy(&text);
                let _ = tx.send(Msg::Notice(Notice::info(what)));
            }
            Effect::OpenEditor { text } => {
                let state_dir = self.state_dir.clone();
                let result = tokio::task::block_in_place(|| edit_outside(&text, &state_dir));
                terminal::full_redraw(terminal)?;
                let _ = tx.send(Msg::EditorClosed(result));
            }
            Effect::SavePrompt(prompt) => {
                let prompts = self.prompts.clone();
                tokio::task::spawn_blocking(move || prompts.append(&prompt));
            }
            Effect::LoadHistory {
                seq,
                query,
                archived,
                after,
            } => self.load_history(seq, query, archived, after),
            Effect::OpenConversation { uid } => self.open_conversation(&uid),
            Effect::RenameConversation { uid, title } => {
                self.history.rename(&uid, title.as_deref());
            }
            Effect::ArchiveConversation { uid, archived } => {
                self.history.archive(&uid, archived);
                let text = if archived {
                    "archived (Tab shows archived ones)"
                } else {
                    "restored"
                };
                let _ = tx.send(Msg::Notice(Notice::info(text)));
            }
            Effect::DeleteConversation { uid } => {
                let current = self.history.conversation_uid() == Some(uid.as_str());
                self.history.delete_conversation(&uid);
                if current {
                    // The open conversation is gone from the file: start
                    // afresh so what follows is saved as a new one.
                    let _ = tx.send(Msg::OpenConversationDeleted);
                }
                let _ = tx.send(Msg::Notice(Notice::info("conversation deleted")));
            }
            Effect::ExportConversation { uid } => self.export_markdown(uid),
            Effect::Suspend => suspend(terminal)?,
            // Done by `persist`, in their place around the save.
            Effect::RecordUsage(_) | Effect::ConversationSwitched { .. } => {}
            Effect::Quit => {
                for handle in self.tasks.values() {
                    handle.abort();
                }
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Every listed provider's models, fetched off the loop.
    pub fn fetch_models(&mut self) {
        let clients = self.clients.listed_clients();
        let task = worker::models(clients, self.facts.clone(), self.tx.clone());
        tokio::spawn(task);
    }

    /// A local server chosen on the first-run panel: its client from now
    /// on, and in the config file when asked.
    fn use_provider(&mut self, provider: crate::provider::Provider, model: &str, save: bool) {
        if save {
            let written = crate::config::write::save_local_provider(
                &self.config_path,
                &provider.name,
                &provider.base_url,
                model,
            );
            let notice = match written {
                Ok(()) => Notice::info(format!("saved to {}", self.config_path.display())),
                Err(why) => Notice::error(format!("not saved: {why}")),
            };
            let _ = self.tx.send(Msg::Notice(notice));
        }
        self.facts.add_provider(provider.clone());
        self.clients.add(provider);
    }

    /// Where requests for the model `id` go (kept with conversations and
    /// ledger rows).
    fn url_of(&self, id: &str) -> String {
        self.clients
            .providers()
            .route(id)
            .map(|route| route.provider.display_url())
            .unwrap_or_default()
    }

    /// The browser's list or search results, loaded off the loop.
    fn load_history(&self, seq: u64, query: String, archived: bool, after: Option<(i64, i64)>) {
        let reader = self.history.reader();
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || {
            let result = reader
                .and_then(|store| tui::browser_page(&store, &query, archived, after))
                .map_err(HistoryError::from);
            let _ = tx.send(Msg::HistoryLoaded { seq, result });
        });
    }

    /// Reopens a saved conversation; the history tracks it from now on.
    fn open_conversation(&mut self, uid: &str) {
        // What is on screen is written before the switch.
        self.history.flush(Duration::from_millis(500));
        let result = tokio::task::block_in_place(|| self.history.resume(uid));
        let msg = result
            .map(|resumed| OpenedConversation {
                conversation: resumed.conversation,
                title: resumed.title,
                model: resumed.model,
            })
            .map_err(|e| OpenError {
                what: "that conversation".into(),
                error: e.into(),
            });
        let _ = self.tx.send(Msg::ConversationOpened(msg));
    }

    /// Writes a conversation as Markdown under the data folder (0600) and
    /// says where.
    fn export_markdown(&self, uid: String) {
        let reader = self.history.reader();
        let dir = self.data_dir.join("exports");
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || {
            let result =
                reader.and_then(|store| crate::history::export_markdown_file(&store, &uid, &dir));
            let msg = match result {
                Ok(path) => Msg::Notice(Notice::info(format!("exported to {}", path.display()))),
                Err(why) => Msg::Notice(Notice::error(format!("export failed: {why}"))),
            };
            let _ = tx.send(msg);
        });
    }
}

/// OSC 52 always (plain, inside tmux too), and the system clipboard where
/// there is one (on its own thread: it may talk to X11).
fn copy(text: &str) {
    use std::io::Write as _;
    if let Some(sequence) = crate::clipboard::osc52(text) {
        let mut out = io::stdout();
        let _ = out.write_all(sequence.as_bytes());
        let _ = out.flush();
    }
    crate::clipboard::set_system_clipboard(text.to_string());
}

/// Leave the TUI, run the editor, come back.
fn edit_outside(
    text: &str,
    state_dir: &std::path::Path,
) -> Result<String, crate::editor::EditorError> {
    terminal::restore();
    let command = crate::editor::editor_command(&crate::paths::real_env);
    let result = crate::editor::edit(text, &command, state_dir);
    if let Err(e) = terminal::reenter() {
        return Err(crate::editor::EditorError::Screen(e.to_string()));
    }
    result
}

/// Ctrl+Z or SIGTSTP: give the terminal back as it was, stop until SIGCONT
/// (a shell's `fg`), then take it again and repaint everything.
pub(super) fn suspend(terminal: &mut Term) -> io::Result<()> {
    terminal::restore();
    signals::stop_self();
    resumed(terminal)
}

/// After SIGCONT: kaiwa's terminal modes again if they were given back, and
/// a full repaint (the shell drew over the screen meanwhile).
pub(super) fn resumed(terminal: &mut Term) -> io::Result<()> {
    terminal::reenter()?;
    terminal::full_redraw(terminal)
}
