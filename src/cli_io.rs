//! What the shell commands (`ask`, `models`, `config`, `history`, `usage`)
//! share below all of them: the exit code and the standard streams with
//! their terminal-ness. It imports nothing of kaiwa but the sanitiser.

use std::io::{self, IsTerminal, Read, Write};

use crate::text::sanitize::sanitize_str;

/// The outcome of a one-shot command, mapped to the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Api = 1,
    Usage = 2,
    /// Stopped by Ctrl+C / SIGTERM (the shell's 128 + SIGINT).
    Interrupted = 130,
}

/// Where a command reads and writes; real stdio in `main`, buffers in tests.
pub struct Io<'a> {
    pub stdin: &'a mut dyn Read,
    pub stdin_is_terminal: bool,
    pub stdout: &'a mut dyn Write,
    pub stdout_is_terminal: bool,
    pub stderr: &'a mut dyn Write,
    pub stderr_is_terminal: bool,
}

impl Io<'_> {
    /// `error: MESSAGE` on stderr, sanitised when stderr is a terminal.
    pub fn error_line(&mut self, message: &str) {
        let text = if self.stderr_is_terminal {
            sanitize_str(message)
        } else {
            message.to_string()
        };
        let _ = writeln!(self.stderr, "error: {text}");
    }
}

/// Real stdio handles with their terminal-ness.
pub fn with_stdio<T>(f: impl FnOnce(&mut Io<'_>) -> T) -> T {
    let stdin = io::stdin();
    let stdout = io::stdout();
    let stderr = io::stderr();
    let stdin_is_terminal = stdin.is_terminal();
    let stdout_is_terminal = stdout.is_terminal();
    let stderr_is_terminal = stderr.is_terminal();
    let mut stdin = stdin.lock();
    let mut stdout = stdout.lock();
    let mut stderr = stderr.lock();
    let mut io = Io {
        stdin: &mut stdin,
        stdin_is_terminal,
        stdout: &mut stdout,
        stdout_is_terminal,
        stderr: &mut stderr,
        stderr_is_terminal,
    };
    f(&mut io)
}
