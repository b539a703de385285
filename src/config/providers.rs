//! `[providers.NAME]` tables: their TOML shape, their checks (every error
//! names the file and line), and their merge with the presets and the
//! environment into [`Providers`] (SPEC, Providers). Nothing here runs a
//! command or reads a key's value into an error.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::file::Source;
use super::{ConfigError, KeySource, Origin};
use crate::provider::{self, Auth, Kind, Preset, Provider, Providers};
use crate::secret::ApiKey;

/// One table as written. Not `Debug`: it holds a key as plain text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvider {
    kind: Option<Spanned<String>>,
    base_url: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    /// A string, or an unquoted date (`api_version = 2024-10-21` is a TOML
    /// local date; YAML's version of that trap broke azure-openai-proxy).
    api_version: Option<Spanned<toml::Value>>,
    api_key: Option<Spanned<String>>,
    api_key_cmd: Option<Spanned<String>>,
    api_key_env: Option<Spanned<String>>,
    auth: Option<Spanned<String>>,
    headers: Option<BTreeMap<String, String>>,
    query: Option<BTreeMap<String, String>>,
    models: Option<Spanned<Vec<String>>>,
    base_model: Option<BTreeMap<String, String>>,
    local: Option<bool>,
}

/// Where a table's key comes from, checked but not resolved.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum FileKey {
    None,
    Value(ApiKey),
    Command(String),
    /// `api_key_env`: the variable is read by `resolve`.
    Env(String),
}

/// A checked table.
#[derive(Debug, Clone)]
pub(super) struct FileProvider {
    pub name: String,
    pub kind: Option<Kind>,
    pub base_url: Option<String>,
    pub endpoint: Option<String>,
    pub api_version: Option<String>,
    pub key: FileKey,
    pub auth: Option<Auth>,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub models: Vec<String>,
    pub base_model: BTreeMap<String, String>,
    pub local: bool,
    /// The line of the table's header, for an error found when the
    /// environment is known (`resolve`).
    pub line: usize,
}

/// Checks every table; `span` is the `[providers]` table's, for errors that
/// belong to a table as a whole.
pub(super) fn check(
    source: &Source<'_>,
    raw: BTreeMap<String, Spanned<RawProvider>>,
) -> Result<Vec<FileProvider>, ConfigError> {
    raw.into_iter()
        .map(|(name, table)| {
            let span = table.span();
            let table = table.into_inner();
            check_one(source, name, &span, table)
        })
        .collect()
}

fn check_one(
    source: &Source<'_>,
    name: String,
    span: &std::ops::Range<usize>,
    raw: RawProvider,
) -> Result<FileProvider, ConfigError> {
    let here = |message: String| source.error(span, message);
    check_name(source, span, &name)?;
    let preset = provider::presets::find(&name);
    let kind = raw
        .kind
        .map(|kind| parse_kind(source, &name, &kind))
        .transpose()?;
    let azure = kind.map_or(preset.is_some_and(|p| p.azure), |k| k == Kind::Azure);
    let base_url = raw
        .base_url
        .map(|url| {
            if azure {
                return Err(source.error(
                    &url.span(),
                    format!("[providers.{name}] is Azure: set 'endpoint', not 'base_url'"),
                ));
            }
            super::normalize_base_url(url.get_ref()).map_err(|problem| {
                source.error(&url.span(), format!("invalid base_url: {problem}"))
            })
        })
        .transpose()?;
    let endpoint = raw
        .endpoint
        .map(|url| {
            if !azure {
                return Err(source.error(
                    &url.span(),
                    format!(
                        "'endpoint' is for Azure (kind = \"azure\"); [providers.{name}] takes \
                         'base_url'"
                    ),
                ));
            }
            super::normalize_base_url(url.get_ref())
                .map(|url| provider::azure_endpoint(&url))
                .map_err(|problem| {
                    source.error(&url.span(), format!("invalid endpoint: {problem}"))
                })
        })
        .transpose()?;
    if preset.is_none() && !azure && base_url.is_none() {
        return Err(here(format!("[providers.{name}] needs base_url")));
    }
    if preset.is_none() && azure && endpoint.is_none() {
        return Err(here(format!(
            "[providers.{name}] needs endpoint (https://RESOURCE.openai.azure.com)"
        )));
    }
    if let (Some(value), false) = (&raw.api_version, azure) {
        return Err(source.error(
            &value.span(),
            format!(
                "[providers.{name}]: api_version is for Azure; for another server use query = {{ \
                 \"api-version\" = \"…\" }}"
            ),
        ));
    }
    let api_version = raw
        .api_version
        .map(|value| api_version(source, &name, &value))
        .transpose()?;
    let key = file_key(source, &name, raw.api_key, raw.api_key_cmd, raw.api_key_env)?;
    let auth = raw
        .auth
        .map(|auth| parse_auth(source, &name, &auth))
        .transpose()?;
    let models = match raw.models {
        Some(models) if models.get_ref().iter().any(|m| m.trim().is_empty()) => {
            return Err(source.error(
                &models.span(),
                format!("'providers.{name}.models' must not contain an empty id"),
            ));
        }
        Some(models) => models.into_inner(),
        None => Vec::new(),
    };
    Ok(FileProvider {
        kind,
        base_url,
        endpoint,
        api_version,
        key,
        auth,
        headers: raw.headers.unwrap_or_default().into_iter().collect(),
        query: raw.query.unwrap_or_default().into_iter().collect(),
        models,
        base_model: raw.base_model.unwrap_or_default(),
        local: raw.local.unwrap_or(false),
        line: source.line(span),
        name,
    })
}

/// Not `default`, not empty, no `:` (it would read as a model id's prefix).
fn check_name(
    source: &Source<'_>,
    span: &std::ops::Range<usize>,
    name: &str,
) -> Result<(), ConfigError> {
    if name == provider::DEFAULT {
        return Err(source.error(
            span,
            "no provider may be named 'default': the flat keys (base_url, api_key, …) are the \
             default provider",
        ));
    }
    if name.is_empty() || name.contains([':', ' ']) {
        return Err(source.error(
            span,
            format!(
                "[providers.{}]: a provider's name must not be empty or contain ':' or spaces",
                super::diagnose::dotted(&[name])
            ),
        ));
    }
    Ok(())
}

fn parse_kind(
    source: &Source<'_>,
    name: &str,
    kind: &Spanned<String>,
) -> Result<Kind, ConfigError> {
    match kind.get_ref().as_str() {
        "openai" => Ok(Kind::OpenAi),
        "azure" => Ok(Kind::Azure),
        _ => Err(source.error(
            &kind.span(),
            format!("'providers.{name}.kind' must be \"openai\" or \"azure\""),
        )),
    }
}

/// `api_version`: a string, or an unquoted TOML date taken as its text.
fn api_version(
    source: &Source<'_>,
    name: &str,
    value: &Spanned<toml::Value>,
) -> Result<String, ConfigError> {
    match value.get_ref() {
        toml::Value::String(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        toml::Value::Datetime(date) => Ok(date.to_string()),
        toml::Value::String(_)
        | toml::Value::Integer(_)
        | toml::Value::Float(_)
        | toml::Value::Boolean(_)
        | toml::Value::Array(_)
        | toml::Value::Table(_) => Err(source.error(
            &value.span(),
            format!("'providers.{name}.api_version' must be a string such as \"2024-10-21\""),
        )),
    }
}

fn parse_auth(
    source: &Source<'_>,
    name: &str,
    auth: &Spanned<String>,
) -> Result<Auth, ConfigError> {
    match auth.get_ref().as_str() {
        "bearer" => Ok(Auth::Bearer),
        "api-key" => Ok(Auth::ApiKey),
        "none" => Ok(Auth::None),
        _ => Err(source.error(
            &auth.span(),
            format!("'providers.{name}.auth' must be \"bearer\", \"api-key\" or \"none\""),
        )),
    }
}

/// At most one of `api_key`, `api_key_cmd`, `api_key_env`.
fn file_key(
    source: &Source<'_>,
    name: &str,
    api_key: Option<Spanned<String>>,
    api_key_cmd: Option<Spanned<String>>,
    api_key_env: Option<Spanned<String>>,
) -> Result<FileKey, ConfigError> {
    let set = |value: Option<Spanned<String>>| value.filter(|v| !v.get_ref().trim().is_empty());
    let (api_key, api_key_cmd, api_key_env) = (set(api_key), set(api_key_cmd), set(api_key_env));
    let spans: Vec<_> = [&api_key, &api_key_cmd, &api_key_env]
        .into_iter()
        .flatten()
        .map(Spanned::span)
        .collect();
    if let Some(later) = spans.iter().skip(1).max_by_key(|span| span.start) {
        return Err(source.error(
            later,
            format!(
                "[providers.{name}]: set one of 'api_key', 'api_key_cmd' or 'api_key_env', not \
                 several"
            ),
        ));
    }
    Ok(match (api_key, api_key_cmd, api_key_env) {
        (Some(key), _, _) => FileKey::Value(ApiKey::new(key.into_inner().trim().to_string())),
        (None, Some(cmd), _) => FileKey::Command(cmd.into_inner()),
        (None, None, Some(var)) => FileKey::Env(var.into_inner().trim().to_string()),
        (None, None, None) => FileKey::None,
    })
}

/// The providers of this run: `default` (given), every table, and every
/// preset whose key variable is set. `var` reads the environment (empty is
/// unset); `path` is the config file's, for an error in a table.
pub(super) fn resolve(
    default: Provider,
    tables: Vec<FileProvider>,
    var: &dyn Fn(&str) -> Option<String>,
    path: &std::path::Path,
) -> Result<Providers, ConfigError> {
    let mut list = vec![default];
    let mut named: Vec<&str> = Vec::new();
    for table in &tables {
        named.push(&table.name);
    }
    for preset in provider::PRESETS {
        if !named.contains(&preset.name)
            && let Some(provider) = from_preset(preset, var)
        {
            list.push(provider);
        }
    }
    for table in tables {
        let line = table.line;
        let provider = from_table(table, var);
        if provider.base_url.is_empty() {
            // The Azure preset's table without an endpoint, here or in the
            // environment.
            return Err(ConfigError::File {
                path: path.to_path_buf(),
                line,
                message: format!(
                    "[providers.{}] needs endpoint (or {} set)",
                    provider.name,
                    provider::presets::AZURE_ENDPOINT_VAR
                ),
            });
        }
        list.push(provider);
    }
    Ok(Providers::new(list))
}

/// A preset with no table: active when its key variable is set (Azure:
/// also its endpoint).
fn from_preset(preset: &Preset, var: &dyn Fn(&str) -> Option<String>) -> Option<Provider> {
    let key = var(preset.key_var)?;
    let base_url = if preset.azure {
        let endpoint = var(provider::presets::AZURE_ENDPOINT_VAR)?;
        super::normalize_base_url(&endpoint)
            .ok()
            .map(|url| provider::azure_endpoint(&url))?
    } else {
        preset.base_url.to_string()
    };
    let mut provider = preset_base(preset, base_url, var);
    provider.key = KeySource::Value(ApiKey::new(key.trim().to_string()));
    provider.key_origin = Origin::Env(preset.key_var);
    provider.origin = Origin::Preset(preset.key_var);
    Some(provider)
}

fn preset_base(
    preset: &Preset,
    base_url: String,
    var: &dyn Fn(&str) -> Option<String>,
) -> Provider {
    let mut provider = Provider::default_from(base_url, KeySource::None, Vec::new());
    provider.name = preset.name.to_string();
    provider.family = preset.family;
    provider.key_var = Some(preset.key_var.to_string());
    provider.needs_key = true;
    provider.base_url_origin = Origin::Preset(preset.key_var);
    if preset.azure {
        provider.kind = Kind::Azure;
        provider.auth = Auth::ApiKey;
        provider.api_version = var(provider::presets::AZURE_VERSION_VAR);
        if provider.base_url.is_empty() {
            provider.base_url_origin = Origin::Default;
        } else {
            provider.base_url_origin = Origin::Env(provider::presets::AZURE_ENDPOINT_VAR);
        }
    }
    provider
}

/// A table, over its preset when it has a preset's name.
fn from_table(table: FileProvider, var: &dyn Fn(&str) -> Option<String>) -> Provider {
    let preset = provider::presets::find(&table.name);
    let azure_env = || {
        var(provider::presets::AZURE_ENDPOINT_VAR)
            .and_then(|url| super::normalize_base_url(&url).ok())
            .map(|url| provider::azure_endpoint(&url))
    };
    let mut provider = if let Some(preset) = preset {
        let base = if preset.azure {
            azure_env().unwrap_or_default()
        } else {
            preset.base_url.to_string()
        };
        let mut provider = preset_base(preset, base, var);
        // The preset's key, unless the table says where its key is.
        if table.key == FileKey::None
            && let Some(key) = var(preset.key_var)
        {
            provider.key = KeySource::Value(ApiKey::new(key.trim().to_string()));
            provider.key_origin = Origin::Env(preset.key_var);
        }
        provider
    } else {
        Provider::default_from(String::new(), KeySource::None, Vec::new())
    };
    provider.name.clone_from(&table.name);
    provider.origin = Origin::File;
    if let Some(kind) = table.kind {
        provider.kind = kind;
        if kind == Kind::Azure {
            provider.family = Some(crate::chat::catalog::Family::Azure);
            provider.auth = Auth::ApiKey;
        }
    }
    if let Some(url) = table.base_url.or(table.endpoint) {
        provider.base_url = url;
        provider.base_url_origin = Origin::File;
    }
    if table.api_version.is_some() {
        provider.api_version = table.api_version;
    }
    match table.key {
        FileKey::None => {}
        FileKey::Value(key) => {
            provider.key = KeySource::Value(key);
            provider.key_origin = Origin::File;
        }
        FileKey::Command(command) => {
            provider.key = KeySource::Command(command);
            provider.key_origin = Origin::File;
        }
        FileKey::Env(name) => {
            provider.key = var(&name).map_or(KeySource::None, |key| {
                KeySource::Value(ApiKey::new(key.trim().to_string()))
            });
            provider.key_origin = Origin::File;
            provider.key_env = Some(name.clone());
            provider.key_var = Some(name);
        }
    }
    if let Some(auth) = table.auth {
        provider.auth = auth;
        provider.auth_origin = Origin::File;
    }
    provider.headers = table.headers;
    provider.query = table.query;
    provider.models = table.models;
    provider.base_model = table.base_model;
    if table.local {
        provider.local = true;
        provider.needs_key = false;
    }
    provider
}
