//! Loading the config file (`Config::load` with `--config FILE`) from
//! arbitrary bytes, with an empty environment but `HOME`.
//!
//! Asserts:
//! - loading never panics;
//! - an error is `path:LINE: message` (`ConfigError::File`) with a line
//!   inside the file;
//! - a secret (an `api_key` value anywhere, a provider's header or query
//!   value: a string holding `sk-`, written once in the file) never shows
//!   in the error's `Display` or `Debug`; a file that loads shows no
//!   `api_key` value in `Config`'s `Debug`, and no secret in `kaiwa
//!   config`'s report (`config::show::report`).

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use kaiwa::config::{Config, ConfigError, Overrides, show};
use libfuzzer_sys::fuzz_target;

/// A folder of this process's own for the file and `HOME`.
fn folder() -> &'static PathBuf {
    static FOLDER: OnceLock<PathBuf> = OnceLock::new();
    FOLDER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("kaiwa-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp folder");
        dir
    })
}

/// Values the file must never show: (is an `api_key`, text).
fn secrets(raw: &str) -> Vec<(bool, String)> {
    let Ok(doc) = toml::from_str::<toml::Table>(raw) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut key = |value: Option<&toml::Value>| {
        if let Some(value) = value {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            found.push((true, text));
        }
    };
    key(doc.get("api_key"));
    let providers = doc.get("providers").and_then(toml::Value::as_table);
    for table in providers.into_iter().flat_map(|t| t.values()) {
        key(table.get("api_key"));
    }
    for table in providers.into_iter().flat_map(|t| t.values()) {
        for field in ["headers", "query"] {
            let values = table.get(field).and_then(toml::Value::as_table);
            for value in values.into_iter().flat_map(|t| t.values()) {
                if let Some(text) = value.as_str() {
                    found.push((false, text.to_string()));
                }
            }
        }
    }
    found.retain(|(_, text)| {
        let trimmed = text.trim();
        trimmed.contains("sk-") && trimmed.len() >= 6 && raw.matches(trimmed).count() == 1
    });
    found
        .into_iter()
        .map(|(is_key, text)| (is_key, text.trim().to_string()))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let dir = folder();
    let path = dir.join("config.toml");
    std::fs::write(&path, data).expect("write the config file");
    let home = dir.display().to_string();
    let env = move |name: &str| (name == "HOME").then(|| home.clone());
    let overrides = Overrides {
        config: Some(path.clone()),
        ..Overrides::default()
    };
    let raw = String::from_utf8_lossy(data);
    let secrets = secrets(&raw);
    match Config::load(&overrides, &env) {
        Ok(config) => {
            let debug = format!("{config:?}");
            let report = show::report(&config);
            for (is_key, secret) in &secrets {
                if *is_key {
                    assert!(!debug.contains(secret.as_str()), "Debug shows {secret:?}");
                }
                assert!(
                    !report.contains(secret.as_str()),
                    "the report shows {secret:?}"
                );
            }
        }
        Err(error) => {
            let shown = error.to_string();
            let debug = format!("{error:?}");
            let ConfigError::File { line, .. } = &error else {
                panic!("an error that names no line: {shown}");
            };
            let lines = raw.split('\n').count();
            assert!(
                (1..=lines).contains(line),
                "line {line} of {lines}: {shown}"
            );
            assert!(
                shown.starts_with(&format!("{}:{line}: ", path.display())),
                "{shown}"
            );
            for (_, secret) in &secrets {
                assert!(
                    !shown.contains(secret.as_str()),
                    "the error shows {secret:?}: {shown}"
                );
                assert!(
                    !debug.contains(secret.as_str()),
                    "Debug shows {secret:?}: {debug}"
                );
            }
        }
    }
});
