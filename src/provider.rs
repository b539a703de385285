//! Providers: the endpoints kaiwa talks to, each with its own key, and the
//! `NAME:model` ids that route a request to one of them (SPEC, Providers).
//!
//! The flat settings make the provider `default`; `[providers.NAME]` tables
//! and the presets (active when their key variable is set) add the others;
//! a local server found at the first run adds one more. Invariants: a model
//! id resolves to exactly one provider ([`Providers::route`]); a request
//! carries only its own provider's key, auth, headers and query
//! ([`Provider::chat_url`], the client's `authorize`); a key is held only as
//! [`KeySource`] and never printed.

pub mod presets;

use std::collections::BTreeMap;

pub use presets::{PRESETS, Preset};

use crate::chat::catalog::Family;
use crate::config::{KeySource, Origin};

/// The name of the provider the flat settings make.
pub const DEFAULT: &str = "default";

/// How a provider's URLs are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `{base_url}/chat/completions`, `{base_url}/models`.
    OpenAi,
    /// Azure OpenAI: `{endpoint}/openai/v1/…`, or the classic deployment
    /// URL when `api_version` is set.
    Azure,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Azure => "azure",
        }
    }
}

/// How the key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer KEY`.
    Bearer,
    /// `api-key: KEY` (Azure).
    ApiKey,
    /// Never sent.
    None,
}

impl Auth {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bearer => "bearer",
            Self::ApiKey => "api-key",
            Self::None => "none",
        }
    }
}

/// One endpoint with its own key.
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    pub name: String,
    pub kind: Kind,
    /// `kind = "openai"`: the base URL (validated, no trailing `/`).
    /// `kind = "azure"`: the endpoint, without a trailing `/openai` or
    /// `/openai/v1`.
    pub base_url: String,
    /// Azure's classic URL shape when set.
    pub api_version: Option<String>,
    pub key: KeySource,
    /// The variable that gives the key (a preset's, or `api_key_env`), named
    /// in errors when it is unset.
    pub key_var: Option<String>,
    pub auth: Auth,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    /// Ids offered in the menu besides the server's list (Azure: the
    /// deployments, which it does not list).
    pub models: Vec<String>,
    /// Deployment → model, for price and context look-ups.
    pub base_model: BTreeMap<String, String>,
    /// No cost, never a key.
    pub local: bool,
    /// Where the built-in table looks its models up.
    pub family: Option<Family>,
    /// A cloud service that needs a key (a preset): no key is an error
    /// naming the variable, never an unauthenticated request.
    pub needs_key: bool,
    /// Where the provider came from (`kaiwa config`).
    pub origin: Origin,
    /// Where `base_url` came from.
    pub base_url_origin: Origin,
    /// Where the key came from.
    pub key_origin: Origin,
    /// `api_key_env`, as written (`kaiwa config` shows the name).
    pub key_env: Option<String>,
    /// Where `auth` came from.
    pub auth_origin: Origin,
}

impl Provider {
    /// The provider the flat settings make.
    pub fn default_from(base_url: String, key: KeySource, models: Vec<String>) -> Self {
        Self {
            name: DEFAULT.to_string(),
            kind: Kind::OpenAi,
            base_url,
            api_version: None,
            key,
            key_var: None,
            auth: Auth::Bearer,
            headers: Vec::new(),
            query: Vec::new(),
            models,
            base_model: BTreeMap::new(),
            local: false,
            family: Some(Family::OpenAi),
            needs_key: false,
            origin: Origin::Default,
            base_url_origin: Origin::Default,
            key_origin: Origin::Default,
            key_env: None,
            auth_origin: Origin::Default,
        }
    }

    /// A local server found by discovery (or chosen on the first-run panel).
    pub fn local(name: &str, base_url: String) -> Self {
        Self {
            name: name.to_string(),
            kind: Kind::OpenAi,
            base_url,
            api_version: None,
            key: KeySource::None,
            key_var: None,
            auth: Auth::None,
            headers: Vec::new(),
            query: Vec::new(),
            models: Vec::new(),
            base_model: BTreeMap::new(),
            local: true,
            family: None,
            needs_key: false,
            origin: Origin::Discovered,
            base_url_origin: Origin::Discovered,
            key_origin: Origin::Default,
            key_env: None,
            auth_origin: Origin::Discovered,
        }
    }

    /// The URL chat requests for `model` (the bare id) go to.
    pub fn chat_url(&self, model: &str) -> String {
        let url = match (self.kind, &self.api_version) {
            (Kind::OpenAi, _) => format!("{}/chat/completions", self.base_url),
            (Kind::Azure, None) => format!("{}/openai/v1/chat/completions", self.base_url),
            (Kind::Azure, Some(version)) => {
                let url = format!(
                    "{}/openai/deployments/{}/chat/completions",
                    self.base_url,
                    path_segment(model)
                );
                return self.with_query(url, Some(version));
            }
        };
        self.with_query(url, None)
    }

    /// `GET` for the model list; `None` for Azure, which does not list its
    /// deployments.
    pub fn models_url(&self) -> Option<String> {
        match self.kind {
            Kind::OpenAi => Some(self.with_query(format!("{}/models", self.base_url), None)),
            Kind::Azure => None,
        }
    }

    /// The URL shown in errors: where this provider's requests go.
    pub fn display_url(&self) -> String {
        match self.kind {
            Kind::OpenAi => self.base_url.clone(),
            Kind::Azure => match &self.api_version {
                None => format!("{}/openai/v1", self.base_url),
                Some(_) => format!("{}/openai/deployments", self.base_url),
            },
        }
    }

    fn with_query(&self, mut url: String, api_version: Option<&str>) -> String {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        if let Some(version) = api_version {
            pairs.append_pair("api-version", version);
        }
        for (key, value) in &self.query {
            pairs.append_pair(key, value);
        }
        let query = pairs.finish();
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query);
        }
        url
    }

    /// True when the base URL's host is `api.openai.com`.
    pub fn is_openai_api(&self) -> bool {
        url::Url::parse(&self.base_url)
            .ok()
            .and_then(|url| {
                url.host_str()
                    .map(|host| host.eq_ignore_ascii_case("api.openai.com"))
            })
            .unwrap_or(false)
    }

    /// The id the built-in table and `[prices]` know `model` by.
    pub fn base_model<'a>(&'a self, model: &'a str) -> &'a str {
        self.base_model.get(model).map_or(model, String::as_str)
    }

    /// What to do when there is no key, in words (`None`: send without one).
    pub fn missing_key(&self) -> Option<String> {
        if self.key != KeySource::None || self.local || self.auth == Auth::None {
            return None;
        }
        if let Some(var) = &self.key_var {
            return Some(format!(
                "no API key for provider {}: set {var} (or api_key_cmd in [providers.{}])",
                self.name, self.name
            ));
        }
        (self.needs_key || self.kind == Kind::Azure).then(|| {
            format!(
                "no API key for provider {}: set api_key, api_key_cmd or api_key_env in \
                 [providers.{}]",
                self.name, self.name
            )
        })
    }

    /// What to tell a user whose key was refused.
    pub fn key_hint(&self) -> String {
        match (&self.key_var, self.name.as_str(), self.kind) {
            (Some(var), _, Kind::Azure) => {
                format!("set {var} to the Azure resource's key (not an OpenAI key)")
            }
            (_, _, Kind::Azure) => format!(
                "set the Azure resource's key (not an OpenAI key) in [providers.{}]",
                self.name
            ),
            (Some(var), _, Kind::OpenAi) => format!("set {var} or api_key_cmd"),
            (None, DEFAULT, Kind::OpenAi) => "set OPENAI_API_KEY or api_key_cmd".to_string(),
            (None, name, Kind::OpenAi) => {
                format!("set api_key or api_key_cmd in [providers.{name}]")
            }
        }
    }
}

/// Every provider of this run: `default` first, then by name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Providers {
    list: Vec<Provider>,
}

/// Where a model id goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Route<'a> {
    pub provider: &'a Provider,
    /// The id the server knows (without the provider's prefix).
    pub model: &'a str,
}

/// A model id that names a provider that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// `groq:…` while `GROQ_API_KEY` is unset and no table names it.
    #[error("provider {name} is not active: set {var} (or add [providers.{name}] to the config)")]
    Inactive { name: String, var: String },
}

impl Providers {
    /// `default` must be first.
    pub fn new(mut list: Vec<Provider>) -> Self {
        list.sort_by(|a, b| {
            (a.name != DEFAULT)
                .cmp(&(b.name != DEFAULT))
                .then_with(|| a.name.cmp(&b.name))
        });
        Self { list }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Provider> {
        self.list.iter()
    }

    pub fn get(&self, name: &str) -> Option<&Provider> {
        self.list.iter().find(|p| p.name == name)
    }

    /// The default provider.
    pub fn default_provider(&self) -> Option<&Provider> {
        self.get(DEFAULT)
    }

    /// Adds a provider (a local server chosen at the first run), replacing
    /// one of the same name.
    pub fn add(&mut self, provider: Provider) {
        self.list.retain(|p| p.name != provider.name);
        self.list.push(provider);
        let list = std::mem::take(&mut self.list);
        *self = Self::new(list);
    }

    /// Which provider `id` names, and the id its server knows. The part
    /// before the first `:` is a provider when one has that name; else the
    /// whole id belongs to `default` (`llama3.2:3b`). `default:ID` always
    /// names `default`. A preset's name whose key is unset is an error when
    /// `default` is the `OpenAI` API (no `OpenAI` id has a `groq:` prefix);
    /// with another default server (a local one serving `mistral:7b`) it is
    /// that server's id.
    pub fn route<'a>(&'a self, id: &'a str) -> Result<Route<'a>, RouteError> {
        let fallback = |model: &'a str| {
            self.default_provider()
                .map(|provider| Route { provider, model })
        };
        if let Some((prefix, rest)) = id.split_once(':') {
            if prefix == DEFAULT
                && let Some(route) = fallback(rest)
            {
                return Ok(route);
            }
            if let Some(provider) = self.get(prefix).filter(|p| p.name != DEFAULT) {
                return Ok(Route {
                    provider,
                    model: rest,
                });
            }
            if self.default_provider().is_some_and(Provider::is_openai_api)
                && let Some(preset) = PRESETS.iter().find(|p| p.name == prefix)
            {
                return Err(RouteError::Inactive {
                    name: prefix.to_string(),
                    var: preset.key_var.to_string(),
                });
            }
        }
        // `new` always receives `default` from `Config::load`; a list
        // without one (never built) routes nothing anywhere else.
        fallback(id).ok_or_else(|| RouteError::Inactive {
            name: DEFAULT.to_string(),
            var: "OPENAI_BASE_URL".to_string(),
        })
    }

    /// The full id of `model` on `provider`: `NAME:model`, or for `default`
    /// the bare id unless it would read as another provider's
    /// (`default:mistral:7b` while the mistral preset is active).
    pub fn qualify(&self, provider: &str, model: &str) -> String {
        if provider != DEFAULT {
            return format!("{provider}:{model}");
        }
        let ambiguous = model.split_once(':').is_some_and(|(prefix, _)| {
            prefix == DEFAULT || self.get(prefix).is_some_and(|p| p.name != DEFAULT)
        });
        if ambiguous {
            format!("{DEFAULT}:{model}")
        } else {
            model.to_string()
        }
    }
}

/// `text` as one URL path segment: bytes outside RFC 3986's unreserved
/// set percent-encoded (a deployment name with a space or a `/` stays one
/// segment).
fn path_segment(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// `endpoint` without a trailing `/`, `/openai` or `/openai/v1`, so that
/// kaiwa's own path is not doubled.
pub fn azure_endpoint(endpoint: &str) -> String {
    let mut text = endpoint.trim().trim_end_matches('/');
    for suffix in ["/openai/v1", "/openai"] {
        if let Some(stripped) = text.strip_suffix(suffix) {
            text = stripped.trim_end_matches('/');
            break;
        }
    }
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::ApiKey;

    fn corp() -> Provider {
        let mut p = Provider::default_from(
            "https://llm.corp.example/v1".into(),
            KeySource::Value(ApiKey::new("k".into())),
            Vec::new(),
        );
        p.name = "corp".into();
        p
    }

    fn azure(version: Option<&str>) -> Provider {
        let mut p = Provider::default_from(
            azure_endpoint("https://res.openai.azure.com/openai/v1/"),
            KeySource::None,
            vec!["gpt4o-prod".into()],
        );
        p.name = "az".into();
        p.kind = Kind::Azure;
        p.auth = Auth::ApiKey;
        p.api_version = version.map(str::to_string);
        p
    }

    fn providers(default_url: &str) -> Providers {
        Providers::new(vec![
            corp(),
            Provider::default_from(default_url.into(), KeySource::None, Vec::new()),
            azure(None),
        ])
    }

    #[test]
    fn routes_by_prefix_only_when_a_provider_has_that_name() {
        let all = providers("http://127.0.0.1:11434/v1");
        let route = all.route("corp:beta-2").unwrap();
        assert_eq!(
            (route.provider.name.as_str(), route.model),
            ("corp", "beta-2")
        );
        let route = all.route("llama3.2:3b").unwrap();
        assert_eq!(
            (route.provider.name.as_str(), route.model),
            ("default", "llama3.2:3b")
        );
        let route = all.route("default:corp:x").unwrap();
        assert_eq!(
            (route.provider.name.as_str(), route.model),
            ("default", "corp:x")
        );
        // An inactive preset's name on a local default server: that server's id.
        let route = all.route("mistral:7b").unwrap();
        assert_eq!(route.model, "mistral:7b");
        assert_eq!(all.iter().next().unwrap().name, "default");
    }

    #[test]
    fn an_inactive_preset_on_openai_names_its_variable() {
        let all = providers("https://api.openai.com/v1");
        let error = all.route("groq:llama-3.1-8b-instant").unwrap_err();
        assert_eq!(
            error.to_string(),
            "provider groq is not active: set GROQ_API_KEY (or add [providers.groq] to the config)"
        );
    }

    #[test]
    fn qualify_writes_default_only_where_a_bare_id_would_mislead() {
        let all = providers("http://127.0.0.1:11434/v1");
        assert_eq!(all.qualify("default", "gpt-4o-mini"), "gpt-4o-mini");
        assert_eq!(all.qualify("default", "llama3.2:3b"), "llama3.2:3b");
        assert_eq!(all.qualify("default", "corp:x"), "default:corp:x");
        assert_eq!(all.qualify("corp", "beta-2"), "corp:beta-2");
    }

    #[test]
    fn azure_urls_in_both_shapes_never_doubled() {
        assert_eq!(
            azure(None).chat_url("gpt4o-prod"),
            "https://res.openai.azure.com/openai/v1/chat/completions"
        );
        assert_eq!(
            azure(Some("2024-10-21")).chat_url("gpt4o prod"),
            "https://res.openai.azure.com/openai/deployments/gpt4o%20prod/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            azure_endpoint("https://x.example/openai"),
            "https://x.example"
        );
        assert_eq!(azure_endpoint("https://x.example/"), "https://x.example");
        assert_eq!(azure(None).models_url(), None);
    }

    #[test]
    fn query_pairs_are_appended() {
        let mut p = corp();
        p.query = vec![("api-version".into(), "2024-10-21".into())];
        assert_eq!(
            p.chat_url("m"),
            "https://llm.corp.example/v1/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            p.models_url().unwrap(),
            "https://llm.corp.example/v1/models?api-version=2024-10-21"
        );
    }
}
