//! The files a kaiwa left under a folder (its `HOME`), and their permissions.

#![allow(
    clippy::panic,
    reason = "a folder that cannot be read fails the test, naming it"
)]

use std::path::{Path, PathBuf};

/// Every file under `dir`, recursively; panics on a folder it cannot read, so that no file
/// escapes a check by hiding in one.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The permission bits of `path` (`0o600`, …).
#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}
