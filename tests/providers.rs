//! Named providers end to end: the built binary (`kaiwa ask`, `kaiwa models`, `kaiwa config`)
//! against mock servers on 127.0.0.1, in a sandboxed `HOME`. What is checked is where each
//! request went, with which key, auth, headers and query, and what the user sees.

#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test helpers: what they cannot do fails the test; a skipped test says why"
)]

mod support;

use std::fmt::Write as _;

use std::path::PathBuf;
use std::process::Command;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use support::cli::{Sandbox, code, run, stderr, stdout};
use support::mock::{MockServer, RecordedRequest, Reply};

/// Writes the sandbox's default config file.
fn write_config(sandbox: &Sandbox, text: &str) {
    let path = sandbox.path("config/kaiwa/config.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `kaiwa ARGS` in the sandbox with these variables added.
fn kaiwa(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = sandbox.kaiwa(args);
    cmd.envs(env.iter().copied());
    cmd
}

/// The mock's address without the `/v1`: `http://127.0.0.1:PORT`.
fn endpoint(mock: &MockServer) -> String {
    format!("http://{}", mock.addr())
}

/// A base URL on which nothing listens (a port bound, then let go).
fn dead_base_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/v1")
}

/// Every header value, the query and the body of a request, as one text to search for keys.
fn everything_sent(request: &RecordedRequest) -> String {
    let mut text = String::new();
    for (name, value) in &request.headers {
        let _ = writeln!(text, "{name}: {value}");
    }
    text.push_str(&request.path);
    text.push('?');
    text.push_str(&request.query);
    text.push('\n');
    text.push_str(&request.body);
    text
}

/// The one chat request `mock` received (fails unless exactly one, and nothing else).
fn one_chat_request(mock: &MockServer) -> RecordedRequest {
    let all = mock.requests();
    assert_eq!(all.len(), 1, "{all:#?}");
    let request = all.into_iter().next().unwrap();
    assert!(request.is_chat(), "{request:#?}");
    request
}

/// A marker file a key command creates, and that command (printing `key`).
fn marker_cmd(sandbox: &Sandbox, key: &str) -> (PathBuf, String) {
    let marker = sandbox.path("key-cmd-ran");
    let cmd = format!("touch '{}'; echo {key}", marker.display());
    (marker, cmd)
}

/// TOML's basic string for `text` (paths and commands with quotes in them).
fn toml_str(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

// ---------------------------------------------------------------------------------------------
// Routing, keys, headers and query
// ---------------------------------------------------------------------------------------------

#[test]
fn each_request_goes_to_its_providers_url_with_its_own_key_headers_and_query() {
    let a = MockServer::start_blocking();
    let b = MockServer::start_blocking();
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        &format!(
            "base_url = \"{}\"\n\n[providers.corp]\nbase_url = \"{}\"\napi_key = \"sk-b\"\n\
             headers = {{ \"X-Title\" = \"kaiwa\" }}\nquery = {{ \"team\" = \"r\" }}\n",
            a.base_url(),
            b.base_url()
        ),
    );
    let env = [("OPENAI_API_KEY", "sk-a")];

    let out = run(
        kaiwa(&sandbox, &["ask", "-m", "corp:beta-2", "hi"], &env),
        None,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = one_chat_request(&b);
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.json_str("model"), Some("beta-2"));
    assert_eq!(r.header("authorization"), Some("Bearer sk-b"));
    assert_eq!(r.header("x-title"), Some("kaiwa"));
    assert_eq!(r.query, "team=r");
    assert!(
        !everything_sent(&r).contains("sk-a"),
        "the default key reached corp: {r:#?}"
    );
    assert_eq!(a.requests().len(), 0, "{:#?}", a.requests());

    let out = run(kaiwa(&sandbox, &["ask", "hi"], &env), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = one_chat_request(&a);
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.json_str("model"), Some("gpt-4o-mini"));
    assert_eq!(r.header("authorization"), Some("Bearer sk-a"));
    // corp's headers and query stay with corp, and its key too.
    assert_eq!(r.header("x-title"), None);
    assert_eq!(r.query, "");
    assert!(!everything_sent(&r).contains("sk-b"), "{r:#?}");
    assert_eq!(b.requests().len(), 1, "B got more: {:#?}", b.requests());
}

#[test]
fn api_key_cmd_of_a_provider_runs_only_when_its_key_is_needed() {
    let a = MockServer::start_blocking();
    let b = MockServer::start_blocking();
    let sandbox = Sandbox::new();
    let (marker, cmd) = marker_cmd(&sandbox, "sk-cmd");
    write_config(
        &sandbox,
        &format!(
            "base_url = \"{}\"\n\n[providers.corp]\nbase_url = \"{}\"\napi_key_cmd = {}\n",
            a.base_url(),
            b.base_url(),
            toml_str(&cmd)
        ),
    );
    let env = [("OPENAI_API_KEY", "sk-a")];

    let out = run(kaiwa(&sandbox, &["ask", "hi"], &env), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        !marker.exists(),
        "corp's api_key_cmd ran for a default request"
    );
    assert_eq!(
        one_chat_request(&a).header("authorization"),
        Some("Bearer sk-a")
    );
    assert_eq!(b.requests().len(), 0);

    let out = run(kaiwa(&sandbox, &["ask", "-m", "corp:x", "hi"], &env), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(marker.exists(), "corp's api_key_cmd did not run");
    let r = one_chat_request(&b);
    assert_eq!(r.header("authorization"), Some("Bearer sk-cmd"));
    assert_eq!(r.json_str("model"), Some("x"));
    assert_eq!(a.requests().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Azure
// ---------------------------------------------------------------------------------------------

/// `[providers.az]`, Azure at `endpoint`, key from `AZ_KEY`, and more lines.
fn azure_config(endpoint: &str, more: &str) -> String {
    format!(
        "[providers.az]\nkind = \"azure\"\nendpoint = \"{endpoint}\"\napi_key_env = \"AZ_KEY\"\n\
         models = [\"gpt4o-prod\"]\n{more}"
    )
}

/// Checks an Azure request: `api-key` only, never the OpenAI key.
fn assert_azure_auth(r: &RecordedRequest) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("api-key"), Some("sk-az"));
    assert_eq!(r.header("authorization"), None, "{r:#?}");
    assert!(!everything_sent(r).contains("sk-openai"), "{r:#?}");
}

#[test]
fn azure_v1_posts_to_openai_v1_with_the_deployment_as_model_and_an_api_key_header() {
    for suffix in ["", "/", "/openai", "/openai/v1", "/openai/v1/"] {
        let mock = MockServer::start_blocking();
        let sandbox = Sandbox::new();
        let endpoint = format!("{}{suffix}", endpoint(&mock));
        write_config(&sandbox, &azure_config(&endpoint, ""));
        let env = [("AZ_KEY", "sk-az"), ("OPENAI_API_KEY", "sk-openai")];
        let out = run(
            kaiwa(&sandbox, &["ask", "-m", "az:gpt4o-prod", "hi"], &env),
            None,
        );
        assert_eq!(code(&out), 0, "{endpoint}: {}", stderr(&out));
        // An endpoint ending in /openai or /openai/v1 is not doubled.
        let r = one_chat_request(&mock);
        assert_eq!(r.path, "/openai/v1/chat/completions", "{endpoint}");
        assert_eq!(r.query, "", "{endpoint}");
        assert_eq!(r.json_str("model"), Some("gpt4o-prod"), "{endpoint}");
        assert_azure_auth(&r);
    }
}

#[test]
fn azure_with_api_version_uses_the_classic_deployment_url() {
    for suffix in ["", "/openai/v1"] {
        let mock = MockServer::start_blocking();
        let sandbox = Sandbox::new();
        let endpoint = format!("{}{suffix}", endpoint(&mock));
        write_config(
            &sandbox,
            &azure_config(&endpoint, "api_version = \"2024-10-21\"\n"),
        );
        let env = [("AZ_KEY", "sk-az"), ("OPENAI_API_KEY", "sk-openai")];
        let out = run(
            kaiwa(&sandbox, &["ask", "-m", "az:gpt4o-prod", "hi"], &env),
            None,
        );
        assert_eq!(code(&out), 0, "{endpoint}: {}", stderr(&out));
        let r = one_chat_request(&mock);
        assert_eq!(
            r.path, "/openai/deployments/gpt4o-prod/chat/completions",
            "{endpoint}"
        );
        assert_eq!(r.query, "api-version=2024-10-21", "{endpoint}");
        assert_azure_auth(&r);
    }
}

#[test]
fn azure_deployment_not_found_says_to_use_the_portals_deployment_name() {
    let mock = MockServer::start_blocking();
    mock.enqueue(Reply::json(
        404,
        &json!({"error": {
            "code": "DeploymentNotFound",
            "message": "The API deployment for this resource does not exist."
        }}),
        &[],
    ));
    let sandbox = Sandbox::new();
    write_config(&sandbox, &azure_config(&endpoint(&mock), ""));
    let out = run(
        kaiwa(
            &sandbox,
            &["ask", "-m", "az:gpt-4o", "hi"],
            &[("AZ_KEY", "sk-az")],
        ),
        None,
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("use the deployment name from the Azure portal"),
        "{err}"
    );
    assert_eq!(stdout(&out), "");
    // Not retried.
    assert_eq!(one_chat_request(&mock).json_str("model"), Some("gpt-4o"));
}

#[test]
fn the_azure_preset_comes_from_the_environment() {
    for (version, path, query) in [
        (None, "/openai/v1/chat/completions", ""),
        (
            Some("2024-10-21"),
            "/openai/deployments/dep/chat/completions",
            "api-version=2024-10-21",
        ),
    ] {
        let mock = MockServer::start_blocking();
        let sandbox = Sandbox::new();
        let endpoint = endpoint(&mock);
        let mut cmd = kaiwa(
            &sandbox,
            &["ask", "-m", "azure:dep", "hi"],
            &[
                ("AZURE_OPENAI_ENDPOINT", &endpoint),
                ("AZURE_OPENAI_API_KEY", "sk-az"),
            ],
        );
        if let Some(version) = version {
            cmd.env("OPENAI_API_VERSION", version);
        }
        let out = run(cmd, None);
        assert_eq!(code(&out), 0, "{version:?}: {}", stderr(&out));
        let r = one_chat_request(&mock);
        assert_eq!(r.path, path, "{version:?}");
        assert_eq!(r.query, query, "{version:?}");
        assert_eq!(r.json_str("model"), Some("dep"), "{version:?}");
        assert_eq!(r.header("api-key"), Some("sk-az"));
        assert_eq!(r.header("authorization"), None);
    }
}

// ---------------------------------------------------------------------------------------------
// Presets
// ---------------------------------------------------------------------------------------------

#[test]
fn a_table_with_a_presets_name_overrides_its_url_and_keeps_its_key_variable() {
    let mock = MockServer::start_blocking();
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        &format!("[providers.groq]\nbase_url = \"{}\"\n", mock.base_url()),
    );
    let out = run(
        kaiwa(
            &sandbox,
            &["ask", "-m", "groq:m", "hi"],
            &[("GROQ_API_KEY", "sk-g"), ("OPENAI_API_KEY", "sk-openai")],
        ),
        None,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = one_chat_request(&mock);
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.json_str("model"), Some("m"));
    assert_eq!(r.header("authorization"), Some("Bearer sk-g"));
    assert!(!everything_sent(&r).contains("sk-openai"), "{r:#?}");
}

#[test]
fn an_inactive_presets_prefix_is_exit_2_naming_its_key_variable() {
    let started = std::time::Instant::now();
    let out = run(
        kaiwa(
            &Sandbox::new(),
            &["ask", "-m", "groq:x", "hi"],
            &[("OPENAI_API_KEY", "sk-openai")],
        ),
        None,
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("GROQ_API_KEY"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(stdout(&out), "");
    // Decided before any network access (api.openai.com would take longer, or fail as 1).
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

// ---------------------------------------------------------------------------------------------
// kaiwa models
// ---------------------------------------------------------------------------------------------

/// A config with `default` at `default_url` and `corp` at `corp_url` with its own key,
/// headers and query.
fn two_providers(default_url: &str, corp_url: &str) -> String {
    format!(
        "base_url = \"{default_url}\"\n\n[providers.corp]\nbase_url = \"{corp_url}\"\n\
         api_key = \"sk-b\"\nheaders = {{ \"X-Title\" = \"kaiwa\" }}\nquery = {{ \"team\" = \"r\" }}\n"
    )
}

#[test]
fn models_lists_every_providers_ids_in_full() {
    let a = MockServer::start_blocking();
    a.set_models(&["gpt-4o-mini", "alpha"]);
    let b = MockServer::start_blocking();
    b.set_models(&["beta-2", "aardvark"]);
    let sandbox = Sandbox::new();
    write_config(&sandbox, &two_providers(&a.base_url(), &b.base_url()));
    let env = [("OPENAI_API_KEY", "sk-a")];

    let out = run(kaiwa(&sandbox, &["models"], &env), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(
        stdout(&out),
        "alpha\ngpt-4o-mini\ncorp:aardvark\ncorp:beta-2\n"
    );
    // Each list was asked for with its own provider's key, headers and query.
    for (mock, auth, title, query) in [
        (&a, "Bearer sk-a", None, ""),
        (&b, "Bearer sk-b", Some("kaiwa"), "team=r"),
    ] {
        let requests = mock.requests();
        assert_eq!(requests.len(), 1, "{requests:#?}");
        let r = requests.first().unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/v1/models"));
        assert_eq!(r.header("authorization"), Some(auth), "{r:#?}");
        assert_eq!(r.header("x-title"), title, "{r:#?}");
        assert_eq!(r.query, query, "{r:#?}");
    }

    let out = run(kaiwa(&sandbox, &["models", "--json"], &env), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let unknown = |id: &str, provider: &str| {
        json!({"id": id, "provider": provider, "context": null,
               "prompt_price": null, "completion_price": null})
    };
    assert_eq!(
        list,
        json!([
            unknown("alpha", "default"),
            {"id": "gpt-4o-mini", "provider": "default", "context": 128_000,
             "prompt_price": 0.15, "completion_price": 0.6},
            unknown("corp:aardvark", "corp"),
            unknown("corp:beta-2", "corp"),
        ])
    );
}

#[test]
fn models_with_one_dead_provider_lists_the_other_and_names_the_dead_one() {
    // corp is dead.
    let a = MockServer::start_blocking();
    a.set_models(&["gpt-4o-mini"]);
    let sandbox = Sandbox::new();
    let dead = dead_base_url();
    write_config(&sandbox, &two_providers(&a.base_url(), &dead));
    let env = [("OPENAI_API_KEY", "sk-a")];
    let out = run(kaiwa(&sandbox, &["models"], &env), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "gpt-4o-mini\n");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: corp: "), "{err}");
    assert!(err.contains(&dead), "{err}");

    // default is dead.
    let b = MockServer::start_blocking();
    b.set_models(&["beta-2"]);
    let sandbox = Sandbox::new();
    let dead = dead_base_url();
    write_config(&sandbox, &two_providers(&dead, &b.base_url()));
    let out = run(kaiwa(&sandbox, &["models"], &env), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "corp:beta-2\n");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: default: "), "{err}");
    assert!(err.contains(&dead), "{err}");
}

#[test]
fn models_exits_1_when_every_provider_failed() {
    let sandbox = Sandbox::new();
    let (dead_a, dead_b) = (dead_base_url(), dead_base_url());
    write_config(&sandbox, &two_providers(&dead_a, &dead_b));
    let out = run(
        kaiwa(&sandbox, &["models"], &[("OPENAI_API_KEY", "sk-a")]),
        None,
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(err.contains("error: default: "), "{err}");
    assert!(err.contains("error: corp: "), "{err}");
}

// ---------------------------------------------------------------------------------------------
// kaiwa config
// ---------------------------------------------------------------------------------------------

#[test]
fn config_shows_providers_with_keys_header_and_query_values_hidden() {
    let sandbox = Sandbox::new();
    let (marker, cmd) = marker_cmd(&sandbox, "sk-cmd-secret");
    write_config(
        &sandbox,
        &format!(
            "[providers.corp]\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key = \"sk-secret\"\n\
             headers = {{ \"X-Title\" = \"h-secret\" }}\nquery = {{ \"team\" = \"q-secret\" }}\n\n\
             [providers.vault]\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key_cmd = {}\n",
            toml_str(&cmd)
        ),
    );
    let out = run(kaiwa(&sandbox, &["config"], &[]), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("[providers.corp]"), "{text}");
    assert!(text.contains("[providers.vault]"), "{text}");
    assert!(text.contains("***"), "{text}");
    for secret in ["sk-secret", "h-secret", "q-secret", "sk-cmd-secret\n"] {
        assert!(!text.contains(secret), "{secret} shown:\n{text}");
    }
    // Names are shown, values are not.
    assert!(text.contains("\"X-Title\" = \"***\""), "{text}");
    assert!(text.contains("\"team\" = \"***\""), "{text}");
    assert!(!marker.exists(), "kaiwa config ran api_key_cmd");
    assert!(!stderr(&out).contains("secret"), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------------------
// First run
// ---------------------------------------------------------------------------------------------

/// The ports the first-run probe tries besides Ollama's (which the tests move to the mock).
const OTHER_PROBED_PORTS: [u16; 6] = [1234, 8080, 8000, 4000, 1337, 5001];

/// A probed port (other than the mock's) on which something accepts connections: the probe
/// may find it too, and a first-run test cannot say what kaiwa should do then.
fn another_local_server() -> Option<u16> {
    OTHER_PROBED_PORTS.into_iter().find(|&port| {
        std::net::TcpStream::connect_timeout(
            &([127, 0, 0, 1], port).into(),
            std::time::Duration::from_millis(200),
        )
        .is_ok()
    })
}

/// `kaiwa ARGS` with no key and no base URL anywhere, and Ollama's port moved to `mock`'s.
fn first_run(sandbox: &Sandbox, mock: &MockServer, args: &[&str]) -> Command {
    let host = format!("127.0.0.1:{}", mock.addr().port());
    let mut cmd = sandbox.kaiwa(args);
    cmd.env("OLLAMA_HOST", host);
    cmd
}

/// Skips a first-run test (passing, with a note) when another server listens on a probed port.
fn skip_first_run_test() -> bool {
    if let Some(port) = another_local_server() {
        eprintln!("skipped: something listens on 127.0.0.1:{port}, which the first run probes");
        return true;
    }
    false
}

fn assert_local_chat(mock: &MockServer, model: &str) {
    let chats = mock.chat_requests();
    assert_eq!(chats.len(), 1, "{chats:#?}");
    let r = chats.into_iter().next().unwrap();
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.json_str("model"), Some(model));
    assert_eq!(r.header("authorization"), None, "{r:#?}");
    assert_eq!(r.header("api-key"), None, "{r:#?}");
}

#[test]
fn first_run_ask_uses_the_single_local_server_and_its_only_model() {
    if skip_first_run_test() {
        return;
    }
    let mock = MockServer::start_blocking();
    mock.set_models(&["llama3.2:3b"]);
    let sandbox = Sandbox::new();
    let address = format!("127.0.0.1:{}", mock.addr().port());

    let out = run(first_run(&sandbox, &mock, &["ask", "hi"]), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("using {address} (local)")), "{err}");
    assert_local_chat(&mock, "llama3.2:3b");
    assert_eq!(stdout(&out), "You said: hi\n");

    let out = run(first_run(&sandbox, &mock, &["models"]), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "local:llama3.2:3b\n");
    assert!(
        stderr(&out).contains(&format!("using {address} (local)")),
        "{}",
        stderr(&out)
    );
    // Nothing was asked of the mock with a key.
    for r in mock.requests() {
        assert_eq!(r.header("authorization"), None, "{r:#?}");
    }
}

#[test]
fn first_run_ask_with_several_models_needs_m_and_takes_a_listed_one() {
    if skip_first_run_test() {
        return;
    }
    let mock = MockServer::start_blocking();
    mock.set_models(&["llama3.2:3b", "qwen2.5:7b"]);
    let sandbox = Sandbox::new();

    let out = run(first_run(&sandbox, &mock, &["ask", "hi"]), None);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("llama3.2:3b"), "{err}");
    assert!(err.contains("qwen2.5:7b"), "{err}");
    assert_eq!(mock.chat_requests().len(), 0);
    assert_eq!(stdout(&out), "");

    let out = run(
        first_run(&sandbox, &mock, &["ask", "-m", "qwen2.5:7b", "hi"]),
        None,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_local_chat(&mock, "qwen2.5:7b");
}
