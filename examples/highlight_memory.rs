//! What code highlighting costs in resident memory and time, for
//! docs/PERFORMANCE.md:
//!
//! ```text
//! cargo run --release --example highlight_memory          # all, in order
//! cargo run --release --example highlight_memory -- ts     # only these tags
//! ```
//!
//! Prints VmRSS (Linux) before anything is loaded, after the syntax set and
//! theme are loaded (`warm_up`), and after one code block in each of a dozen
//! languages has been rendered, one after the other: a grammar's regexes
//! are compiled the first time a code block uses it, which is where the
//! memory and time go. A small grammar rendered after a big one may fit in
//! heap the big one freed; name one tag to see its cost alone.

use std::io::Write as _;
use std::time::Instant;

use kaiwa::ui::markdown;

/// A few lines per fence tag, in the languages people paste. Each language
/// is rendered after the ones before it, so its VmRSS step is what its
/// grammar costs (the TSX grammar is separate from TypeScript's; `js` and
/// `jsx` both use JavaScript (Babel), so `jsx` finds it compiled).
const SNIPPETS: &[(&str, &str)] = &[
    (
        "rust",
        r#"use std::collections::HashMap;
fn main() {
    let mut m: HashMap<&str, i32> = HashMap::new();
    m.insert("a", 1); // comment
    println!("{:?}", m.get("a"));
}"#,
    ),
    (
        "python",
        r#"import json
def load(path: str) -> list[dict]:
    with open(path) as f:  # read
        return [u for u in json.load(f) if u.get("id")]"#,
    ),
    (
        "js",
        r#"import { readFile } from "fs/promises";
export async function load(path) {
  const raw = await readFile(path, "utf8"); // read
  return JSON.parse(raw).map((u) => ({ id: u.id, name: u.name ?? "anon" }));
}
class Repo { items = []; add(x) { this.items.push(x); } }"#,
    ),
    (
        "ts",
        r#"import { readFile } from "fs/promises";
interface User { id: number; name?: string }
export async function load(path: string): Promise<User[]> {
  const raw = await readFile(path, "utf8"); // read
  return JSON.parse(raw).map((u: any) => ({ id: u.id, name: u.name ?? "anon" }));
}
class Repo<T> { private items: T[] = []; add(x: T): void { this.items.push(x); } }"#,
    ),
    (
        "tsx",
        r#"import React, { useState } from "react";
export const Counter = ({ start }: { start: number }) => {
  const [n, setN] = useState(start);
  return <button className="btn" onClick={() => setN(n + 1)}>{n}</button>;
};"#,
    ),
    (
        "jsx",
        r#"import React, { useState } from "react";
export const Counter = ({ start }) => {
  const [n, setN] = useState(start);
  return <button className="btn" onClick={() => setN(n + 1)}>{n}</button>;
};"#,
    ),
    (
        "toml",
        r#"[package]
name = "kaiwa"
version = "0.1.0"
[dependencies]
tokio = { version = "1", features = ["rt"] }"#,
    ),
    (
        "dockerfile",
        r#"FROM rust:1.89 AS build
WORKDIR /src
COPY . .
RUN cargo build --release && strip target/release/kaiwa
ENTRYPOINT ["/kaiwa"]"#,
    ),
    (
        "kotlin",
        r#"data class User(val id: Int, val name: String?)
fun main() {
    val users = listOf(User(1, "a"), User(2, null))
    users.filter { it.name != null }.forEach { println("user ${it.id}") }
}"#,
    ),
    (
        "swift",
        r#"struct User { let id: Int; var name: String? }
func greet(_ u: User) -> String {
    guard let n = u.name else { return "anon" }
    return "Hi \(n)"
}"#,
    ),
    (
        "zig",
        r#"const std = @import("std");
pub fn main() !void {
    const x: u32 = 42;
    std.debug.print("x={d}\n", .{x});
}"#,
    ),
    (
        "nix",
        r#"{ pkgs ? import <nixpkgs> {} }:
pkgs.mkShell {
  buildInputs = with pkgs; [ cargo rustc ];
  shellHook = ''echo "hi"'';
}"#,
    ),
    (
        "hcl",
        r#"resource "aws_s3_bucket" "logs" {
  bucket = "my-logs"
  tags = { env = var.env }
}
variable "env" { default = "dev" }"#,
    ),
];

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let mut out = std::io::stdout().lock();
    let base = vm_rss_kib();
    let _ = writeln!(out, "start: VmRSS {base} KiB");

    let t = Instant::now();
    markdown::warm_up();
    let loaded = vm_rss_kib();
    let _ = writeln!(
        out,
        "warm_up: {:.1} ms, VmRSS {loaded} KiB (+{} KiB)",
        t.elapsed().as_secs_f64() * 1e3,
        loaded.saturating_sub(base)
    );

    let only: Vec<String> = std::env::args().skip(1).collect();
    let snippets: Vec<_> = SNIPPETS
        .iter()
        .filter(|(lang, _)| only.is_empty() || only.iter().any(|o| o == lang))
        .collect();
    let t = Instant::now();
    for (lang, code) in &snippets {
        let src = format!("```{lang}\n{code}\n```\n");
        let one = Instant::now();
        let rendered = markdown::render(&src, 80, 1);
        let _ = writeln!(
            out,
            "  {lang:<10} {:>6.2} ms, {} lines, VmRSS {} KiB",
            one.elapsed().as_secs_f64() * 1e3,
            rendered.lines.len(),
            vm_rss_kib()
        );
    }
    let used = vm_rss_kib();
    let _ = writeln!(
        out,
        "{} code blocks: {:.1} ms, VmRSS {used} KiB (+{} KiB over start)",
        snippets.len(),
        t.elapsed().as_secs_f64() * 1e3,
        used.saturating_sub(base)
    );
}
