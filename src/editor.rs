//! `$VISUAL` / `$EDITOR` round trip for the input box: the text goes into a
//! private temporary file (0600), the editor runs on the real terminal
//! (the runtime leaves the TUI first and re-enters after), and the file's
//! text comes back.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::Command;

/// Why editing failed, in words.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum EditorError {
    #[error("cannot create a temporary file: {0}")]
    TempFile(String),
    #[error("cannot start the editor '{command}': {detail}")]
    Spawn { command: String, detail: String },
    #[error("the editor '{command}' exited with {status}; the input is unchanged")]
    Failed { command: String, status: String },
    /// The editor ran but kaiwa could not take the terminal back.
    #[error("cannot restore the screen: {0}")]
    Screen(String),
}

/// The editor command: `$VISUAL`, else `$EDITOR`, else `vi`.
pub fn editor_command(env: &dyn Fn(&str) -> Option<String>) -> String {
    env("VISUAL")
        .filter(|v| !v.trim().is_empty())
        .or_else(|| env("EDITOR").filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_string())
}

/// Edit `text` with `command` (run through `sh -c` so `code --wait` works)
/// in a private file under `dir`. Blocks until the editor exits.
pub fn edit(text: &str, command: &str, dir: &Path) -> Result<String, EditorError> {
    let temp = |e: std::io::Error| EditorError::TempFile(e.to_string());
    crate::paths::create_private_dir(dir).map_err(temp)?;
    let path = dir.join(format!("input-{}.md", std::process::id()));
    let mut file = crate::paths::create_private_file(&path).map_err(temp)?;
    file.write_all(text.as_bytes()).map_err(temp)?;
    drop(file);
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{command} \"$1\""))
        .arg("kaiwa-editor")
        .arg(&path)
        .status()
        .map_err(|e| EditorError::Spawn {
            command: command.to_string(),
            detail: e.to_string(),
        });
    let result = match status {
        Ok(s) if s.success() => {
            let mut edited = String::new();
            std::fs::File::open(&path)
                .and_then(|mut f| f.read_to_string(&mut edited))
                .map_err(temp)
                .map(|_| {
                    edited
                        .strip_suffix('\n')
                        .map(str::to_string)
                        .unwrap_or(edited)
                })
        }
        Ok(s) => Err(EditorError::Failed {
            command: command.to_string(),
            status: s.to_string(),
        }),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&path);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_precedence() {
        let env = |k: &str| match k {
            "VISUAL" => Some(String::new()),
            "EDITOR" => Some("nano".to_string()),
            _ => None,
        };
        assert_eq!(editor_command(&env), "nano");
        assert_eq!(editor_command(&|_| None), "vi");
    }

    #[test]
    fn round_trip_with_a_script() {
        let dir = tempfile::tempdir().unwrap();
        // An "editor" that appends a line.
        let out = edit(
            "hello",
            "sh -c 'printf \"\\nworld\\n\" >> \"$0\"'",
            dir.path(),
        )
        .unwrap();
        assert_eq!(out, "hello\nworld");
        let failed = edit("x", "false", dir.path()).unwrap_err();
        assert!(matches!(failed, EditorError::Failed { .. }));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "temp file removed"
        );
    }
}
