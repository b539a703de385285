//! A pseudo-terminal harness for end-to-end tests of the TUI: it runs the real `kaiwa` binary in
//! a PTY (portable-pty) with a clean environment under a temporary `HOME`, feeds everything the
//! program writes into a `vt100` parser (and keeps the raw bytes for byte-level assertions), and
//! offers waits on the screen as of the last complete frame, which block on new output with a
//! timeout (`KAIWA_TEST_WAIT_MS`, default 10 s) instead of sleeping. Like a terminal, it answers
//! cursor-position queries (unless told not to).
//!
//! Invariant: every wait ends, either because its condition holds or with a panic that shows the
//! screen; dropping a [`Tui`] kills and reaps a kaiwa that is still running.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

use super::mock::{MockServer, RecordedRequest};

/// The acceptance size (SPEC "How kaiwa is checked").
pub const COLS: u16 = 120;
pub const ROWS: u16 = 40;

/// The key every spawned kaiwa gets unless told otherwise.
pub const TEST_KEY: &str = "sk-kaiwa-test-key";

/// Keys as a terminal sends them.
pub mod keys {
    pub const ENTER: &str = "\r";
    pub const TAB: &str = "\t";
    pub const BACKSPACE: &str = "\x7f";
    pub const UP: &str = "\x1b[A";
    pub const DOWN: &str = "\x1b[B";
    pub const LEFT: &str = "\x1b[D";
    pub const ESC: &str = "\x1b";
    pub const CTRL_A: &str = "\x01";
    pub const CTRL_C: &str = "\x03";
    pub const CTRL_D: &str = "\x04";
    pub const CTRL_E: &str = "\x05";
    pub const CTRL_P: &str = "\x10";
    pub const CTRL_R: &str = "\x12";
    pub const CTRL_Q: &str = "\x11";
    pub const CTRL_O: &str = "\x0f";
    pub const CTRL_N: &str = "\x0e";
    pub const CTRL_Z: &str = "\x1a";
    pub const CTRL_J: &str = "\n";
    pub const ALT_ENTER: &str = "\x1b\r";
    pub const F1: &str = "\x1bOP";
    pub const F2: &str = "\x1bOQ";
    pub const F3: &str = "\x1bOR";
    pub const F11: &str = "\x1b[23~";
    pub const F12: &str = "\x1b[24~";
    pub const PAGE_UP: &str = "\x1b[5~";
    pub const PAGE_DOWN: &str = "\x1b[6~";
    pub const CTRL_END: &str = "\x1b[1;5F";
    pub const PASTE_START: &str = "\x1b[200~";
    pub const PASTE_END: &str = "\x1b[201~";
}

/// How long a wait may take: `KAIWA_TEST_WAIT_MS`, else 10 s (generous for a loaded 2-core CI
/// machine; a passing test never waits that long).
pub fn wait_timeout() -> Duration {
    std::env::var("KAIWA_TEST_WAIT_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

/// A [`vt100::Screen`] as rows of plain text (trailing blanks removed).
pub fn screen_rows(screen: &vt100::Screen) -> Vec<String> {
    let (_, cols) = screen.size();
    screen
        .rows(0, cols)
        .map(|row| row.trim_end().to_owned())
        .collect()
}

/// The last non-empty row: the status bar.
pub fn status_of(screen: &vt100::Screen) -> String {
    screen_rows(screen)
        .into_iter()
        .rev()
        .find(|row| !row.trim().is_empty())
        .unwrap_or_default()
}

/// The status bar without its context meter (` · ctx 12%`, ` · ctx ~3%`)
/// and its warnings (` │ ⚠ …`, such as a mock's made-up usage reading as
/// history cut by the server): what the counting tests compare.
pub fn without_meter(status: &str) -> String {
    let status = status.split_once(" │ ⚠ ").map_or(status, |(head, _)| head);
    let Some((head, tail)) = status.split_once(" · ctx ") else {
        return status.to_string();
    };
    let rest = tail.split_once('%').map_or("", |(_, rest)| rest);
    format!("{head}{rest}")
}

/// The screen as numbered rows, for failure messages.
pub fn dump(screen: &vt100::Screen) -> String {
    let mut out = String::new();
    for (i, row) in screen_rows(screen).iter().enumerate() {
        let _ = writeln!(out, "{i:>2}|{row}");
    }
    out
}

/// Where `needle` first stands in `haystack` (raw output, say).
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Where `needle` last stands in `haystack`.
pub fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// Whether `needle` stands in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

/// Device Status Report: "where is the cursor?" (crossterm asks it, e.g. in ratatui's
/// `Terminal::clear`); a terminal answers `ESC [row;colR`.
const CURSOR_QUERY: &[u8] = b"\x1b[6n";

fn count(bytes: &[u8]) -> usize {
    bytes
        .windows(CURSOR_QUERY.len())
        .filter(|w| *w == CURSOR_QUERY)
        .count()
}

const SYNC_BEGIN: &[u8] = b"\x1b[?2026h";
const SYNC_END: &[u8] = b"\x1b[?2026l";

struct Output {
    parser: vt100::Parser,
    /// The screen as of the last complete frame: kaiwa draws each frame inside a synchronized
    /// update (`ESC [?2026h` … `ESC [?2026l`), and a terminal shows it only at the end, so waits
    /// never see half a frame.
    shown: vt100::Screen,
    /// Inside a synchronized update.
    in_sync: bool,
    raw: Vec<u8>,
    eof: bool,
}

impl Output {
    /// Feed output to the emulator, updating `shown` wherever a frame is complete.
    fn feed(&mut self, bytes: &[u8]) {
        self.raw.extend_from_slice(bytes);
        let mut rest = bytes;
        while let Some((at, len, begins)) = next_sync_marker(rest) {
            let (head, tail) = rest.split_at(at + len);
            self.process(head);
            self.in_sync = begins;
            if !begins {
                self.shown = self.parser.screen().clone();
            }
            rest = tail;
        }
        self.process(rest);
        if !self.in_sync {
            self.shown = self.parser.screen().clone();
        }
    }

    /// The emulator takes `bytes`. vt100 panics on some wide characters drawn right after a
    /// resize (a frame drawn for the old, larger size puts one where the shrunk screen cut a
    /// wide character in half), where a terminal copes; then the emulator goes on from the
    /// last complete frame (kaiwa redraws everything after a resize) rather than stop reading.
    fn process(&mut self, bytes: &[u8]) {
        let parser = &mut self.parser;
        let processed =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parser.process(bytes)));
        if processed.is_err() {
            *self.parser.screen_mut() = self.shown.clone();
        }
    }
}

/// The first synchronized-update marker in `bytes`: (offset, length, whether it begins one).
fn next_sync_marker(bytes: &[u8]) -> Option<(usize, usize, bool)> {
    match (find(bytes, SYNC_BEGIN), find(bytes, SYNC_END)) {
        (Some(b), Some(e)) if b < e => Some((b, SYNC_BEGIN.len(), true)),
        (_, Some(e)) => Some((e, SYNC_END.len(), false)),
        (Some(b), None) => Some((b, SYNC_BEGIN.len(), true)),
        (None, None) => None,
    }
}

struct Shared {
    out: Mutex<Output>,
    /// Notified whenever output arrives or the PTY closes.
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Output> {
        self.out.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Releases `out` until output arrives, the PTY closes or `timeout` passes; `out` again.
    fn wait_change<'a>(
        &'a self,
        out: MutexGuard<'a, Output>,
        timeout: Duration,
    ) -> MutexGuard<'a, Output> {
        self.changed
            .wait_timeout(out, timeout)
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }
}

/// What to run: arguments and environment on top of the clean default.
#[derive(Debug, Clone)]
pub struct TuiBuilder {
    args: Vec<OsString>,
    env: Vec<(String, Option<String>)>,
    cols: u16,
    rows: u16,
    answer_cursor_queries: bool,
    /// A bash script that runs kaiwa (as `"$KAIWA"`, with the arguments as `"$@"`), for
    /// job control: `set -m` gives kaiwa a process group of its own, as an interactive
    /// shell does, so Ctrl+Z and `fg` work as they do for a user.
    shell: Option<String>,
    /// Written to `~/.config/kaiwa/config.toml` before kaiwa starts.
    config: Option<String>,
}

impl TuiBuilder {
    /// kaiwa against `base_url` (usually the mock's) with [`TEST_KEY`].
    pub fn new(base_url: &str) -> Self {
        Self {
            args: Vec::new(),
            env: vec![
                ("OPENAI_BASE_URL".to_owned(), Some(base_url.to_owned())),
                ("OPENAI_API_KEY".to_owned(), Some(TEST_KEY.to_owned())),
            ],
            cols: COLS,
            rows: ROWS,
            answer_cursor_queries: true,
            shell: None,
            config: None,
        }
    }

    /// kaiwa with neither `OPENAI_BASE_URL` nor `OPENAI_API_KEY` (OpenAI's default URL).
    pub fn bare() -> Self {
        Self {
            args: Vec::new(),
            env: Vec::new(),
            cols: COLS,
            rows: ROWS,
            answer_cursor_queries: true,
            shell: None,
            config: None,
        }
    }

    /// Start with this config file (`~/.config/kaiwa/config.toml`), and wait
    /// for the first frame.
    pub fn spawn_with_config(mut self, config: &str) -> Tui {
        self.config = Some(config.to_owned());
        self.spawn()
    }

    #[must_use]
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Set (or override) an environment variable.
    #[must_use]
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), Some(value.to_owned())));
        self
    }

    /// Remove an environment variable set by default.
    #[must_use]
    pub fn env_remove(mut self, key: &str) -> Self {
        self.env.push((key.to_owned(), None));
        self
    }

    #[must_use]
    pub fn size(mut self, cols: u16, rows: u16) -> Self {
        self.cols = cols;
        self.rows = rows;
        self
    }

    /// Whether the emulator answers a cursor-position query (`ESC [6n`) as terminals do
    /// (default: yes). Off, it behaves like a terminal that never answers.
    #[must_use]
    pub fn answer_cursor_queries(mut self, answer: bool) -> Self {
        self.answer_cursor_queries = answer;
        self
    }

    /// Run kaiwa from a bash script (see the field `shell`); `Tui::pid` is then bash's.
    #[must_use]
    pub fn via_shell(mut self, script: &str) -> Self {
        self.shell = Some(script.to_owned());
        self
    }

    /// Start kaiwa and wait until it has drawn its first frame (alternate screen on, a status
    /// bar drawn), so that keys sent afterwards reach it in raw mode.
    pub fn spawn(self) -> Tui {
        let tui = self.spawn_unready();
        tui.wait_until("the first frame", |s| {
            s.alternate_screen() && !status_of(s).is_empty()
        });
        tui
    }

    /// kaiwa, or bash running the `shell` script, with the arguments.
    fn command(&self) -> CommandBuilder {
        let kaiwa = env!("CARGO_BIN_EXE_kaiwa");
        let mut cmd = match &self.shell {
            Some(script) => {
                let mut cmd = CommandBuilder::new("bash");
                cmd.args(["-c", script.as_str(), "kaiwa-test-shell"]);
                cmd
            }
            None => CommandBuilder::new(kaiwa),
        };
        cmd.args(&self.args);
        cmd.env_clear();
        cmd.env("KAIWA", kaiwa);
        cmd
    }

    /// Start kaiwa without waiting for anything.
    #[allow(clippy::expect_used, reason = "a test cannot go on without its PTY")]
    pub fn spawn_unready(self) -> Tui {
        let home = tempfile::tempdir().expect("pty: temp HOME");
        let pty = native_pty_system();
        let pair = pty
            .openpty(PtySize {
                rows: self.rows,
                cols: self.cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("pty: openpty");
        if let Some(config) = &self.config {
            let dir = home.path().join(".config/kaiwa");
            std::fs::create_dir_all(&dir).expect("pty: config folder");
            std::fs::write(dir.join("config.toml"), config).expect("pty: config file");
        }
        let mut cmd = self.command();
        cmd.cwd(home.path());
        let h = home.path();
        let defaults = [
            ("HOME", h.to_path_buf()),
            ("XDG_CONFIG_HOME", h.join(".config")),
            ("XDG_STATE_HOME", h.join(".local/state")),
            ("XDG_DATA_HOME", h.join(".local/share")),
        ];
        for (key, path) in defaults {
            cmd.env(key, path);
        }
        cmd.env("TERM", "xterm-256color");
        cmd.env("LANG", "C.UTF-8");
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        for (key, value) in &self.env {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            }
        }
        let child = pair.slave.spawn_command(cmd).expect("pty: spawn kaiwa");
        // Only the child holds the slave now, so the reader sees EOF when kaiwa exits.
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty: reader");
        let writer = Arc::new(Mutex::new(pair.master.take_writer().expect("pty: writer")));
        let answers = self.answer_cursor_queries.then(|| Arc::clone(&writer));
        let shared = Arc::new(Shared {
            out: Mutex::new(Output {
                parser: vt100::Parser::new(self.rows, self.cols, 0),
                shown: vt100::Parser::new(self.rows, self.cols, 0).screen().clone(),
                in_sync: false,
                raw: Vec::new(),
                eof: false,
            }),
            changed: Condvar::new(),
        });
        let feed = Arc::clone(&shared);
        thread::Builder::new()
            .name("pty-reader".to_owned())
            .spawn(move || {
                let mut buf = vec![0_u8; 64 * 1024];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let bytes = buf.get(..n).unwrap_or_default();
                            let mut out = feed.lock();
                            let from = out.raw.len().saturating_sub(CURSOR_QUERY.len() - 1);
                            out.feed(bytes);
                            let queries = count(out.raw.get(from..).unwrap_or_default());
                            let (row, col) = out.parser.screen().cursor_position();
                            drop(out);
                            feed.changed.notify_all();
                            if let Some(writer) = &answers {
                                let reply = format!("\x1b[{};{}R", row + 1, col + 1);
                                let mut w = writer.lock().unwrap_or_else(PoisonError::into_inner);
                                for _ in 0..queries {
                                    let _ = w.write_all(reply.as_bytes());
                                }
                                let _ = w.flush();
                            }
                        }
                    }
                }
                feed.lock().eof = true;
                feed.changed.notify_all();
            })
            .expect("pty: reader thread");
        let pid = child.process_id().unwrap_or(0);
        Tui {
            shared,
            writer,
            master: pair.master,
            child,
            home,
            pid,
            exit: None,
        }
    }
}

/// kaiwa against `mock` with the defaults of [`TuiBuilder::new`], ready for keys.
pub fn start(mock: &MockServer) -> Tui {
    TuiBuilder::new(&mock.base_url()).spawn()
}

/// A running kaiwa in a PTY.
pub struct Tui {
    shared: Arc<Shared>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    master: Box<dyn MasterPty + Send>,
    child: Box<dyn Child + Send + Sync>,
    home: tempfile::TempDir,
    /// The process id (for `/proc` sampling).
    pub pid: u32,
    exit: Option<u32>,
}

impl Tui {
    /// The temporary `HOME` (with the `XDG_*` folders under it).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// `$XDG_STATE_HOME/kaiwa/kaiwa.log`.
    pub fn log_path(&self) -> PathBuf {
        self.home().join(".local/state/kaiwa/kaiwa.log")
    }

    /// Write bytes as typed (or pasted) at the terminal.
    pub fn send(&self, bytes: &str) {
        self.send_bytes(bytes.as_bytes());
    }

    #[allow(clippy::expect_used, reason = "a test cannot go on without its PTY")]
    pub fn send_bytes(&self, bytes: &[u8]) {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        writer.write_all(bytes).expect("pty: write");
        writer.flush().expect("pty: flush");
    }

    /// A lone Esc: sent, then given time to be read on its own, since an ESC immediately
    /// followed by more bytes reads as Alt+key. The gap is not a correctness sleep for the
    /// application; it only separates two keystrokes as a human would.
    pub fn send_esc(&self) {
        self.send(keys::ESC);
        thread::sleep(Duration::from_millis(60));
    }

    /// A bracketed paste of `text`.
    pub fn paste(&self, text: &str) {
        let mut bytes = Vec::with_capacity(text.len() + 12);
        bytes.extend_from_slice(keys::PASTE_START.as_bytes());
        bytes.extend_from_slice(text.as_bytes());
        bytes.extend_from_slice(keys::PASTE_END.as_bytes());
        self.send_bytes(&bytes);
    }

    /// Writes `bytes` from another thread (for pastes larger than the PTY buffer, which block
    /// until kaiwa reads them). Join the handle to know they were all written.
    pub fn send_in_background(&self, bytes: Vec<u8>) -> thread::JoinHandle<std::io::Result<()>> {
        let writer = Arc::clone(&self.writer);
        thread::spawn(move || {
            let mut writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
            writer.write_all(&bytes)?;
            writer.flush()
        })
    }

    /// Resize the terminal (kaiwa gets SIGWINCH) and the emulator with it.
    #[allow(clippy::expect_used, reason = "a test cannot go on without its PTY")]
    pub fn resize(&self, cols: u16, rows: u16) {
        {
            let mut out = self.shared.lock();
            out.parser.screen_mut().set_size(rows, cols);
            out.shown.set_size(rows, cols);
        }
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("pty: resize");
    }

    /// Run `f` on the current screen.
    pub fn with_screen<T>(&self, f: impl FnOnce(&vt100::Screen) -> T) -> T {
        f(&self.shared.lock().shown)
    }

    /// The screen as plain text, rows joined with `\n`.
    pub fn screen_text(&self) -> String {
        self.with_screen(|s| screen_rows(s).join("\n"))
    }

    /// The screen's rows as plain text (trailing blanks removed).
    pub fn rows(&self) -> Vec<String> {
        self.with_screen(screen_rows)
    }

    /// The last non-empty row.
    pub fn status_bar(&self) -> String {
        self.with_screen(status_of)
    }

    /// Every byte kaiwa wrote so far.
    pub fn raw(&self) -> Vec<u8> {
        self.shared.lock().raw.clone()
    }

    /// How many bytes kaiwa wrote so far (a mark for [`Tui::raw_since`]).
    pub fn raw_len(&self) -> usize {
        self.shared.lock().raw.len()
    }

    /// The bytes kaiwa wrote after `mark`.
    pub fn raw_since(&self, mark: usize) -> Vec<u8> {
        self.shared
            .lock()
            .raw
            .get(mark..)
            .unwrap_or_default()
            .to_vec()
    }

    /// Waits until `done(screen)` holds; panics with the screen after the timeout or if kaiwa's
    /// output ended first.
    pub fn wait_until(&self, what: &str, done: impl FnMut(&vt100::Screen) -> bool) {
        self.wait_until_for(what, wait_timeout(), done);
    }

    /// [`Tui::wait_until`] with an explicit timeout.
    #[allow(
        clippy::panic,
        reason = "a failed wait is a failed test; the message says why"
    )]
    pub fn wait_until_for(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&vt100::Screen) -> bool,
    ) {
        if let Err(why) = self.try_wait_until(timeout, &mut done) {
            panic!("waiting for {what} failed: {why}");
        }
    }

    /// Waits until `done(screen)` holds: Ok, or Err(why, with the screen) after `timeout` or
    /// when kaiwa's output ended without the condition holding.
    pub fn try_wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&vt100::Screen) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut out = self.shared.lock();
        loop {
            if done(&out.shown) {
                return Ok(());
            }
            let now = Instant::now();
            if out.eof || now >= deadline {
                let why = if out.eof {
                    "kaiwa's output ended (it exited)".to_owned()
                } else {
                    format!("no match within {timeout:?}")
                };
                return Err(format!("{why}; the screen:\n{}", dump(&out.shown)));
            }
            out = self.shared.wait_change(out, deadline - now);
        }
    }

    /// Waits until the screen contains `text`.
    pub fn wait_for(&self, text: &str) {
        self.wait_until(&format!("{text:?} on screen"), |s| {
            screen_rows(s).join("\n").contains(text)
        });
    }

    /// Waits until the status bar is exactly `text`.
    /// Waits until the status bar reads `text`, leaving out its context
    /// meter (` · ctx 0%`, tested on its own) unless `text` has one.
    pub fn wait_status(&self, text: &str) {
        self.wait_until(&format!("the status bar to read {text:?}"), |s| {
            let status = status_of(s);
            status == text || (!text.contains(" · ctx ") && without_meter(&status) == text)
        });
    }

    /// Waits until the raw output since `mark` satisfies `done`.
    pub fn wait_raw(&self, what: &str, mark: usize, mut done: impl FnMut(&[u8]) -> bool) {
        let timeout = wait_timeout();
        let deadline = Instant::now() + timeout;
        let mut out = self.shared.lock();
        loop {
            if done(out.raw.get(mark..).unwrap_or_default()) {
                return;
            }
            let now = Instant::now();
            assert!(
                !out.eof && now < deadline,
                "waiting for {what} in the output failed (timeout {timeout:?}); the screen:\n{}",
                dump(&out.shown)
            );
            out = self.shared.wait_change(out, deadline - now);
        }
    }

    /// Waits for kaiwa to exit (and its output to be read to the end); its exit code, or None
    /// when it did not exit within `timeout`.
    pub fn wait_exit_for(&mut self, timeout: Duration) -> Option<u32> {
        if self.exit.is_some() {
            return self.exit;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status.exit_code());
                break;
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
        // Read the output to the end: the PTY reports EOF once the last slave handle closes.
        let mut out = self.shared.lock();
        while !out.eof && Instant::now() < deadline + Duration::from_secs(2) {
            out = self.shared.wait_change(out, Duration::from_millis(50));
        }
        self.exit
    }

    /// [`Tui::wait_exit_for`] with the default timeout; panics if kaiwa does not exit.
    #[allow(
        clippy::panic,
        reason = "a failed wait is a failed test; the message says why"
    )]
    pub fn wait_exit(&mut self) -> u32 {
        let timeout = wait_timeout();
        match self.wait_exit_for(timeout) {
            Some(code) => code,
            None => panic!(
                "kaiwa did not exit within {timeout:?}; the screen:\n{}",
                self.with_screen(dump)
            ),
        }
    }

    /// The pids of the direct children of `pid` (kaiwa under [`TuiBuilder::via_shell`]).
    pub fn children_of(pid: u32) -> Vec<u32> {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// The state letter of process `pid` from `/proc` (`R`, `S`, `T` stopped, …).
    pub fn process_state(pid: u32) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name is in parentheses and may hold spaces: the state follows it.
        stat.rsplit_once(')')?.1.trim_start().chars().next()
    }

    /// The names of the PTY's local flags that are set (`ICANON`, `ECHO`, …), to check that
    /// raw mode is on or that cooked mode is back. None where the platform cannot tell.
    pub fn local_flags(&self) -> Option<Vec<String>> {
        let termios = self.master.get_termios()?;
        let text = format!("{:?}", termios.local_flags);
        Some(
            text.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .filter(|w| !w.is_empty() && *w != "LocalFlags")
                .map(str::to_owned)
                .collect(),
        )
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        if self.exit.is_none() && !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The (role, content) pairs a chat request carried.
pub fn messages(request: &RecordedRequest) -> Vec<(String, String)> {
    request
        .messages()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or_default().to_owned(),
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A (role, content) pair, to compare with `messages`.
pub fn msg(role: &str, content: &str) -> (String, String) {
    (role.to_owned(), content.to_owned())
}

/// Waits until the mock has received `n` chat requests and returns them.
#[allow(
    clippy::panic,
    reason = "a failed wait is a failed test; the message says why"
)]
pub fn wait_chat_requests(mock: &MockServer, n: usize) -> Vec<RecordedRequest> {
    mock.wait_until_blocking(wait_timeout(), |all| {
        all.iter().filter(|r| r.is_chat()).count() >= n
    })
    .unwrap_or_else(|| {
        panic!(
            "expected {n} chat requests, got {:#?}",
            mock.chat_requests()
        )
    });
    mock.chat_requests()
}
