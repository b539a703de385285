//! Prices in USD per million tokens: the OpenAI chat models of the built-in
//! catalog (`catalog.rs`, from LiteLLM, dated in its header), overridable by
//! `[prices."MODEL"]` in the config. A dated model id takes the price of the
//! id without its date; no other id borrows a price.

use std::collections::BTreeMap;

use crate::chat::catalog::{self, Family};

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

/// The price table: built-in entries plus config overrides.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    overrides: BTreeMap<String, Price>,
}

impl PriceTable {
    pub fn new(overrides: BTreeMap<String, Price>) -> Self {
        Self { overrides }
    }

    /// The price of `model`: a config entry, else a built-in one, for the
    /// id as given, else for the id without a date suffix
    /// (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`, `o3-0416` → `o3`). No
    /// other id borrows a price: `gpt-5-pro` is not `gpt-5` (SPEC, Screen).
    pub fn lookup(&self, model: &str) -> Option<(Price, PriceSource)> {
        self.exact(model)
            .or_else(|| without_date(model).and_then(|base| self.exact(base)))
    }

    fn exact(&self, model: &str) -> Option<(Price, PriceSource)> {
        if let Some(price) = self.overrides.get(model) {
            return Some((*price, PriceSource::Config));
        }
        catalog::lookup(Family::OpenAi, model)
            .and_then(|entry| entry.price)
            .map(|price| (price, PriceSource::BuiltIn))
    }
}

/// `model` without a trailing date: `-YYYY-MM-DD`, `-YYYYMMDD` or `-MMDD`
/// (`gpt-4o-2024-08-06`, `claude-3-5-sonnet-20241022`, `o3-0416`); None
/// when it has none.
fn without_date(model: &str) -> Option<&str> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (head, last) = model.rsplit_once('-')?;
    if digits(last) && (last.len() == 8 || last.len() == 4) {
        return Some(head).filter(|h| !h.is_empty());
    }
    // -YYYY-MM-DD: three numeric parts of 4, 2 and 2 digits.
    let (rest, month) = head.rsplit_once('-')?;
    let (base, year) = rest.rsplit_once('-')?;
    let dated = digits(year)
        && year.len() == 4
        && digits(month)
        && month.len() == 2
        && digits(last)
        && last.len() == 2;
    (dated && !base.is_empty()).then_some(base)
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
        let (price, _) = table.lookup("o3-0416").unwrap();
        assert!((price.prompt - 2.00).abs() < 1e-12);
        // A dated id the catalog lists itself keeps its own price.
        let (price, _) = table.lookup("gpt-4o-2024-05-13").unwrap();
        assert!((price.prompt - 5.00).abs() < 1e-12);
    }

    #[test]
    fn no_model_borrows_another_models_price() {
        let table = PriceTable::default();
        // gpt-5-pro costs about 12× gpt-5: it must not be priced as gpt-5.
        // None of these is a chat model in LiteLLM's table (the pro, codex
        // and deep-research ones are `responses` mode, the tts one
        // `audio_speech`), so the catalog does not list them either.
        for id in [
            "gpt-5-pro",
            "gpt-5-pro-2025-10-06",
            "gpt-4o-mini-tts",
            "gpt-4o-audio-preview",
            "o3-pro",
            "o3-deep-research",
            "gpt-5.2-codex",
            "gpt-4.1-mini-finetuned",
        ] {
            assert!(table.lookup(id).is_none(), "{id} borrowed a price");
        }
        let mut map = BTreeMap::new();
        map.insert(
            "my-model".to_string(),
            Price {
                prompt: 1.0,
                completion: 2.0,
                cached: None,
            },
        );
        let table = PriceTable::new(map);
        assert!(table.lookup("my-model-large").is_none());
        let (_, source) = table.lookup("my-model-20250101").unwrap();
        assert_eq!(source, PriceSource::Config);
    }

    #[test]
    fn date_suffixes() {
        assert_eq!(without_date("gpt-4o-2024-08-06"), Some("gpt-4o"));
        assert_eq!(
            without_date("claude-3-5-sonnet-20241022"),
            Some("claude-3-5-sonnet")
        );
        assert_eq!(without_date("o3-0416"), Some("o3"));
        assert_eq!(without_date("gpt-5-pro"), None);
        assert_eq!(without_date("gpt-4o"), None);
        assert_eq!(without_date("llama-3.1-8b"), None);
        assert_eq!(without_date("-2024"), None);
        assert_eq!(without_date("x-12345"), None);
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
