//! Browsing past turns: the transcript focus, selection, copy, edit,
//! alternatives, delete/undo, the raw view and search. Every action is a
//! command from the keymap; nothing here draws or performs I/O (copying is
//! an `Effect`).

use std::fmt::Write as _;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::effect::Effect;
use super::keymap::Command;
use super::requests;
use super::state::{App, EditTarget, Focus, Notice, Popup, RawView, Search};
use super::update::Update;
use crate::api::types::{ChatMessage, ChatRequest, Role};
use crate::chat::conversation::Message;
use crate::clipboard::clipboard_text;
use crate::text::code_blocks::code_blocks;

fn select_index(app: &mut App, index: usize) {
    if let Some(message) = app.conversation.messages().get(index) {
        app.browse.selected = Some(message.id);
        app.transcript.reveal(message.id);
    }
}

/// Tab / Alt+Up from the input: select the last message (SPEC), not the
/// one selected the last time — a new answer may have arrived since.
pub fn focus_transcript(app: &mut App) -> Update {
    let count = app.conversation.len();
    if count == 0 {
        app.say(Notice::info("nothing to browse yet"));
        return Update::changed();
    }
    app.browse.focus = Focus::Transcript;
    select_index(app, count - 1);
    app.notice = None;
    Update::changed()
}

pub fn focus_input(app: &mut App) -> Update {
    app.browse.focus = Focus::Input;
    app.browse.search = None;
    app.browse.pending_code_pick = None;
    Update::changed()
}

/// A transcript-focus command, on the selected message (the last one when
/// none is selected).
pub fn run(app: &mut App, command: Command) -> Update {
    let count = app.conversation.len();
    let current = app.selected_index().unwrap_or(count.saturating_sub(1));
    let selected: Option<Message> = app.conversation.messages().get(current).cloned();
    match command {
        Command::SelectPrev => select_index(app, current.saturating_sub(1)),
        Command::SelectNext => select_index(app, (current + 1).min(count.saturating_sub(1))),
        Command::SelectFirst => select_index(app, 0),
        Command::SelectLast => select_index(app, count.saturating_sub(1)),
        Command::CopyMessage => {
            return selected.map_or_else(Update::unchanged, |m| copy(&m.content, None));
        }
        Command::CopyCode => {
            return selected.map_or_else(Update::unchanged, |m| copy_code_of(app, &m));
        }
        Command::EditMessage => return selected.map_or_else(Update::unchanged, |m| edit(app, &m)),
        Command::Regenerate => return requests::regenerate(app, current),
        Command::PrevAlternative | Command::NextAlternative => {
            let delta = if command == Command::PrevAlternative {
                -1
            } else {
                1
            };
            switch_alternative(app, current, delta);
        }
        Command::DeleteMessage => delete(app, current),
        Command::UndoDelete => undo_delete(app),
        Command::RawView => {
            let Some(message) = selected else {
                return Update::unchanged();
            };
            app.popup = Some(Popup::Raw(raw_view(app, &message)));
        }
        Command::ToggleThinking => return toggle_thinking(app, selected.as_ref()),
        Command::StartSearch => {
            app.browse.search = Some(Search {
                editing: true,
                ..Search::default()
            });
        }
        Command::NextMatch | Command::PrevMatch => {
            jump_to_match(app, command == Command::NextMatch, false);
        }
        Command::FocusInput => return focus_input(app),
        Command::Submit
        | Command::InsertNewline
        | Command::StopAnswer
        | Command::Quit
        | Command::Suspend
        | Command::QuitOrStop
        | Command::OpenModelMenu
        | Command::ScrollPageUp
        | Command::ScrollPageDown
        | Command::ScrollToBottom
        | Command::NewConversation
        | Command::OpenHelp
        | Command::ToggleMouse
        | Command::MenuUp
        | Command::MenuDown
        | Command::MenuPick
        | Command::ClosePopup
        | Command::FocusTranscript
        | Command::OpenEditor
        | Command::CycleRole
        | Command::CancelEdit
        | Command::OpenHistory => return Update::unchanged(),
    }
    Update::changed()
}

/// `t`: open or fold the selected answer's thinking.
fn toggle_thinking(app: &mut App, selected: Option<&Message>) -> Update {
    let Some(message) = selected else {
        return Update::unchanged();
    };
    if message.reasoning.trim().is_empty() && !message.summary {
        app.say(Notice::info(
            "t opens an answer's thinking: this message has none",
        ));
        return Update::changed();
    }
    if !app.browse.thinking_open.remove(&message.id) {
        app.browse.thinking_open.insert(message.id);
    }
    app.transcript.reveal(message.id);
    Update::changed()
}

/// Reshaping the conversation under a streaming answer is refused, saying why.
fn refuse_while_streaming(app: &mut App) -> bool {
    if app.in_flight.is_some() {
        app.say(Notice::info("an answer is streaming — Esc stops it first"));
    }
    app.in_flight.is_some()
}

/// `c`: copy the message's code block, or ask which one when it has several.
fn copy_code_of(app: &mut App, message: &Message) -> Update {
    match code_blocks(&message.content).len() {
        0 => app.say(Notice::info("this message has no code block")),
        1 => return copy_code(app, message, 1),
        n => {
            app.browse.pending_code_pick = Some((message.id, 0));
            app.say(Notice::info(format!("copy which code block? press 1–{n}")));
        }
    }
    Update::changed()
}

/// `e`: load the message into the input box to edit it.
fn edit(app: &mut App, message: &Message) -> Update {
    // A question would be resent, and the answer still arriving would be
    // saved over by a stale copy of itself.
    let streaming_into = app.in_flight.as_ref().map(|f| f.message);
    if (app.in_flight.is_some() && message.role == Role::User) || streaming_into == Some(message.id)
    {
        app.say(Notice::info(
            "an answer is streaming — Esc stops it before editing",
        ));
        return Update::changed();
    }
    app.input.composer.set_text(&message.content);
    app.input.editing = Some(EditTarget {
        id: message.id,
        role: message.role,
    });
    app.input.role = message.role;
    app.browse.focus = Focus::Input;
    let how = if message.role == Role::User {
        "Enter resends from here (later turns stay as a branch) · Esc cancels"
    } else {
        "editing in place: Enter saves, Esc cancels"
    };
    app.say(Notice::info(how));
    Update::changed()
}

/// Left/Right: show the previous or next alternative answer.
fn switch_alternative(app: &mut App, current: usize, delta: isize) {
    if refuse_while_streaming(app) {
        return;
    }
    if app.conversation.switch_alternative(current, delta) {
        select_index(app, current);
        if let Some((pos, total)) = app.conversation.alternatives(current) {
            app.say(Notice::info(format!("alternative {pos}/{total}")));
        }
    } else if app.conversation.alternatives(current).is_none() {
        app.say(Notice::info(
            "no alternatives here (r regenerates an answer)",
        ));
    }
}

/// `d`: delete the message (`u` undoes).
fn delete(app: &mut App, current: usize) {
    if refuse_while_streaming(app) {
        return;
    }
    if app.conversation.delete(current).is_some() {
        let count = app.conversation.len();
        if count == 0 {
            app.browse.selected = None;
            app.browse.focus = Focus::Input;
        } else {
            select_index(app, current.min(count - 1));
        }
        app.say(Notice::info("message deleted — u undoes"));
    }
}

/// `u`: put the last deleted message back.
fn undo_delete(app: &mut App) {
    // Putting a message back would reshape the path under the stream.
    if refuse_while_streaming(app) {
        return;
    }
    if !app.conversation.can_undo() {
        app.say(Notice::info("nothing to undo"));
    } else if let Some(index) = app.conversation.undo_delete() {
        select_index(app, index);
        app.say(Notice::info("delete undone"));
    } else {
        app.say(Notice::info(
            "delete undone — the message is back on its own branch",
        ));
    }
}

/// `1234567` → `1,234,567` (how the status bar says what was copied).
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn copy(text: &str, what: Option<String>) -> Update {
    let text = clipboard_text(text);
    let what = what.unwrap_or_else(|| format!("copied {} chars", thousands(text.chars().count())));
    Update::with(Effect::Copy { text, what })
}

fn copy_code(app: &mut App, message: &Message, number: usize) -> Update {
    let blocks = code_blocks(&message.content);
    if let Some(block) = blocks.get(number.wrapping_sub(1)) {
        copy(&block.code, Some(format!("copied code block {number}")))
    } else {
        app.say(Notice::info(format!("there is no code block {number}")));
        Update::changed()
    }
}

/// The key after `c` on a message with several code blocks.
#[allow(clippy::wildcard_enum_match_arm, reason = "only digits matter")]
pub fn code_pick_key(app: &mut App, key: &KeyEvent) -> Update {
    let Some((id, typed)) = app.browse.pending_code_pick.take() else {
        return Update::unchanged();
    };
    let Some(message) = app.conversation.get(id).cloned() else {
        return Update::unchanged();
    };
    let count = u32::try_from(code_blocks(&message.content).len()).unwrap_or(u32::MAX);
    let plain = key.modifiers.difference(KeyModifiers::SHIFT).is_empty();
    let number = match key.code {
        KeyCode::Char(c) if plain => c
            .to_digit(10)
            .map(|d| typed.saturating_mul(10).saturating_add(d)),
        KeyCode::Enter if typed > 0 => {
            return copy_code(app, &message, usize::try_from(typed).unwrap_or(0));
        }
        _ => None,
    };
    match number {
        Some(0) | None => {
            app.say(Notice::info("copy cancelled"));
            Update::changed()
        }
        // More digits could still name a block (10, 11… of 12): wait.
        Some(n) if n.saturating_mul(10) <= count => {
            app.browse.pending_code_pick = Some((id, n));
            app.say(Notice::info(format!(
                "code block {n}… (another digit, or Enter copies it)"
            )));
            Update::changed()
        }
        Some(n) => copy_code(app, &message, usize::try_from(n).unwrap_or(0)),
    }
}

/// Keys while the search query is being typed.
#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "crossterm's KeyCode has dozens of variants"
)]
pub fn search_key(app: &mut App, key: &KeyEvent) -> Update {
    let Some(search) = app.browse.search.as_mut() else {
        return Update::unchanged();
    };
    let plain = !key
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    match key.code {
        KeyCode::Esc => app.browse.search = None,
        KeyCode::Enter => {
            search.editing = false;
            if search.query.is_empty() {
                app.browse.search = None;
            } else {
                jump_to_match(app, true, true);
            }
        }
        KeyCode::Backspace => {
            search.query.pop();
        }
        KeyCode::Char(c) if plain => search.query.push(c),
        _ => return Update::unchanged(),
    }
    Update::changed()
}

/// Whether `message` contains `query`, case-insensitively.
pub fn matches(message: &Message, query_lower: &str) -> bool {
    if query_lower.is_empty() {
        return false;
    }
    if query_lower.is_ascii() {
        // No allocation per message: ASCII bytes compared case-blind (UTF-8
        // continuation bytes are never ASCII, so no false match).
        let needle = query_lower.as_bytes();
        return message
            .content
            .as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle));
    }
    message.content.to_lowercase().contains(query_lower)
}

/// Select the next (or previous) message that matches the search;
/// `include_current` lets the selected message itself count (on Enter).
fn jump_to_match(app: &mut App, forward: bool, include_current: bool) {
    let Some(search) = app.browse.search.as_mut() else {
        app.say(Notice::info("no search: / starts one"));
        return;
    };
    let query = search.query.to_lowercase();
    // Ids are unique within one conversation only.
    let shown = (query, app.transcript.generation);
    if search.matched_for != shown {
        search.matched.clear();
        search.matched_for.clone_from(&shown);
    }
    let query = shown.0;
    let messages = app.conversation.messages();
    let count = messages.len();
    if count == 0 {
        return;
    }
    let mut hits: Vec<usize> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let hit = match search.matched.get(&message.id) {
            Some(&(rev, hit)) if rev == message.rev => hit,
            _ => {
                let hit = matches(message, &query);
                search.matched.insert(message.id, (message.rev, hit));
                hit
            }
        };
        if hit {
            hits.push(i);
        }
    }
    let start = app.selected_index().unwrap_or(count - 1);
    let total = hits.len();
    let next = if forward {
        hits.iter()
            .copied()
            .find(|&i| {
                if include_current {
                    i >= start
                } else {
                    i > start
                }
            })
            .or_else(|| hits.first().copied())
    } else {
        hits.iter()
            .rev()
            .copied()
            .find(|&i| i < start)
            .or_else(|| hits.last().copied())
    };
    match next {
        Some(index) => {
            let pos = hits.iter().position(|&i| i == index).map_or(0, |p| p + 1);
            select_index(app, index);
            app.say(Notice::info(format!(
                "match {pos}/{total} · n next · N previous"
            )));
        }
        None => app.say(Notice::info(format!("no match for \"{query}\""))),
    }
}

/// The raw view of a message: for an answer, the request that was sent
/// (rebuilt from the ids and parameters kept) and the response assembled
/// from the stream; for other messages, the message as it is sent.
fn raw_view(app: &App, message: &Message) -> RawView {
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let Some(exchange) = &message.exchange else {
        let json = serde_json::json!({"role": message.role.as_str(), "content": message.content});
        return RawView {
            title: format!(
                " {} message · as sent · y copies · Esc closes ",
                message.role.as_str()
            ),
            text: pretty(&json),
            scroll: 0,
        };
    };
    let messages: Vec<ChatMessage> = exchange
        .sent
        .iter()
        .filter_map(|id| app.conversation.find(*id))
        .map(|m| ChatMessage::new(m.role, m.content.clone()))
        .collect();
    let request = ChatRequest {
        model: exchange.model.clone(),
        messages,
        temperature: exchange.temperature,
        max_tokens: exchange.max_tokens,
    };
    let mut text = format!(
        "── request: POST {}/chat/completions (Authorization: Bearer ***) ──\n{}\n\n",
        app.settings.base_url,
        pretty(&request.to_json(true, true))
    );
    match &exchange.response {
        Some(response) => {
            let _ = write!(
                text,
                "── response: assembled from {} chunks ──\n{}\n",
                exchange.chunks,
                pretty(response)
            );
        }
        None => text.push_str("── response: none yet (still streaming, or nothing arrived) ──\n"),
    }
    RawView {
        title: " raw view · y copies · Esc closes ".to_string(),
        text,
        scroll: 0,
    }
}
