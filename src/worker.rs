//! Background tasks: a chat request or the models list, turned into `Msg`s
//! on the app's channel. A task knows nothing of the app; aborting it drops
//! the HTTP stream, which closes the connection.

use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;

use crate::api::client::ApiClient;
use crate::api::types::ChatRequest;
use crate::app::{Msg, RequestId};

/// Stream one chat request, posting every event stamped with its time.
pub async fn chat(
    client: ApiClient,
    id: RequestId,
    request: ChatRequest,
    tx: UnboundedSender<Msg>,
) {
    let mut sink = |event| {
        // A closed channel means the app is gone; nothing left to tell.
        let _ = tx.send(Msg::Api {
            id,
            event,
            at: Instant::now(),
        });
    };
    client.stream_chat(&request, &mut sink).await;
}

/// Fetch the model ids for the menu.
pub async fn models(client: ApiClient, tx: UnboundedSender<Msg>) {
    let result = client
        .list_models()
        .await
        .map(|list| list.into_iter().map(|m| m.id).collect());
    let _ = tx.send(Msg::Models(result));
}
