//! The `kaiwa` binary: parse the command line, load the configuration, run
//! the chosen mode and map the outcome to the exit code (0 ok, 1 API or
//! network error, 2 usage or config error). Nothing else lives here.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use kaiwa::ask::{self, Exit};
use kaiwa::cli::{Cli, Command};
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
    let config = match Config::load(&cli.common.overrides(), &paths::real_env) {
        Ok(config) => config,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            return ExitCode::from(2);
        }
    };
    let _log_guard = kaiwa::logging::init(&config.state_dir);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
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
            ask::with_stdio(|io| runtime.block_on(ask::run_ask(&config, args, io)))
        }
        Some(Command::Models) => {
            ask::with_stdio(|io| runtime.block_on(ask::run_models(&config, io)))
        }
        Some(Command::History(args)) => {
            ask::with_stdio(|io| history::cli::run_history(&config, &args.command, io))
        }
        Some(Command::Usage(args)) => {
            ask::with_stdio(|io| history::cli::run_usage(&config, args, io))
        }
        None => {
            let resume = cli.resume.as_ref().map(Option::as_deref);
            let startup = match ask::with_stdio(|io| {
                history::cli::startup(&config, cli.continue_last, resume, io)
            }) {
                Ok(startup) => startup,
                Err(code) => return ExitCode::from(code as u8),
            };
            match runtime.block_on(kaiwa::runtime::run_with(&config, startup)) {
                Ok(()) => Exit::Ok,
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
