//! The model menu: the server's models plus the config's, without
//! duplicates, filtered by a case-insensitive substring, with a cursor.

/// Where the server's model list stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ModelsState {
    /// `GET /models` has not answered yet.
    #[default]
    Loading,
    /// The server's ids, sorted.
    Loaded(Vec<String>),
    /// The fetch failed; why, in words.
    Failed(String),
}

/// The open menu.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelMenu {
    pub filter: String,
    /// Index into `visible()`.
    pub cursor: usize,
    /// Every model offered, sorted, without duplicates.
    pub all: Vec<String>,
}

impl ModelMenu {
    /// Open on the union of the server's list, the config's `models` and the
    /// current model, with the cursor on the current one.
    pub fn open(state: &ModelsState, extra: &[String], current: &str) -> Self {
        let mut menu = Self {
            filter: String::new(),
            cursor: 0,
            all: Vec::new(),
        };
        menu.refresh(state, extra, current);
        menu
    }

    /// Rebuild the list (the server's list arrived while the menu was
    /// open), keeping what was typed to filter it.
    pub fn refresh(&mut self, state: &ModelsState, extra: &[String], current: &str) {
        let filter = std::mem::take(&mut self.filter);
        self.rebuild(state, extra, current);
        if !filter.is_empty() {
            self.set_filter(filter);
        }
    }

    fn rebuild(&mut self, state: &ModelsState, extra: &[String], current: &str) {
        let mut all: Vec<String> = match state {
            ModelsState::Loaded(ids) => ids.clone(),
            ModelsState::Loading | ModelsState::Failed(_) => Vec::new(),
        };
        all.extend(extra.iter().cloned());
        all.push(current.to_string());
        all.retain(|m| !m.trim().is_empty());
        all.sort();
        all.dedup();
        self.all = all;
        self.cursor = self
            .visible()
            .iter()
            .position(|m| *m == current)
            .unwrap_or(0);
    }

    /// The models matching the filter, in order.
    pub fn visible(&self) -> Vec<&str> {
        let needle = self.filter.to_lowercase();
        self.all
            .iter()
            .filter(|m| needle.is_empty() || m.to_lowercase().contains(&needle))
            .map(String::as_str)
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
        let len = self.visible().len();
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

    #[test]
    fn union_filter_and_cursor() {
        let state = ModelsState::Loaded(vec!["gpt-4o".into(), "gpt-4o-mini".into(), "o3".into()]);
        let mut menu = ModelMenu::open(&state, &["llama3".into(), "o3".into()], "gpt-4o-mini");
        assert_eq!(menu.all, ["gpt-4o", "gpt-4o-mini", "llama3", "o3"]);
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
        let menu = ModelMenu::open(&ModelsState::Failed("x".into()), &["a".into()], "b");
        assert_eq!(menu.all, ["a", "b"]);
    }
}
