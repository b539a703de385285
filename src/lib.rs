//! kaiwa: a full-screen terminal chat client for the OpenAI Chat Completions API.
//!
//! The library holds everything; `main.rs` only dispatches. See
//! `docs/ARCHITECTURE.md` for the map of modules and their invariants.

pub mod api;
pub mod app;
pub mod ask;
pub mod chat;
pub mod cli;
pub mod cli_io;
pub mod clipboard;
pub mod config;
pub mod discover;
pub mod editor;
pub mod history;
pub mod logging;
pub mod paths;
pub mod provider;
pub mod runtime;
pub mod secret;
pub mod store;
pub mod text;
pub mod ui;
pub mod worker;
