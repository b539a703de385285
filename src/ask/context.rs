//! `kaiwa ask` and the context window (SPEC, Context): `context_overflow`'s
//! `ask` and `trim` act as `error` here. A prompt that will not fit a known
//! window, or a server's overflow error, is one stderr line naming the
//! model, its window and the setting (exit 1); a window a server named is
//! remembered in the history file for next time.

use crate::api::error::ApiError;
use crate::api::types::ChatRequest;
use crate::chat::estimate;
use crate::chat::pricing::PriceTable;
use crate::config::Config;

/// The windows learned before, read from the history file into `facts`.
pub(super) fn learn_saved(config: &Config, facts: &mut PriceTable) {
    for (model, tokens) in crate::history::learned_limits(config) {
        facts.learn(&model, tokens);
    }
}

/// The line to print when `request` will not fit its model's known window.
/// The tokenizer is consulted only when a cheap count comes near it.
pub(super) fn will_not_fit(
    config: &Config,
    facts: &PriceTable,
    request: &ChatRequest,
) -> Option<String> {
    let window = facts.context(&request.model, None)?;
    let reserve = u64::from(request.max_tokens.unwrap_or(0));
    let bytes: usize = request.messages.iter().map(|m| m.content.len()).sum();
    let rough = u64::try_from(bytes).unwrap_or(u64::MAX) / 4 + reserve;
    if rough < window / 2 {
        return None;
    }
    let needed = estimate::prompt_tokens(&request.model, &request.messages) + reserve;
    (needed > window).then(|| too_long(config, &request.model, Some(window), Some(needed)))
}

/// The prompt is at 90 % of the model's known window or past it (a cheap
/// count): an answer that ended with nothing at all was probably refused
/// as too long (llama-cpp-python streams an overflow as an empty 200).
pub(super) fn near_window(facts: &PriceTable, request: &ChatRequest) -> bool {
    let Some(window) = facts.context(&request.model, None) else {
        return false;
    };
    let bytes: usize = request.messages.iter().map(|m| m.content.len()).sum();
    let rough = u64::try_from(bytes).unwrap_or(u64::MAX) / 4;
    rough.saturating_mul(10) >= window.saturating_mul(9)
}

/// For a server's overflow error: the line to print (and the window is
/// remembered when the server named it). None for other errors.
pub(super) fn after_error(config: &Config, model: &str, error: &ApiError) -> Option<String> {
    let overflow = error.overflow()?;
    if let Some(tokens) = overflow.limit {
        crate::history::remember_limit(config, model, tokens);
    }
    Some(format!(
        "{error} — {}",
        too_long(config, model, overflow.limit, None)
    ))
}

fn too_long(config: &Config, model: &str, window: Option<u64>, needed: Option<u64>) -> String {
    let size = window.map_or_else(
        || "its context window".to_string(),
        |n| format!("its window of {n} tokens"),
    );
    let need = needed
        .map(|n| format!(" (about {n} needed)"))
        .unwrap_or_default();
    format!(
        "the prompt is too long for {model}: {size}{need}; kaiwa ask does not trim \
         (context_overflow = {}): shorten it",
        config.context_overflow.as_str()
    )
}
