//! Finding a local OpenAI-compatible server on this machine, for a start
//! with no key and no base URL.
//!
//! `GET http://127.0.0.1:PORT/v1/models` on the usual ports of Ollama, LM
//! Studio, llama.cpp, vLLM, LiteLLM, Jan and KoboldCpp, all at once, within
//! one budget. Only 127.0.0.1 is ever asked, never through a proxy, and a
//! redirect is not followed (it could name another host).
//!
//! A port counts when it answers JSON with a `data` list of at least one
//! model, or a JSON 401 (listed as needing a key). Its kind comes from what
//! the answer says (the `Server` header, `owned_by`, fields only one server
//! sends); only when that says nothing is one more quick request spent
//! (`GET /` for Ollama's `Ollama is running`, LM Studio's `/api/v0/models`
//! on 1234, KoboldCpp's `/api/extra/version` on 5001) — the port only picks
//! the question, never the answer, but for a 401 on Jan's 1337.

use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderMap, SERVER};
use serde_json::Value;
use tokio::time::{Instant, timeout_at};

use crate::api::types::{ModelInfo, parse_models};

/// Ollama, LM Studio, llama.cpp, vLLM, LiteLLM, Jan, KoboldCpp.
pub const DEFAULT_PORTS: [u16; 7] = [11434, 1234, 8080, 8000, 4000, 1337, 5001];
/// The whole probe ends within this.
pub const BUDGET: Duration = Duration::from_millis(800);

const OLLAMA_PORT: u16 = 11434;
const LMSTUDIO_PORT: u16 = 1234;
const JAN_PORT: u16 = 1337;
const KOBOLDCPP_PORT: u16 = 5001;
/// A loopback connection is made at once or refused; more is a silent port.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// A models list larger than this is not read (a hostile or confused port).
const MAX_BODY: usize = 4 << 20;
/// The fingerprint answers (`GET /` and the like) are small.
const MAX_HINT_BODY: usize = 64 << 10;

/// The ports to try: [`DEFAULT_PORTS`] with 11434 replaced by
/// `OLLAMA_HOST`'s port when it names one (`0.0.0.0:11500`,
/// `127.0.0.1:11500`, `http://localhost:11500`, `:11500`; a host alone
/// keeps 11434). The host part is ignored: only 127.0.0.1 is ever probed.
/// A port named twice is tried once.
pub fn ports(env: &dyn Fn(&str) -> Option<String>) -> Vec<u16> {
    let ollama = env("OLLAMA_HOST")
        .as_deref()
        .and_then(port_of)
        .unwrap_or(OLLAMA_PORT);
    let mut out: Vec<u16> = Vec::with_capacity(DEFAULT_PORTS.len());
    for port in DEFAULT_PORTS {
        let port = if port == OLLAMA_PORT { ollama } else { port };
        if !out.contains(&port) {
            out.push(port);
        }
    }
    out
}

/// The port an `OLLAMA_HOST` value names, if any.
fn port_of(value: &str) -> Option<u16> {
    let value = value.trim();
    let rest = value.split_once("://").map_or(value, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let port = if authority.starts_with('[') {
        // `[::1]:11500`; `[::1]` names no port.
        authority.split_once("]:").map(|(_, port)| port)?
    } else {
        let (host, port) = authority.rsplit_once(':')?;
        if host.contains(':') {
            // A bare IPv6 address such as `::1`: its colons are not a port.
            return None;
        }
        port
    };
    port.parse::<u16>().ok().filter(|p| *p != 0)
}

/// A server found on 127.0.0.1.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub port: u16,
    /// `ollama`, `lmstudio`, `llamacpp`, `vllm`, `litellm`, `jan`,
    /// `koboldcpp`, else `local`.
    pub kind: &'static str,
    /// Sorted by id; empty when it needs a key.
    pub models: Vec<ModelInfo>,
    /// It answered 401: it is there, but wants a key.
    pub needs_key: bool,
}

impl Found {
    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.address())
    }

    /// `127.0.0.1:PORT`
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Probes 127.0.0.1 on `ports` in parallel; returns within `budget` (plus
/// scheduling slack) with the servers found, in the order of `ports`.
pub async fn probe(ports: &[u16], budget: Duration) -> Vec<Found> {
    let mut all = Vec::new();
    probe_each(ports, budget, |found| all.push(found)).await;
    all.sort_by_key(|found| ports.iter().position(|&port| port == found.port));
    all
}

/// [`probe`], giving each server to `found` as soon as it answers (a
/// silent port holds back only itself), in the order they answer.
pub async fn probe_each(ports: &[u16], budget: Duration, mut found: impl FnMut(Found)) {
    let deadline = Instant::now() + budget;
    let Ok(http) = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT.min(budget))
        .timeout(budget)
        .user_agent(concat!("kaiwa/", env!("CARGO_PKG_VERSION")))
        .build()
    else {
        tracing::warn!("discover: cannot set up HTTP");
        return;
    };
    let tasks = ports.iter().map(|&port| {
        let http = http.clone();
        async move {
            timeout_at(deadline, probe_port(&http, port, deadline))
                .await
                .ok()
                .flatten()
        }
    });
    let mut pending: FuturesUnordered<_> = tasks.collect();
    while let Some(answer) = pending.next().await {
        if let Some(server) = answer {
            found(server);
        }
    }
}

/// One port: the models list, then, if it says nothing of its kind, one
/// more question (whose time out still leaves the server found, as `local`).
async fn probe_port(http: &reqwest::Client, port: u16, deadline: Instant) -> Option<Found> {
    let url = format!("http://127.0.0.1:{port}/v1/models");
    let response = http
        .get(url)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .ok()?;
    let status = response.status();
    if !status.is_success() && status != StatusCode::UNAUTHORIZED {
        return None;
    }
    let server = server_header(response.headers());
    let body: Value = serde_json::from_slice(&read_capped(response, MAX_BODY).await?).ok()?;
    if status == StatusCode::UNAUTHORIZED {
        tracing::debug!(port, "discover: a server that needs a key");
        return Some(Found {
            port,
            kind: kind_for_401(port, server.as_deref()),
            models: Vec::new(),
            needs_key: true,
        });
    }
    let models = models_of(&body)?;
    let kind = match kind_from_answer(server.as_deref(), &models) {
        Some(kind) => kind,
        None => timeout_at(deadline, ask_kind(http, port))
            .await
            .ok()
            .flatten()
            .unwrap_or("local"),
    };
    tracing::debug!(port, kind, models = models.len(), "discover: found");
    Some(Found {
        port,
        kind,
        models,
        needs_key: false,
    })
}

/// The models of a discovery answer: an object with a `data` list of at
/// least one model (a bare array or `{"models": …}` does not count here).
fn models_of(body: &Value) -> Option<Vec<ModelInfo>> {
    body.as_object()?.get("data")?.as_array()?;
    parse_models(body).filter(|models| !models.is_empty())
}

fn server_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get(SERVER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
}

fn is_llamacpp_server(server: Option<&str>) -> bool {
    server.is_some_and(|s| s.contains("llama.cpp"))
}

/// The kind of a server that answered 401 with JSON.
fn kind_for_401(port: u16, server: Option<&str>) -> &'static str {
    if is_llamacpp_server(server) {
        "llamacpp"
    } else if port == JAN_PORT {
        "jan"
    } else {
        "local"
    }
}

/// The kind the models answer itself shows, if it shows one.
fn kind_from_answer(server: Option<&str>, models: &[ModelInfo]) -> Option<&'static str> {
    if is_llamacpp_server(server) {
        return Some("llamacpp");
    }
    models.iter().find_map(|m| kind_of_model(&m.raw))
}

fn kind_of_model(raw: &Value) -> Option<&'static str> {
    let owner = raw
        .get("owned_by")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    let by_owner = match owner.as_deref() {
        Some("llamacpp" | "llama.cpp") => Some("llamacpp"),
        Some("vllm") => Some("vllm"),
        Some("litellm") => Some("litellm"),
        Some("organization_owner") => Some("lmstudio"),
        Some("koboldcpp") => Some("koboldcpp"),
        Some(_) | None => None,
    };
    by_owner.or_else(|| {
        if raw.get("meta").and_then(|m| m.get("n_ctx")).is_some() {
            Some("llamacpp")
        } else if raw.get("max_model_len").is_some() {
            Some("vllm")
        } else if raw.get("max_input_tokens").is_some() || raw.get("mode").is_some() {
            Some("litellm")
        } else {
            None
        }
    })
}

/// The one extra question for a server whose models answer did not say
/// what it is. The port picks which question; only the answer decides.
async fn ask_kind(http: &reqwest::Client, port: u16) -> Option<&'static str> {
    let base = format!("http://127.0.0.1:{port}");
    match port {
        LMSTUDIO_PORT => {
            let body = get_small(http, &format!("{base}/api/v0/models")).await?;
            serde_json::from_slice::<Value>(&body)
                .ok()
                .filter(Value::is_object)
                .map(|_| "lmstudio")
        }
        KOBOLDCPP_PORT => {
            let body = get_small(http, &format!("{base}/api/extra/version")).await?;
            let value: Value = serde_json::from_slice(&body).ok()?;
            (value.get("result").and_then(Value::as_str) == Some("KoboldCpp"))
                .then_some("koboldcpp")
        }
        _ => {
            let body = get_small(http, &format!("{base}/")).await?;
            String::from_utf8_lossy(&body)
                .contains("Ollama is running")
                .then_some("ollama")
        }
    }
}

/// A successful answer's body, if small.
async fn get_small(http: &reqwest::Client, url: &str) -> Option<Vec<u8>> {
    let response = http.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    read_capped(response, MAX_HINT_BODY).await
}

/// The whole body, or nothing if it is larger than `cap` bytes (then only
/// a little more than `cap` is read).
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Option<Vec<u8>> {
    if response
        .content_length()
        .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > cap))
    {
        return None;
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        if body.len() + chunk.len() > cap {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::{StatusCode as AxumStatus, header};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use serde_json::json;
    use std::collections::HashMap;
    use std::time::Instant as StdInstant;

    /// Serves `router` on 127.0.0.1:0; the port.
    async fn serve(router: Router) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, router).await });
        port
    }

    /// A server answering `GET /v1/models` with `body`.
    async fn models_server(body: Value) -> u16 {
        serve(Router::new().route(
            "/v1/models",
            get(move || async move { axum::Json(body.clone()) }),
        ))
        .await
    }

    /// A port that accepts connections and never says a word.
    async fn silent_port() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        port
    }

    /// A port nothing listens on (bound, then let go).
    async fn refused_port() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    }

    fn list(models: &[Value]) -> Value {
        json!({"object": "list", "data": models})
    }

    /// Generous: a loopback answer takes a millisecond, but the machine is shared.
    const TEST_BUDGET: Duration = Duration::from_secs(3);

    #[tokio::test]
    async fn a_json_list_is_found_with_its_models_as_local() {
        let port = models_server(list(&[
            json!({"id": "qwen3:8b", "object": "model", "owned_by": "library"}),
            json!({"id": "gemma3", "object": "model", "owned_by": "library"}),
        ]))
        .await;
        let found = probe(&[port], TEST_BUDGET).await;
        assert_eq!(found.len(), 1, "{found:?}");
        let f = found.first().unwrap();
        assert_eq!(f.port, port);
        assert_eq!(f.kind, "local");
        assert!(!f.needs_key);
        let ids: Vec<&str> = f.models.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["gemma3", "qwen3:8b"]);
        assert_eq!(f.base_url(), format!("http://127.0.0.1:{port}/v1"));
        assert_eq!(f.address(), format!("127.0.0.1:{port}"));
    }

    #[tokio::test]
    async fn owned_by_names_llamacpp_and_vllm() {
        let llama = models_server(list(&[
            json!({"id": "m.gguf", "owned_by": "llamacpp", "meta": {"n_ctx": 4096}}),
        ]))
        .await;
        let vllm = models_server(list(&[
            json!({"id": "Qwen/Qwen3-8B", "owned_by": "vllm", "max_model_len": 32768}),
        ]))
        .await;
        let found = probe(&[llama, vllm], TEST_BUDGET).await;
        let kinds: Vec<(u16, &str)> = found.iter().map(|f| (f.port, f.kind)).collect();
        assert_eq!(kinds, [(llama, "llamacpp"), (vllm, "vllm")]);
    }

    #[tokio::test]
    async fn the_server_header_names_llamacpp() {
        let port = serve(Router::new().route(
            "/v1/models",
            get(|| async {
                (
                    [(header::SERVER, "llama.cpp")],
                    axum::Json(list(&[json!({"id": "m"})])),
                )
            }),
        ))
        .await;
        let found = probe(&[port], TEST_BUDGET).await;
        assert_eq!(found.first().map(|f| f.kind), Some("llamacpp"));
    }

    #[tokio::test]
    async fn ollama_is_known_by_its_root_page() {
        let port = serve(
            Router::new()
                .route(
                    "/v1/models",
                    get(|| async {
                        axum::Json(list(&[
                            json!({"id": "llama3.2:latest", "owned_by": "library"}),
                        ]))
                    }),
                )
                .route("/", get(|| async { "Ollama is running" })),
        )
        .await;
        let found = probe(&[port], TEST_BUDGET).await;
        assert_eq!(found.first().map(|f| f.kind), Some("ollama"), "{found:?}");
    }

    #[tokio::test]
    async fn an_html_page_is_not_a_server() {
        let page = || async {
            (
                [(header::CONTENT_TYPE, "text/html")],
                "<!doctype html><html><body>router login</body></html>",
            )
        };
        let port = serve(
            Router::new()
                .route("/v1/models", get(page))
                .route("/", get(page)),
        )
        .await;
        assert_eq!(probe(&[port], TEST_BUDGET).await, []);
    }

    #[tokio::test]
    async fn an_empty_list_a_404_and_a_redirect_are_not_servers() {
        let empty = models_server(json!({"object": "list", "data": []})).await;
        let missing = serve(Router::new()).await;
        let redirect = serve(Router::new().route(
            "/v1/models",
            get(|| async {
                (
                    AxumStatus::FOUND,
                    [(header::LOCATION, "http://example.com/v1/models")],
                )
            }),
        ))
        .await;
        assert_eq!(probe(&[empty, missing, redirect], TEST_BUDGET).await, []);
    }

    #[tokio::test]
    async fn a_json_401_needs_a_key() {
        let port = serve(Router::new().route(
            "/v1/models",
            get(|| async {
                (
                    AxumStatus::UNAUTHORIZED,
                    axum::Json(json!({"error": {"message": "Invalid API Key", "code": 401}})),
                )
                    .into_response()
            }),
        ))
        .await;
        let found = probe(&[port], TEST_BUDGET).await;
        assert_eq!(
            found,
            [Found {
                port,
                kind: "local",
                models: Vec::new(),
                needs_key: true
            }]
        );
    }

    #[tokio::test]
    async fn a_plain_401_is_not_a_server() {
        let port = serve(Router::new().route(
            "/v1/models",
            get(|| async { (AxumStatus::UNAUTHORIZED, "<html>401</html>") }),
        ))
        .await;
        assert_eq!(probe(&[port], TEST_BUDGET).await, []);
    }

    #[test]
    fn a_401_is_jan_on_1337_only() {
        assert_eq!(kind_for_401(1337, None), "jan");
        assert_eq!(kind_for_401(11434, None), "local");
        assert_eq!(kind_for_401(8080, Some("llama.cpp")), "llamacpp");
    }

    #[tokio::test]
    async fn a_silent_port_does_not_hold_the_probe() {
        let silent = silent_port().await;
        let good = models_server(list(&[json!({"id": "m"})])).await;
        let budget = BUDGET;
        let started = StdInstant::now();
        let found = probe(&[silent, good], budget).await;
        let elapsed = started.elapsed();
        // budget + 700 ms of slack for a shared machine; a loopback answer
        // takes about a millisecond of the 800.
        assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
        assert!(elapsed + Duration::from_millis(50) >= budget, "{elapsed:?}");
        let ports: Vec<u16> = found.iter().map(|f| f.port).collect();
        assert_eq!(ports, [good], "{found:?}");
    }

    #[tokio::test]
    async fn each_server_is_given_as_soon_as_it_answers() {
        let silent = silent_port().await;
        let good = models_server(list(&[json!({"id": "m"})])).await;
        let started = StdInstant::now();
        let mut seen = Vec::new();
        probe_each(&[silent, good], BUDGET, |found| {
            seen.push((found.port, started.elapsed()));
        })
        .await;
        let [(port, at)] = seen.as_slice() else {
            panic!("{seen:?}");
        };
        assert_eq!(*port, good);
        // Given long before the silent port's end of the budget (a loopback
        // answer takes about a millisecond; the rest is slack for a shared
        // machine).
        assert!(*at < BUDGET / 2, "{at:?}");
        assert!(started.elapsed() + Duration::from_millis(50) >= BUDGET);
    }

    #[tokio::test]
    async fn a_refused_port_returns_at_once() {
        let refused = refused_port().await;
        let started = StdInstant::now();
        let found = probe(&[refused], TEST_BUDGET).await;
        assert_eq!(found, []);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn results_come_in_port_order() {
        let a = models_server(list(&[json!({"id": "a"})])).await;
        let b = models_server(list(&[json!({"id": "b"})])).await;
        let refused = refused_port().await;
        let order = |found: Vec<Found>| found.iter().map(|f| f.port).collect::<Vec<_>>();
        assert_eq!(order(probe(&[b, refused, a], TEST_BUDGET).await), [b, a]);
        assert_eq!(order(probe(&[a, b], TEST_BUDGET).await), [a, b]);
    }

    #[test]
    fn only_a_data_list_of_models_counts() {
        assert!(models_of(&json!({"data": [{"id": "m"}]})).is_some());
        assert_eq!(models_of(&json!({"data": []})), None);
        assert_eq!(models_of(&json!([{"id": "m"}])), None);
        assert_eq!(models_of(&json!({"models": [{"name": "m"}]})), None);
        assert_eq!(models_of(&json!({"data": "m"})), None);
    }

    #[test]
    fn fingerprints_from_the_models() {
        let kind = |raw: Value| kind_of_model(&raw);
        assert_eq!(
            kind(json!({"id": "m", "owned_by": "organization_owner"})),
            Some("lmstudio")
        );
        assert_eq!(
            kind(json!({"id": "m", "owned_by": "koboldcpp"})),
            Some("koboldcpp")
        );
        assert_eq!(
            kind(json!({"id": "m", "owned_by": "litellm"})),
            Some("litellm")
        );
        assert_eq!(
            kind(json!({"id": "m", "owned_by": "openai", "max_input_tokens": 8192})),
            Some("litellm")
        );
        assert_eq!(
            kind(json!({"id": "m", "meta": {"n_ctx": 8192}})),
            Some("llamacpp")
        );
        assert_eq!(kind(json!({"id": "m", "owned_by": "library"})), None);
    }

    #[test]
    fn ollama_host_replaces_11434() {
        let with = |value: &str| {
            let env: HashMap<&str, String> = HashMap::from([("OLLAMA_HOST", value.to_owned())]);
            ports(&move |k| env.get(k).cloned())
        };
        let expect = |first: u16| {
            let mut p = DEFAULT_PORTS.to_vec();
            if let Some(slot) = p.first_mut() {
                *slot = first;
            }
            p
        };
        assert_eq!(ports(&|_| None), DEFAULT_PORTS);
        for value in [
            "0.0.0.0:11500",
            "127.0.0.1:11500",
            "http://localhost:11500",
            "http://localhost:11500/",
            ":11500",
            "[::1]:11500",
        ] {
            assert_eq!(with(value), expect(11500), "{value}");
        }
        for value in [
            "0.0.0.0",
            "localhost",
            "http://localhost",
            "::1",
            "[::1]",
            "",
            ":0",
            ":x",
        ] {
            assert_eq!(with(value), DEFAULT_PORTS, "{value}");
        }
        // A port already on the list is tried once, in Ollama's place.
        assert_eq!(with(":8080"), [8080, 1234, 8000, 4000, 1337, 5001]);
    }
}
