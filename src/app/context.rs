//! The context window (SPEC, Context): how full the next request will be
//! (the status bar's `ctx N%`), the check before a send, the overflow
//! dialog with its trim and new-conversation answers, windows learned from
//! servers' overflow errors, and a server that cut history silently. Part
//! of `update`: only it calls these.
//!
//! Counting: the exact part is the last request's prompt + completion less
//! reasoning tokens, as the server counted them (`ContextBase`); what was
//! added since (the draft, a message composed by hand) is estimated, and
//! then the figure reads `~`.

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::effect::Effect;
use super::state::{App, Notice, Popup};
use super::update::Update;
use crate::api::error::ApiError;
use crate::api::types::Role;
use crate::chat::conversation::MessageId;
use crate::config::ContextOverflow;

/// What the server counted for the last request, and which messages that
/// request and its answer were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextBase {
    pub tokens: u64,
    pub estimated: bool,
    pub ids: Vec<MessageId>,
}

/// How full the next request will be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meter {
    pub used: u64,
    pub window: u64,
    pub estimated: bool,
}

/// Where the meter stands: its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Normal,
    /// From 80 %.
    High,
    /// From 95 %.
    Full,
}

impl Meter {
    /// Rounded to the nearest point.
    pub fn percent(self) -> u64 {
        let window = self.window.max(1);
        (self.used.saturating_mul(100) + window / 2) / window
    }

    /// `ctx 12%`, `ctx ~12%`.
    pub fn text(self) -> String {
        let mark = if self.estimated { "~" } else { "" };
        format!("ctx {mark}{}%", self.percent())
    }

    pub fn level(self) -> Level {
        match self.percent() {
            0..80 => Level::Normal,
            80..95 => Level::High,
            _ => Level::Full,
        }
    }
}

/// A summary of the earlier turns being written (`s` in the dialog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryJob {
    /// The summary's message (a system message, folded).
    pub message: MessageId,
    /// The turns it replaces (left out of requests once it is written).
    pub replaces: Vec<MessageId>,
}

/// What `s` asks for (aichat's recipe).
pub const SUMMARY_PROMPT: &str = "Summarize the discussion briefly in 200 words or less to use \
                                  as a prompt for future context.";

/// The dialog for a message that will not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverflowDialog {
    pub model: String,
    /// The window, when known.
    pub window: Option<u64>,
    /// What the request would need, estimated (with `max_tokens`).
    pub needed: u64,
    /// The system prompt and the message alone fit (else only Esc).
    pub fits_alone: bool,
    /// The server's words, when it refused the request.
    pub server_said: Option<String>,
    /// What `s` would cost: its tokens and price, in words
    /// (`about 1200 tokens, ~$0.0002`); None when there is nothing to
    /// summarise.
    pub summary_cost: Option<String>,
}

/// A count for text not yet counted by a server: `estimate::rough_tokens`
/// (a token per 4 bytes of Latin text, one per CJK character) and a few for
/// the message's framing. The meter and the check before a send use the
/// same count, so what the bar shows is what decides. (Not the tokenizer:
/// it fits only OpenAI's models and costs a table build; this is cheap
/// enough for every frame.)
pub fn rough(text: &str) -> u64 {
    crate::chat::estimate::rough_tokens(text) + 4
}

impl App {
    /// The window of the current model (SPEC, Context: the config, a limit
    /// learned from an overflow error, the server's list, the built-in
    /// table), if known.
    pub fn window(&self) -> Option<u64> {
        let model = &self.settings.model;
        self.usage.prices.context(model, self.server_context(model))
    }

    /// What the current model's server said of its window in its list.
    fn server_context(&self, id: &str) -> Option<u64> {
        self.models.lists.iter().find_map(|(_, list)| match list {
            super::model_menu::ListState::Loaded(models) => {
                models.iter().find(|m| m.id == id).and_then(|m| m.context)
            }
            super::model_menu::ListState::Loading | super::model_menu::ListState::Failed(_) => None,
        })
    }

    /// The status bar's `ctx N%`; None when the window is unknown.
    pub fn context_meter(&self) -> Option<Meter> {
        let window = self.window()?;
        let (used, estimated) = self.next_request();
        Some(Meter {
            used,
            window,
            estimated,
        })
    }

    /// Tokens of the next request: the last request as the server counted
    /// it when it is still the start of this one, everything else counted
    /// by [`rough`]; and whether any of it is an estimate.
    fn next_request(&self) -> (u64, bool) {
        let (mut used, mut estimated) = self.sent_part();
        let (blank, draft) = self.input.composer.blank_and_rough();
        if !blank {
            used += draft;
            estimated = true;
        }
        (used, estimated)
    }

    /// `next_request` without the draft, remembered until the conversation
    /// or the last count changes: the status bar asks every frame, and
    /// counting a long conversation's text each time cost a frame's worth
    /// at 10,000 messages.
    fn sent_part(&self) -> (u64, bool) {
        let base = self.usage.context.as_ref();
        let key = MeterKey {
            version: self.conversation.version(),
            base: base.map(|b| (b.tokens, b.estimated, b.ids.len(), b.ids.last().copied())),
        };
        if let Some((seen, part)) = self.usage.meter_memo.get()
            && seen == key
        {
            return part;
        }
        let ids = self.conversation.request_ids();
        let (mut used, mut estimated, counted) = match base {
            Some(base) if ids.starts_with(&base.ids) => {
                (base.tokens, base.estimated, base.ids.len())
            }
            _ => (0, true, 0),
        };
        for id in ids.iter().skip(counted) {
            if let Some(message) = self.conversation.get(*id) {
                used += rough(&message.content);
                estimated = true;
            }
        }
        self.usage.meter_memo.set(Some((key, (used, estimated))));
        (used, estimated)
    }
}

/// What the remembered part of the meter was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterKey {
    version: u64,
    base: Option<(u64, bool, usize, Option<MessageId>)>,
}

/// The conversation (with the question back in the input) is at 90 % of
/// the known window or past it.
pub(super) fn near_full(app: &App) -> bool {
    app.context_meter()
        .is_some_and(|m| m.used.saturating_mul(10) >= m.window.saturating_mul(9))
}

/// What the request for the message in the input would need, with
/// `max_tokens`.
fn needed(app: &App) -> u64 {
    let (tokens, _) = app.next_request();
    tokens + u64::from(app.settings.max_tokens.unwrap_or(0))
}

/// The system prompt(s) and the message in the input alone.
fn needed_alone(app: &App) -> u64 {
    let system: u64 = app
        .conversation
        .messages()
        .iter()
        .filter(|m| m.role == Role::System && !m.summary && !m.content.is_empty())
        .map(|m| rough(&m.content))
        .sum();
    system
        + app.input.composer.blank_and_rough().1
        + u64::from(app.settings.max_tokens.unwrap_or(0))
}

/// Before a send: a message that will not fit the known window is trimmed,
/// asked about or refused, as `context_overflow` says. None: send it.
pub(super) fn before_send(app: &mut App) -> Option<Update> {
    let window = app.window()?;
    if needed(app) <= window {
        return None;
    }
    match app.settings.context_overflow {
        ContextOverflow::Trim => {
            if trim_to_fit(app, Some(window)) {
                None
            } else {
                Some(open_dialog(app, None))
            }
        }
        ContextOverflow::Ask => Some(open_dialog(app, None)),
        ContextOverflow::Error => {
            app.say(Notice::error(too_long_words(app, Some(window))));
            Some(Update::changed())
        }
    }
}

/// A server refused the request as too long (the question is back in the
/// input): remember the window it named, then trim, ask or say so. None
/// when `error` is no overflow.
pub(super) fn after_overflow(app: &mut App, error: &ApiError) -> Option<Update> {
    let overflow = error.overflow()?;
    let mut effects = Vec::new();
    if let Some(tokens) = overflow.limit {
        app.usage.prices.learn(&app.settings.model, tokens);
        effects.push(Effect::LearnLimit {
            model: app.settings.model.clone(),
            tokens,
        });
    }
    let window = app.window();
    let setting = app.settings.context_overflow;
    let trimmed = setting == ContextOverflow::Trim
        && app.usage.trims < MAX_BLIND_TRIMS
        && trim_to_fit(app, window);
    let mut update = match setting {
        ContextOverflow::Trim if trimmed => {
            app.usage.trims += 1;
            super::requests::submit(app)
        }
        ContextOverflow::Ask | ContextOverflow::Trim => open_dialog(app, Some(error.to_string())),
        ContextOverflow::Error => {
            app.say(Notice::error(format!(
                "{error} — {}",
                too_long_words(app, window)
            )));
            Update::changed()
        }
    };
    effects.append(&mut update.effects);
    update.effects = effects;
    Some(update)
}

/// Without a known window, trimming leaves out half the turns a try, at
/// most this many tries in a row.
const MAX_BLIND_TRIMS: u32 = 3;

/// "too long for gpt-4o-mini's window of 128000 tokens (context_overflow = error)".
fn too_long_words(app: &App, window: Option<u64>) -> String {
    let size = window.map_or_else(
        || "its context window".to_string(),
        |n| format!("its window of {n} tokens"),
    );
    format!(
        "the conversation is too long for {} — {size} (context_overflow = {})",
        app.settings.model,
        app.settings.context_overflow.as_str()
    )
}

fn open_dialog(app: &mut App, server_said: Option<String>) -> Update {
    let window = app.window();
    app.popup = Some(Popup::Overflow(OverflowDialog {
        model: app.settings.model.clone(),
        window,
        needed: needed(app),
        fits_alone: window.is_none_or(|w| needed_alone(app) <= w),
        server_said,
        summary_cost: summary_cost(app),
    }));
    Update::changed()
}

/// The summary request's size and price, estimated: the turns, the
/// instruction, and about 300 tokens of answer.
fn summary_cost(app: &App) -> Option<String> {
    let turns = turns(app);
    if turns.is_empty() {
        return None;
    }
    let prompt: u64 = turns
        .iter()
        .flatten()
        .filter_map(|id| app.conversation.get(*id))
        .map(|m| rough(&m.content))
        .sum::<u64>()
        + rough(SUMMARY_PROMPT);
    let completion = 300;
    let cost = app
        .usage
        .prices
        .lookup(&app.settings.model)
        .map(|(price, _)| price.cost(prompt, 0, completion));
    Some(match cost {
        Some(usd) => format!(
            "about {prompt} tokens, ~${}",
            crate::chat::usage::format_usd(usd)
        ),
        None => format!("about {prompt} tokens"),
    })
}

/// `s`: one extra request summarises the earlier turns; the summary, a
/// system message, takes their place in every later request and the
/// message in the input is sent once it is written.
fn summarise(app: &mut App) -> Update {
    let turns: Vec<MessageId> = turns(app).into_iter().flatten().collect();
    if turns.is_empty() || app.in_flight.is_some() {
        return Update::unchanged();
    }
    let mut messages: Vec<crate::api::types::ChatMessage> = turns
        .iter()
        .filter_map(|id| app.conversation.get(*id))
        .map(|m| crate::api::types::ChatMessage::new(m.role, m.content.clone()))
        .collect();
    messages.push(crate::api::types::ChatMessage::new(
        Role::User,
        SUMMARY_PROMPT,
    ));
    for id in &turns {
        app.conversation.update(*id, |m| m.not_sent = true);
    }
    let (message, effect) = super::requests::start_summary(app, messages);
    app.usage.summary = Some(SummaryJob {
        message,
        replaces: turns,
    });
    app.say(Notice::info("summarising the earlier turns…"));
    Update::with(effect)
}

/// The summary's request ended: written, the message in the input is sent;
/// failed, the turns are sent again as before.
pub(super) fn summary_done(app: &mut App, written: bool) -> Option<Update> {
    let job = app.usage.summary.take()?;
    if written {
        return Some(super::requests::submit(app));
    }
    for id in &job.replaces {
        app.conversation.update(*id, |m| m.not_sent = false);
    }
    None
}

/// Keys of the dialog: `t` trims and sends, `n` sends in a new
/// conversation, Esc keeps the message in the input.
#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "crossterm's KeyCode has dozens of variants; only a few answer here"
)]
pub(super) fn dialog_key(app: &mut App, key: &KeyEvent) -> Update {
    let Some(Popup::Overflow(dialog)) = &app.popup else {
        return Update::unchanged();
    };
    let fits_alone = dialog.fits_alone;
    match key.code {
        KeyCode::Esc => {
            app.popup = None;
            app.usage.trims = 0;
            Update::changed()
        }
        KeyCode::Char('t') if fits_alone => {
            app.popup = None;
            let window = app.window();
            if !trim_to_fit(app, window) {
                app.say(Notice::error(too_long_words(app, window)));
                return Update::changed();
            }
            super::requests::submit(app)
        }
        KeyCode::Char('s') if fits_alone => {
            app.popup = None;
            summarise(app)
        }
        KeyCode::Char('n') if fits_alone => {
            app.popup = None;
            let mut update = super::lifecycle::new_conversation(app);
            let sent = super::requests::submit(app);
            update.effects.extend(sent.effects);
            update
        }
        _ => Update::unchanged(),
    }
}

/// Leaves out the oldest turns (a question and the answers after it, so the
/// request never starts on an answer) until the request fits `window`;
/// with no known window, the older half of the turns. The system prompt and
/// the message in the input stay. False when even that does not fit.
fn trim_to_fit(app: &mut App, window: Option<u64>) -> bool {
    let turns = turns(app);
    if turns.is_empty() {
        return window.is_none_or(|w| needed(app) <= w);
    }
    let Some(window) = window else {
        let half = turns.len().div_ceil(2);
        for turn in turns.iter().take(half) {
            leave_out(app, turn);
        }
        return true;
    };
    for turn in &turns {
        if needed(app) <= window {
            return true;
        }
        leave_out(app, turn);
    }
    needed(app) <= window
}

/// The turns still sent, oldest first: each a question and what follows it
/// up to the next question (hand-written system messages stay).
fn turns(app: &App) -> Vec<Vec<MessageId>> {
    let mut turns: Vec<Vec<MessageId>> = Vec::new();
    for id in app.conversation.request_ids() {
        let Some(message) = app.conversation.get(id) else {
            continue;
        };
        match message.role {
            Role::System => {}
            Role::User => turns.push(vec![id]),
            Role::Assistant => match turns.last_mut() {
                Some(turn) => turn.push(id),
                // An answer before any question (written by hand): it goes
                // with the first turn, never alone at the start.
                None => turns.push(vec![id]),
            },
        }
    }
    turns
}

fn leave_out(app: &mut App, turn: &[MessageId]) {
    for id in turn {
        app.conversation.update(*id, |m| m.not_sent = true);
    }
}

/// Tokens a server may count differently between two requests (chat
/// template framing) before a shrinking prompt reads as history cut.
const CUT_SLACK: u64 = 8;

/// A request ended with the server's usage (or an estimate): the base of
/// the next meter reading; and a warning when the server counted fewer
/// prompt tokens than the last request and its answer, though the
/// conversation only grew (it cut history, as Ollama does).
pub(super) fn counted(
    app: &mut App,
    sent: Vec<MessageId>,
    answer: MessageId,
    usage: &crate::chat::usage::RequestUsage,
) {
    if let Some(base) = &app.usage.context
        && !usage.estimated
        && !base.estimated
        && sent.starts_with(&base.ids)
        && usage.prompt + CUT_SLACK < base.tokens
    {
        app.usage.warning = Some(format!(
            "the server cut history: it read {} prompt tokens of about {} sent — raise its \
             context (Ollama: OLLAMA_CONTEXT_LENGTH) or start anew",
            usage.prompt, base.tokens
        ));
    } else if !usage.estimated {
        app.usage.warning = None;
    }
    let mut ids = sent;
    ids.push(answer);
    app.usage.context = Some(ContextBase {
        tokens: (usage.prompt + usage.completion).saturating_sub(usage.reasoning),
        estimated: usage.estimated,
        ids,
    });
    app.usage.trims = 0;
}
