//! The resolved configuration. `Config::load` merges the command line, the
//! environment, the config file and the built-in defaults, in that order of
//! precedence (SPEC's table), into one typed `Config`. Invariants: a value
//! that cannot be used is an error (`ConfigError`, exit 2), never a silent
//! default; the API key is held only as `ApiKey`, so neither `Config`'s
//! `Debug` nor any error can show it; `api_key_cmd` runs only when a request
//! needs the key (`Config::api_key`), never for `history`, `usage` or
//! `config`. Every setting remembers where it came from (`Origins`), for
//! `kaiwa config`.

mod diagnose;
mod error;
mod file;
mod providers;
pub mod show;
pub mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub use error::ConfigError;

use crate::chat::pricing::Price;
use crate::paths;
use crate::provider::{Provider, Providers};
use crate::secret::ApiKey;

/// The default base URL: the `OpenAI` API.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The default model.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";
/// The default `stream_idle_timeout`.
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// What to do with a message that will not fit the model's window
/// (`context_overflow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContextOverflow {
    /// Open the dialog (trim, summarise, new conversation, cancel).
    #[default]
    Ask,
    /// Leave out the oldest turns without asking.
    Trim,
    /// Say so, send nothing.
    Error,
}

impl ContextOverflow {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ask => "ask",
            Self::Trim => "trim",
            Self::Error => "error",
        }
    }
}

/// Settings from the command line: the highest layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config PATH`
    pub config: Option<PathBuf>,
    /// `--base-url URL`
    pub base_url: Option<String>,
    /// `--model ID`
    pub model: Option<String>,
    /// `--system TEXT`; `--system ""` clears the file's system prompt.
    pub system: Option<String>,
    /// `--no-history`
    pub no_history: bool,
}

/// Where the API key comes from. The command is run by
/// [`Config::api_key`], only when a request needs the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    None,
    /// `OPENAI_API_KEY`, or `api_key` in the file.
    Value(ApiKey),
    /// `api_key_cmd`: a shell command whose stdout is the key.
    Command(String),
}

/// Where one setting's value came from (`kaiwa config` shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// A command-line flag, e.g. `--model`.
    Flag(&'static str),
    /// An environment variable, e.g. `KAIWA_MODEL`.
    Env(&'static str),
    /// The config file.
    File,
    /// The built-in default.
    #[default]
    Default,
    /// A preset, active because its key variable is set.
    Preset(&'static str),
    /// Found on this machine at the first run.
    Discovered,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Flag(flag) => write!(f, "flag {flag}"),
            Self::Env(name) => write!(f, "env {name}"),
            Self::File => f.write_str("config file"),
            Self::Default => f.write_str("default"),
            Self::Preset(var) => write!(f, "preset ({var} is set)"),
            Self::Discovered => f.write_str("found on this machine"),
        }
    }
}

/// The origin of each setting that can come from more than one place or
/// has a default that is not "unset".
#[derive(Debug, Clone, Copy, Default)]
pub struct Origins {
    pub config_path: Origin,
    pub base_url: Origin,
    pub api_key: Origin,
    pub model: Origin,
    pub system: Origin,
    pub mouse: Origin,
    pub stream_idle_timeout: Origin,
    pub history_path: Origin,
    pub context_overflow: Origin,
}

/// Everything kaiwa needs to know from its configuration, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file consulted (it may not exist).
    pub config_path: PathBuf,
    pub config_file_found: bool,
    /// Validated (http or https, with a host); no trailing `/`.
    pub base_url: String,
    /// Where the key comes from; [`Config::api_key`] resolves it.
    pub key: KeySource,
    pub model: String,
    pub system: Option<String>,
    /// Extra ids for the model menu.
    pub models: Vec<String>,
    /// Mouse capture at start.
    pub mouse: bool,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub stream_idle_timeout: Duration,
    /// `None` with `--no-history`.
    pub history_path: Option<PathBuf>,
    pub budget_monthly_usd: Option<f64>,
    /// `[prices."MODEL"]` from the file; they win over the built-in table.
    pub prices: BTreeMap<String, Price>,
    /// `[context] "MODEL" = N` from the file.
    pub context: BTreeMap<String, u64>,
    /// `context_overflow`.
    pub context_overflow: ContextOverflow,
    /// `default` (the flat settings above) and every other provider.
    pub providers: Providers,
    pub state_dir: PathBuf,
    pub data_dir: PathBuf,
    /// Where each setting came from.
    pub origins: Origins,
}

impl Config {
    /// Loads the configuration: flags > environment > file > defaults,
    /// exactly SPEC's table. Reads the config file; runs nothing
    /// (`api_key_cmd` waits for [`Config::api_key`]). `env` reads an
    /// environment variable (`paths::real_env` in `main`); empty values
    /// count as unset.
    pub fn load(
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let var = |name: &str| paths::non_empty(env, name);
        let home = paths::home_dir(env);
        let (config_path, config_origin, file) = read_file(overrides, env, &home)?;
        let config_file_found = file.is_some();
        let file = file.unwrap_or_default();
        let from_file = |set: bool| if set { Origin::File } else { Origin::Default };
        let mut origins = Origins {
            config_path: config_origin,
            system: from_file(file.system.is_some()),
            mouse: from_file(file.mouse.is_some()),
            stream_idle_timeout: from_file(file.stream_idle_timeout.is_some()),
            context_overflow: from_file(file.context_overflow.is_some()),
            ..Origins::default()
        };

        let base_url = match (&overrides.base_url, var("OPENAI_BASE_URL")) {
            (Some(url), _) => {
                origins.base_url = Origin::Flag("--base-url");
                flag_base_url(url, "--base-url")?
            }
            (None, Some(url)) => {
                origins.base_url = Origin::Env("OPENAI_BASE_URL");
                flag_base_url(&url, "OPENAI_BASE_URL")?
            }
            (None, None) => {
                origins.base_url = from_file(file.base_url.is_some());
                file.base_url
                    .unwrap_or_else(|| DEFAULT_BASE_URL.to_string())
            }
        };
        let model = match (&overrides.model, var("KAIWA_MODEL")) {
            (Some(model), _) if model.trim().is_empty() => {
                return Err(ConfigError::Empty { what: "--model" });
            }
            (Some(model), _) => {
                origins.model = Origin::Flag("--model");
                model.clone()
            }
            (None, Some(model)) => {
                origins.model = Origin::Env("KAIWA_MODEL");
                model
            }
            (None, None) => {
                origins.model = from_file(file.model.is_some());
                file.model.unwrap_or_else(|| DEFAULT_MODEL.to_string())
            }
        };
        let system = match &overrides.system {
            Some(system) => {
                origins.system = Origin::Flag("--system");
                Some(system.clone()).filter(|system| !system.is_empty())
            }
            None => file.system,
        };
        let (key, key_origin) = flat_key(var("OPENAI_API_KEY"), file.api_key, file.api_key_cmd);
        origins.api_key = key_origin;
        let mut default =
            Provider::default_from(base_url.clone(), key.clone(), file.models.clone());
        default.base_url_origin = origins.base_url;
        default.key_origin = origins.api_key;
        let providers = providers::resolve(default, file.providers, &var, &config_path)?;
        let state_dir = paths::state_dir(env);
        let data_dir = paths::data_dir(env);
        let history_path = if overrides.no_history {
            origins.history_path = Origin::Flag("--no-history");
            None
        } else {
            origins.history_path = from_file(file.history_path.is_some());
            Some(
                file.history_path
                    .unwrap_or_else(|| data_dir.join("history.db")),
            )
        };
        Ok(Self {
            config_path,
            config_file_found,
            base_url,
            key,
            model,
            system,
            models: file.models,
            mouse: file.mouse.unwrap_or(true),
            temperature: file.temperature,
            max_tokens: file.max_tokens,
            stream_idle_timeout: file
                .stream_idle_timeout
                .unwrap_or(DEFAULT_STREAM_IDLE_TIMEOUT),
            history_path,
            budget_monthly_usd: file.budget_monthly_usd,
            prices: file.prices,
            context: file.context,
            context_overflow: file.context_overflow.unwrap_or_default(),
            providers,
            state_dir,
            data_dir,
            origins,
        })
    }

    /// The key of the current model's provider, with that provider's name,
    /// running its `api_key_cmd` when that is where the key comes from.
    /// Call it only when a request is about to need the key: the command may
    /// be a password manager that prompts. `None` when the model names no
    /// usable provider (its request will say why).
    pub fn model_key(&self) -> Result<Option<(String, Option<ApiKey>)>, ConfigError> {
        let Ok(route) = self.providers.route(&self.model) else {
            return Ok(None);
        };
        let provider = route.provider;
        let key = match &provider.key {
            KeySource::None => None,
            KeySource::Value(key) => Some(key.clone()),
            KeySource::Command(command) => Some(run_key_command(command)?),
        };
        Ok(Some((provider.name.clone(), key)))
    }

    /// The key of the current model's provider ([`Config::model_key`]
    /// without the provider's name).
    pub fn api_key(&self) -> Result<Option<ApiKey>, ConfigError> {
        Ok(self.model_key()?.and_then(|(_, key)| key))
    }

    /// True when the `OpenAI` API is the server and no key is set anywhere:
    /// the first-run case (SPEC, Configuration).
    pub fn lacks_needed_key(&self) -> bool {
        self.providers.route(&self.model).is_ok_and(|route| {
            route.provider.name == crate::provider::DEFAULT
                && route.provider.key == KeySource::None
                && route.provider.is_openai_api()
        })
    }

    /// True when kaiwa should look for a local server (SPEC, First run): no
    /// provider has a key (an `api_key_cmd` counts without being run) and no
    /// base URL is set anywhere (flag, environment, file, any table).
    pub fn wants_discovery(&self) -> bool {
        self.providers.iter().all(|p| {
            p.key == KeySource::None
                && matches!(p.base_url_origin, Origin::Default | Origin::Preset(_))
        })
    }

    /// True when the base URL's host is `api.openai.com`.
    pub fn is_openai(&self) -> bool {
        self.providers
            .default_provider()
            .is_some_and(Provider::is_openai_api)
    }

    /// The one line `ask` and `models` print (exit 2) when the `OpenAI` API has
    /// no key, saying how to set one.
    pub fn missing_key_message() -> &'static str {
        "no API key: set OPENAI_API_KEY, or api_key_cmd (a command that prints the key) in the \
         config file; for a local server that needs no key, use --base-url (e.g. \
         --base-url http://localhost:8080/v1)"
    }
}

/// The default provider's key: `OPENAI_API_KEY`, else the file's
/// `api_key`, else its `api_key_cmd` (not run here).
fn flat_key(
    env: Option<String>,
    api_key: Option<ApiKey>,
    api_key_cmd: Option<String>,
) -> (KeySource, Origin) {
    match (env, api_key, api_key_cmd) {
        (Some(key), _, _) if !key.trim().is_empty() => (
            KeySource::Value(ApiKey::new(key.trim().to_string())),
            Origin::Env("OPENAI_API_KEY"),
        ),
        (_, Some(key), _) => (KeySource::Value(key), Origin::File),
        (_, None, Some(command)) => (KeySource::Command(command), Origin::File),
        (_, None, None) => (KeySource::None, Origin::Default),
    }
}

/// Finds the config file (`--config` > `KAIWA_CONFIG` > the default path)
/// and parses it; `None` when the default file does not exist.
fn read_file(
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
    home: &Path,
) -> Result<(PathBuf, Origin, Option<file::FileSettings>), ConfigError> {
    let (path, named_by) = match (&overrides.config, paths::non_empty(env, "KAIWA_CONFIG")) {
        (Some(path), _) => (expand_home(path.clone(), home), Some("--config")),
        (None, Some(path)) => (expand_home(PathBuf::from(path), home), Some("KAIWA_CONFIG")),
        (None, None) => (paths::config_file_default(env), None),
    };
    let origin = match named_by {
        Some("--config") => Origin::Flag("--config"),
        Some(name) => Origin::Env(name),
        None => Origin::Default,
    };
    match (std::fs::read(&path), named_by) {
        (Ok(bytes), _) => {
            let settings = file::parse(&bytes, &path, home)?;
            Ok((path, origin, Some(settings)))
        }
        (Err(error), None) if error.kind() == std::io::ErrorKind::NotFound => {
            Ok((path, origin, None))
        }
        (Err(error), Some(origin)) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(ConfigError::NotFound { path, origin })
        }
        (Err(error), _) => Err(ConfigError::Read { path, error }),
    }
}

/// `~` and `~/…` → the home folder.
fn expand_home(path: PathBuf, home: &Path) -> PathBuf {
    match path.to_str() {
        Some("~") => home.to_path_buf(),
        Some(text) => text
            .strip_prefix("~/")
            .map_or(path.clone(), |rest| home.join(rest)),
        None => path,
    }
}

fn flag_base_url(url: &str, origin: &'static str) -> Result<String, ConfigError> {
    normalize_base_url(url).map_err(|problem| ConfigError::BaseUrl {
        url: url.to_string(),
        origin,
        problem,
    })
}

/// Checks a base URL (http or https, with a host, no query or fragment) and
/// drops trailing `/`s. The error says what is wrong, for the user.
fn normalize_base_url(raw: &str) -> Result<String, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err("it is empty".to_string());
    }
    let scheme_problem = "it must start with http:// or https://".to_string();
    let url = match url::Url::parse(text) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => return Err(scheme_problem),
        Err(url::ParseError::EmptyHost) => return Err("it has no host".to_string()),
        Err(error) => return Err(format!("it is not a valid URL ({error})")),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(scheme_problem);
    }
    // The url crate reads `http:///v1` as host `v1`; the user meant no host.
    let after_scheme = text.split_once("://").map_or("", |(_, rest)| rest);
    if url.host_str().is_none_or(str::is_empty) || after_scheme.starts_with('/') {
        return Err("it has no host".to_string());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("it must not have a query (?…) or fragment (#…)".to_string());
    }
    Ok(text.trim_end_matches('/').to_string())
}

/// Runs `api_key_cmd` with `sh -c` and returns its trimmed stdout as the
/// key. Its stdout never appears in an error.
pub(crate) fn run_key_command(command: &str) -> Result<ApiKey, ConfigError> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .map_err(ConfigError::KeyCommandSpawn)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().map(str::trim).find(|line| !line.is_empty());
        return Err(ConfigError::KeyCommandFailed {
            status: exit_status(output.status),
            stderr: first.map(printable),
        });
    }
    let stdout = String::from_utf8(output.stdout).unwrap_or_default();
    let key = stdout.trim();
    if key.is_empty() {
        Err(ConfigError::KeyCommandEmpty)
    } else if key.contains(['\n', '\r']) {
        Err(ConfigError::KeyCommandLines)
    } else {
        Ok(ApiKey::new(key.to_string()))
    }
}

fn exit_status(status: std::process::ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    "no exit code".to_string()
}

/// At most 200 characters, controls replaced, so a stray escape sequence on
/// the command's stderr cannot reach the terminal.
fn printable(line: &str) -> String {
    line.chars()
        .take(200)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            normalize_base_url("http://localhost:8080/v1/").unwrap(),
            "http://localhost:8080/v1"
        );
        assert_eq!(
            normalize_base_url(" https://x.example//").unwrap(),
            "https://x.example"
        );
        let scheme = "it must start with http:// or https://";
        assert_eq!(normalize_base_url("localhost:8080").unwrap_err(), scheme);
        assert_eq!(
            normalize_base_url("api.example.com/v1").unwrap_err(),
            scheme
        );
        assert_eq!(normalize_base_url("ftp://example.com").unwrap_err(), scheme);
        assert_eq!(normalize_base_url("http://").unwrap_err(), "it has no host");
        assert_eq!(
            normalize_base_url("http:///v1").unwrap_err(),
            "it has no host"
        );
        assert_eq!(normalize_base_url("").unwrap_err(), "it is empty");
        assert!(normalize_base_url("http://x/v1?a=b").is_err());
        assert!(normalize_base_url("http://[::1").is_err());
    }

    #[test]
    fn key_command_output() {
        assert_eq!(
            run_key_command("printf ' sk-test\\n'").unwrap().expose(),
            "sk-test"
        );
        assert!(matches!(
            run_key_command("true"),
            Err(ConfigError::KeyCommandEmpty)
        ));
        assert!(matches!(
            run_key_command("printf 'a\\nb'"),
            Err(ConfigError::KeyCommandLines)
        ));
        let error =
            run_key_command("echo sk-leak; echo 'no \x1b[31mvault' >&2; exit 3").unwrap_err();
        assert_eq!(
            error.to_string(),
            "api_key_cmd failed (exit 3): no \u{FFFD}[31mvault"
        );
        assert_eq!(
            run_key_command("kill -9 $$").unwrap_err().to_string(),
            "api_key_cmd failed (killed by signal 9)"
        );
    }

    #[test]
    fn tilde_expansion() {
        let home = std::path::Path::new("/h");
        assert_eq!(
            expand_home("~/x.toml".into(), home),
            PathBuf::from("/h/x.toml")
        );
        assert_eq!(expand_home("/a/~/b".into(), home), PathBuf::from("/a/~/b"));
    }
}
