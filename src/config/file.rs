//! The config file: its TOML shape (`deny_unknown_fields` at every level)
//! and its checks, giving [`FileSettings`]. Invariant: every error names the
//! file and the line of the offending key or value (see `diagnose`), and a
//! file that loads holds only valid values; nothing falls back to a default
//! silently. Values stay unmerged here; `Config::load` applies precedence.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, diagnose};
use crate::chat::pricing::Price;
use crate::secret::ApiKey;

/// The file as written. Not `Debug`: it holds the key as plain text until
/// [`parse`] wraps it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    base_url: Option<Spanned<String>>,
    api_key: Option<Spanned<String>>,
    api_key_cmd: Option<Spanned<String>>,
    model: Option<Spanned<String>>,
    system: Option<String>,
    models: Option<Spanned<Vec<String>>>,
    mouse: Option<bool>,
    temperature: Option<Spanned<f64>>,
    max_tokens: Option<Spanned<i64>>,
    stream_idle_timeout: Option<Spanned<i64>>,
    history_path: Option<Spanned<String>>,
    budget_monthly_usd: Option<Spanned<f64>>,
    prices: Option<BTreeMap<String, RawPrice>>,
    context: Option<BTreeMap<String, Spanned<toml::Value>>>,
    context_overflow: Option<Spanned<String>>,
    providers: Option<BTreeMap<String, Spanned<super::providers::RawProvider>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrice {
    prompt: Spanned<f64>,
    completion: Spanned<f64>,
    cached: Option<Spanned<f64>>,
}

/// What a valid config file sets; `None` where it is silent.
#[derive(Debug, Default)]
pub(super) struct FileSettings {
    /// Validated and normalised (no trailing `/`).
    pub base_url: Option<String>,
    pub api_key: Option<ApiKey>,
    pub api_key_cmd: Option<String>,
    pub model: Option<String>,
    pub system: Option<String>,
    pub models: Vec<String>,
    pub mouse: Option<bool>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub stream_idle_timeout: Option<Duration>,
    /// `~/` expanded; a relative path is taken from the config file's folder.
    pub history_path: Option<PathBuf>,
    pub budget_monthly_usd: Option<f64>,
    pub prices: BTreeMap<String, Price>,
    /// `[context] "MODEL" = N`.
    pub context: BTreeMap<String, u64>,
    pub context_overflow: Option<super::ContextOverflow>,
    pub providers: Vec<super::providers::FileProvider>,
}

/// Errors with the file's path and the line of a byte span.
pub(super) struct Source<'a> {
    path: &'a Path,
    raw: &'a str,
}

impl Source<'_> {
    /// The 1-based line of a byte span's start.
    pub(super) fn line(&self, span: &Range<usize>) -> usize {
        diagnose::line_of(self.raw, span.start)
    }

    pub(super) fn error(&self, span: &Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::File {
            path: self.path.to_path_buf(),
            line: self.line(span),
            message: message.into(),
        }
    }
}

/// Parses and checks the config file's bytes. `home` expands `~/`.
pub(super) fn parse(bytes: &[u8], path: &Path, home: &Path) -> Result<FileSettings, ConfigError> {
    let raw = std::str::from_utf8(bytes).map_err(|error| {
        let valid = bytes.get(..error.valid_up_to()).unwrap_or_default();
        ConfigError::File {
            path: path.to_path_buf(),
            line: diagnose::line_of(&String::from_utf8_lossy(valid), usize::MAX),
            message: "the file is not valid UTF-8 text".to_string(),
        }
    })?;
    // A byte-order mark is not TOML; it has no newline, so lines stay right.
    let raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
    let file: RawFile = toml::from_str(raw).map_err(|error| {
        let (line, message) = diagnose::describe(raw, &error);
        ConfigError::File {
            path: path.to_path_buf(),
            line,
            message,
        }
    })?;
    let source = Source { path, raw };
    let (api_key, api_key_cmd) = key_settings(&source, file.api_key, file.api_key_cmd)?;
    Ok(FileSettings {
        base_url: file
            .base_url
            .map(|url| base_url(&source, &url))
            .transpose()?,
        api_key,
        api_key_cmd,
        model: file
            .model
            .map(|model| not_empty(&source, &model, "model"))
            .transpose()?,
        system: file.system.filter(|system| !system.is_empty()),
        models: models(&source, file.models)?,
        mouse: file.mouse,
        temperature: file
            .temperature
            .map(|t| temperature(&source, &t))
            .transpose()?,
        max_tokens: file
            .max_tokens
            .map(|n| max_tokens(&source, &n))
            .transpose()?,
        stream_idle_timeout: file
            .stream_idle_timeout
            .map(|secs| idle_timeout(&source, &secs))
            .transpose()?,
        history_path: file
            .history_path
            .map(|history| history_path(&source, &history, home))
            .transpose()?,
        budget_monthly_usd: file
            .budget_monthly_usd
            .map(|budget| budget_usd(&source, &budget))
            .transpose()?,
        prices: prices(&source, file.prices.unwrap_or_default())?,
        context: context(&source, file.context.unwrap_or_default())?,
        context_overflow: file
            .context_overflow
            .map(|value| context_overflow(&source, &value))
            .transpose()?,
        providers: super::providers::check(&source, file.providers.unwrap_or_default())?,
    })
}

/// `api_key` and `api_key_cmd`: at most one of them (empty means unset).
fn key_settings(
    source: &Source<'_>,
    api_key: Option<Spanned<String>>,
    api_key_cmd: Option<Spanned<String>>,
) -> Result<(Option<ApiKey>, Option<String>), ConfigError> {
    let api_key = api_key.filter(|key| !key.get_ref().trim().is_empty());
    let api_key_cmd = api_key_cmd.filter(|cmd| !cmd.get_ref().trim().is_empty());
    if let (Some(key), Some(cmd)) = (&api_key, &api_key_cmd) {
        let later = if key.span().start > cmd.span().start {
            key.span()
        } else {
            cmd.span()
        };
        return Err(source.error(&later, "set either 'api_key' or 'api_key_cmd', not both"));
    }
    Ok((
        api_key.map(|key| ApiKey::new(key.into_inner().trim().to_string())),
        api_key_cmd.map(Spanned::into_inner),
    ))
}

fn base_url(source: &Source<'_>, url: &Spanned<String>) -> Result<String, ConfigError> {
    super::normalize_base_url(url.get_ref()).map_err(|problem| {
        source.error(
            &url.span(),
            format!("invalid base URL '{}': {problem}", url.get_ref()),
        )
    })
}

fn not_empty(
    source: &Source<'_>,
    value: &Spanned<String>,
    key: &str,
) -> Result<String, ConfigError> {
    if value.get_ref().trim().is_empty() {
        Err(source.error(&value.span(), format!("'{key}' must not be empty")))
    } else {
        Ok(value.get_ref().clone())
    }
}

fn models(
    source: &Source<'_>,
    models: Option<Spanned<Vec<String>>>,
) -> Result<Vec<String>, ConfigError> {
    let Some(models) = models else {
        return Ok(Vec::new());
    };
    if models.get_ref().iter().any(|id| id.trim().is_empty()) {
        return Err(source.error(
            &models.span(),
            "'models' must not contain an empty model id",
        ));
    }
    Ok(models.into_inner())
}

fn temperature(source: &Source<'_>, value: &Spanned<f64>) -> Result<f64, ConfigError> {
    let t = *value.get_ref();
    if (0.0..=2.0).contains(&t) {
        Ok(t)
    } else {
        Err(source.error(&value.span(), "'temperature' must be between 0 and 2"))
    }
}

fn max_tokens(source: &Source<'_>, value: &Spanned<i64>) -> Result<u32, ConfigError> {
    let n = *value.get_ref();
    if n <= 0 {
        return Err(source.error(&value.span(), "'max_tokens' must be greater than 0"));
    }
    u32::try_from(n).map_err(|_| {
        source.error(
            &value.span(),
            format!("'max_tokens' must be at most {}", u32::MAX),
        )
    })
}

fn idle_timeout(source: &Source<'_>, value: &Spanned<i64>) -> Result<Duration, ConfigError> {
    match u64::try_from(*value.get_ref()) {
        Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
        Ok(_) | Err(_) => Err(source.error(
            &value.span(),
            "'stream_idle_timeout' must be a whole number of seconds greater than 0",
        )),
    }
}

fn budget_usd(source: &Source<'_>, value: &Spanned<f64>) -> Result<f64, ConfigError> {
    let usd = *value.get_ref();
    if usd.is_finite() && usd > 0.0 {
        Ok(usd)
    } else {
        Err(source.error(&value.span(), "'budget_monthly_usd' must be greater than 0"))
    }
}

fn history_path(
    source: &Source<'_>,
    value: &Spanned<String>,
    home: &Path,
) -> Result<PathBuf, ConfigError> {
    let text = value.get_ref();
    if text.trim().is_empty() {
        return Err(source.error(&value.span(), "'history_path' must not be empty"));
    }
    let path = if text == "~" {
        home.to_path_buf()
    } else if let Some(rest) = text.strip_prefix("~/") {
        home.join(rest)
    } else {
        PathBuf::from(text)
    };
    if path.is_absolute() {
        Ok(path)
    } else {
        let folder = source.path.parent().unwrap_or_else(|| Path::new("."));
        Ok(folder.join(path))
    }
}

fn prices(
    source: &Source<'_>,
    raw: BTreeMap<String, RawPrice>,
) -> Result<BTreeMap<String, Price>, ConfigError> {
    raw.into_iter()
        .map(|(model, price)| {
            let rate = |key: &str, value: &Spanned<f64>| {
                let usd = *value.get_ref();
                if usd.is_finite() && usd >= 0.0 {
                    Ok(usd)
                } else {
                    let name = diagnose::dotted(&["prices", model.as_str(), key]);
                    Err(source.error(&value.span(), format!("'{name}' must be a number ≥ 0")))
                }
            };
            let price = Price {
                prompt: rate("prompt", &price.prompt)?,
                completion: rate("completion", &price.completion)?,
                cached: price
                    .cached
                    .as_ref()
                    .map(|cached| rate("cached", cached))
                    .transpose()?,
            };
            Ok((model, price))
        })
        .collect()
}

fn context(
    source: &Source<'_>,
    raw: BTreeMap<String, Spanned<toml::Value>>,
) -> Result<BTreeMap<String, u64>, ConfigError> {
    raw.into_iter()
        .map(|(model, tokens)| {
            if model == "context_overflow" {
                // Below `[context]` the setting would name a model.
                return Err(source.error(
                    &tokens.span(),
                    "'context_overflow' is a top-level setting: move it above the first \
                     [table] (here it is read as a model in [context])",
                ));
            }
            match tokens.get_ref().as_integer().map(u64::try_from) {
                Some(Ok(n)) if n > 0 => Ok((model, n)),
                Some(Ok(_) | Err(_)) | None => {
                    let name = diagnose::dotted(&["context", model.as_str()]);
                    Err(source.error(
                        &tokens.span(),
                        format!("'{name}' must be a whole number of tokens greater than 0"),
                    ))
                }
            }
        })
        .collect()
}

fn context_overflow(
    source: &Source<'_>,
    value: &Spanned<String>,
) -> Result<super::ContextOverflow, ConfigError> {
    match value.get_ref().as_str() {
        "ask" => Ok(super::ContextOverflow::Ask),
        "trim" => Ok(super::ContextOverflow::Trim),
        "error" => Ok(super::ContextOverflow::Error),
        _ => Err(source.error(
            &value.span(),
            "'context_overflow' must be \"ask\", \"trim\" or \"error\"",
        )),
    }
}
