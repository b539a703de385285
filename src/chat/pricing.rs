//! Prices in USD per million tokens: the OpenAI chat models of the built-in
//! catalog (`catalog.rs`, from LiteLLM, dated in its header), overridable by
//! `[prices."MODEL"]` in the config. A dated model id takes the price of the
//! id without its date; no other id borrows a price.

use std::collections::BTreeMap;

use crate::chat::catalog::{self, Family};
use crate::provider::{Provider, Providers};

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
    /// A local provider: it costs nothing, and the status bar leaves the
    /// cost out.
    Local,
}

/// Prices and context windows: `[prices]` and `[context]` from the config
/// over the built-in catalog (`catalog.rs`, from LiteLLM, dated in its
/// header), looked up as SPEC's Providers section says, first match wins:
/// the full id (`corp:beta-2`), the bare id after `base_model`, the catalog
/// under the provider's family, then the same with a trailing date dropped.
/// A local provider costs nothing (no price: the cost is left out).
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    overrides: BTreeMap<String, Price>,
    context: BTreeMap<String, u64>,
    /// Windows learned from servers' overflow errors (the history file
    /// keeps them between runs).
    learned: BTreeMap<String, u64>,
    /// Empty: every id is the `default` provider's (the `OpenAI` family).
    providers: Providers,
}

impl PriceTable {
    pub fn new(overrides: BTreeMap<String, Price>) -> Self {
        Self {
            overrides,
            ..Self::default()
        }
    }

    /// The config's prices, windows and providers.
    pub fn for_config(config: &crate::config::Config) -> Self {
        Self {
            overrides: config.prices.clone(),
            context: config.context.clone(),
            learned: BTreeMap::new(),
            providers: config.providers.clone(),
        }
    }

    /// A provider added during the run (a local server chosen at the first
    /// run).
    pub fn add_provider(&mut self, provider: Provider) {
        self.providers.add(provider);
    }

    /// A window a server named in an overflow error.
    pub fn learn(&mut self, id: &str, tokens: u64) {
        self.learned.insert(id.to_string(), tokens);
    }

    /// The full id of `model` as listed by `provider`.
    pub fn qualify(&self, provider: &str, model: &str) -> String {
        self.providers.qualify(provider, model)
    }

    /// The provider of a full id and the id its table entries use (after
    /// `base_model`).
    fn resolve<'a>(&'a self, id: &'a str) -> (Option<&'a Provider>, &'a str) {
        match self.providers.route(id) {
            Ok(route) => (Some(route.provider), route.provider.base_model(route.model)),
            Err(_) => (None, id),
        }
    }

    /// True when `id` is a local provider's (no cost).
    pub fn is_local(&self, id: &str) -> bool {
        self.resolve(id).0.is_some_and(|p| p.local)
    }

    /// The price of the model `id` (a full id), and where it came from:
    /// zero for a local provider's. No other id borrows a price:
    /// `gpt-5-pro` is not `gpt-5` (SPEC, Screen).
    pub fn lookup(&self, id: &str) -> Option<(Price, PriceSource)> {
        let (provider, bare) = self.resolve(id);
        if provider.is_some_and(|p| p.local) {
            let free = Price {
                prompt: 0.0,
                completion: 0.0,
                cached: None,
            };
            return Some((free, PriceSource::Local));
        }
        let family = provider.map_or(Some(Family::OpenAi), |p| p.family);
        self.price_of(id, bare, family).or_else(|| {
            let id = without_date(id)?;
            let bare = without_date(bare)?;
            self.price_of(id, bare, family)
        })
    }

    fn price_of(
        &self,
        id: &str,
        bare: &str,
        family: Option<Family>,
    ) -> Option<(Price, PriceSource)> {
        self.overrides
            .get(id)
            .or_else(|| self.overrides.get(bare))
            .map(|price| (*price, PriceSource::Config))
            .or_else(|| {
                catalog::lookup(family?, bare)
                    .and_then(|entry| entry.price)
                    .map(|price| (price, PriceSource::BuiltIn))
            })
    }

    /// The context window of the model `id` (a full id): `[context]` (full
    /// id, then bare), a window learned from an overflow error, what its
    /// server's model list said (`server`), the catalog's input limit, then
    /// the same with a trailing date dropped.
    pub fn context(&self, id: &str, server: Option<u64>) -> Option<u64> {
        let (provider, bare) = self.resolve(id);
        let family = provider.map_or(Some(Family::OpenAi), |p| p.family);
        let configured = |id: &str, bare: &str| {
            self.context
                .get(id)
                .or_else(|| self.context.get(bare))
                .copied()
        };
        let built_in = |bare: &str| catalog::lookup(family?, bare).and_then(|entry| entry.context);
        let dated = || Some((without_date(id)?, without_date(bare)?));
        configured(id, bare)
            .or_else(|| dated().and_then(|(id, bare)| configured(id, bare)))
            .or_else(|| self.learned.get(id).copied())
            .or(server)
            .or_else(|| built_in(bare))
            .or_else(|| dated().and_then(|(_, bare)| built_in(bare)))
    }

    /// What the model menu says of `id`: `128k · $0.15/$0.60`, `8k · local`,
    /// or as much of that as is known. `server_context` and `server_price`
    /// are what its server's model list says (OpenRouter lists prices; they
    /// come after the config and the built-in table).
    pub fn describe(
        &self,
        id: &str,
        server_context: Option<u64>,
        server_price: Option<Price>,
    ) -> String {
        let mut parts = Vec::new();
        if let Some(tokens) = self.context(id, server_context) {
            parts.push(tokens_short(tokens));
        }
        if self.is_local(id) {
            parts.push("local".to_string());
        } else if let Some(price) = self.lookup(id).map(|(price, _)| price).or(server_price) {
            parts.push(format!(
                "${}/${}",
                usd_short(price.prompt),
                usd_short(price.completion)
            ));
        }
        parts.join(" · ")
    }
}

/// `128k` (thousands, rounded), `1.05M` from a million, plain below 1,000.
pub fn tokens_short(tokens: u64) -> String {
    if tokens >= 1_000_000 {
        let text = format!("{:.2}", tokens as f64 / 1_000_000.0);
        format!("{}M", text.trim_end_matches('0').trim_end_matches('.'))
    } else if tokens >= 1_000 {
        format!("{}k", (tokens + 500) / 1_000)
    } else {
        tokens.to_string()
    }
}

/// Two decimals, three where two would lose a digit (`0.15`, `0.60`,
/// `0.075`).
fn usd_short(usd: f64) -> String {
    let two = format!("{usd:.2}");
    if (two.parse::<f64>().unwrap_or(usd) - usd).abs() < 1e-9 {
        two
    } else {
        format!("{usd:.3}")
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
    use crate::config::KeySource;
    use crate::provider::{Kind, Provider, Providers};

    fn named(name: &str, kind: Kind, family: Option<Family>) -> Provider {
        let mut p = Provider::default_from("http://x/v1".into(), KeySource::None, Vec::new());
        p.name = name.into();
        p.kind = kind;
        p.family = family;
        p
    }

    /// default (openai), corp (openai family), az (Azure, a deployment
    /// named after nothing), groq, ollama (local).
    fn table(prices: &[(&str, f64)], context: &[(&str, u64)]) -> PriceTable {
        let mut az = named("az", Kind::Azure, Some(Family::Azure));
        az.base_model.insert("gpt4o-prod".into(), "gpt-4o".into());
        let mut ollama = named("ollama", Kind::OpenAi, None);
        ollama.local = true;
        let providers = Providers::new(vec![
            Provider::default_from(
                "https://api.openai.com/v1".into(),
                KeySource::None,
                Vec::new(),
            ),
            named("corp", Kind::OpenAi, Some(Family::OpenAi)),
            az,
            named("groq", Kind::OpenAi, Some(Family::Groq)),
            ollama,
        ]);
        let price = |usd: f64| Price {
            prompt: usd,
            completion: usd,
            cached: None,
        };
        PriceTable {
            overrides: prices
                .iter()
                .map(|(id, usd)| ((*id).to_string(), price(*usd)))
                .collect(),
            context: context
                .iter()
                .map(|(id, n)| ((*id).to_string(), *n))
                .collect(),
            learned: BTreeMap::new(),
            providers,
        }
    }

    #[test]
    fn lookups_follow_the_specs_order() {
        let t = table(
            &[("corp:beta-2", 1.0), ("beta-2", 2.0)],
            &[("corp:beta-2", 32_768)],
        );
        // The qualified id first, then the bare one.
        assert!((t.lookup("corp:beta-2").unwrap().0.prompt - 1.0).abs() < 1e-12);
        assert!((t.lookup("beta-2").unwrap().0.prompt - 2.0).abs() < 1e-12);
        // A named provider of the openai family finds the built-in table.
        assert!((t.lookup("corp:gpt-4o-mini").unwrap().0.prompt - 0.15).abs() < 1e-12);
        // Azure: the deployment's base_model, in Azure's family.
        let (price, source) = t.lookup("az:gpt4o-prod").unwrap();
        assert!((price.prompt - 2.5).abs() < 1e-12);
        assert_eq!(source, PriceSource::BuiltIn);
        assert_eq!(t.context("az:gpt4o-prod", None), Some(128_000));
        // A dated id drops its date, in its own family.
        assert_eq!(
            t.context("corp:gpt-4o-mini-2024-07-18", None),
            Some(128_000)
        );
        // Windows: the config, then the server, then the table.
        assert_eq!(t.context("corp:beta-2", Some(8192)), Some(32_768));
        assert_eq!(t.context("corp:gpt-4o-mini", Some(8192)), Some(8192));
        assert_eq!(t.context("corp:nothing", None), None);
        // A local model costs nothing.
        assert_eq!(
            t.lookup("ollama:llama3.2:3b").unwrap().1,
            PriceSource::Local
        );
    }

    #[test]
    fn menu_rows_say_window_and_price() {
        let t = table(&[], &[]);
        assert_eq!(t.describe("gpt-4o-mini", None, None), "128k · $0.15/$0.60");
        assert_eq!(t.describe("gpt-5", None, None), "272k · $1.25/$10.00");
        assert_eq!(
            t.describe("ollama:qwen3:8b", Some(8192), None),
            "8k · local"
        );
        assert_eq!(t.describe("ollama:qwen3:8b", None, None), "local");
        assert_eq!(t.describe("corp:beta-2", None, None), "");
        let listed = Price {
            prompt: 0.075,
            completion: 0.3,
            cached: None,
        };
        assert_eq!(
            t.describe("corp:beta-2", Some(1_048_576), Some(listed)),
            "1.05M · $0.075/$0.30"
        );
        assert_eq!(tokens_short(131_072), "131k");
        assert_eq!(tokens_short(2_000_000), "2M");
        assert_eq!(tokens_short(512), "512");
    }

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
