//! The model menu: every provider's models (SPEC, Providers), grouped by
//! provider, each with its context window and price where known, filtered
//! by a case-insensitive substring of the full id, with a cursor. A
//! provider whose list failed shows one line with its error; the others
//! still list.

use crate::chat::pricing::PriceTable;

/// One model offered: its full id (`corp:beta-2`) and what is known of it
/// (`128k · $0.15/$0.60`, `local`, or nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuModel {
    pub id: String,
    pub detail: String,
    /// The window its server's list gave (the meter uses it).
    pub context: Option<u64>,
}

impl MenuModel {
    pub fn bare(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            detail: String::new(),
            context: None,
        }
    }
}

/// Where one provider's list stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ListState {
    /// Its `GET /models` has not answered yet.
    #[default]
    Loading,
    /// Its models, sorted.
    Loaded(Vec<MenuModel>),
    /// The fetch failed; why, in words.
    Failed(String),
}

/// Every provider's list, in the providers' order (`default` first).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelsState {
    pub lists: Vec<(String, ListState)>,
}

impl ModelsState {
    /// Every named provider loading.
    pub fn loading(providers: &[String]) -> Self {
        Self {
            lists: providers
                .iter()
                .map(|name| (name.clone(), ListState::Loading))
                .collect(),
        }
    }

    /// One provider's list arrived (or failed).
    pub fn set(&mut self, provider: &str, state: ListState) {
        match self.lists.iter_mut().find(|(name, _)| name == provider) {
            Some((_, slot)) => *slot = state,
            None => self.lists.push((provider.to_string(), state)),
        }
    }

    /// The providers whose lists failed, with why.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lists.iter().filter_map(|(name, state)| match state {
            ListState::Failed(why) => Some((name.as_str(), why.as_str())),
            ListState::Loading | ListState::Loaded(_) => None,
        })
    }

    /// True while any list has not answered.
    pub fn loading_any(&self) -> bool {
        self.lists
            .iter()
            .any(|(_, state)| *state == ListState::Loading)
    }
}

/// A row of the menu: a model and the provider it is listed under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuRow {
    pub provider: String,
    pub model: MenuModel,
}

/// The open menu.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelMenu {
    pub filter: String,
    /// Index into `visible()`.
    pub cursor: usize,
    /// Every model offered, grouped by provider, without duplicates.
    pub all: Vec<MenuRow>,
}

impl ModelMenu {
    /// Open on every provider's list, the config's `models` and the
    /// current model, with the cursor on the current one.
    pub fn open(state: &ModelsState, extra: &[String], current: &str, facts: &PriceTable) -> Self {
        let mut menu = Self::default();
        menu.refresh(state, extra, current, facts);
        menu
    }

    /// Rebuild the list (a list arrived while the menu was open), keeping
    /// what was typed to filter it.
    pub fn refresh(
        &mut self,
        state: &ModelsState,
        extra: &[String],
        current: &str,
        facts: &PriceTable,
    ) {
        let filter = std::mem::take(&mut self.filter);
        self.rebuild(state, extra, current, facts);
        if !filter.is_empty() {
            self.set_filter(filter);
        }
    }

    /// Rows no server listed (the config's, the current model) are
    /// described by `facts` alone.
    fn rebuild(
        &mut self,
        state: &ModelsState,
        extra: &[String],
        current: &str,
        facts: &PriceTable,
    ) {
        let mut all: Vec<MenuRow> = Vec::new();
        let mut push = |provider: &str, model: MenuModel| {
            if !model.id.trim().is_empty() && !all.iter().any(|row| row.model.id == model.id) {
                all.push(MenuRow {
                    provider: provider.to_string(),
                    model,
                });
            }
        };
        for (provider, list) in &state.lists {
            if let ListState::Loaded(models) = list {
                for model in models {
                    push(provider, model.clone());
                }
            }
        }
        let described = |id: &str| MenuModel {
            id: id.to_string(),
            detail: facts.describe(id, None, None),
            context: None,
        };
        for id in extra {
            push(crate::provider::DEFAULT, described(id));
        }
        let provider_of_current = current
            .split_once(':')
            .map(|(prefix, _)| prefix)
            .filter(|prefix| state.lists.iter().any(|(name, _)| name == prefix))
            .unwrap_or(crate::provider::DEFAULT);
        push(provider_of_current, described(current));
        // Grouped in the providers' order, sorted by id within a group.
        let order = |provider: &str| {
            state
                .lists
                .iter()
                .position(|(name, _)| name == provider)
                .unwrap_or(usize::MAX)
        };
        all.sort_by(|a, b| {
            order(&a.provider)
                .cmp(&order(&b.provider))
                .then_with(|| a.provider.cmp(&b.provider))
                .then_with(|| a.model.id.cmp(&b.model.id))
        });
        self.all = all;
        self.cursor = self
            .visible()
            .iter()
            .position(|m| *m == current)
            .unwrap_or(0);
    }

    /// The rows matching the filter, in order.
    pub fn visible_rows(&self) -> Vec<&MenuRow> {
        let needle = self.filter.to_lowercase();
        self.all
            .iter()
            .filter(|row| needle.is_empty() || row.model.id.to_lowercase().contains(&needle))
            .collect()
    }

    /// The ids matching the filter, in order.
    pub fn visible(&self) -> Vec<&str> {
        self.visible_rows()
            .into_iter()
            .map(|row| row.model.id.as_str())
            .collect()
    }

    pub fn set_filter(&mut self, filter: String) {
        self.filter = filter;
        self.cursor = 0;
    }

    /// What Enter picks: the model under the cursor, or with no match the
    /// typed text as the model id (one the server does not list, or when
    /// the list failed).
    pub fn pick(&self) -> Option<String> {
        self.selected()
            .or_else(|| Some(self.filter.trim().to_string()).filter(|f| !f.is_empty()))
    }

    /// Change the filter (typing, Backspace, a paste); the cursor goes to
    /// the first match.
    pub fn edit_filter(&mut self, edit: impl FnOnce(&mut String)) {
        edit(&mut self.filter);
        self.cursor = 0;
    }

    pub fn move_cursor(&mut self, delta: isize) {
        let len = self.visible_rows().len();
        if len == 0 {
            self.cursor = 0;
            return;
        }
        let max = len - 1;
        self.cursor = self.cursor.saturating_add_signed(delta).min(max);
    }

    /// The model under the cursor.
    pub fn selected(&self) -> Option<String> {
        self.visible().get(self.cursor).map(|s| (*s).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(lists: &[(&str, &[&str])]) -> ModelsState {
        ModelsState {
            lists: lists
                .iter()
                .map(|(name, ids)| {
                    (
                        (*name).to_string(),
                        ListState::Loaded(ids.iter().map(|id| MenuModel::bare(*id)).collect()),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn union_filter_and_cursor() {
        let state = loaded(&[("default", &["gpt-4o", "gpt-4o-mini", "o3"])]);
        let mut menu = ModelMenu::open(
            &state,
            &["llama3".into(), "o3".into()],
            "gpt-4o-mini",
            &PriceTable::default(),
        );
        assert_eq!(menu.visible(), ["gpt-4o", "gpt-4o-mini", "llama3", "o3"]);
        assert_eq!(menu.selected().as_deref(), Some("gpt-4o-mini"));
        menu.set_filter("GPT".into());
        assert_eq!(menu.visible(), ["gpt-4o", "gpt-4o-mini"]);
        menu.move_cursor(5);
        assert_eq!(menu.selected().as_deref(), Some("gpt-4o-mini"));
        menu.move_cursor(-9);
        assert_eq!(menu.selected().as_deref(), Some("gpt-4o"));
        menu.set_filter("zzz".into());
        assert_eq!(menu.selected(), None);
    }

    #[test]
    fn failed_fetch_still_offers_config_and_current() {
        let mut state = ModelsState::loading(&["default".into()]);
        state.set("default", ListState::Failed("x".into()));
        let menu = ModelMenu::open(&state, &["a".into()], "b", &PriceTable::default());
        assert_eq!(menu.visible(), ["a", "b"]);
        assert_eq!(state.failures().collect::<Vec<_>>(), [("default", "x")]);
    }

    #[test]
    fn grouped_by_provider_in_order_and_filtered_across_all() {
        let state = loaded(&[
            ("default", &["gpt-4o-mini", "gpt-4o"]),
            ("corp", &["corp:beta-2", "corp:alpha"]),
        ]);
        let mut menu = ModelMenu::open(&state, &[], "corp:beta-2", &PriceTable::default());
        assert_eq!(
            menu.visible(),
            ["gpt-4o", "gpt-4o-mini", "corp:alpha", "corp:beta-2"]
        );
        assert_eq!(menu.selected().as_deref(), Some("corp:beta-2"));
        menu.set_filter("A".into());
        assert_eq!(menu.visible(), ["corp:alpha", "corp:beta-2"]);
        // The current model, listed by nobody, joins its provider's group.
        let menu = ModelMenu::open(&state, &[], "corp:gamma", &PriceTable::default());
        assert_eq!(
            menu.visible_rows().last().map(|r| r.provider.as_str()),
            Some("corp")
        );
    }
}
