//! The history browser (F3 / Ctrl+P): saved conversations, most recently
//! active first; typing searches the text of every saved conversation.
//! Loading, searching and changing conversations are effects the runtime
//! performs on the store; results come back as messages tagged with the
//! query's sequence number, so a slow answer to an old query is ignored.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::effect::Effect;
use super::state::{App, Notice, Popup};
use super::update::Update;

/// One row of the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserItem {
    pub uid: String,
    /// The title, or the first question when there is none.
    pub title: String,
    pub model: Option<String>,
    /// When it was last active, local time, for display.
    pub when: String,
    pub messages: u64,
    pub archived: bool,
    /// A search match in context (search results only).
    pub snippet: Option<String>,
    /// Where the next page starts after this row (last active, id).
    pub key: (i64, i64),
}

/// Conversations loaded at a time; the list reads an index, so a page is
/// instant however many are saved, and the next loads when the cursor
/// reaches the end.
pub const PAGE: usize = 200;

/// What the browser is doing besides listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BrowserMode {
    #[default]
    List,
    /// Typing a new title for the selected conversation.
    Rename(String),
    /// Waiting for y/n before deleting the selected conversation.
    ConfirmDelete,
}

/// The open browser.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryBrowser {
    pub query: String,
    /// Show archived conversations instead (Tab).
    pub archived: bool,
    pub items: Vec<BrowserItem>,
    pub cursor: usize,
    pub loading: bool,
    pub error: Option<String>,
    pub mode: BrowserMode,
    /// Sequence number of the latest load asked for.
    pub seq: u64,
    /// The latest load adds a page to the list instead of replacing it.
    pub appending: bool,
    /// The last page was full: there may be more.
    pub has_more: bool,
}

impl HistoryBrowser {
    pub fn selected(&self) -> Option<&BrowserItem> {
        self.items.get(self.cursor)
    }

    /// Change the query (typing, Backspace, a paste) and search again.
    pub fn edit_query(&mut self, edit: impl FnOnce(&mut String)) -> Effect {
        edit(&mut self.query);
        self.cursor = 0;
        self.reload()
    }

    /// Ask for the list (or search results) again.
    fn reload(&mut self) -> Effect {
        self.seq += 1;
        self.loading = true;
        self.appending = false;
        Effect::LoadHistory {
            seq: self.seq,
            query: self.query.clone(),
            archived: self.archived,
            after: None,
        }
    }

    /// Moves the cursor by `delta` rows; near the end of the list, asks for
    /// the next page.
    fn move_cursor(&mut self, delta: isize) -> Option<Effect> {
        let last = self.items.len().saturating_sub(1);
        self.cursor = self.cursor.saturating_add_signed(delta).min(last);
        let near_end = self.cursor + delta.unsigned_abs() >= self.items.len();
        if delta > 0 && near_end {
            self.load_more()
        } else {
            None
        }
    }

    /// Takes the selected item off the list (archived or deleted); its uid.
    fn remove_selected(&mut self) -> Option<String> {
        let uid = self.selected()?.uid.clone();
        self.items.remove(self.cursor);
        self.cursor = self.cursor.min(self.items.len().saturating_sub(1));
        Some(uid)
    }

    /// Ask for the next page of the list.
    fn load_more(&mut self) -> Option<Effect> {
        if !self.has_more || self.loading || !self.query.is_empty() {
            return None;
        }
        let after = self.items.last()?.key;
        self.seq += 1;
        self.loading = true;
        self.appending = true;
        Some(Effect::LoadHistory {
            seq: self.seq,
            query: String::new(),
            archived: self.archived,
            after: Some(after),
        })
    }
}

/// F3 / Ctrl+P.
pub fn open(app: &mut App) -> Update {
    if !app.history.enabled {
        app.say(Notice::info("history is off (--no-history)"));
        return Update::changed();
    }
    let mut browser = HistoryBrowser::default();
    let effect = browser.reload();
    app.popup = Some(Popup::History(browser));
    Update::with(effect)
}

/// The store answered a load.
pub fn loaded(
    app: &mut App,
    seq: u64,
    result: Result<Vec<BrowserItem>, super::msg::HistoryError>,
) -> Update {
    let Some(Popup::History(browser)) = &mut app.popup else {
        return Update::unchanged();
    };
    if seq != browser.seq {
        return Update::unchanged();
    }
    browser.loading = false;
    match result {
        Ok(mut items) => {
            browser.has_more = browser.query.is_empty() && items.len() >= PAGE;
            if browser.appending {
                browser.items.append(&mut items);
            } else {
                browser.items = items;
            }
            browser.cursor = browser.cursor.min(browser.items.len().saturating_sub(1));
            browser.error = None;
        }
        Err(why) => browser.error = Some(why.to_string()),
    }
    Update::changed()
}

/// A key while the browser is open; every key is taken.
#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "crossterm's KeyCode has dozens of variants"
)]
#[allow(clippy::too_many_lines, reason = "one arm per key of the browser")]
pub fn key(app: &mut App, key: &KeyEvent) -> Update {
    let Some(Popup::History(browser)) = &mut app.popup else {
        return Update::unchanged();
    };
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let plain = !key
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    match browser.mode {
        BrowserMode::Rename(_) => return rename_key(browser, key, plain),
        BrowserMode::ConfirmDelete => return confirm_delete_key(browser, key),
        BrowserMode::List => {}
    }
    let effect = match key.code {
        KeyCode::Esc => {
            app.popup = None;
            None
        }
        KeyCode::Up => browser.move_cursor(-1),
        KeyCode::Down => browser.move_cursor(1),
        KeyCode::PageUp => browser.move_cursor(-10),
        KeyCode::PageDown => browser.move_cursor(10),
        KeyCode::Enter => browser.selected().map(|item| Effect::OpenConversation {
            uid: item.uid.clone(),
        }),
        KeyCode::Tab => {
            browser.archived = !browser.archived;
            browser.cursor = 0;
            Some(browser.reload())
        }
        KeyCode::Char('r') if ctrl => {
            if let Some(item) = browser.selected() {
                browser.mode = BrowserMode::Rename(item.title.clone());
            }
            None
        }
        KeyCode::Char('a') if ctrl => {
            let archived = !browser.archived;
            browser
                .remove_selected()
                .map(|uid| Effect::ArchiveConversation { uid, archived })
        }
        KeyCode::Char('d') if ctrl => {
            if browser.selected().is_some() {
                browser.mode = BrowserMode::ConfirmDelete;
            }
            None
        }
        KeyCode::Char('e') if ctrl => browser.selected().map(|item| Effect::ExportConversation {
            uid: item.uid.clone(),
        }),
        KeyCode::Backspace => Some(browser.edit_query(|q| {
            q.pop();
        })),
        KeyCode::Char(c) if plain => Some(browser.edit_query(|q| q.push(c))),
        // Quit and the like still work from the browser.
        _ if ctrl && matches!(key.code, KeyCode::Char('q' | 'c')) => {
            app.popup = None;
            return Update::unchanged();
        }
        _ => return Update::unchanged(),
    };
    effect.map_or_else(Update::changed, Update::with)
}

/// Typing a new title: Enter renames (an empty title clears it), Esc
/// leaves it as it was.
#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "crossterm's KeyCode has dozens of variants; only a few edit"
)]
fn rename_key(browser: &mut HistoryBrowser, key: &KeyEvent, plain: bool) -> Update {
    let BrowserMode::Rename(title) = &mut browser.mode else {
        return Update::unchanged();
    };
    match key.code {
        KeyCode::Esc => browser.mode = BrowserMode::List,
        KeyCode::Enter => {
            let title = title.trim().to_string();
            browser.mode = BrowserMode::List;
            if let Some(item) = browser.items.get_mut(browser.cursor) {
                let uid = item.uid.clone();
                if !title.is_empty() {
                    item.title.clone_from(&title);
                }
                let title = (!title.is_empty()).then_some(title);
                return Update::with(Effect::RenameConversation { uid, title });
            }
        }
        KeyCode::Backspace => {
            title.pop();
        }
        KeyCode::Char(c) if plain => title.push(c),
        _ => return Update::unchanged(),
    }
    Update::changed()
}

/// "Delete it? (y/n)": `y` deletes, any other key keeps it.
fn confirm_delete_key(browser: &mut HistoryBrowser, key: &KeyEvent) -> Update {
    browser.mode = BrowserMode::List;
    if matches!(key.code, KeyCode::Char('y' | 'Y'))
        && let Some(uid) = browser.remove_selected()
    {
        return Update::with(Effect::DeleteConversation { uid });
    }
    Update::changed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::state::Settings;
    use crate::chat::pricing::PriceTable;

    fn app() -> App {
        let mut app = App::new(
            Settings {
                model: "m".into(),
                ..Settings::default()
            },
            PriceTable::default(),
        );
        app.history.enabled = true;
        app
    }

    fn press(app: &mut App, code: KeyCode, mods: KeyModifiers) -> Update {
        key(app, &KeyEvent::new(code, mods))
    }

    fn item(uid: &str) -> BrowserItem {
        BrowserItem {
            uid: uid.into(),
            title: format!("title {uid}"),
            model: None,
            when: String::new(),
            messages: 2,
            archived: false,
            snippet: None,
            key: (0, 0),
        }
    }

    #[test]
    fn the_next_page_loads_at_the_end_of_the_list() {
        let mut app = app();
        open(&mut app);
        let page: Vec<_> = (0..PAGE)
            .map(|i| {
                let n = i64::try_from(i).unwrap();
                BrowserItem {
                    key: (1000 - n, n),
                    ..item(&i.to_string())
                }
            })
            .collect();
        loaded(&mut app, 1, Ok(page));
        for _ in 0..PAGE - 2 {
            assert!(
                press(&mut app, KeyCode::Down, KeyModifiers::NONE)
                    .effects
                    .is_empty()
            );
        }
        let out = press(&mut app, KeyCode::Down, KeyModifiers::NONE);
        let end = i64::try_from(PAGE).unwrap() - 1;
        let last = 1000 - end;
        assert_eq!(
            out.effects,
            [Effect::LoadHistory {
                seq: 2,
                query: String::new(),
                archived: false,
                after: Some((last, end))
            }]
        );
        loaded(&mut app, 2, Ok(vec![item("older")]));
        let Some(Popup::History(b)) = &app.popup else {
            panic!()
        };
        assert_eq!(b.items.len(), PAGE + 1);
        assert!(!b.has_more);
    }

    #[test]
    fn typing_searches_and_stale_results_are_ignored() {
        let mut app = app();
        let out = open(&mut app);
        assert_eq!(
            out.effects,
            [Effect::LoadHistory {
                seq: 1,
                query: String::new(),
                archived: false,
                after: None
            }]
        );
        let out = press(&mut app, KeyCode::Char('한'), KeyModifiers::NONE);
        assert_eq!(
            out.effects,
            [Effect::LoadHistory {
                seq: 2,
                query: "한".into(),
                archived: false,
                after: None
            }]
        );
        // The answer to the first load arrives late: ignored.
        assert_eq!(
            loaded(&mut app, 1, Ok(vec![item("old")])),
            Update::unchanged()
        );
        loaded(&mut app, 2, Ok(vec![item("a"), item("b")]));
        let Some(Popup::History(b)) = &app.popup else {
            panic!()
        };
        assert_eq!(b.items.len(), 2);
    }

    #[test]
    fn open_rename_archive_delete_export() {
        let mut app = app();
        open(&mut app);
        loaded(&mut app, 1, Ok(vec![item("a"), item("b"), item("c")]));
        press(&mut app, KeyCode::Down, KeyModifiers::NONE);
        let out = press(&mut app, KeyCode::Char('e'), KeyModifiers::CONTROL);
        assert_eq!(
            out.effects,
            [Effect::ExportConversation { uid: "b".into() }]
        );
        press(&mut app, KeyCode::Char('r'), KeyModifiers::CONTROL);
        for _ in 0..7 {
            press(&mut app, KeyCode::Backspace, KeyModifiers::NONE);
        }
        press(&mut app, KeyCode::Char('x'), KeyModifiers::NONE);
        let out = press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
        assert_eq!(
            out.effects,
            [Effect::RenameConversation {
                uid: "b".into(),
                title: Some("x".into())
            }]
        );
        let out = press(&mut app, KeyCode::Char('a'), KeyModifiers::CONTROL);
        assert_eq!(
            out.effects,
            [Effect::ArchiveConversation {
                uid: "b".into(),
                archived: true
            }]
        );
        // Delete asks first; n keeps it.
        press(&mut app, KeyCode::Char('d'), KeyModifiers::CONTROL);
        assert!(
            press(&mut app, KeyCode::Char('n'), KeyModifiers::NONE)
                .effects
                .is_empty()
        );
        press(&mut app, KeyCode::Char('d'), KeyModifiers::CONTROL);
        let out = press(&mut app, KeyCode::Char('y'), KeyModifiers::NONE);
        assert_eq!(
            out.effects,
            [Effect::DeleteConversation { uid: "c".into() }]
        );
        let out = press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
        assert_eq!(out.effects, [Effect::OpenConversation { uid: "a".into() }]);
        press(&mut app, KeyCode::Esc, KeyModifiers::NONE);
        assert_eq!(app.popup, None);
    }
}
