//! `kaiwa models`: every provider's model ids, one full id a line
//! (`corp:beta-2`), fetched in parallel; a provider that fails says so on
//! stderr while the others list; exit 1 only when every provider failed.
//! `--json`: `[{"id", "provider", "context", "prompt_price",
//! "completion_price"}]` (USD per 1M tokens, `null` when unknown).

use super::session;
use crate::api::routes::{self, Listing, MODELS_TIMEOUT};
use crate::cli::ModelsArgs;
use crate::cli_io::{Exit, Io};
use crate::config::Config;
use crate::text::sanitize::sanitize_str;

/// `kaiwa models`.
pub async fn run_models(config: &Config, args: &ModelsArgs, io: &mut Io<'_>) -> Exit {
    let mut session = match session::open(config, io, false).await {
        Ok(session) => session,
        Err(code) => return code,
    };
    let clients = session.clients.listed_clients();
    let order: Vec<String> = clients.iter().map(|(name, _)| name.clone()).collect();
    let mut listings: Vec<Listing> = Vec::new();
    routes::list_all(clients, MODELS_TIMEOUT, |listing| listings.push(listing)).await;
    // In the providers' order, whatever order they answered in.
    listings.sort_by_key(|l| order.iter().position(|name| *name == l.provider));
    let mut rows = Vec::new();
    let mut failed = 0;
    for listing in &listings {
        match &listing.result {
            Ok(models) => {
                for model in models {
                    let id = session.facts.qualify(&listing.provider, &model.id);
                    let context = session.facts.context(&id, model.context());
                    let price = session
                        .facts
                        .lookup(&id)
                        .map(|(price, _)| price)
                        .or_else(|| model.price());
                    rows.push(serde_json::json!({
                        "id": id,
                        "provider": listing.provider,
                        "context": context,
                        "prompt_price": price.map(|p| p.prompt),
                        "completion_price": price.map(|p| p.completion),
                    }));
                }
            }
            Err(error) if listings.len() == 1 => {
                failed += 1;
                io.error_line(&error.to_string());
            }
            Err(error) => {
                failed += 1;
                io.error_line(&format!("{}: {error}", listing.provider));
            }
        }
    }
    let everything_failed = failed > 0 && failed == listings.len();
    if args.json {
        let text = serde_json::to_string_pretty(&rows).unwrap_or_default();
        let _ = writeln!(io.stdout, "{text}");
    } else {
        for row in &rows {
            let id = row
                .get("id")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            let id = if io.stdout_is_terminal {
                sanitize_str(id)
            } else {
                id.to_string()
            };
            if writeln!(io.stdout, "{id}").is_err() {
                return Exit::Ok;
            }
        }
    }
    let _ = io.stdout.flush();
    if everything_failed {
        Exit::Api
    } else {
        Exit::Ok
    }
}
