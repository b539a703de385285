//! Signals the chat TUI answers (Unix): SIGTERM and SIGHUP end it the way
//! Ctrl+Q does, keeping the answer in progress as interrupted; SIGTSTP (and
//! Ctrl+Z, which raw mode delivers as a key) gives the terminal back and
//! stops; SIGCONT takes the terminal again and repaints.
//!
//! Written by hand over `tokio::signal` because the stop itself must come
//! after the terminal is restored: with a handler installed for SIGTSTP the
//! process is stopped with SIGSTOP (as signal-hook's
//! `emulate_default_handler` does), which also works where the kernel would
//! discard a SIGTSTP (a process group without a job-control shell).

/// What a signal asks of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGHUP: save, restore, exit with `code` (128 + signal).
    Terminate { name: &'static str, code: u8 },
    /// SIGTSTP: suspend.
    Stop,
    /// SIGCONT: repaint (and take the terminal again if it was given back).
    Continue,
}

/// The signal streams; `next` waits for any of them (forever where none
/// could be installed, or off Unix).
pub struct Signals {
    #[cfg(unix)]
    streams: Option<Streams>,
}

#[cfg(unix)]
struct Streams {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    tstp: tokio::signal::unix::Signal,
    cont: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers; call inside the tokio runtime.
    pub fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = (|| {
                Some(Streams {
                    term: signal(SignalKind::terminate()).ok()?,
                    hup: signal(SignalKind::hangup()).ok()?,
                    tstp: signal(SignalKind::from_raw(signal_hook::consts::SIGTSTP)).ok()?,
                    cont: signal(SignalKind::from_raw(signal_hook::consts::SIGCONT)).ok()?,
                })
            })();
            Self { streams }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// The next signal. Cancel-safe (each `recv` is).
    pub async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        if let Some(s) = &mut self.streams {
            return tokio::select! {
                _ = s.term.recv() => Signal::Terminate { name: "SIGTERM", code: 128 + 15 },
                _ = s.hup.recv() => Signal::Terminate { name: "SIGHUP", code: 128 + 1 },
                _ = s.tstp.recv() => Signal::Stop,
                _ = s.cont.recv() => Signal::Continue,
            };
        }
        std::future::pending().await
    }
}

impl Default for Signals {
    fn default() -> Self {
        Self::new()
    }
}

/// Stops this process until SIGCONT; returns once continued. Nothing where
/// processes cannot be stopped.
pub fn stop_self() {
    #[cfg(unix)]
    {
        let _ = signal_hook::low_level::raise(signal_hook::consts::SIGSTOP);
    }
}
