//! Command-line definitions (clap derive). Parsing only: no I/O here.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

/// Examples at the end of `kaiwa --help`.
const EXAMPLES: &str = "\
Examples:
  kaiwa                                          open the chat (F1 lists the keys)
  kaiwa -c                                       reopen the last conversation
  kaiwa -m gpt-4o -s 'Answer briefly.'           another model and a system prompt
  kaiwa --base-url http://localhost:8080/v1      a local llama.cpp server (no key needed)
  kaiwa ask \"ChatGPT란 무엇입니까?\"              one answer to stdout
  git diff | kaiwa ask 'review this'             stdin is appended after the prompt
  kaiwa models --json                            the server's models, for scripts
  kaiwa history search 'ramen tokyo'             find a saved conversation
  kaiwa config                                   the settings in effect and where each came from
  kaiwa completions bash > ~/.local/share/bash-completion/completions/kaiwa";

const ASK_EXAMPLES: &str = "\
Examples:
  kaiwa ask \"ChatGPT란 무엇입니까?\"
  git diff | kaiwa ask 'review this'
  kaiwa ask -m gpt-4o -s 'You are a translator.' 'Hello'
  kaiwa ask --usage 'Hello'                  prompt N · completion N · total N on stderr
  kaiwa ask --raw 'Hello'                    the server's full JSON, with usage
  kaiwa ask --thinking 'Why?' 2>think.txt    the model's reasoning to stderr
  kaiwa --base-url http://localhost:11434/v1 ask -m llama3.2 'Hello'";

const MODELS_EXAMPLES: &str = "\
Examples:
  kaiwa models
  kaiwa models --json | jq -r '.[].id'
  kaiwa --base-url http://localhost:8080/v1 models";

/// kaiwa — a terminal chat client for the OpenAI Chat Completions API and
/// every server that speaks it.
#[derive(Debug, Parser)]
#[command(name = "kaiwa", version, about, long_about = None, after_help = EXAMPLES)]
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
    #[arg(short = 'm', long, global = true, value_name = "ID")]
    pub model: Option<String>,
    /// API base URL, e.g. http://localhost:8080/v1 (env OPENAI_BASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub base_url: Option<String>,
    /// System prompt (config `system`); `-s ''` sends none.
    #[arg(short = 's', long, global = true, value_name = "TEXT")]
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
    #[command(after_help = ASK_EXAMPLES)]
    Ask(AskArgs),
    /// List the server's models, one id a line.
    #[command(after_help = MODELS_EXAMPLES)]
    Models(ModelsArgs),
    /// Saved conversations: list, search, export, import, path.
    History(HistoryArgs),
    /// Tokens and cost per day and model, from every request made.
    Usage(UsageArgs),
    /// The config file's path and the settings in effect, each with where it
    /// came from (the API key shown as ***).
    Config,
    /// Print shell completions: bash, zsh, fish, elvish, powershell.
    #[command(after_help = "Examples:
  kaiwa completions bash > ~/.local/share/bash-completion/completions/kaiwa
  kaiwa completions zsh > \"${fpath[1]}/_kaiwa\"
  kaiwa completions fish > ~/.config/fish/completions/kaiwa.fish")]
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `kaiwa man | man -l -`.
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Clone, Args, Default)]
pub struct ModelsArgs {
    /// A JSON array of the server's model objects (each with its `id`), for scripts.
    #[arg(long)]
    pub json: bool,
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
    /// Print the model's reasoning (thinking) to stderr as it arrives;
    /// stdout stays the answer alone.
    #[arg(long)]
    pub thinking: bool,
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
