//! Writing the first run's choice into the config file (`s` on the
//! first-run panel): `model = "KIND:ID"` at the top level and a
//! `[providers.KIND]` table with `base_url`, `auth = "none"` and
//! `local = true`. The rest of the file (comments, order, other keys) is
//! kept as it was: toml_edit edits the document in place.

use std::path::Path;

use toml_edit::{DocumentMut, Item, Table, value};

/// Sets the model and the local provider in the file at `path` (created,
/// 0600, with its folder 0700, when missing). The error is in words.
pub fn save_local_provider(
    path: &Path,
    name: &str,
    base_url: &str,
    model: &str,
) -> Result<(), String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| format!("{} is not valid TOML: {e}", path.display()))?;
    doc.insert("model", value(model));
    let providers = doc
        .entry("providers")
        .or_insert_with(|| {
            let mut table = Table::new();
            table.set_implicit(true);
            Item::Table(table)
        })
        .as_table_mut()
        .ok_or_else(|| format!("'providers' in {} is not a table", path.display()))?;
    let mut table = Table::new();
    table.insert("base_url", value(base_url));
    table.insert("auth", value("none"));
    table.insert("local", value(true));
    providers.insert(name, Item::Table(table));
    if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty()) {
        crate::paths::create_private_dir(folder)
            .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    }
    crate::paths::write_private(path, doc.to_string().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_file_and_adds_the_choice_where_toml_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kaiwa/config.toml");
        save_local_provider(
            &path,
            "ollama",
            "http://127.0.0.1:11434/v1",
            "ollama:llama3.2:3b",
        )
        .unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        let value: toml::Table = first.parse().unwrap();
        assert_eq!(value["model"].as_str(), Some("ollama:llama3.2:3b"));
        assert_eq!(
            value["providers"]["ollama"]["base_url"].as_str(),
            Some("http://127.0.0.1:11434/v1")
        );
        assert_eq!(value["providers"]["ollama"]["local"].as_bool(), Some(true));

        // An existing file keeps its comments and keys; `model` stays above
        // the tables (below one it would belong to that table).
        std::fs::write(
            &path,
            "# mine\nsystem = \"be brief\"\n\n[prices.\"x\"]\nprompt = 1\ncompletion = 2\n",
        )
        .unwrap();
        save_local_provider(&path, "local", "http://127.0.0.1:8080/v1", "local:qwen").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# mine\nsystem = \"be brief\"\n"),
            "{text}"
        );
        let value: toml::Table = text.parse().unwrap();
        assert_eq!(value["model"].as_str(), Some("local:qwen"));
        assert_eq!(value["prices"]["x"]["prompt"].as_integer(), Some(1));
        assert_eq!(value["providers"]["local"]["auth"].as_str(), Some("none"));
    }
}
