//! What the chat TUI asks of the history, in the TUI's own terms: a page of
//! the browser (store rows → `BrowserItem`), a finished request as a ledger
//! row. Pure mappings; the runtime runs them (blocking ones off its loop).

use std::time::{Duration, Instant};

use super::LedgerEntry;
use crate::app::history_browser::{BrowserItem, PAGE};
use crate::app::state::FinishedRequest;
use crate::store::{ConversationSummary, Store, StoreError};

/// Conversations a search shows at most (newest matches first).
pub const SEARCH_LIMIT: usize = 500;

/// The browser's list (a page after `after`) or, with a query, its search
/// results; archived ones or the others. Blocking.
pub fn browser_page(
    store: &Store,
    query: &str,
    archived: bool,
    after: Option<(i64, i64)>,
) -> Result<Vec<BrowserItem>, StoreError> {
    if query.trim().is_empty() {
        let rows = store.list(archived, PAGE, after)?;
        Ok(rows.iter().map(|s| browser_item(s, None)).collect())
    } else {
        let hits = store.search(query, SEARCH_LIMIT)?;
        Ok(hits
            .into_iter()
            .filter(|h| h.conversation.archived == archived)
            .map(|h| browser_item(&h.conversation, Some(h.snippet)))
            .collect())
    }
}

fn browser_item(s: &ConversationSummary, snippet: Option<String>) -> BrowserItem {
    BrowserItem {
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

/// Milliseconds, saturating.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A finished request as a ledger row: its monotonic instants become a
/// wall-clock start (`now` is `now_ms` on the wall clock) and durations.
pub fn ledger_entry(
    done: &FinishedRequest,
    base_url: &str,
    now: Instant,
    now_ms: i64,
) -> LedgerEntry {
    let since = |from: Instant, to: Instant| millis(to.saturating_duration_since(from));
    LedgerEntry {
        message: Some(done.message),
        model: done.model.clone(),
        base_url: base_url.to_string(),
        usage: done.usage,
        status: done.outcome.as_str().to_string(),
        started_at_ms: done.started.map_or(now_ms, |s| now_ms - since(s, now)),
        duration_ms: done.started.zip(done.ended).map(|(s, e)| since(s, e)),
        ttft_ms: done.started.zip(done.first_text).map(|(s, f)| since(s, f)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::conversation::MessageId;
    use crate::chat::usage::RequestOutcome;

    #[test]
    fn a_finished_request_becomes_a_ledger_row() {
        let t0 = Instant::now();
        let done = FinishedRequest {
            message: MessageId(7),
            model: "gpt-4o-mini".into(),
            usage: None,
            outcome: RequestOutcome::Stopped,
            started: Some(t0),
            first_text: Some(t0 + Duration::from_millis(200)),
            ended: Some(t0 + Duration::from_millis(900)),
        };
        let row = ledger_entry(&done, "http://x/v1", t0 + Duration::from_secs(2), 10_000);
        assert_eq!(row.status, "stopped");
        assert_eq!(row.started_at_ms, 8_000);
        assert_eq!((row.duration_ms, row.ttft_ms), (Some(900), Some(200)));
        assert_eq!(row.message, Some(MessageId(7)));
    }
}
