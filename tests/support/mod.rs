//! Helpers shared by the integration tests.

#[allow(
    dead_code,
    reason = "each test binary uses a different part of the mock"
)]
pub mod mock;
pub mod pty;
pub mod render;
