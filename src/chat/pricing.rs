//! Prices in USD per million tokens: a built-in table for well-known OpenAI
//! models (dated; see WIRE-NOTES §4), overridable by `[prices."MODEL"]` in the
//! config. A dated model id takes the price of its longest known prefix.

use std::collections::BTreeMap;

/// USD per 1,000,000 tokens.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Uncached prompt (input) tokens.
    pub prompt: f64,
    /// Completion (output) tokens, reasoning included.
    pub completion: f64,
    /// Cached prompt tokens; when absent they are billed at `prompt`.
    #[serde(default)]
    pub cached: Option<f64>,
}

/// Where a price came from, for the ledger and the raw view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceSource {
    /// The built-in table.
    BuiltIn,
    /// `[prices]` in the config file.
    Config,
}

/// Built-in prices (USD / 1M tokens), from LiteLLM 1.110.2's table as of
/// 2026-11-25 (WIRE-NOTES §4). Editable: `[prices]` in the config wins.
const BUILT_IN: &[(&str, f64, Option<f64>, f64)] = &[
    ("gpt-4o", 2.50, Some(1.25), 10.00),
    ("gpt-4o-mini", 0.15, Some(0.075), 0.60),
    ("gpt-4.1", 2.00, Some(0.50), 8.00),
    ("gpt-4.1-mini", 0.40, Some(0.10), 1.60),
    ("gpt-4.1-nano", 0.10, Some(0.025), 0.40),
    ("gpt-5", 1.25, Some(0.125), 10.00),
    ("gpt-5-mini", 0.25, Some(0.025), 2.00),
    ("gpt-5-nano", 0.05, Some(0.005), 0.40),
    ("gpt-5.2", 1.75, Some(0.175), 14.00),
    ("o3", 2.00, Some(0.50), 8.00),
    ("o4-mini", 1.10, Some(0.275), 4.40),
    ("gpt-3.5-turbo", 0.50, None, 1.50),
];

/// The price table: built-in entries plus config overrides.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    overrides: BTreeMap<String, Price>,
}

impl PriceTable {
    pub fn new(overrides: BTreeMap<String, Price>) -> Self {
        Self { overrides }
    }

    /// The price of `model`: an exact config entry, an exact built-in entry,
    /// then the longest prefix of either (config first on equal length), so
    /// `gpt-4o-mini-2024-07-18` takes `gpt-4o-mini`'s price and not `gpt-4o`'s.
    pub fn lookup(&self, model: &str) -> Option<(Price, PriceSource)> {
        let mut best: Option<(usize, Price, PriceSource)> = None;
        let mut consider = |name: &str, price: Price, source: PriceSource| {
            if model.starts_with(name) && best.as_ref().is_none_or(|(len, _, _)| name.len() > *len)
            {
                best = Some((name.len(), price, source));
            }
        };
        for (name, price) in &self.overrides {
            consider(name, *price, PriceSource::Config);
        }
        for &(name, prompt, cached, completion) in BUILT_IN {
            consider(
                name,
                Price {
                    prompt,
                    completion,
                    cached,
                },
                PriceSource::BuiltIn,
            );
        }
        best.map(|(_, price, source)| (price, source))
    }
}

impl Price {
    /// Cost in USD: `(prompt − cached)·in + cached·cached_in + completion·out`.
    pub fn cost(&self, prompt: u64, cached: u64, completion: u64) -> f64 {
        let cached = cached.min(prompt);
        let uncached = prompt - cached;
        let cached_rate = self.cached.unwrap_or(self.prompt);
        (uncached as f64 * self.prompt
            + cached as f64 * cached_rate
            + completion as f64 * self.completion)
            / 1_000_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_id_takes_longest_prefix() {
        let table = PriceTable::default();
        let (price, source) = table.lookup("gpt-4o-mini-2024-07-18").unwrap();
        assert!((price.prompt - 0.15).abs() < 1e-12);
        assert_eq!(source, PriceSource::BuiltIn);
        let (price, _) = table.lookup("gpt-4o-2024-08-06").unwrap();
        assert!((price.prompt - 2.50).abs() < 1e-12);
        assert!(table.lookup("llama3").is_none());
    }

    #[test]
    fn config_overrides_builtin() {
        let mut map = BTreeMap::new();
        map.insert(
            "gpt-4o-mini".to_string(),
            Price {
                prompt: 1.0,
                completion: 2.0,
                cached: None,
            },
        );
        let (price, source) = PriceTable::new(map).lookup("gpt-4o-mini").unwrap();
        assert!((price.completion - 2.0).abs() < 1e-12);
        assert_eq!(source, PriceSource::Config);
    }

    #[test]
    fn cost_uses_cached_rate() {
        let price = Price {
            prompt: 2.0,
            completion: 8.0,
            cached: Some(0.5),
        };
        // 1000 prompt of which 400 cached, 100 completion:
        // 600·2 + 400·0.5 + 100·8 = 1200 + 200 + 800 = 2200 per 1M
        assert!((price.cost(1000, 400, 100) - 0.0022).abs() < 1e-12);
    }
}
