//! kaiwa's command line end to end: the built binary, run with a cleared environment in a
//! [`Sandbox`] (a temporary `HOME` with the `XDG_*` folders under it), and what it printed.
//!
//! Invariant: a run sees only the variables the sandbox sets (and those a test adds), never the
//! developer's own config, history or key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: what they cannot do fails the test, with a message"
)]

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;

use super::files::files_under;
use super::mock::MockServer;

/// The binary under test.
pub const KAIWA: &str = env!("CARGO_BIN_EXE_kaiwa");

/// The API key [`Sandbox::against`] gives kaiwa.
pub const KEY: &str = "sk-kaiwa-secret-12345";

/// Longest a single [`run`] may take before the test fails (it never should).
pub const RUN_LIMIT: Duration = Duration::from_secs(30);

/// A fresh `HOME` with the XDG folders under it: `config`, `state` and `data`.
pub struct Sandbox {
    home: TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// The `HOME` folder.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// `rel` under `HOME`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.home().join(rel)
    }

    /// The history file kaiwa uses here.
    pub fn db(&self) -> PathBuf {
        self.path("data/kaiwa/history.db")
    }

    /// The whole environment of a run: `HOME`, the XDG folders, `PATH` and `LANG`.
    pub fn env(&self) -> [(&'static str, OsString); 6] {
        [
            ("HOME", self.home().into()),
            ("XDG_CONFIG_HOME", self.path("config").into()),
            ("XDG_STATE_HOME", self.path("state").into()),
            ("XDG_DATA_HOME", self.path("data").into()),
            ("PATH", std::env::var_os("PATH").unwrap_or_default()),
            ("LANG", "C.UTF-8".into()),
        ]
    }

    /// `kaiwa ARGS` with only [`Sandbox::env`] set.
    pub fn kaiwa(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(KAIWA);
        cmd.args(args).env_clear().envs(self.env());
        cmd
    }

    /// `kaiwa ARGS` pointed at the mock, with [`KEY`].
    pub fn against(&self, mock: &MockServer, args: &[&str]) -> Command {
        let mut cmd = self.kaiwa(args);
        cmd.env("OPENAI_BASE_URL", mock.base_url())
            .env("OPENAI_API_KEY", KEY);
        cmd
    }

    /// `kaiwa ARGS` with stdin from `/dev/null`, to the end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.kaiwa(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Every file under `HOME` with its bytes.
    pub fn files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        files_under(self.home())
            .into_iter()
            .map(|path| {
                let bytes =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                (path, bytes)
            })
            .collect()
    }
}

/// Runs `cmd` with `stdin` (None: an empty, non-terminal stdin) and waits at most
/// [`RUN_LIMIT`].
pub fn run(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let input = stdin.unwrap_or_default().to_vec();
    let mut pipe = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = rx
        .recv_timeout(RUN_LIMIT)
        .unwrap_or_else(|_| panic!("kaiwa did not finish within {RUN_LIMIT:?}"))
        .unwrap();
    writer.join().unwrap();
    output
}

/// What the run printed on stdout (UTF-8).
pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// What the run printed on stderr (UTF-8).
pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// The exit code.
pub fn code(output: &Output) -> i32 {
    output.status.code().expect("exited by a signal")
}
