//! Background tasks: a chat request or the model lists, turned into `Msg`s
//! on the app's channel. A task knows nothing of the app; aborting it drops
//! the HTTP stream, which closes the connection.

use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;

use crate::api::client::ApiClient;
use crate::api::routes::{self, MODELS_TIMEOUT};
use crate::api::types::ChatRequest;
use crate::app::model_menu::MenuModel;
use crate::app::{Msg, RequestId};
use crate::chat::pricing::PriceTable;

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

/// Fetch every provider's models for the menu, in parallel; each list is
/// posted as it arrives, with full ids and what is known of each model.
pub async fn models(
    clients: Vec<(String, ApiClient)>,
    facts: PriceTable,
    tx: UnboundedSender<Msg>,
) {
    routes::list_all(clients, MODELS_TIMEOUT, |listing| {
        let result = listing.result.map(|models| {
            models
                .iter()
                .map(|model| {
                    let id = facts.qualify(&listing.provider, &model.id);
                    let detail = facts.describe(&id, model.context(), model.price());
                    MenuModel {
                        id,
                        detail,
                        context: model.context(),
                    }
                })
                .collect()
        });
        let _ = tx.send(Msg::Models {
            provider: listing.provider,
            result,
        });
    })
    .await;
}
