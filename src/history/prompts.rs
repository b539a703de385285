//! The prompt file: every prompt sent from the chat, one JSON string a line
//! (`$XDG_STATE_HOME/kaiwa/prompt_history.jsonl`), for Up/Down recall.
//!
//! Invariants: nothing is written with `--no-history` (the file is `None`);
//! the file keeps the last [`MAX`] prompts (a longer one is rewritten
//! atomically when read at start-up); reads, rewrites and appends hold one
//! lock, so an early prompt never lands in a file about to be replaced.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Most prompts kept on disk: as many as the app keeps in memory.
pub const MAX: usize = crate::app::state::PROMPT_HISTORY_MAX;

/// The file's name under the state folder.
pub const FILE_NAME: &str = "prompt_history.jsonl";

static LOCK: Mutex<()> = Mutex::new(());

/// The prompt file of one run.
#[derive(Debug, Clone)]
pub struct PromptFile {
    path: PathBuf,
    /// False with `--no-history`: read for recall, never written.
    writable: bool,
}

impl PromptFile {
    pub fn new(state_dir: &Path, writable: bool) -> Self {
        Self {
            path: state_dir.join(FILE_NAME),
            writable,
        }
    }

    /// The last [`MAX`] prompts, oldest first; a longer file is then cut to
    /// them (when writable). Blocking: call off the UI loop.
    pub fn load(&self) -> Vec<String> {
        let _lock = LOCK.lock();
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return Vec::new();
        };
        let mut prompts: Vec<String> = text
            .lines()
            .filter_map(|line| serde_json::from_str::<String>(line).ok())
            .collect();
        prompts.drain(..prompts.len().saturating_sub(MAX));
        if self.writable && text.lines().count() > MAX {
            let _ = rewrite(&self.path, &prompts);
        }
        prompts
    }

    /// Adds one prompt (nothing when not writable). Blocking.
    pub fn append(&self, prompt: &str) {
        if !self.writable {
            return;
        }
        let _lock = LOCK.lock();
        if let Some(dir) = self.path.parent() {
            let _ = crate::paths::create_private_dir(dir);
        }
        if let (Ok(mut file), Ok(line)) = (
            crate::paths::open_private_append(&self.path),
            serde_json::to_string(prompt),
        ) {
            let _ = writeln!(file, "{line}");
        }
    }
}

fn rewrite(path: &Path, prompts: &[String]) -> io::Result<()> {
    let mut text = String::new();
    for prompt in prompts {
        text.push_str(&serde_json::to_string(prompt).map_err(io::Error::other)?);
        text.push('\n');
    }
    let temp = path.with_extension("jsonl.tmp");
    crate::paths::write_private(&temp, text.as_bytes())?;
    std::fs::rename(&temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_prompts_and_writes_nothing_when_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = PromptFile::new(dir.path(), true);
        for i in 0..(MAX + 5) {
            file.append(&format!("p{i}\n\"quoted\""));
        }
        let prompts = file.load();
        assert_eq!(prompts.len(), MAX);
        assert_eq!(prompts.first().map(String::as_str), Some("p5\n\"quoted\""));
        let lines = std::fs::read_to_string(dir.path().join(FILE_NAME))
            .unwrap_or_default()
            .lines()
            .count();
        assert_eq!(lines, MAX, "cut to the last {MAX} when read");

        let off = PromptFile::new(dir.path(), false);
        off.append("never written");
        assert_eq!(off.load().last(), prompts.last());
    }
}
