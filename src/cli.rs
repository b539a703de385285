//! Command-line definitions (clap derive). Parsing only: no I/O here.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

/// kaiwa — a terminal chat client for the OpenAI Chat Completions API and
/// every server that speaks it.
#[derive(Debug, Parser)]
#[command(name = "kaiwa", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Reopen the most recently active conversation.
    #[arg(short = 'c', long = "continue", conflicts_with = "resume")]
    pub continue_last: bool,
    /// Reopen a conversation by uid, unique uid prefix (4+ characters) or
    /// exact title; without ID, open the history browser.
    #[arg(long, value_name = "ID", num_args = 0..=1)]
    pub resume: Option<Option<String>>,
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
    /// Save nothing to the history file for this run.
    #[arg(long, global = true)]
    pub no_history: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One-shot: stream the answer to stdout and exit.
    Ask(AskArgs),
    /// List the server's models, one id a line.
    Models,
    /// Saved conversations: list, search, export, import, path.
    History(HistoryArgs),
    /// Tokens and cost per day and model, from every request made.
    Usage(UsageArgs),
}

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub command: HistoryCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum HistoryCommand {
    /// Saved conversations, most recently active first.
    List {
        /// Show the archived ones instead.
        #[arg(long)]
        archived: bool,
        /// One JSON array, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Conversations whose text contains every word of QUERY.
    Search {
        /// Words to find ("…" keeps a phrase together).
        #[arg(value_name = "QUERY", required = true, num_args = 1..)]
        query: Vec<String>,
        /// One JSON array, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Write conversations as Markdown (the current path) or JSON (the whole tree).
    #[command(group(ArgGroup::new("which").required(true).args(["id", "all"])))]
    Export {
        /// Uid, unique uid prefix or exact title.
        #[arg(value_name = "ID")]
        id: Option<String>,
        /// Every conversation (Markdown: one file each into the -o folder;
        /// JSON: JSONL, one conversation a line).
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = ExportFormat::Md)]
        format: ExportFormat,
        /// Write here instead of stdout (a folder for --all --format md).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Import kaiwa JSON/JSONL or ChatGPT's data export (.zip,
    /// conversations.json, conversations-NNN.json).
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print the history file's path.
    Path,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Md,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct UsageArgs {
    /// How many days back, today included.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub days: u32,
    /// JSON, for scripts.
    #[arg(long)]
    pub json: bool,
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
            no_history: self.no_history,
        }
    }
}
