//! Everything that can happen to the app, named for the fact, not the key.

use std::time::Instant;

use ratatui::crossterm::event::{KeyEvent, MouseEvent};

use crate::api::client::StreamEvent;
use crate::api::error::ApiError;
use crate::editor::EditorError;
use crate::store::StoreError;

/// Identifies one request, so events from a cancelled or replaced request
/// are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub u64);

/// An input to `update`.
#[derive(Debug, Clone)]
pub enum Msg {
    /// A key press (releases and repeats are filtered by the runtime).
    Key(KeyEvent),
    /// A bracketed paste, whole.
    Paste(String),
    /// A mouse event (motion is not reported).
    Mouse(MouseEvent),
    /// A left click on a message of the transcript (the runtime asks the
    /// view which message is drawn under the pointer).
    Clicked(crate::chat::conversation::MessageId),
    /// The terminal changed size.
    Resize { width: u16, height: u16 },
    /// An event from the request task `id`, stamped when it happened.
    Api {
        id: RequestId,
        event: StreamEvent,
        at: Instant,
    },
    /// One provider's model list arrived (full ids, sorted) or could not
    /// be fetched (why).
    /// Context windows learned from overflow errors in earlier runs.
    LimitsLoaded(Vec<(String, u64)>),
    /// The first run's search of this machine: every server found so far,
    /// and whether the search is over.
    Discovered {
        servers: Vec<super::first_run::LocalServer>,
        done: bool,
    },
    Models {
        provider: String,
        result: Result<Vec<super::model_menu::MenuModel>, ApiError>,
    },
    /// Time passed (sent only while `App::next_wakeup` asks for it).
    Tick(Instant),
    /// The external editor closed: the new text, or why it failed.
    EditorClosed(Result<String, EditorError>),
    /// Prompt history loaded at start (oldest first).
    PromptHistoryLoaded(Vec<String>),
    /// The browser's list or search results (`seq` of the load asked for).
    HistoryLoaded {
        seq: u64,
        result: Result<Vec<super::history_browser::BrowserItem>, HistoryError>,
    },
    /// A saved conversation was reopened, or why not.
    ConversationOpened(Result<OpenedConversation, OpenError>),
    /// The conversation on screen was deleted from the history.
    OpenConversationDeleted,
    /// Something the runtime did, to say in the status bar.
    Notice(super::state::Notice),
    /// SIGTERM or SIGHUP arrived (its name): keep what streamed, quit.
    Terminated(&'static str),
    /// The tokenizer tables are built (estimates from now on are exact).
    TokenizerReady,
    /// What the runtime found at start-up, before the first frame.
    Started(StartupState),
    /// What is wrong with saving, if anything ("history: waiting for lock");
    /// None once it is fine again.
    HistoryStatus(Option<String>),
}

/// What start-up knows that the app cannot find out itself.
#[derive(Debug, Clone, PartialEq)]
pub struct StartupState {
    /// Conversations are saved (not `--no-history`, the file opened).
    pub history_enabled: bool,
    pub budget: Option<super::state::Budget>,
    /// Something to say at once ("no saved conversation to continue").
    pub notice: Option<String>,
}

/// A reopened conversation.
#[derive(Debug, Clone)]
pub struct OpenedConversation {
    pub conversation: crate::chat::conversation::Conversation,
    pub title: Option<String>,
    pub model: Option<String>,
}

/// A history error carried in a message (shared: `StoreError` holds I/O and
/// SQLite errors, which cannot be cloned).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct HistoryError(pub std::sync::Arc<StoreError>);

impl From<StoreError> for HistoryError {
    fn from(error: StoreError) -> Self {
        Self(std::sync::Arc::new(error))
    }
}

/// A saved conversation that could not be reopened: which, and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot open {what}: {error}")]
pub struct OpenError {
    /// `that conversation` (from the browser) or the id given to `--resume`.
    pub what: String,
    pub error: HistoryError,
}
