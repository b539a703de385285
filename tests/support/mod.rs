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
