//! What `update` asks the runtime to do. Effects are data; the runtime
//! performs them.

use super::msg::RequestId;
use crate::api::types::ChatRequest;

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Start a streaming chat request on its own task.
    StartChat { id: RequestId, request: ChatRequest },
    /// Abort the task of a request (closes its connection).
    CancelChat { id: RequestId },
    /// Fetch `GET /models` in the background.
    FetchModels,
    /// Turn mouse capture on or off.
    SetMouseCapture(bool),
    /// Leave kaiwa.
    Quit,
}
