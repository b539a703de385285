//! Token and cost accounting: what one request used, and the cumulative
//! totals the status bar shows (`prompt 17 · completion 188 · total 205 ·
//! $0.0001`, with `~` on anything estimated).
//!
//! Invariant: a count is exact only if every part of it came from a
//! server's `usage`; one estimated part marks the sum. An unknown price
//! never shows as $0: the cost is left out.

use std::fmt::Write as _;

use super::pricing::{PriceSource, PriceTable};
use crate::api::types::Usage;

/// What one request used.
/// How a request ended, for the usage ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A `finish_reason` arrived.
    Done,
    /// The user stopped it (Esc, Ctrl+C, Ctrl+N, another conversation).
    Stopped,
    /// The stream broke, or kaiwa itself was ended (SIGTERM, SIGHUP).
    Interrupted,
    /// Refused or failed before any answer text.
    Error,
}

impl RequestOutcome {
    /// The ledger's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Stopped => "stopped",
            Self::Interrupted => "interrupted",
            Self::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RequestUsage {
    pub prompt: u64,
    pub cached: u64,
    pub completion: u64,
    /// Reasoning tokens (included in `completion`), when the server said.
    pub reasoning: u64,
    /// True when the numbers are a local estimate, not the server's.
    pub estimated: bool,
    /// USD, when a price was known (or the server sent its own cost).
    pub cost: Option<f64>,
    /// Where the price came from; None when the server's `usage.cost` was used or unpriced.
    pub price_source: Option<PriceSource>,
}

impl RequestUsage {
    /// From the server's usage; the server's own `cost` wins over the table.
    pub fn from_server(usage: &Usage, model: &str, prices: &PriceTable) -> Self {
        let mut out = Self {
            prompt: usage.prompt_tokens,
            cached: usage.cached_tokens,
            completion: usage.completion_tokens,
            reasoning: usage.reasoning_tokens,
            estimated: false,
            cost: None,
            price_source: None,
        };
        if let Some(cost) = usage.cost.filter(|c| c.is_finite() && *c >= 0.0) {
            out.cost = Some(cost);
        } else {
            out.price(model, prices);
        }
        out
    }

    /// A local estimate (no usage arrived).
    pub fn estimated(prompt: u64, completion: u64, model: &str, prices: &PriceTable) -> Self {
        let mut out = Self {
            prompt,
            completion,
            estimated: true,
            ..Self::default()
        };
        out.price(model, prices);
        out
    }

    fn price(&mut self, model: &str, prices: &PriceTable) {
        if let Some((price, source)) = prices.lookup(model) {
            self.cost = Some(price.cost(self.prompt, self.cached, self.completion));
            self.price_source = Some(source);
        }
    }

    pub fn total(&self) -> u64 {
        self.prompt + self.completion
    }
}

/// One cumulative count and whether any part of it was estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Count {
    pub value: u64,
    pub estimated: bool,
}

impl Count {
    fn add(&mut self, value: u64, estimated: bool) {
        self.value += value;
        self.estimated |= estimated;
    }
}

impl std::fmt::Display for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.estimated {
            write!(f, "~{}", self.value)
        } else {
            write!(f, "{}", self.value)
        }
    }
}

/// Totals over every request since kaiwa started.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct UsageTotals {
    pub prompt: Count,
    pub completion: Count,
    pub total: Count,
    /// Sum of known costs.
    pub cost: f64,
    /// Whether any priced part was estimated.
    pub cost_estimated: bool,
    /// Requests that counted with a known cost.
    pub priced_requests: u32,
    /// Requests that counted without a price.
    pub unpriced_requests: u32,
}

impl UsageTotals {
    pub fn add(&mut self, usage: &RequestUsage) {
        self.prompt.add(usage.prompt, usage.estimated);
        self.completion.add(usage.completion, usage.estimated);
        self.total.add(usage.total(), usage.estimated);
        if usage.price_source == Some(PriceSource::Local) {
            // Free, and not "unpriced": it neither shows a cost nor makes
            // one partial.
            return;
        }
        match usage.cost {
            Some(cost) => {
                self.cost += cost;
                self.cost_estimated |= usage.estimated;
                self.priced_requests += 1;
            }
            None => self.unpriced_requests += 1,
        }
    }

    /// Takes back what `add` added for `usage` (a rough estimate replaced
    /// by the tokenizer's); whether anything was estimated stays known.
    pub fn remove(&mut self, usage: &RequestUsage) {
        let take = |count: &mut Count, n: u64| count.value = count.value.saturating_sub(n);
        take(&mut self.prompt, usage.prompt);
        take(&mut self.completion, usage.completion);
        take(&mut self.total, usage.total());
        if usage.price_source == Some(PriceSource::Local) {
            return;
        }
        match usage.cost {
            Some(cost) => {
                self.cost = (self.cost - cost).max(0.0);
                self.priced_requests = self.priced_requests.saturating_sub(1);
            }
            None => self.unpriced_requests = self.unpriced_requests.saturating_sub(1),
        }
    }

    /// `prompt 17 · completion 188 · total 205`, plus ` · $0.0001` when a
    /// price is known (`~$` when estimated; `≥$` when some requests had no price).
    pub fn status_text(&self) -> String {
        let mut out = format!(
            "prompt {} · completion {} · total {}",
            self.prompt, self.completion, self.total
        );
        if self.priced_requests > 0 {
            let approx = if self.cost_estimated { "~" } else { "" };
            let partial = if self.unpriced_requests > 0 {
                "≥"
            } else {
                ""
            };
            let _ = write!(out, " · {partial}{approx}${}", format_usd(self.cost));
        }
        out
    }
}

/// At least 4 decimals, and as many more as it takes to show a non-zero
/// figure (up to 10): 0.0001, 0.00003, 1.2345.
pub fn format_usd(cost: f64) -> String {
    let mut decimals = 4;
    while decimals < 10 && cost > 0.0 && cost < 10f64.powi(-decimals) {
        decimals += 1;
    }
    format!(
        "{cost:.prec$}",
        prec = usize::try_from(decimals).unwrap_or(4)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_model_costs_nothing_and_shows_no_cost() {
        let mut prices = PriceTable::default();
        prices.add_provider(crate::provider::Provider::local(
            "ollama",
            "http://127.0.0.1:11434/v1".into(),
        ));
        let usage = Usage {
            prompt_tokens: 10,
            completion_tokens: 5,
            total_tokens: 15,
            ..Usage::default()
        };
        let local = RequestUsage::from_server(&usage, "ollama:llama3.2:3b", &prices);
        assert_eq!(local.cost, Some(0.0));
        assert_eq!(local.price_source, Some(PriceSource::Local));
        let mut totals = UsageTotals::default();
        totals.add(&local);
        assert_eq!(totals.status_text(), "prompt 10 · completion 5 · total 15");
        // Beside a priced model, the cost is that model's, not partial.
        totals.add(&RequestUsage::from_server(&usage, "gpt-4o-mini", &prices));
        assert_eq!(
            totals.status_text(),
            "prompt 20 · completion 10 · total 30 · $0.000005"
        );
    }

    #[test]
    fn spec_example_format() {
        let prices = PriceTable::default();
        let usage = Usage {
            prompt_tokens: 17,
            completion_tokens: 188,
            total_tokens: 205,
            ..Usage::default()
        };
        let mut totals = UsageTotals::default();
        totals.add(&RequestUsage::from_server(&usage, "gpt-4o-mini", &prices));
        // 17·0.15 + 188·0.60 = 115.35 per 1M = $0.00011535 → 0.0001
        assert_eq!(
            totals.status_text(),
            "prompt 17 · completion 188 · total 205 · $0.0001"
        );
    }

    #[test]
    fn estimates_mark_sums_and_cost() {
        let prices = PriceTable::default();
        let mut totals = UsageTotals::default();
        let exact = Usage {
            prompt_tokens: 10,
            completion_tokens: 5,
            total_tokens: 15,
            ..Usage::default()
        };
        totals.add(&RequestUsage::from_server(&exact, "gpt-4o-mini", &prices));
        totals.add(&RequestUsage::estimated(3, 2, "gpt-4o-mini", &prices));
        assert_eq!(
            totals.status_text(),
            "prompt ~13 · completion ~7 · total ~20 · ~$0.000006"
        );
    }

    #[test]
    fn unknown_price_leaves_cost_out() {
        let prices = PriceTable::default();
        let mut totals = UsageTotals::default();
        let u = Usage {
            prompt_tokens: 1,
            completion_tokens: 2,
            total_tokens: 3,
            ..Usage::default()
        };
        totals.add(&RequestUsage::from_server(&u, "llama3", &prices));
        assert_eq!(totals.status_text(), "prompt 1 · completion 2 · total 3");
        let with_cost = Usage {
            cost: Some(0.5),
            ..u
        };
        totals.add(&RequestUsage::from_server(&with_cost, "llama3", &prices));
        assert_eq!(
            totals.status_text(),
            "prompt 2 · completion 4 · total 6 · ≥$0.5000"
        );
    }

    #[test]
    fn usd_decimals() {
        assert_eq!(format_usd(0.0), "0.0000");
        assert_eq!(format_usd(0.00003), "0.00003");
        assert_eq!(format_usd(1.23456), "1.2346");
    }
}
