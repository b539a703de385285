//! The OpenAI-compatible HTTP client. Knows nothing of the UI: typed requests
//! and responses, an SSE decoder, typed errors and the retry policy.

pub mod client;
pub mod error;
pub mod overflow;
pub mod retry;
pub mod routes;
pub mod sse;
pub mod types;
