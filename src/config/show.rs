//! `kaiwa config`: the config file's path and every setting in effect, each
//! with where it came from, written as TOML a user can copy into the file.
//! Invariant: the API key is never shown (`***`), and `api_key_cmd` is not
//! run to show it.

use std::fmt::Write as _;

use super::{Config, KeySource, Origin};
use crate::provider::{DEFAULT, Kind, Provider};

/// Column where the `# origin` comments start.
const COMMENT_COLUMN: usize = 44;

/// The report, one setting a line: `key = value  # origin`; unset settings
/// as comments.
pub fn report(config: &Config) -> String {
    let o = &config.origins;
    let mut out = String::new();
    let found = if config.config_file_found {
        "found"
    } else {
        "not found: nothing is read from it"
    };
    let named_by = match o.config_path {
        Origin::Flag(name) | Origin::Env(name) => format!("named by {name}"),
        Origin::File | Origin::Default | Origin::Preset(_) | Origin::Discovered => {
            "the default path".to_string()
        }
    };
    let _ = writeln!(
        out,
        "# config file: {} ({found}; {named_by})",
        config.config_path.display(),
    );
    line(&mut out, "base_url", &quote(&config.base_url), o.base_url);
    key_lines(&mut out, config);
    line(&mut out, "model", &quote(&config.model), o.model);
    match &config.system {
        Some(system) => line(&mut out, "system", &quote(system), o.system),
        None => unset(&mut out, "system", "none", o.system),
    }
    if config.models.is_empty() {
        unset(
            &mut out,
            "models",
            "none besides the server's",
            Origin::Default,
        );
    } else {
        let list: Vec<String> = config.models.iter().map(|m| quote(m)).collect();
        line(
            &mut out,
            "models",
            &format!("[{}]", list.join(", ")),
            Origin::File,
        );
    }
    line(&mut out, "mouse", &config.mouse.to_string(), o.mouse);
    file_only(
        &mut out,
        "temperature",
        config.temperature,
        "unset (not sent)",
    );
    file_only(
        &mut out,
        "max_tokens",
        config.max_tokens,
        "unset (not sent)",
    );
    line(
        &mut out,
        "stream_idle_timeout",
        &config.stream_idle_timeout.as_secs().to_string(),
        o.stream_idle_timeout,
    );
    match &config.history_path {
        Some(path) => line(
            &mut out,
            "history_path",
            &quote(&path.display().to_string()),
            o.history_path,
        ),
        None => unset(&mut out, "history", "off for this run", o.history_path),
    }
    line(
        &mut out,
        "context_overflow",
        &quote(config.context_overflow.as_str()),
        o.context_overflow,
    );
    match config.budget_monthly_usd {
        Some(usd) => line(
            &mut out,
            "budget_monthly_usd",
            &usd.to_string(),
            Origin::File,
        ),
        None => unset(&mut out, "budget_monthly_usd", "none", Origin::Default),
    }
    tables(&mut out, config);
    let _ = writeln!(
        out,
        "# log and prompt history: {}",
        config.state_dir.display()
    );
    out
}

/// `[prices]`, `[context]` and every provider's table.
fn tables(out: &mut String, config: &Config) {
    if config.prices.is_empty() {
        unset(out, "prices", "the built-in table", Origin::Default);
    }
    for (model, price) in &config.prices {
        let cached = price
            .cached
            .map(|c| format!(", cached = {c}"))
            .unwrap_or_default();
        line(
            out,
            &format!("prices.{}", quote(model)),
            &format!(
                "{{ prompt = {}, completion = {}{cached} }}",
                price.prompt, price.completion
            ),
            Origin::File,
        );
    }
    if !config.context.is_empty() {
        let _ = writeln!(out, "[context]");
        for (model, tokens) in &config.context {
            line(out, &quote(model), &tokens.to_string(), Origin::File);
        }
    }
    for provider in config.providers.iter().filter(|p| p.name != DEFAULT) {
        provider_lines(out, provider);
    }
}

/// The key's line: `***`, or the command that gives it (not run).
fn key_lines(out: &mut String, config: &Config) {
    match &config.key {
        KeySource::Value(_) => line(out, "api_key", "\"***\"", config.origins.api_key),
        KeySource::Command(command) => {
            line(out, "api_key_cmd", &quote(command), config.origins.api_key);
            out.push_str("#   (run only when a request needs the key)\n");
        }
        KeySource::None if config.is_openai() => {
            out.push_str("# api_key: none (set OPENAI_API_KEY or api_key_cmd)\n");
        }
        KeySource::None => out.push_str("# api_key: none (not needed for this server)\n"),
    }
}

/// A `[providers.NAME]` table as in effect: each key with its origin;
/// the key, header values and query values as `***`; `api_key_cmd` not run.
fn provider_lines(out: &mut String, provider: &Provider) {
    with_origin(
        out,
        &format!("[providers.{}]", provider.name),
        provider.origin,
    );
    let kind_origin = match provider.origin {
        Origin::Preset(_) => provider.origin,
        Origin::Flag(_) | Origin::Env(_) | Origin::File | Origin::Default | Origin::Discovered => {
            Origin::Default
        }
    };
    line(out, "kind", &quote(provider.kind.as_str()), kind_origin);
    let url_key = match provider.kind {
        Kind::OpenAi => "base_url",
        Kind::Azure => "endpoint",
    };
    line(
        out,
        url_key,
        &quote(&provider.base_url),
        provider.base_url_origin,
    );
    if let Some(version) = &provider.api_version {
        line(out, "api_version", &quote(version), Origin::File);
    }
    if let Some(var) = &provider.key_env {
        let set = if provider.key == KeySource::None {
            "unset"
        } else {
            "set"
        };
        line(out, "api_key_env", &quote(var), Origin::File);
        let _ = writeln!(out, "#   ({var} is {set})");
    } else {
        match &provider.key {
            KeySource::Value(_) => line(out, "api_key", "\"***\"", provider.key_origin),
            KeySource::Command(command) => {
                line(out, "api_key_cmd", &quote(command), provider.key_origin);
                out.push_str("#   (run only when a request needs the key)\n");
            }
            KeySource::None => match (&provider.key_var, provider.local) {
                (_, true) => out.push_str("# api_key: none (a local server)\n"),
                (Some(var), false) => {
                    let _ = writeln!(out, "# api_key: none (set {var})");
                }
                (None, false) => out.push_str("# api_key: none\n"),
            },
        }
    }
    line(
        out,
        "auth",
        &quote(provider.auth.as_str()),
        provider.auth_origin,
    );
    hidden_map(out, "headers", &provider.headers);
    hidden_map(out, "query", &provider.query);
    if !provider.models.is_empty() {
        let list: Vec<String> = provider.models.iter().map(|m| quote(m)).collect();
        line(
            out,
            "models",
            &format!("[{}]", list.join(", ")),
            Origin::File,
        );
    }
    if !provider.base_model.is_empty() {
        let pairs: Vec<String> = provider
            .base_model
            .iter()
            .map(|(k, v)| format!("{} = {}", quote(k), quote(v)))
            .collect();
        line(
            out,
            "base_model",
            &format!("{{ {} }}", pairs.join(", ")),
            Origin::File,
        );
    }
    if provider.local {
        line(out, "local", "true", provider.origin);
    }
}

/// `headers = { "X-Title" = "***" }`: names shown, values hidden (they are
/// often keys).
fn hidden_map(out: &mut String, key: &str, pairs: &[(String, String)]) {
    if pairs.is_empty() {
        return;
    }
    let shown: Vec<String> = pairs
        .iter()
        .map(|(name, _)| format!("{} = \"***\"", quote(name)))
        .collect();
    line(
        out,
        key,
        &format!("{{ {} }}", shown.join(", ")),
        Origin::File,
    );
}

/// A setting only the file can give: its value, or a comment saying what
/// being unset means.
fn file_only(out: &mut String, key: &str, value: Option<impl ToString>, unset_means: &str) {
    match value {
        Some(value) => line(out, key, &value.to_string(), Origin::File),
        None => unset(out, key, unset_means, Origin::Default),
    }
}

/// `key = value`, then its origin as a comment at `COMMENT_COLUMN`.
fn line(out: &mut String, key: &str, value: &str, origin: Origin) {
    with_origin(out, &format!("{key} = {value}"), origin);
}

/// An unset setting, as a comment saying what that means.
fn unset(out: &mut String, key: &str, what: &str, origin: Origin) {
    with_origin(out, &format!("# {key}: {what}"), origin);
}

fn with_origin(out: &mut String, text: &str, origin: Origin) {
    let pad = COMMENT_COLUMN.saturating_sub(text.chars().count()).max(1);
    let _ = writeln!(out, "{text}{:pad$}# {origin}", "");
}

/// A TOML basic string (JSON's escaping is valid TOML for these).
fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
}
