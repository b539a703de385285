//! Text for the terminal: the one sanitiser every network string passes
//! through, and display-width wrapping.

pub mod code_blocks;
pub mod sanitize;
pub mod wrap;
