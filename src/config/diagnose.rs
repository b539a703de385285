//! Turns a `toml` error into `(line, message)` for `file:line: message`: the
//! line from the error's byte span, and the message rewritten to name the
//! key ("unknown key 'modle' (expected one of: …)", "'mouse' must be a
//! boolean"). Invariant: a rewritten message never quotes a value from the
//! file (the API key may be one); when no rewrite applies, the toml crate's
//! own one-line message is kept.

use std::fmt::Write as _;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// Every top-level key, in the order `config.example.toml` documents them.
pub(super) const TOP_KEYS: &[&str] = &[
    "base_url",
    "api_key",
    "api_key_cmd",
    "model",
    "system",
    "models",
    "mouse",
    "temperature",
    "max_tokens",
    "stream_idle_timeout",
    "history_path",
    "budget_monthly_usd",
    "prices",
    "context_overflow",
    "context",
    "providers",
];

/// The keys of a `[providers.NAME]` table.
pub(super) const PROVIDER_KEYS: &[&str] = &[
    "kind",
    "base_url",
    "endpoint",
    "api_version",
    "api_key",
    "api_key_cmd",
    "api_key_env",
    "auth",
    "headers",
    "query",
    "models",
    "base_model",
    "local",
];

/// The keys of a `[prices."MODEL"]` table.
pub(super) const PRICE_KEYS: &[&str] = &["prompt", "completion", "cached"];

/// 1-based line number of byte `offset` in `raw`.
pub(super) fn line_of(raw: &str, offset: usize) -> usize {
    raw.bytes()
        .take(offset)
        .filter(|&byte| byte == b'\n')
        .count()
        + 1
}

/// The line and the user-facing message for a toml error on `raw`.
pub(super) fn describe(raw: &str, error: &toml::de::Error) -> (usize, String) {
    // A syntax error first: the parser may report a later one before the
    // one that caused it (an unclosed string makes the next line a bad key).
    let (_, syntax) = DeTable::parse_recoverable(raw);
    let error = syntax
        .iter()
        .min_by_key(|error| error.span().map_or(usize::MAX, |span| span.start))
        .unwrap_or(error);
    let span = error.span().unwrap_or(0..0);
    let line = line_of(raw, span.start);
    let message = error.message().lines().next().unwrap_or_default().trim();
    let path = key_path(raw, &span);
    let rewritten = if let Some(name) = between_backticks(message, "unknown field `") {
        Some(unknown_key(path.as_deref(), name, message))
    } else if let Some(name) = between_backticks(message, "missing field `") {
        Some(match path.as_deref() {
            Some(table) if !table.is_empty() => {
                format!("missing key '{name}' in [{}]", dotted(table))
            }
            _ => format!("missing key '{name}'"),
        })
    } else if ["invalid type: ", "invalid value: ", "invalid length "]
        .iter()
        .any(|prefix| message.starts_with(prefix))
    {
        path.as_deref().map(|path| match expectation(path) {
            Some(expected) => format!("'{}' must be {expected}", dotted(path)),
            None => format!("'{}' has the wrong type or value", dotted(path)),
        })
    } else if message == "duplicate key" {
        raw.get(span).map(|key| {
            if key.starts_with(['"', '\'']) {
                format!("duplicate key {key}")
            } else {
                format!("duplicate key '{key}'")
            }
        })
    } else if message.starts_with("string values must be quoted") {
        Some(match key_on_line(raw, line) {
            Some(key) => format!("the value of '{key}' must be in quotes: {key} = \"…\""),
            None => "text values must be in quotes: key = \"…\"".to_string(),
        })
    } else if message == "invalid basic string, expected `\"`" {
        Some(unclosed("\"…\"", "\"\"\"…\"\"\""))
    } else if message == "invalid literal string, expected `'`" {
        Some(unclosed("'…'", "'''…'''"))
    } else {
        None
    };
    (line, rewritten.unwrap_or_else(|| message.to_string()))
}

fn unclosed(quoted: &str, multi_line: &str) -> String {
    format!(
        "unclosed string: a {quoted} string must end on the line where it starts \
         (use {multi_line} for text over several lines)"
    )
}

/// The bare key at the start of `raw`'s 1-based `line`, as in `key = …`.
fn key_on_line(raw: &str, line: usize) -> Option<&str> {
    let text = raw.lines().nth(line.checked_sub(1)?)?;
    let key = text.split_once('=')?.0.trim();
    let bare = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    (!key.is_empty() && key.chars().all(bare)).then_some(key)
}

fn between_backticks<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    message.strip_prefix(prefix)?.split('`').next()
}

fn unknown_key(path: Option<&[String]>, name: &str, message: &str) -> String {
    let parent = path
        .and_then(|path| path.split_last())
        .map_or(&[][..], |(_, parent)| parent);
    let expected = match parent {
        [] => TOP_KEYS.join(", "),
        [prices, _] if prices == "prices" => PRICE_KEYS.join(", "),
        [providers, _] if providers == "providers" => PROVIDER_KEYS.join(", "),
        _ => message
            .split_once("expected one of ")
            .map(|(_, list)| list.replace('`', ""))
            .unwrap_or_default(),
    };
    let mut out = format!("unknown key '{name}'");
    if !parent.is_empty() {
        let _ = write!(out, " in [{}]", dotted(parent));
    }
    if !expected.is_empty() {
        let _ = write!(out, " (expected one of: {expected})");
    }
    out
}

/// What the value at `path` must be, in words.
fn expectation(path: &[String]) -> Option<&'static str> {
    let keys: Vec<&str> = path.iter().map(String::as_str).collect();
    Some(match keys.as_slice() {
        ["base_url" | "api_key" | "api_key_cmd" | "model" | "system" | "history_path"]
        | [
            "providers",
            _,
            "kind" | "base_url" | "endpoint" | "api_key" | "api_key_cmd" | "api_key_env" | "auth",
        ]
        | ["providers", _, "headers" | "query" | "base_model", _] => "a string",
        ["models"] | ["providers", _, "models"] => "an array of strings",
        ["mouse"] | ["providers", _, "local"] => "a boolean",
        ["temperature" | "budget_monthly_usd"]
        | ["prices", _, "prompt" | "completion" | "cached"] => "a number",
        ["max_tokens"] => "a whole number",
        ["stream_idle_timeout"] => "a whole number of seconds",
        ["prices"] => "a table of models",
        ["context", _] => "a whole number of tokens",
        ["context"] => "a table of models and their windows",
        ["providers"] => "a table of providers",
        ["providers", _] => "a table ([providers.NAME])",
        ["providers", _, "api_version"] => "a string (\"2024-10-21\")",
        ["providers", _, "headers" | "query" | "base_model"] => "a table of strings",
        ["prices", _] => "a table with 'prompt' and 'completion' (and optionally 'cached')",
        _ => return None,
    })
}

/// The longest key path whose key span equals `span` or whose value span
/// contains it. `None` if the file does not parse or nothing matches.
fn key_path(raw: &str, span: &Range<usize>) -> Option<Vec<String>> {
    let table = DeTable::parse(raw).ok()?;
    let mut best = None;
    find_in_table(table.get_ref(), span, &[], &mut best);
    best
}

fn find_in_table(
    table: &DeTable<'_>,
    span: &Range<usize>,
    prefix: &[String],
    best: &mut Option<Vec<String>>,
) {
    for (key, value) in table {
        let mut path = prefix.to_vec();
        path.push(key.get_ref().to_string());
        let value_span = value.span();
        let hit =
            key.span() == *span || (value_span.start <= span.start && span.end <= value_span.end);
        if hit && best.as_ref().is_none_or(|found| path.len() > found.len()) {
            *best = Some(path.clone());
        }
        find_in_value(value.get_ref(), span, &path, best);
    }
}

fn find_in_value(
    value: &DeValue<'_>,
    span: &Range<usize>,
    path: &[String],
    best: &mut Option<Vec<String>>,
) {
    if let DeValue::Table(table) = value {
        find_in_table(table, span, path, best);
    } else if let DeValue::Array(items) = value {
        for item in &**items {
            find_in_value(item.get_ref(), span, path, best);
        }
    }
}

/// `prices."gpt-4o".prompt`: keys joined with dots, quoted when not bare.
pub(super) fn dotted(path: &[impl AsRef<str>]) -> String {
    path.iter()
        .map(|key| toml_key(key.as_ref()))
        .collect::<Vec<_>>()
        .join(".")
}

fn toml_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_string()
    } else {
        format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }

    #[test]
    fn keys_are_quoted_only_when_needed() {
        assert_eq!(
            dotted(&["prices", "gpt-4o", "prompt"]),
            "prices.gpt-4o.prompt"
        );
        assert_eq!(
            dotted(&["prices", "org/model:7b"]),
            "prices.\"org/model:7b\""
        );
        assert_eq!(dotted(&["a\"b"]), "\"a\\\"b\"");
    }
}
