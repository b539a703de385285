//! Writing a saved conversation as a Markdown file: the one export the
//! chat (Ctrl+E in the browser) and `kaiwa history export --all --format
//! md` share.
//!
//! Invariant: the folder is created 0700 and the file 0600, and the file is
//! synced before its path is reported.

use std::path::{Path, PathBuf};

use crate::store::{Store, StoreError};

/// `<uid>-<title-slug>.md`: sorts by time, says what it is.
pub fn markdown_file_name(uid: &str, title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.chars().count() >= 48 {
            break;
        }
    }
    let slug = slug.trim_matches('-');
    let slug = if slug.is_empty() {
        "conversation"
    } else {
        slug
    };
    format!("{uid}-{slug}.md")
}

/// Writes conversation `uid` of `store` as Markdown into `dir` (0700 if
/// created, the file 0600); returns the file's path.
pub fn export_markdown_file(store: &Store, uid: &str, dir: &Path) -> Result<PathBuf, StoreError> {
    let text = store.export_markdown(uid)?;
    let title = store
        .summary(uid)?
        .map(|s| s.display_title().to_string())
        .unwrap_or_default();
    let io_error = |context: String| move |source| StoreError::Io { context, source };
    crate::paths::create_private_dir(dir)
        .map_err(io_error(format!("cannot create {}", dir.display())))?;
    let file = dir.join(markdown_file_name(uid, &title));
    crate::paths::write_private(&file, text.as_bytes())
        .map_err(io_error(format!("cannot write {}", file.display())))?;
    Ok(file)
}
