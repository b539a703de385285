//! Helpers shared by the integration tests: the scriptable OpenAI server (`mock`), kaiwa in a
//! pseudo-terminal (`pty`) and its screen as those tests read it (`screen`), screens drawn into
//! a `TestBackend` (`render`), the command line in a sandboxed `HOME` (`cli`) and the files left
//! there (`files`). Every test binary includes all of it with `mod support;`.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the support code"
)]

pub mod cli;
pub mod files;
pub mod mock;
pub mod pty;
pub mod render;
pub mod screen;

/// The process's peak resident memory (VmHWM), where /proc tells it.
pub fn peak_resident_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
