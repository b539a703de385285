//! Logging to `kaiwa.log` in the state folder, through `tracing` and a
//! non-blocking writer. Invariant: nothing is ever logged to the terminal,
//! and logging can never stop kaiwa: any failure to set it up leaves kaiwa
//! running without a log. The filter comes from `KAIWA_LOG` (default `warn`);
//! message text is logged at `trace` only, and the key never (it is an
//! `ApiKey`, which prints `***`).

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::paths;

/// The filter used when `KAIWA_LOG` is unset, empty or unreadable.
const DEFAULT_FILTER: &str = "warn";

/// Lines the log's queue holds before it drops new ones.
const LOG_QUEUE_LINES: usize = 1024;

/// Starts logging to `state_dir/kaiwa.log` (folder 0700, file 0600,
/// appended). Keep the guard alive until exit: dropping it flushes the log.
/// Returns `None`, silently, when anything fails.
pub fn init(state_dir: &Path) -> Option<WorkerGuard> {
    paths::create_private_dir(state_dir).ok()?;
    let file = paths::open_private_append(&state_dir.join("kaiwa.log")).ok()?;
    let filter = paths::non_empty(&paths::real_env, "KAIWA_LOG")
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER));
    // The default queue holds 128,000 lines and is allocated whole (4 MB
    // resident, a fifth of the TUI's memory); at `warn` a few lines a run
    // is the norm, and a burst past 1,024 drops lines rather than block.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(true)
        .finish(file);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn init_creates_a_private_log_and_writes_to_it() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state/kaiwa");
        let guard = super::init(&state);
        // Another test in this process may have installed a subscriber first;
        // the file must exist all the same.
        let log = state.join("kaiwa.log");
        assert_eq!(
            std::fs::metadata(&state).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(
            std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
            0o600
        );
        if guard.is_some() {
            tracing::error!("logging test line");
            drop(guard);
            assert!(
                std::fs::read_to_string(&log)
                    .unwrap()
                    .contains("logging test line")
            );
        }
    }

    #[test]
    fn init_fails_silently() {
        let tmp = tempfile::tempdir().unwrap();
        let blocker = tmp.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        assert!(super::init(&blocker.join("kaiwa")).is_none());
    }
}
