//! What `update` asks the runtime to do. Effects are data; the runtime
//! performs them.

use super::msg::RequestId;
use crate::api::types::ChatRequest;

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Start a streaming chat request on its own task.
    StartChat {
        id: RequestId,
        request: ChatRequest,
    },
    /// Abort the task of a request (closes its connection).
    CancelChat {
        id: RequestId,
    },
    /// Remember a model's window learned from an overflow error (in the
    /// history file, and for the menu's rows).
    LearnLimit {
        model: String,
        tokens: u64,
    },
    /// Build the tokenizer tables of `model` off the loop (an answer ended
    /// without the server's usage); `Msg::TokenizerReady` when done.
    WarmTokenizer {
        model: String,
    },
    /// Fetch every provider's `GET /models` in the background.
    FetchModels,
    /// Add a provider for this run (a local server chosen on the first-run
    /// panel), and with `save` write it and `model` to the config file.
    UseProvider {
        provider: crate::provider::Provider,
        model: String,
        save: bool,
    },
    /// Turn mouse capture on or off.
    SetMouseCapture(bool),
    /// Put text on the clipboard (OSC 52 and the system clipboard); `what`
    /// names it in the status bar.
    Copy {
        text: String,
        what: String,
    },
    /// Leave the TUI, edit `text` in $VISUAL/$EDITOR, come back with
    /// `Msg::EditorClosed`.
    OpenEditor {
        text: String,
    },
    /// Append a sent prompt to the prompt history file.
    SavePrompt(String),
    /// A request ended: add it to the usage ledger, linked to its answer.
    /// (Run after the conversation is saved, so the answer has its row.)
    RecordUsage(super::state::FinishedRequest),
    /// Another conversation is on screen: a new one (Ctrl+N, the open one
    /// deleted) starts a new saved row at the next save; a `resumed` one is
    /// already tracked by the history that loaded it.
    ConversationSwitched {
        resumed: bool,
    },
    /// Load the saved conversations (or search them) for the browser.
    LoadHistory {
        seq: u64,
        query: String,
        archived: bool,
        /// The next page after this key (`ConversationSummary::cursor`).
        after: Option<(i64, i64)>,
    },
    /// Reopen a saved conversation.
    OpenConversation {
        uid: String,
    },
    RenameConversation {
        uid: String,
        title: Option<String>,
    },
    ArchiveConversation {
        uid: String,
        archived: bool,
    },
    /// Really delete (the usage ledger keeps its rows).
    DeleteConversation {
        uid: String,
    },
    /// Write the conversation as Markdown and say where.
    ExportConversation {
        uid: String,
    },
    /// Leave kaiwa.
    Quit,
    /// Ctrl+Z: give the terminal back and stop the process until SIGCONT.
    Suspend,
}
