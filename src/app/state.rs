//! `App`: the whole state of the chat screen as plain data, composed of
//! per-area states (conversation, composer, transcript scroll, popup, usage
//! counters, the request in flight). No handles, no I/O.

use std::time::{Duration, Instant};

pub use super::input::{InputState, PROMPT_HISTORY_MAX, PromptHistory};
use super::model_menu::{ModelMenu, ModelsState};
use super::msg::RequestId;
use super::transcript::TranscriptState;
use crate::api::types::{ChatMessage, Role, Usage};
use crate::chat::conversation::{Conversation, MessageId};
use crate::chat::pricing::PriceTable;
use crate::chat::usage::UsageTotals;

/// The settings the chat screen needs, resolved from the config.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub model: String,
    pub system: Option<String>,
    pub extra_models: Vec<String>,
    pub base_url: String,
    /// The providers whose models the menu lists, in order.
    pub providers: Vec<String>,
    /// The base URL is OpenAI's and no key is set: show the first-run panel.
    pub needs_key: bool,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub mouse: bool,
    /// What to do with a message that will not fit.
    pub context_overflow: crate::config::ContextOverflow,
}

/// An open popup; it gets keys first.
#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    ModelMenu(ModelMenu),
    /// The key help, scrolled by this many rows.
    Help {
        scroll: u16,
    },
    /// The raw request and response of an answer.
    Raw(RawView),
    /// Saved conversations (F3).
    History(super::history_browser::HistoryBrowser),
    /// The monthly budget is spent: send anyway? (y/n)
    ConfirmBudget,
    /// The message will not fit the model's window: trim, summarise, new
    /// conversation, cancel.
    Overflow(super::context::OverflowDialog),
}

/// `budget_monthly_usd` and what was spent this month before this run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub limit_usd: f64,
    pub spent_before_usd: f64,
}

/// A request that ended, for the usage ledger (`Effect::RecordUsage`).
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedRequest {
    pub message: MessageId,
    pub model: String,
    /// None when nothing was billed (refused before the stream started).
    pub usage: Option<crate::chat::usage::RequestUsage>,
    pub outcome: crate::chat::usage::RequestOutcome,
    pub started: Option<Instant>,
    pub first_text: Option<Instant>,
    pub ended: Option<Instant>,
}

/// A request without the server's usage, waiting for the tokenizer tables
/// to be counted exactly and recorded (`usage` holds the rough count shown
/// meanwhile).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEstimate {
    pub finished: FinishedRequest,
    pub sent: Vec<crate::api::types::ChatMessage>,
    pub answer: String,
}

/// The raw view's content (plain text, sanitised when drawn).
#[derive(Debug, Clone, PartialEq)]
pub struct RawView {
    pub title: String,
    pub text: String,
    pub scroll: u16,
}

/// Which area gets the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Focus {
    #[default]
    Input,
    Transcript,
}

/// `/` search in the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Search {
    pub query: String,
    /// The query is being typed (keys go to it).
    pub editing: bool,
    /// Whether each message matched `query`, by id, with the message's
    /// `rev` then: `n` and `N` look a message's text over again only when
    /// it changed (lower-casing 10,000 messages on every press cost more
    /// than a frame).
    pub matched: std::collections::HashMap<crate::chat::conversation::MessageId, (u64, bool)>,
    /// The query (lower-cased) and the conversation (`generation`)
    /// `matched` holds.
    pub matched_for: (String, u64),
}

/// A message being edited in the input box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EditTarget {
    pub id: MessageId,
    pub role: Role,
}

/// A short message in the status bar (and, for errors, under the transcript).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub is_error: bool,
}

impl Notice {
    /// Something that happened, said on the input's border.
    pub fn info(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            is_error: false,
        }
    }

    /// Something that went wrong: on the border and under the transcript.
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            is_error: true,
        }
    }
}

/// A retry wait in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryWait {
    pub attempt: u32,
    pub until: Instant,
    pub cause: String,
}

/// The request being answered.
#[derive(Debug, Clone, PartialEq)]
pub struct InFlight {
    pub id: RequestId,
    /// The assistant message receiving the text.
    pub message: MessageId,
    /// The user message that asked (goes back to the input on early
    /// failure); None when an answer is regenerated.
    pub question: Option<MessageId>,
    /// The branch to put back if the request fails before any text (the
    /// earlier answer of a regenerate, the original of an edited question).
    pub restore: Option<MessageId>,
    pub model: String,
    /// What was sent (for estimates when the server reports no usage).
    pub sent: Vec<ChatMessage>,
    pub started: Option<Instant>,
    pub first_text: Option<Instant>,
    pub last_event: Option<Instant>,
    /// Text deltas received (≈ tokens, for the speed shown while streaming).
    pub deltas: u64,
    pub usage: Option<Usage>,
    pub retry: Option<RetryWait>,
    /// Splits inline `<think>` reasoning off the answer's text.
    pub think: crate::chat::think::ThinkSplitter,
}

impl InFlight {
    /// A request `id` that has just been started, writing into `message`.
    pub fn new(id: RequestId, message: MessageId, model: String, sent: Vec<ChatMessage>) -> Self {
        Self {
            id,
            message,
            question: None,
            restore: None,
            model,
            sent,
            started: None,
            first_text: None,
            last_event: None,
            deltas: 0,
            usage: None,
            retry: None,
            think: crate::chat::think::ThinkSplitter::eager(),
        }
    }
}

/// Browsing past turns: which area has the keys, the selected message,
/// the search, and the pending picks of the transcript focus.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowseState {
    pub focus: Focus,
    /// The selected message (transcript focus).
    pub selected: Option<MessageId>,
    pub search: Option<Search>,
    /// `c` on a message with several code blocks waits for a digit.
    /// (the message, the digits typed so far as a number; 0 = none yet)
    pub pending_code_pick: Option<(MessageId, u32)>,
    /// Answers whose thinking was opened with `t` (otherwise it is folded
    /// once the answer text starts).
    pub thinking_open: std::collections::BTreeSet<MessageId>,
}

/// Tokens and money: prices, the counts of this run, the monthly budget.
#[derive(Debug, Clone, Default)]
pub struct UsageState {
    pub prices: PriceTable,
    pub totals: UsageTotals,
    pub budget: Option<Budget>,
    /// The user said yes to sending past the budget (this run).
    pub budget_confirmed: bool,
    /// The tokenizer tables are built: estimates are exact and cheap.
    pub tokenizer_ready: bool,
    /// `Effect::WarmTokenizer` was asked for (once per run).
    pub tokenizer_wanted: bool,
    /// Requests counted roughly while the tables were being built; counted
    /// again and recorded when they are (`Msg::TokenizerReady`).
    pub pending: Vec<PendingEstimate>,
    /// The meter's count of what is sent, with what it was computed from
    /// (`App::context_meter`; a memo, not state).
    pub meter_memo: std::cell::Cell<Option<(super::context::MeterKey, (u64, bool))>>,
    /// The last request as the server counted it (the meter's exact part).
    pub context: Option<super::context::ContextBase>,
    /// The server cut history silently (a status-bar warning).
    pub warning: Option<String>,
    /// Trims in a row without a known window (at most 3).
    pub trims: u32,
    /// A summary being written: its message and the turns it replaces
    /// (the question in the input is sent when it is done).
    pub summary: Option<super::context::SummaryJob>,
}

/// Time as the app last heard of it, for the spinner and the speed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    /// The last time seen in a message.
    pub now: Option<Instant>,
    /// Spinner frame, advanced by ticks while streaming.
    pub spinner: usize,
}

/// The saved side of the conversation on screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryState {
    /// Conversations are saved (not `--no-history`).
    pub enabled: bool,
    /// Title of the conversation (a reopened one).
    pub title: Option<String>,
    /// What is wrong with saving, if anything ("history: waiting for lock").
    pub status: Option<String>,
}

/// The whole state, by area.
#[derive(Debug)]
pub struct App {
    pub settings: Settings,
    pub conversation: Conversation,
    pub input: InputState,
    pub transcript: TranscriptState,
    pub browse: BrowseState,
    pub popup: Option<Popup>,
    pub models: ModelsState,
    pub in_flight: Option<InFlight>,
    pub usage: UsageState,
    pub notice: Option<Notice>,
    pub mouse_capture: bool,
    pub clock: Clock,
    pub should_quit: bool,
    pub next_request: u64,
    pub history: HistoryState,
    /// The first run's search for a local server, while it matters.
    pub first_run: Option<super::first_run::FirstRun>,
}

/// How often the screen refreshes while an answer streams or a retry waits.
pub const STREAM_TICK: Duration = Duration::from_millis(100);

impl App {
    pub fn new(settings: Settings, prices: PriceTable) -> Self {
        let conversation = Conversation::new(settings.system.as_deref());
        let mouse_capture = settings.mouse;
        Self {
            settings,
            conversation,
            input: InputState::new(),
            transcript: TranscriptState::default(),
            browse: BrowseState::default(),
            popup: None,
            models: ModelsState::default(),
            first_run: None,
            in_flight: None,
            usage: UsageState {
                prices,
                ..UsageState::default()
            },
            notice: None,
            mouse_capture,
            clock: Clock::default(),
            should_quit: false,
            next_request: 0,
            history: HistoryState::default(),
        }
    }

    /// Says something on the input's border (an error also under the
    /// transcript), replacing what was said before.
    pub fn say(&mut self, notice: Notice) {
        self.notice = Some(notice);
    }

    /// Index of the selected message on the current path.
    pub fn selected_index(&self) -> Option<usize> {
        self.browse
            .selected
            .and_then(|id| self.conversation.index_of(id))
    }

    /// The share of the monthly budget spent (1.0 = all of it).
    pub fn budget_used(&self) -> Option<f64> {
        let budget = self.usage.budget?;
        (budget.limit_usd > 0.0)
            .then(|| (budget.spent_before_usd + self.usage.totals.cost) / budget.limit_usd)
    }

    pub fn is_streaming(&self) -> bool {
        self.in_flight.is_some()
    }

    /// When the runtime should send a `Tick`: only while something moves on
    /// screen (a stream or a retry countdown). Idle means no wake-ups.
    pub fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        self.in_flight.as_ref().map(|_| now + STREAM_TICK)
    }

    /// Tokens per second of the streaming answer, from the deltas so far.
    pub fn stream_speed(&self) -> Option<f64> {
        let flight = self.in_flight.as_ref()?;
        let first = flight.first_text?;
        let last = flight.last_event?;
        let secs = last.checked_duration_since(first)?.as_secs_f64();
        (secs > 0.2 && flight.deltas > 1).then(|| (flight.deltas - 1) as f64 / secs)
    }
}
