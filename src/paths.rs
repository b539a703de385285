//! Where kaiwa keeps its files (XDG base directories) and how it creates
//! them. Invariant: folders kaiwa creates are mode 0700 and files 0600, set
//! at creation, before a byte is written; existing ones are left as they are.
//! Lookups read the environment only through the `env` function they are
//! given, so tests never touch the process environment.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Reads an environment variable: the "real" `env` for the functions here.
/// A value that is not valid Unicode counts as unset.
pub fn real_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `env(name)`, with an empty value counted as unset.
pub fn non_empty(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|value| !value.is_empty())
}

/// The home folder: `$HOME`, else what the system says, else `/`.
pub fn home_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    non_empty(env, "HOME")
        .map(PathBuf::from)
        .or_else(std::env::home_dir)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// `$name` when set to an absolute path (the XDG spec says to ignore a
/// relative one), else `~/fallback`.
fn xdg(env: &dyn Fn(&str) -> Option<String>, name: &str, fallback: &str) -> PathBuf {
    non_empty(env, name)
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .unwrap_or_else(|| home_dir(env).join(fallback))
}

/// `$XDG_CONFIG_HOME/kaiwa/config.toml`, else `~/.config/kaiwa/config.toml`.
pub fn config_file_default(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    xdg(env, "XDG_CONFIG_HOME", ".config")
        .join("kaiwa")
        .join("config.toml")
}

/// `$XDG_STATE_HOME/kaiwa`, else `~/.local/state/kaiwa`: the log and the
/// prompt history.
pub fn state_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    xdg(env, "XDG_STATE_HOME", ".local/state").join("kaiwa")
}

/// `$XDG_DATA_HOME/kaiwa`, else `~/.local/share/kaiwa`: saved conversations.
pub fn data_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    xdg(env, "XDG_DATA_HOME", ".local/share").join("kaiwa")
}

/// Creates `path` and any missing parents; each folder created is 0700.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Opens `path` for appending, creating it as 0600 if it does not exist.
pub fn open_private_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    private(&mut options).open(path)
}

/// Creates (or truncates) `path` for writing; a new file is 0600.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    private(&mut options).open(path)
}

/// Writes `bytes` to `path` (created or truncated; a new file is 0600) and
/// syncs it to disk before returning.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let mut file = create_private_file(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn private(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn xdg_variables_win() {
        let env = env_of(&[
            ("HOME", "/home/u"),
            ("XDG_CONFIG_HOME", "/c"),
            ("XDG_STATE_HOME", "/s"),
            ("XDG_DATA_HOME", "/d"),
        ]);
        assert_eq!(
            config_file_default(&env),
            PathBuf::from("/c/kaiwa/config.toml")
        );
        assert_eq!(state_dir(&env), PathBuf::from("/s/kaiwa"));
        assert_eq!(data_dir(&env), PathBuf::from("/d/kaiwa"));
    }

    #[test]
    fn empty_or_relative_xdg_falls_back_to_home() {
        let env = env_of(&[
            ("HOME", "/home/u"),
            ("XDG_CONFIG_HOME", ""),
            ("XDG_STATE_HOME", "relative/state"),
        ]);
        assert_eq!(
            config_file_default(&env),
            PathBuf::from("/home/u/.config/kaiwa/config.toml")
        );
        assert_eq!(state_dir(&env), PathBuf::from("/home/u/.local/state/kaiwa"));
        assert_eq!(data_dir(&env), PathBuf::from("/home/u/.local/share/kaiwa"));
    }

    #[cfg(unix)]
    #[test]
    fn created_folders_and_files_are_private() {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("a/b/c");
        create_private_dir(&deep).unwrap();
        for dir in ["a", "a/b", "a/b/c"] {
            let mode = fs::metadata(tmp.path().join(dir))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "{dir}");
        }
        create_private_dir(&deep).unwrap(); // existing: fine

        let log = deep.join("kaiwa.log");
        open_private_append(&log)
            .unwrap()
            .write_all(b"one\n")
            .unwrap();
        open_private_append(&log)
            .unwrap()
            .write_all(b"two\n")
            .unwrap();
        assert_eq!(fs::read_to_string(&log).unwrap(), "one\ntwo\n");
        assert_eq!(
            fs::metadata(&log).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let file = deep.join("file");
        create_private_file(&file)
            .unwrap()
            .write_all(b"long text")
            .unwrap();
        create_private_file(&file)
            .unwrap()
            .write_all(b"short")
            .unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "short");
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
