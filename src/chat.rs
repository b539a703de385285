//! The chat domain: the conversation, inline reasoning, token usage, prices
//! and estimates. No I/O, no terminal.

pub mod catalog;
pub mod conversation;
pub mod estimate;
pub mod pricing;
pub mod think;
pub mod usage;
