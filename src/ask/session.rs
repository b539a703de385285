//! What `kaiwa ask` and `kaiwa models` talk to: every provider's client,
//! the model (a full id) and the prices, after the first-run discovery when
//! no provider has a key and no base URL is set (SPEC, First run): a single
//! local server found is used, and said on stderr.

use crate::api::routes::Clients;
use crate::chat::pricing::PriceTable;
use crate::cli_io::{Exit, Io};
use crate::config::{Config, Origin};
use crate::discover::{self, Found};
use crate::provider::Provider;

/// Clients, the model they will be asked about, and the prices.
pub(super) struct Session {
    pub clients: Clients,
    pub model: String,
    pub facts: PriceTable,
}

/// Builds the session. `wants_model`: `ask` needs a model it can use;
/// `models` only lists.
pub(super) async fn open(
    config: &Config,
    io: &mut Io<'_>,
    wants_model: bool,
) -> Result<Session, Exit> {
    let mut session = Session {
        clients: Clients::new(config.providers.clone(), config.stream_idle_timeout).map_err(
            |e| {
                io.error_line(&e.to_string());
                Exit::Usage
            },
        )?,
        model: config.model.clone(),
        facts: PriceTable::for_config(config),
    };
    if config.wants_discovery() {
        let found =
            discover::probe(&discover::ports(&crate::paths::real_env), discover::BUDGET).await;
        let server = single_server(&found, io)?;
        let _ = writeln!(
            io.stderr,
            "kaiwa: using {} ({})",
            server.address(),
            server.kind
        );
        let model = if wants_model {
            local_model(config, server, io)?
        } else {
            String::new()
        };
        let provider = Provider::local(server.kind, server.base_url());
        session.facts.add_provider(provider.clone());
        session.clients.add(provider);
        session.model = format!("{}:{model}", server.kind);
        return Ok(session);
    }
    if config.lacks_needed_key() {
        io.error_line(Config::missing_key_message());
        return Err(Exit::Usage);
    }
    if wants_model {
        let key = config.model_key().map_err(|e| {
            io.error_line(&e.to_string());
            Exit::Usage
        })?;
        if let Some((provider, key)) = key {
            session.clients.set_key(&provider, key);
        }
    }
    Ok(session)
}

/// The one usable server found, or exit 2 saying what was (not) found.
fn single_server<'a>(found: &'a [Found], io: &mut Io<'_>) -> Result<&'a Found, Exit> {
    let usable: Vec<&Found> = found.iter().filter(|f| !f.needs_key).collect();
    match usable.as_slice() {
        [one] => Ok(one),
        [] => {
            for server in found.iter().filter(|f| f.needs_key) {
                let _ = writeln!(
                    io.stderr,
                    "kaiwa: {} ({}) answers but needs a key: use --base-url {} with its key in \
                     OPENAI_API_KEY",
                    server.address(),
                    server.kind,
                    server.base_url()
                );
            }
            io.error_line(Config::missing_key_message());
            Err(Exit::Usage)
        }
        several => {
            let list: Vec<String> = several
                .iter()
                .map(|f| format!("{} ({})", f.address(), f.kind))
                .collect();
            io.error_line(&format!(
                "no API key, and several local servers answer: {}; choose one with --base-url \
                 (e.g. --base-url {})",
                list.join(", "),
                several.first().map(|f| f.base_url()).unwrap_or_default()
            ));
            Err(Exit::Usage)
        }
    }
}

/// `-m` if the server lists it, else its only model, else exit 2 listing
/// them.
fn local_model(config: &Config, server: &Found, io: &mut Io<'_>) -> Result<String, Exit> {
    let ids: Vec<&str> = server.models.iter().map(|m| m.id.as_str()).collect();
    let asked = (config.origins.model != Origin::Default).then_some(config.model.as_str());
    if let Some(asked) = asked {
        let bare = asked
            .strip_prefix(server.kind)
            .and_then(|rest| rest.strip_prefix(':'))
            .unwrap_or(asked);
        if ids.contains(&bare) {
            return Ok(bare.to_string());
        }
    }
    if let [only] = ids.as_slice() {
        return Ok((*only).to_string());
    }
    let what = asked.map_or_else(
        || "it serves several models".to_string(),
        |m| format!("it does not list {m}"),
    );
    io.error_line(&format!(
        "{} ({}): {what}; choose one with -m: {}",
        server.address(),
        server.kind,
        ids.join(", ")
    ));
    Err(Exit::Usage)
}
