//! The `kaiwa` binary: parse the command line, load the configuration, run
//! the chosen mode and map the outcome to the exit code (0 ok, 1 API or
//! network error, 2 usage or config error). Nothing else lives here.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};
use kaiwa::ask;
use kaiwa::cli::{Cli, Command};
use kaiwa::cli_io::{Exit, with_stdio};
use kaiwa::config::Config;
use kaiwa::history;
use kaiwa::paths;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" to clap; they print and exit 0.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // What needs no configuration comes first: a broken config file must not
    // keep anyone from completions or the manual.
    if let Some(code) = without_config(cli.command.as_ref()) {
        return code;
    }
    let config = match Config::load(&cli.common.overrides(), &paths::real_env) {
        Ok(config) => config,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            return ExitCode::from(2);
        }
    };
    let _log_guard = kaiwa::logging::init(&config.state_dir);
    // One worker beside the main thread (the TUI's loop runs on the main
    // thread in `block_on`; requests, the model lists and the history
    // reader run on the worker): a worker per core (tokio's default) bought
    // nothing on a 2-core machine but cross-thread wake-ups and another
    // malloc arena — a 20k-token answer took 0.13 s with two workers and
    // 0.11 s with one, 18 MiB against 17 (docs/PERFORMANCE.md). The
    // blocking pool (prompt file, key commands, tokenizer tables) is capped
    // too; its threads end after 10 s idle.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(8)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: cannot start the async runtime: {e}"
            );
            return ExitCode::from(1);
        }
    };
    if cli.command.is_some() && (cli.continue_last || cli.resume.is_some()) {
        let _ = writeln!(
            std::io::stderr(),
            "error: -c/--continue and --resume open the chat; they take no command"
        );
        return ExitCode::from(2);
    }
    let exit = match &cli.command {
        Some(Command::Ask(args)) => {
            with_stdio(|io| runtime.block_on(ask::run_ask(&config, args, io)))
        }
        Some(Command::Models(args)) => {
            with_stdio(|io| runtime.block_on(ask::run_models(&config, args, io)))
        }
        Some(Command::Config) => with_stdio(|io| ask::run_config(&config, io)),
        Some(Command::Completions { .. } | Command::Man) => Exit::Ok,
        Some(Command::History(args)) => {
            with_stdio(|io| history::cli::run_history(&config, &args.command, io))
        }
        Some(Command::Usage(args)) => with_stdio(|io| history::cli::run_usage(&config, args, io)),
        None => {
            let resume = cli.resume.as_ref().map(Option::as_deref);
            let startup = match with_stdio(|io| {
                history::cli::startup(&config, cli.continue_last, resume, io)
            }) {
                Ok(startup) => startup,
                Err(code) => return ExitCode::from(code as u8),
            };
            if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
                let _ = writeln!(
                    std::io::stderr(),
                    "error: the chat needs a terminal (stdin and stdout are not both one); \
                     from a script or cron use `kaiwa ask PROMPT` (see kaiwa ask --help)"
                );
                return ExitCode::from(2);
            }
            // The key before the screen changes: api_key_cmd may be a
            // password manager that asks on this terminal.
            let key = match config.model_key() {
                Ok(key) => key,
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "error: {e}");
                    return ExitCode::from(2);
                }
            };
            match runtime.block_on(kaiwa::runtime::run_with(&config, key, startup)) {
                Ok(kaiwa::runtime::Ending::Quit) => Exit::Ok,
                Ok(kaiwa::runtime::Ending::Signal { code }) => {
                    runtime.shutdown_background();
                    return ExitCode::from(code);
                }
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "error: {e}");
                    Exit::Api
                }
            }
        }
    };
    // Don't wait for stray blocking tasks (stdin readers) at exit.
    runtime.shutdown_background();
    ExitCode::from(exit as u8)
}

/// Commands that need no configuration; `Some` ends the process with that
/// code.
fn without_config(command: Option<&Command>) -> Option<ExitCode> {
    match command {
        Some(Command::Completions { shell }) => {
            let mut command = Cli::command();
            clap_complete::generate(*shell, &mut command, "kaiwa", &mut std::io::stdout());
            Some(ExitCode::SUCCESS)
        }
        Some(Command::Man) => {
            let page = clap_mangen::Man::new(Cli::command());
            Some(match page.render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::from(1),
            })
        }
        _ => None,
    }
}
