//! Config loading as `main` does it, through `kaiwa::config::Config::load`:
//! the error corpus in `tests/config_errors/` (one test per file, asserting
//! the exact message with file and line), precedence, `api_key_cmd`, the
//! shipped `config.example.toml`, and that the key never shows. Invariant:
//! no test reads or changes the process environment (`env` is a closure).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions; a failure should panic"
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kaiwa::config::{Config, ConfigError, Overrides};
use pretty_assertions::assert_eq;

const CORPUS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/config_errors");

/// A fake environment: `HOME` under a temp folder plus `pairs`.
struct Env {
    home: tempfile::TempDir,
    vars: HashMap<String, String>,
}

impl Env {
    fn new(pairs: &[(&str, &str)]) -> Self {
        let home = tempfile::tempdir().unwrap();
        let mut vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        vars.insert("HOME".into(), home.path().display().to_string());
        Self { home, vars }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    /// Writes the default config file (`~/.config/kaiwa/config.toml`).
    fn write_default_config(&self, contents: &str) -> PathBuf {
        let path = self.home().join(".config/kaiwa/config.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn load(&self, overrides: &Overrides) -> Result<Config, ConfigError> {
        Config::load(overrides, &|name| self.vars.get(name).cloned())
    }
}

fn flags() -> Overrides {
    Overrides::default()
}

fn with_config(path: &Path) -> Overrides {
    Overrides {
        config: Some(path.to_path_buf()),
        ..Overrides::default()
    }
}

// ---------------------------------------------------------------------------
// The error corpus: each file's exact message, after "<path>".

/// `tests/config_errors/<name>.toml` must fail with "<path><expected>".
fn assert_corpus(name: &str, expected: &str) {
    let path = Path::new(CORPUS_DIR).join(format!("{name}.toml"));
    let env = Env::new(&[]);
    let error = env.load(&with_config(&path)).unwrap_err();
    assert_eq!(error.to_string(), format!("{}{expected}", path.display()));
    assert!(matches!(error, ConfigError::File { .. }), "{error:?}");
    for shown in [error.to_string(), format!("{error:?}")] {
        assert!(!shown.contains("sk-in-the-file"), "{shown}");
        assert!(!shown.contains("123456789"), "{shown}");
    }
}

macro_rules! corpus {
    ($($name:ident => $expected:expr;)*) => {
        /// Every corpus file, so that none goes untested.
        const CORPUS: &[&str] = &[$(stringify!($name)),*];
        mod corpus {
            $(#[test] fn $name() { super::assert_corpus(stringify!($name), $expected); })*
        }
    };
}

const TOP_KEYS: &str = "base_url, api_key, api_key_cmd, model, system, models, mouse, \
                        temperature, max_tokens, stream_idle_timeout, history_path, \
                        budget_monthly_usd, prices, context_overflow, context, providers";

corpus! {
    unknown_key => &format!(":7: unknown key 'modle' (expected one of: {})", super::TOP_KEYS);
    unknown_table => &format!(":3: unknown key 'keys' (expected one of: {})", super::TOP_KEYS);
    unknown_price_key => ":4: unknown key 'cahced' in [prices.\"gpt-4.1\"] \
                          (expected one of: prompt, completion, cached)";
    malformed_string => ":2: unclosed string: a \"…\" string must end on the line where it \
                         starts (use \"\"\"…\"\"\" for text over several lines)";
    malformed_unquoted => ":2: the value of 'base_url' must be in quotes: base_url = \"…\"";
    duplicate_key => ":3: duplicate key 'model'";
    wrong_type_mouse => ":4: 'mouse' must be a boolean";
    wrong_type_models => ":1: 'models' must be an array of strings";
    wrong_type_models_item => ":3: 'models' must be an array of strings";
    wrong_type_max_tokens => ":1: 'max_tokens' must be a whole number";
    wrong_type_api_key => ":1: 'api_key' must be a string";
    wrong_type_price => ":2: 'prices.gpt-4o' must be a table with 'prompt' and 'completion' \
                         (and optionally 'cached')";
    price_missing_completion => ":3: missing key 'completion' in [prices.gpt-4o]";
    negative_price => ":4: 'prices.gpt-4o-mini.cached' must be a number ≥ 0";
    bad_base_url => ":2: invalid base URL 'localhost:8080': it must start with http:// or https://";
    base_url_without_host => ":1: invalid base URL 'http:///v1': it has no host";
    both_api_key_and_cmd => ":3: set either 'api_key' or 'api_key_cmd', not both";
    negative_temperature => ":1: 'temperature' must be between 0 and 2";
    temperature_too_high => ":1: 'temperature' must be between 0 and 2";
    zero_max_tokens => ":1: 'max_tokens' must be greater than 0";
    zero_stream_idle_timeout => ":1: 'stream_idle_timeout' must be a whole number of seconds \
                                 greater than 0";
    fractional_stream_idle_timeout => ":1: 'stream_idle_timeout' must be a whole number of seconds";
    zero_budget => ":1: 'budget_monthly_usd' must be greater than 0";
    empty_model => ":1: 'model' must not be empty";
    provider_named_default => ":1: no provider may be named 'default': the flat keys \
                               (base_url, api_key, …) are the default provider";
    provider_unknown_key => ":5: unknown key 'api_kye' in [providers.corp] (expected one of: \
                             kind, base_url, endpoint, api_version, api_key, api_key_cmd, \
                             api_key_env, auth, headers, query, models, base_model, local)";
    provider_without_base_url => ":2: [providers.corp] needs base_url";
    provider_bad_kind => ":2: 'providers.corp.kind' must be \"openai\" or \"azure\"";
    provider_bad_auth => ":3: 'providers.corp.auth' must be \"bearer\", \"api-key\" or \"none\"";
    provider_several_keys => ":4: [providers.corp]: set one of 'api_key', 'api_key_cmd' or \
                              'api_key_env', not several";
    provider_not_a_table => ":2: 'providers.corp' must be a table ([providers.NAME])";
    provider_api_version_not_azure => ":3: [providers.corp]: api_version is for Azure; for \
                                       another server use query = { \"api-version\" = \"…\" }";
    azure_without_endpoint => ":1: [providers.az] needs endpoint \
                               (https://RESOURCE.openai.azure.com)";
    azure_base_url => ":3: [providers.az] is Azure: set 'endpoint', not 'base_url'";
    // The one error without the file and line, caught by the check of
    // fuzz/fuzz_targets/config.rs (on an input written after reading
    // config/providers.rs; libFuzzer did not reach it in its run).
    azure_preset_without_endpoint => ":2: [providers.azure] needs endpoint \
                                      (or AZURE_OPENAI_ENDPOINT set)";
    zero_context => ":2: 'context.gpt-4o' must be a whole number of tokens greater than 0";
    context_overflow_below_context => ":3: 'context_overflow' is a top-level setting: move it \
                                       above the first [table] (here it is read as a model in \
                                       [context])";
    bad_context_overflow => ":1: 'context_overflow' must be \"ask\", \"trim\" or \"error\"";
}

#[test]
fn every_corpus_file_has_a_test() {
    let mut files: Vec<String> = std::fs::read_dir(CORPUS_DIR)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut tested: Vec<String> = CORPUS.iter().map(|name| format!("{name}.toml")).collect();
    tested.sort();
    assert_eq!(files, tested);
}

#[test]
fn not_utf8_names_the_line() {
    let env = Env::new(&[]);
    let path = env.home().join("bad.toml");
    std::fs::write(&path, b"model = \"a\"\nsystem = \"caf\xe9\"\n").unwrap();
    let error = env.load(&with_config(&path)).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("{}:2: the file is not valid UTF-8 text", path.display())
    );
}

// ---------------------------------------------------------------------------
// Which file, and missing files.

#[test]
fn defaults_without_a_file() {
    let env = Env::new(&[]);
    let config = env.load(&flags()).unwrap();
    let home = env.home();
    assert_eq!(config.config_path, home.join(".config/kaiwa/config.toml"));
    assert!(!config.config_file_found);
    assert_eq!(config.base_url, "https://api.openai.com/v1");
    assert!(config.is_openai());
    assert!(config.api_key().unwrap().is_none());
    assert_eq!(config.model, "gpt-4o-mini");
    assert_eq!(config.system, None);
    assert!(config.models.is_empty());
    assert!(config.mouse);
    assert_eq!(config.temperature, None);
    assert_eq!(config.max_tokens, None);
    assert_eq!(config.stream_idle_timeout, Duration::from_secs(120));
    assert_eq!(
        config.history_path,
        Some(home.join(".local/share/kaiwa/history.db"))
    );
    assert_eq!(config.budget_monthly_usd, None);
    assert!(config.prices.is_empty());
    assert_eq!(config.state_dir, home.join(".local/state/kaiwa"));
    assert_eq!(config.data_dir, home.join(".local/share/kaiwa"));
}

#[test]
fn xdg_folders_are_used() {
    let env = Env::new(&[
        ("XDG_CONFIG_HOME", "/x/config"),
        ("XDG_STATE_HOME", "/x/state"),
        ("XDG_DATA_HOME", "/x/data"),
    ]);
    let config = env.load(&flags()).unwrap();
    assert_eq!(
        config.config_path,
        PathBuf::from("/x/config/kaiwa/config.toml")
    );
    assert_eq!(config.state_dir, PathBuf::from("/x/state/kaiwa"));
    assert_eq!(
        config.history_path,
        Some(PathBuf::from("/x/data/kaiwa/history.db"))
    );
}

#[test]
fn the_default_file_is_read() {
    let env = Env::new(&[]);
    let path = env.write_default_config("model = \"gpt-4.1\"\n");
    let config = env.load(&flags()).unwrap();
    assert_eq!(config.config_path, path);
    assert!(config.config_file_found);
    assert_eq!(config.model, "gpt-4.1");
}

#[test]
fn a_named_file_that_does_not_exist_is_an_error() {
    let env = Env::new(&[]);
    let missing = env.home().join("nope.toml");
    let error = env.load(&with_config(&missing)).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "config file {} (from --config) does not exist",
            missing.display()
        )
    );

    let env = Env::new(&[("KAIWA_CONFIG", "/no/such/kaiwa.toml")]);
    let error = env.load(&flags()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "config file /no/such/kaiwa.toml (from KAIWA_CONFIG) does not exist"
    );
}

#[test]
fn config_flag_beats_kaiwa_config_and_kaiwa_config_beats_default() {
    let env = Env::new(&[]);
    env.write_default_config("model = \"default-file\"\n");
    let named = env.home().join("named.toml");
    std::fs::write(&named, "model = \"named-file\"\n").unwrap();
    let flagged = env.home().join("flagged.toml");
    std::fs::write(&flagged, "model = \"flagged-file\"\n").unwrap();

    let mut env = env;
    env.vars
        .insert("KAIWA_CONFIG".into(), named.display().to_string());
    assert_eq!(env.load(&flags()).unwrap().model, "named-file");
    assert_eq!(
        env.load(&with_config(&flagged)).unwrap().model,
        "flagged-file"
    );
    env.vars.insert("KAIWA_CONFIG".into(), String::new()); // empty = unset
    assert_eq!(env.load(&flags()).unwrap().model, "default-file");
}

#[test]
fn an_unreadable_config_is_an_error() {
    let env = Env::new(&[]);
    let error = env.load(&with_config(env.home())).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }), "{error:?}");
    assert!(error.to_string().starts_with(&format!(
        "cannot read config file {}: ",
        env.home().display()
    )));
}

// ---------------------------------------------------------------------------
// Precedence: flag > environment > file > default.

#[test]
fn base_url_precedence() {
    let file = "base_url = \"http://file.example/v1\"\n";
    let env = Env::new(&[]);
    assert_eq!(
        env.load(&flags()).unwrap().base_url,
        "https://api.openai.com/v1"
    );
    env.write_default_config(file);
    assert_eq!(
        env.load(&flags()).unwrap().base_url,
        "http://file.example/v1"
    );

    let mut env = env;
    env.vars
        .insert("OPENAI_BASE_URL".into(), "http://env.example/v1".into());
    assert_eq!(
        env.load(&flags()).unwrap().base_url,
        "http://env.example/v1"
    );

    let flag = Overrides {
        base_url: Some("http://flag.example/v1".into()),
        ..flags()
    };
    let config = env.load(&flag).unwrap();
    assert_eq!(config.base_url, "http://flag.example/v1");
    assert!(!config.is_openai());

    env.vars.insert("OPENAI_BASE_URL".into(), String::new()); // empty = unset
    assert_eq!(
        env.load(&flags()).unwrap().base_url,
        "http://file.example/v1"
    );
}

#[test]
fn model_precedence() {
    let env = Env::new(&[]);
    assert_eq!(env.load(&flags()).unwrap().model, "gpt-4o-mini");
    env.write_default_config("model = \"from-file\"\n");
    assert_eq!(env.load(&flags()).unwrap().model, "from-file");

    let mut env = env;
    env.vars.insert("KAIWA_MODEL".into(), "from-env".into());
    assert_eq!(env.load(&flags()).unwrap().model, "from-env");
    let flag = Overrides {
        model: Some("from-flag".into()),
        ..flags()
    };
    assert_eq!(env.load(&flag).unwrap().model, "from-flag");

    env.vars.insert("KAIWA_MODEL".into(), String::new());
    assert_eq!(env.load(&flags()).unwrap().model, "from-file");

    let empty = Overrides {
        model: Some(String::new()),
        ..flags()
    };
    assert_eq!(
        env.load(&empty).unwrap_err().to_string(),
        "--model must not be empty"
    );
}

#[test]
fn system_flag_beats_file() {
    let env = Env::new(&[]);
    env.write_default_config("system = \"from the file\"\n");
    assert_eq!(
        env.load(&flags()).unwrap().system.as_deref(),
        Some("from the file")
    );
    let flag = Overrides {
        system: Some("from the flag".into()),
        ..flags()
    };
    assert_eq!(
        env.load(&flag).unwrap().system.as_deref(),
        Some("from the flag")
    );
    let cleared = Overrides {
        system: Some(String::new()),
        ..flags()
    };
    assert_eq!(env.load(&cleared).unwrap().system, None);
}

#[test]
fn trailing_slashes_are_dropped_from_every_source() {
    let env = Env::new(&[("OPENAI_BASE_URL", "http://localhost:8080/v1/")]);
    assert_eq!(
        env.load(&flags()).unwrap().base_url,
        "http://localhost:8080/v1"
    );
    let flag = Overrides {
        base_url: Some("http://127.0.0.1:11434/v1//".into()),
        ..flags()
    };
    assert_eq!(
        env.load(&flag).unwrap().base_url,
        "http://127.0.0.1:11434/v1"
    );

    let env = Env::new(&[]);
    env.write_default_config("base_url = \"https://openrouter.ai/api/v1/\"\n");
    assert_eq!(
        env.load(&flags()).unwrap().base_url,
        "https://openrouter.ai/api/v1"
    );
}

#[test]
fn bad_base_url_names_its_source() {
    let env = Env::new(&[("OPENAI_BASE_URL", "localhost:8080")]);
    assert_eq!(
        env.load(&flags()).unwrap_err().to_string(),
        "invalid base URL 'localhost:8080' (from OPENAI_BASE_URL): it must start with http:// or \
         https://"
    );
    let flag = Overrides {
        base_url: Some("ftp://example.com".into()),
        ..flags()
    };
    assert_eq!(
        env.load(&flag).unwrap_err().to_string(),
        "invalid base URL 'ftp://example.com' (from --base-url): it must start with http:// or \
         https://"
    );
    // The flag wins, so the environment's bad value is never used.
    let flag = Overrides {
        base_url: Some("http://localhost:8080".into()),
        ..flags()
    };
    assert_eq!(env.load(&flag).unwrap().base_url, "http://localhost:8080");
}

#[test]
fn is_openai_looks_at_the_host() {
    let load = |url: &str| {
        let env = Env::new(&[("OPENAI_BASE_URL", url)]);
        env.load(&flags()).unwrap().is_openai()
    };
    assert!(load("https://api.openai.com/v1"));
    assert!(load("https://API.OpenAI.com/v1/"));
    assert!(!load("http://localhost:8080/v1"));
    assert!(!load("https://api.openai.com.evil.example/v1"));
}

#[test]
fn missing_key_message_says_how_to_set_it() {
    let message = Config::missing_key_message();
    for needed in ["OPENAI_API_KEY", "api_key_cmd", "--base-url"] {
        assert!(message.contains(needed), "{message}");
    }
    assert!(!message.contains('\n'));
}

// ---------------------------------------------------------------------------
// The key: where it comes from, and that it never shows.

/// The key the configuration gives (running api_key_cmd if that is its source).
fn loaded_key(env: &Env) -> String {
    let key = env.load(&flags()).unwrap().api_key().unwrap().unwrap();
    key.expose().to_owned()
}

#[test]
fn env_key_beats_file_key() {
    let env = Env::new(&[("OPENAI_API_KEY", "sk-from-env")]);
    env.write_default_config("api_key = \"sk-from-file\"\n");
    assert_eq!(loaded_key(&env), "sk-from-env");

    let env = Env::new(&[("OPENAI_API_KEY", "")]);
    env.write_default_config("api_key = \"sk-from-file\"\n");
    assert_eq!(loaded_key(&env), "sk-from-file");
}

#[test]
fn api_key_cmd_provides_the_key() {
    let env = Env::new(&[]);
    env.write_default_config("api_key_cmd = \"printf sk-test\"\n");
    assert_eq!(loaded_key(&env), "sk-test");
}

#[test]
fn api_key_cmd_is_not_run_when_the_env_has_a_key() {
    let env = Env::new(&[("OPENAI_API_KEY", "sk-env")]);
    let marker = env.home().join("ran");
    env.write_default_config(&format!(
        "api_key_cmd = \"touch {}; exit 3\"\n",
        marker.display()
    ));
    assert_eq!(loaded_key(&env), "sk-env");
    assert!(!marker.exists());
}

#[test]
fn api_key_cmd_runs_only_when_the_key_is_asked_for() {
    let env = Env::new(&[]);
    let marker = env.home().join("ran");
    env.write_default_config(&format!(
        "api_key_cmd = \"touch {}; printf sk-%s late\"\n",
        marker.display()
    ));
    let config = env.load(&flags()).unwrap();
    assert!(!marker.exists(), "loading the config ran api_key_cmd");
    assert!(!format!("{config:?}").contains("sk-late"));
    assert_eq!(config.api_key().unwrap().unwrap().expose(), "sk-late");
    assert!(marker.exists());
}

#[test]
fn api_key_cmd_failures_are_clear() {
    let env = Env::new(&[]);
    env.write_default_config("api_key_cmd = \"exit 3\"\n");
    let key_error = || env.load(&flags()).unwrap().api_key().unwrap_err();
    assert_eq!(key_error().to_string(), "api_key_cmd failed (exit 3)");

    env.write_default_config(
        "api_key_cmd = \"echo sk-leaked-stdout; echo 'vault is locked' >&2; exit 1\"\n",
    );
    let error = key_error();
    assert_eq!(
        error.to_string(),
        "api_key_cmd failed (exit 1): vault is locked"
    );
    assert!(!format!("{error:?}").contains("sk-leaked-stdout"));

    env.write_default_config("api_key_cmd = \"true\"\n");
    assert_eq!(
        key_error().to_string(),
        "api_key_cmd printed nothing: it must print the API key on stdout"
    );
}

#[test]
fn the_key_never_shows_in_config_debug() {
    let env = Env::new(&[("OPENAI_API_KEY", "sk-secret-from-env")]);
    let config = env.load(&flags()).unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("sk-secret"), "{debug}");
    assert!(debug.contains("key: Value(***)"), "{debug}");
    assert!(!format!("{config:#?}").contains("sk-secret"));

    let env = Env::new(&[]);
    env.write_default_config("api_key = \"sk-secret-in-file\"\n");
    let config = env.load(&flags()).unwrap();
    assert!(!format!("{config:?}").contains("sk-secret"));
}

#[test]
fn the_key_never_shows_in_any_config_error() {
    type Case<'a> = (Vec<(&'a str, &'a str)>, String, Overrides);
    let secret = "sk-secret-4242";
    let file_with_key = |rest: &str| format!("api_key = \"{secret}\"\n{rest}");
    let cases: Vec<Case> = vec![
        (vec![], file_with_key("modle = 1\n"), flags()),
        (vec![], file_with_key("mouse = \"x\"\n"), flags()),
        (
            vec![],
            file_with_key("api_key_cmd = \"printf x\"\n"),
            flags(),
        ),
        (vec![], file_with_key("base_url = \"nope\"\n"), flags()),
        (vec![], file_with_key("temperature = 9\n"), flags()),
        (vec![], file_with_key("system = \"unclosed\n"), flags()),
        (vec![], format!("api_key = {secret}\n"), flags()),
        (vec![], format!("api_key = [\"{secret}\"]\n"), flags()),
        (vec![], "api_key = 4242\n".to_string(), flags()),
        (
            vec![],
            format!("api_key_cmd = \"echo {secret}; exit 1\"\n"),
            flags(),
        ),
        (
            vec![("OPENAI_API_KEY", secret)],
            String::new(),
            Overrides {
                base_url: Some("bad".into()),
                ..flags()
            },
        ),
        (
            vec![("OPENAI_API_KEY", secret)],
            String::new(),
            Overrides {
                model: Some(String::new()),
                ..flags()
            },
        ),
    ];
    for (vars, file, overrides) in cases {
        let env = Env::new(&vars);
        env.write_default_config(&file);
        // A failing api_key_cmd fails when the key is asked for.
        let error = env
            .load(&overrides)
            .and_then(|config| config.api_key())
            .unwrap_err();
        for shown in [
            error.to_string(),
            format!("{error:?}"),
            format!("{error:#?}"),
        ] {
            assert!(
                !shown.contains(secret) && !shown.contains("4242"),
                "{file:?}: {shown}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Every key of the file.

#[test]
fn every_file_key_is_read() {
    let env = Env::new(&[]);
    let path = env.write_default_config(
        r#"
base_url = "http://localhost:11434/v1/"
api_key = "  sk-file  "
model = "llama3.1:8b"
system = "Be terse."
models = ["qwen2.5", "phi4"]
mouse = false
temperature = 0.2
max_tokens = 512
stream_idle_timeout = 30
history_path = "~/chats/kaiwa.db"
budget_monthly_usd = 5

[prices."llama3.1:8b"]
prompt = 0
completion = 0.5

[prices.gpt-4o]
prompt = 2.5
completion = 10
cached = 1.25
"#,
    );
    let config = env.load(&flags()).unwrap();
    assert_eq!(config.config_path, path);
    assert_eq!(config.base_url, "http://localhost:11434/v1");
    assert_eq!(
        config
            .api_key()
            .unwrap()
            .as_ref()
            .map(kaiwa::secret::ApiKey::expose),
        Some("sk-file")
    );
    assert_eq!(config.model, "llama3.1:8b");
    assert_eq!(config.system.as_deref(), Some("Be terse."));
    assert_eq!(config.models, ["qwen2.5", "phi4"]);
    assert!(!config.mouse);
    assert_eq!(config.temperature, Some(0.2));
    assert_eq!(config.max_tokens, Some(512));
    assert_eq!(config.stream_idle_timeout, Duration::from_secs(30));
    assert_eq!(config.history_path, Some(env.home().join("chats/kaiwa.db")));
    assert_eq!(config.budget_monthly_usd, Some(5.0));
    assert_eq!(config.prices.len(), 2);
    let gpt = config.prices["gpt-4o"];
    assert_eq!(
        (gpt.prompt, gpt.completion, gpt.cached),
        (2.5, 10.0, Some(1.25))
    );
    assert_eq!(config.prices["llama3.1:8b"].cached, None);
}

#[test]
fn history_path_relative_to_the_file_and_off_with_no_history() {
    let env = Env::new(&[]);
    let path = env.write_default_config("history_path = \"chats.db\"\n");
    let config = env.load(&flags()).unwrap();
    assert_eq!(
        config.history_path,
        Some(path.parent().unwrap().join("chats.db"))
    );
    let off = Overrides {
        no_history: true,
        ..flags()
    };
    assert_eq!(env.load(&off).unwrap().history_path, None);
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let env = Env::new(&[]);
    env.write_default_config("\u{feff}model = \"gpt-4o\"\n");
    assert_eq!(env.load(&flags()).unwrap().model, "gpt-4o");
}

// ---------------------------------------------------------------------------
// config.example.toml

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml")
}

#[test]
fn the_example_config_loads_as_shipped() {
    let env = Env::new(&[]);
    let config = env.load(&with_config(&example_path())).unwrap();
    assert!(config.config_file_found);
    assert_eq!(config.base_url, "https://api.openai.com/v1");
    assert_eq!(config.model, "gpt-4o-mini");
}

/// The example with every setting uncommented (the first of each key, and
/// `api_key_cmd` rather than `api_key`) must load too, so its examples are
/// valid, and it must mention every key.
#[test]
fn the_example_config_settings_are_valid_and_complete() {
    let example = std::fs::read_to_string(example_path()).unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut table = String::new();
    let mut uncommented = String::new();
    for line in example.lines() {
        let Some(setting) = line.strip_prefix("# ") else {
            continue;
        };
        if setting.starts_with('[') {
            table = setting.to_string();
        } else if let Some((key, _)) = setting.split_once(" = ") {
            if !key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                continue;
            }
            if !seen.insert(format!("{table}{key}")) || key == "api_key" {
                continue;
            }
        } else {
            continue;
        }
        uncommented.push_str(setting);
        uncommented.push('\n');
    }
    let tables = ["prices", "context", "providers"];
    for key in TOP_KEYS.split(", ").filter(|key| !tables.contains(key)) {
        assert!(
            example.contains(&format!("# {key} = ")),
            "{key} is not documented"
        );
    }
    assert!(example.contains("# [prices."));
    assert!(example.contains("# [context]"));
    for key in [
        "kind",
        "base_url",
        "endpoint",
        "api_version",
        "api_key_cmd",
        "api_key_env",
        "auth",
        "headers",
        "query",
        "models",
        "base_model",
        "local",
    ] {
        assert!(
            example.contains(&format!("# {key} = ")),
            "providers' {key} is not documented"
        );
    }

    let env = Env::new(&[("OPENAI_API_KEY", "sk-env")]);
    let path = env.home().join("uncommented.toml");
    std::fs::write(&path, &uncommented).unwrap();
    let config = env
        .load(&with_config(&path))
        .unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    assert_eq!(config.temperature, Some(0.7));
    assert_eq!(config.prices.len(), 2);
    let names: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "default",
            "az-classic",
            "azure",
            "corp",
            "ollama",
            "openrouter"
        ]
    );
    assert_eq!(
        config.history_path,
        Some(env.home().join(".local/share/kaiwa/history.db"))
    );
}
