//! Command-line definitions (clap derive). Parsing only: no I/O here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// kaiwa — a terminal chat client for the OpenAI Chat Completions API and
/// every server that speaks it.
#[derive(Debug, Parser)]
#[command(name = "kaiwa", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options shared by every command.
#[derive(Debug, Clone, Args, Default)]
pub struct CommonArgs {
    /// Model id for requests (env KAIWA_MODEL; config `model`).
    #[arg(long, global = true, value_name = "ID")]
    pub model: Option<String>,
    /// API base URL, e.g. http://localhost:8080/v1 (env OPENAI_BASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub base_url: Option<String>,
    /// System prompt (config `system`).
    #[arg(long, global = true, value_name = "TEXT")]
    pub system: Option<String>,
    /// Config file (env KAIWA_CONFIG; default $XDG_CONFIG_HOME/kaiwa/config.toml).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One-shot: stream the answer to stdout and exit.
    Ask(AskArgs),
    /// List the server's models, one id a line.
    Models,
}

#[derive(Debug, Clone, Args, Default)]
pub struct AskArgs {
    /// The prompt (joined with spaces); `-` or nothing reads stdin. Piped
    /// stdin is appended after the arguments with a blank line between.
    /// Options may come before or after it (`kaiwa ask "why?" --usage`); a
    /// prompt word that starts with `-` goes after `--`.
    #[arg(value_name = "PROMPT", allow_negative_numbers = true)]
    pub prompt: Vec<String>,
    /// Send a non-streaming request and print the server's full JSON response.
    #[arg(long)]
    pub raw: bool,
    /// Print `prompt N · completion N · total N` to stderr at the end.
    #[arg(long)]
    pub usage: bool,
}

impl CommonArgs {
    pub fn overrides(&self) -> crate::config::Overrides {
        crate::config::Overrides {
            config: self.config.clone(),
            base_url: self.base_url.clone(),
            model: self.model.clone(),
            system: self.system.clone(),
            no_history: false,
        }
    }
}
