//! How long looking for a local server takes, and what it finds:
//!
//! ```text
//! cargo run --example discover_time                  # the default ports as they are
//! cargo run --example discover_time -- --silent 8000 # first make 8000 accept and never answer
//! ```
//!
//! Probes `discover::ports` (`OLLAMA_HOST` respected) with `discover::BUDGET`
//! and prints the elapsed milliseconds and one line per server found.

use std::io::Write as _;
use std::time::Instant;

use kaiwa::discover;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut silent = Vec::new();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--silent", Some(port)) => {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse()?)).await?;
                silent.push(tokio::spawn(async move {
                    let mut held = Vec::new();
                    while let Ok((socket, _)) = listener.accept().await {
                        held.push(socket);
                    }
                }));
            }
            _ => return Err(format!("usage: discover_time [--silent PORT]… (got {arg})").into()),
        }
    }
    let ports = discover::ports(&|k| std::env::var(k).ok());
    let started = Instant::now();
    let found = discover::probe(&ports, discover::BUDGET).await;
    let elapsed = started.elapsed();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "probed {ports:?} in {:.1} ms (budget {} ms), {} found",
        elapsed.as_secs_f64() * 1000.0,
        discover::BUDGET.as_millis(),
        found.len()
    )?;
    for f in &found {
        let models: Vec<&str> = f.models.iter().map(|m| m.id.as_str()).collect();
        writeln!(
            out,
            "  {} {} needs_key={} models={models:?}",
            f.base_url(),
            f.kind,
            f.needs_key
        )?;
    }
    for task in silent {
        task.abort();
    }
    Ok(())
}
