//! `ConfigError`: every way loading the configuration can fail, each written
//! for the user in one line (`main` prints it and exits 2). Invariant: no
//! variant holds the API key or the output of `api_key_cmd`, so neither
//! `Display` nor `Debug` can show them.

use std::io;
use std::path::PathBuf;

/// Why the configuration could not be loaded. All of them mean exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file named by `--config` or `KAIWA_CONFIG` does not exist.
    /// (A missing file at the default path is fine.)
    #[error("config file {} (from {origin}) does not exist", path.display())]
    NotFound {
        path: PathBuf,
        /// `--config` or `KAIWA_CONFIG`.
        origin: &'static str,
    },

    /// The config file exists but could not be read.
    #[error("cannot read config file {}: {error}", path.display())]
    Read { path: PathBuf, error: io::Error },

    /// Something wrong inside the config file: malformed TOML, an unknown
    /// key, a value of the wrong type or out of range. `message` names the key.
    #[error("{}:{line}: {message}", path.display())]
    File {
        path: PathBuf,
        /// 1-based line of the offending key or value.
        line: usize,
        message: String,
    },

    /// The base URL from the command line or the environment is unusable.
    /// (One from the file is a [`ConfigError::File`].)
    #[error("invalid base URL '{url}' (from {origin}): {problem}")]
    BaseUrl {
        url: String,
        /// `--base-url` or `OPENAI_BASE_URL`.
        origin: &'static str,
        problem: String,
    },

    /// `--model ""` and the like.
    #[error("{what} must not be empty")]
    Empty {
        /// The flag, e.g. `--model`.
        what: &'static str,
    },

    /// `api_key_cmd` could not be started.
    #[error("could not run api_key_cmd: {0}")]
    KeyCommandSpawn(io::Error),

    /// `api_key_cmd` exited with an error. `status` reads `exit 1` or
    /// `killed by signal 9`; `stderr` is its first non-empty line, if any.
    #[error("api_key_cmd failed ({status}){}", stderr.as_deref().map(|line| format!(": {line}")).unwrap_or_default())]
    KeyCommandFailed {
        status: String,
        stderr: Option<String>,
    },

    /// `api_key_cmd` succeeded but printed nothing.
    #[error("api_key_cmd printed nothing: it must print the API key on stdout")]
    KeyCommandEmpty,

    /// `api_key_cmd` printed more than one line; kaiwa does not guess which
    /// one is the key.
    #[error(
        "api_key_cmd printed more than one line: it must print only the API key (try adding | head -n 1)"
    )]
    KeyCommandLines,
}
