//! `Clients`: one [`ApiClient`] per provider, built on first use over one
//! shared connection pool, and the routing of a full model id
//! (`corp:beta-2`) to its provider's client and the id its server knows.
//! Invariant: a request only ever goes out through the client of the
//! provider its id names, so a key never reaches another provider's URL.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt as _;

use super::client::{ApiClient, SharedHttp};
use super::error::ApiError;
use super::types::ModelInfo;
use crate::config::KeySource;
use crate::provider::{DEFAULT, Provider, Providers};
use crate::secret::ApiKey;

/// How long the model menu waits for each provider's list.
pub const MODELS_TIMEOUT: Duration = Duration::from_secs(5);

/// Every provider's client.
#[derive(Debug, Clone)]
pub struct Clients {
    http: SharedHttp,
    providers: Providers,
    idle_timeout: Duration,
    built: HashMap<String, ApiClient>,
}

/// One provider's model list, or why it has none.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub provider: String,
    pub result: Result<Vec<ModelInfo>, ApiError>,
}

impl Clients {
    pub fn new(providers: Providers, idle_timeout: Duration) -> Result<Self, ApiError> {
        Ok(Self {
            http: SharedHttp::default(),
            providers,
            idle_timeout,
            built: HashMap::new(),
        })
    }

    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// The client of the provider named `name`.
    pub fn client(&mut self, name: &str) -> Option<ApiClient> {
        if let Some(client) = self.built.get(name) {
            return Some(client.clone());
        }
        let provider = self.providers.get(name)?.clone();
        let client = ApiClient::for_provider(&self.http, provider, self.idle_timeout);
        self.built.insert(name.to_string(), client.clone());
        Some(client)
    }

    /// The client for the full model id `id` (it sends the id its server
    /// knows: [`ApiClient::wire_model`]).
    pub fn route(&mut self, id: &str) -> Result<ApiClient, ApiError> {
        let name = self
            .providers
            .route(id)
            .map_err(|e| ApiError::Request(e.to_string()))?
            .provider
            .name
            .clone();
        self.client(&name)
            .ok_or_else(|| ApiError::Request(format!("no provider named {name}")))
    }

    /// Gives a provider's key, already resolved (before the screen changes).
    pub fn set_key(&mut self, name: &str, key: Option<ApiKey>) {
        if let Some(client) = self.client(name) {
            self.built.insert(name.to_string(), client.with_key(key));
        }
    }

    /// Adds a provider (a local server chosen on the first-run panel).
    pub fn add(&mut self, provider: Provider) {
        self.built.remove(&provider.name);
        self.providers.add(provider);
    }

    /// The providers whose models a menu lists: all, except an `OpenAI`
    /// `default` without a key when others are there (a preset is listed
    /// only when its key is set, and `default` is no different).
    pub fn listed(&self) -> Vec<String> {
        let others = self.providers.iter().any(|p| p.name != DEFAULT);
        self.providers
            .iter()
            .filter(|p| {
                !(others && p.name == DEFAULT && p.key == KeySource::None && p.is_openai_api())
            })
            .map(|p| p.name.clone())
            .collect()
    }

    /// The clients of the listed providers, by name.
    pub fn listed_clients(&mut self) -> Vec<(String, ApiClient)> {
        self.listed()
            .into_iter()
            .filter_map(|name| self.client(&name).map(|client| (name, client)))
            .collect()
    }
}

/// Every given provider's models, fetched in parallel, each within
/// `timeout`; `each` gets every list as it arrives.
pub async fn list_all(
    clients: Vec<(String, ApiClient)>,
    timeout: Duration,
    mut each: impl FnMut(Listing),
) {
    let mut pending: futures_util::stream::FuturesUnordered<_> = clients
        .into_iter()
        .map(|(provider, client)| async move {
            // The client's own per-attempt bound is a little longer, so that
            // this one decides and says so in words.
            let attempt = timeout + Duration::from_secs(1);
            let result = match tokio::time::timeout(timeout, client.list_models(attempt)).await {
                Ok(result) => result,
                Err(_) => Err(ApiError::Request(format!(
                    "no model list from {} within {}s",
                    client.base_url(),
                    timeout.as_secs()
                ))),
            };
            Listing { provider, result }
        })
        .collect();
    while let Some(listing) = pending.next().await {
        each(listing);
    }
}
