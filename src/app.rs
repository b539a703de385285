//! The model of the chat TUI: plain state, the messages that change it and
//! the effects it asks for. `update(&mut App, Msg) -> Update` is the only
//! place state changes.
//!
//! Invariant: nothing under `app/` performs I/O, spawns tasks or reads the
//! clock — time arrives inside messages — so every rule here is testable
//! without a terminal or a network.

pub mod browse;
pub mod composer;
pub mod context;
pub mod effect;
pub mod first_run;
pub mod history_browser;
pub mod input;
pub mod keymap;
mod lifecycle;
pub mod model_menu;
pub mod msg;
pub mod requests;
pub mod state;
pub mod transcript;
pub mod update;

pub use effect::Effect;
pub use msg::{Msg, RequestId};
pub use state::App;
pub use update::{Update, update};

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod update_tests;

#[cfg(test)]
mod browse_tests;

#[cfg(test)]
mod context_tests;
