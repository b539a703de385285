//! The tests' mock OpenAI server, standalone, for trying kaiwa by hand:
//!
//! ```text
//! cargo run --example mock_server -- [--port N] [--delay-ms N] [--no-usage] [--models a,b,c]
//!                                    [--answer-tokens N]
//! ```
//!
//! With `--answer-tokens N` every chat request gets the same answer instead of the echo: `N`
//! tokens (` tok`), one per SSE chunk, then usage (the whole-process benchmark,
//! `scripts/bench-stream.py`, streams 20,000 of them).
//!
//! Prints `base_url=http://127.0.0.1:PORT/v1` on stdout, then one line per request on stderr,
//! and serves (echoing the last user message) until killed.

use std::io::Write as _;
use std::time::Duration;

use clap::Parser;

#[path = "../tests/support/mock.rs"]
#[allow(dead_code, reason = "the example uses only part of the tests' mock")]
mod mock;

/// A mock OpenAI-compatible server that echoes the last user message.
#[derive(Debug, Parser)]
struct Args {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Delay between streamed pieces, in milliseconds.
    #[arg(long, default_value_t = 15)]
    delay_ms: u64,
    /// Send no usage (like servers that ignore `include_usage`).
    #[arg(long)]
    no_usage: bool,
    /// Model ids for GET /v1/models, comma-separated.
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
    /// Answer every chat request with this many tokens, one per chunk.
    #[arg(long)]
    answer_tokens: Option<usize>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let server = mock::MockServer::start_blocking_on(args.port)?;
    server.set_echo(mock::Echo {
        delay: Duration::from_millis(args.delay_ms),
        usage: !args.no_usage,
    });
    if let Some(n) = args.answer_tokens {
        let text = " tok".repeat(n);
        let completion = u64::try_from(n).unwrap_or(u64::MAX);
        let reply = mock::Reply::openai_stream("gpt-4o-mini", &text, 4, Some((10, completion)))
            .with_delay(Duration::from_millis(args.delay_ms));
        server.set_default(reply);
    }
    if !args.models.is_empty() {
        let ids: Vec<&str> = args.models.iter().map(String::as_str).collect();
        server.set_models(&ids);
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "base_url={}", server.base_url())?;
        out.flush()?;
    }
    let mut seen = 0;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let requests = server.requests();
        let mut err = std::io::stderr().lock();
        for request in requests.iter().skip(seen) {
            let model = request.json_str("model").unwrap_or("-");
            let messages = request.messages().len();
            let stream = request
                .json
                .as_ref()
                .and_then(|j| j.get("stream"))
                .map_or_else(|| "-".to_owned(), ToString::to_string);
            let _ = writeln!(
                err,
                "{} {} model={model} messages={messages} stream={stream}",
                request.method, request.path
            );
        }
        seen = requests.len();
    }
}
