//! Full-text search over every saved message: the terms of a query, the
//! conversations that match (newest matching message first), how many of
//! their messages match, and a snippet with the matches marked.
//!
//! Invariants: every user term is quoted before it reaches `MATCH` (a query
//! can find nothing, never raise an SQL error); terms under three
//! characters, which the trigram index cannot see, are matched with
//! `instr()`; matches are scanned newest first, so a search stops as soon
//! as it has `limit` conversations; snippet markers are private-use
//! characters that never reach the user.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::ops::Range;

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params, params_from_iter};

use super::query::{SUMMARY, summary};
use super::{SearchHit, Store, StoreError};

/// Snippet markers: private-use characters that never reach the user.
const MARK_START: char = '\u{E000}';
const MARK_END: char = '\u{E001}';

/// The words of a search: whitespace separates terms; `"…"` keeps a phrase
/// together; an unbalanced quote is dropped. Empty terms are dropped too.
pub(crate) fn terms(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = query;
    loop {
        rest = rest.trim_start();
        let Some(first) = rest.chars().next() else {
            break;
        };
        if first == '"' {
            let after = rest.get(1..).unwrap_or("");
            if let Some(end) = after.find('"') {
                let phrase = after.get(..end).unwrap_or("").trim();
                if !phrase.is_empty() {
                    out.push(phrase.to_string());
                }
                rest = after.get(end + 1..).unwrap_or("");
            } else {
                rest = after;
            }
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '"')
            .unwrap_or(rest.len());
        let (word, tail) = rest.split_at_checked(end).unwrap_or((rest, ""));
        out.push(word.to_string());
        rest = tail;
    }
    let mut seen = HashSet::new();
    out.retain(|t| {
        let clean = !t.chars().all(char::is_control);
        clean && seen.insert(t.to_lowercase())
    });
    out
}

/// One FTS5 phrase: the term in double quotes, inner quotes doubled.
fn phrase(term: &str) -> String {
    let cleaned: String = term.chars().filter(|c| *c != '\0').collect();
    format!("\"{}\"", cleaned.replace('"', "\"\""))
}

impl Store {
    /// Conversations whose saved text contains every term of `query`
    /// (case-insensitive; the terms must share a message), the one with the
    /// most recent matching message first, one hit per conversation with a
    /// snippet of that message. An empty query finds nothing. Newest first
    /// lets a search stop as soon as it has `limit` conversations, so even
    /// a word in every message of a large history answers in milliseconds.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, StoreError> {
        let terms = terms(query);
        if terms.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let (long, short): (Vec<&String>, Vec<&String>) =
            terms.iter().partition(|t| t.chars().count() >= 3);
        match self.search_terms(&long, &short, limit) {
            // Quoting makes any query valid; should SQLite still object,
            // the answer is "nothing found", not an error.
            Err(StoreError::Sqlite(e)) => {
                tracing::warn!(error = %e, "search query failed");
                Ok(Vec::new())
            }
            other => other,
        }
    }

    fn search_terms(
        &self,
        long: &[&String],
        short: &[&String],
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        // ?1 is the MATCH expression (or unused), ?2.. the short terms.
        let expr = long
            .iter()
            .map(|t| phrase(t))
            .collect::<Vec<_>>()
            .join(" AND ");
        let mut args: Vec<Value> = vec![Value::Text(expr)];
        let mut filters = String::new();
        for term in short {
            args.push(Value::Text(term.to_lowercase()));
            // SQLite's lower() folds ASCII only: skip it when it cannot matter.
            let column = if term.bytes().any(|b| b.is_ascii_alphabetic()) {
                "lower(m.content)"
            } else {
                "m.content"
            };
            let _ = write!(filters, " AND instr({column}, ?{}) > 0", args.len());
        }
        let fts = !long.is_empty();
        let (scan, count) = if fts {
            (
                format!(
                    "SELECT m.id, m.conversation_id, m.uid
                     FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
                     WHERE messages_fts MATCH ?1{filters}
                     ORDER BY messages_fts.rowid DESC"
                ),
                // The rowid range goes to FTS5 in a subquery: as a join
                // constraint it would probe the index once per message.
                format!(
                    "SELECT count(*) FROM messages m WHERE m.conversation_id = ?{c}
                     AND m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1
                                  AND rowid >= ?{a} AND rowid <= ?{b}){filters}",
                    a = args.len() + 1,
                    b = args.len() + 2,
                    c = args.len() + 3,
                ),
            )
        } else {
            let searchable = "m.role IN ('user','assistant') AND m.state <> 'streaming'";
            (
                format!(
                    "SELECT m.id, m.conversation_id, m.uid FROM messages m
                     WHERE {searchable} AND ?1 IS NOT NULL{filters} ORDER BY m.id DESC"
                ),
                format!(
                    "SELECT count(*) FROM messages m WHERE {searchable} AND ?1 IS NOT NULL
                     AND m.id >= ?{a} AND m.id <= ?{b} AND m.conversation_id = ?{c}{filters}",
                    a = args.len() + 1,
                    b = args.len() + 2,
                    c = args.len() + 3,
                ),
            )
        };
        // The newest matching message of each conversation, newest first.
        let mut picks: Vec<(i64, i64, String)> = Vec::new();
        {
            let mut stmt = self.conn.prepare(&scan)?;
            let mut rows = stmt.query(params_from_iter(args.iter()))?;
            let mut seen = HashSet::new();
            while let Some(row) = rows.next()? {
                let conversation: i64 = row.get(1)?;
                if seen.insert(conversation) {
                    picks.push((row.get(0)?, conversation, row.get(2)?));
                    if picks.len() >= limit {
                        break;
                    }
                }
            }
        }
        let mut hits = Vec::with_capacity(picks.len());
        for pick in picks {
            hits.extend(self.hit(pick, &args, &count, fts, short)?);
        }
        Ok(hits)
    }

    /// One search hit: the conversation, how many of its messages match,
    /// a snippet of the picked message.
    fn hit(
        &self,
        (message, conversation, message_uid): (i64, i64, String),
        args: &[Value],
        count_sql: &str,
        fts: bool,
        short: &[&String],
    ) -> Result<Option<SearchHit>, StoreError> {
        let sql = format!("SELECT {SUMMARY} FROM conversations c WHERE c.id = ?1");
        let Some(summary) = self
            .conn
            .query_row(&sql, [conversation], summary)
            .optional()?
        else {
            return Ok(None);
        };
        let (low, high): (i64, i64) = self.conn.query_row(
            "SELECT min(id), max(id) FROM messages WHERE conversation_id = ?1",
            [conversation],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let mut count_args = args.to_vec();
        count_args.extend([low, high, conversation].map(Value::Integer));
        let matches: i64 = self
            .conn
            .prepare_cached(count_sql)?
            .query_row(params_from_iter(count_args.iter()), |row| row.get(0))?;
        let (snippet, highlights) = if fts {
            let snip: Option<String> = self
                .conn
                .prepare_cached(
                    "SELECT snippet(messages_fts, 0, char(57344), char(57345), '…', 16)
                     FROM messages_fts WHERE messages_fts MATCH ?1 AND rowid = ?2",
                )?
                .query_row(params![args.first(), message], |row| row.get(0))
                .optional()?
                .flatten();
            let (snippet, mut highlights) = parse_snippet(snip.as_deref().unwrap_or(""));
            for term in short {
                highlights.extend(find_all(&snippet, term));
            }
            highlights.sort_by_key(|r| r.start);
            (snippet, highlights)
        } else {
            let content: String = self.conn.query_row(
                "SELECT content FROM messages WHERE id = ?1",
                [message],
                |row| row.get(0),
            )?;
            make_snippet(&content, short)
        };
        Ok(Some(SearchHit {
            conversation: summary,
            message_uid,
            snippet,
            highlights,
            matches: matches.try_into().unwrap_or(0),
        }))
    }
}

/// Splits FTS5's `snippet()` output into text and highlighted byte ranges;
/// newlines become spaces so a hit is one line.
fn parse_snippet(raw: &str) -> (String, Vec<Range<usize>>) {
    let mut text = String::with_capacity(raw.len());
    let mut ranges = Vec::new();
    let mut start = None;
    for c in raw.chars() {
        match c {
            MARK_START => start = Some(text.len()),
            MARK_END => {
                if let Some(s) = start.take() {
                    ranges.push(s..text.len());
                }
            }
            '\n' | '\r' | '\t' => text.push(' '),
            _ => text.push(c),
        }
    }
    (text, ranges)
}

/// Byte ranges of `term` in `text`, ASCII case-insensitive.
fn find_all(text: &str, term: &str) -> Vec<Range<usize>> {
    let hay = text.to_ascii_lowercase();
    let needle = term.to_ascii_lowercase();
    if needle.is_empty() {
        return Vec::new();
    }
    hay.match_indices(&needle)
        .map(|(i, m)| i..i + m.len())
        .collect()
}

/// A snippet around the first match of any term: about 40 characters
/// before and 80 after, on one line.
fn make_snippet(content: &str, terms: &[&String]) -> (String, Vec<Range<usize>>) {
    let first = terms
        .iter()
        .filter_map(|t| find_all(content, t).into_iter().next())
        .min_by_key(|r| r.start)
        .map_or(0, |r| r.start);
    let chars: Vec<(usize, char)> = content.char_indices().collect();
    let at = chars.iter().position(|(i, _)| *i >= first).unwrap_or(0);
    let from = at.saturating_sub(40);
    let to = (at + 80).min(chars.len());
    let mut text = String::new();
    if from > 0 {
        text.push('…');
    }
    for (_, c) in chars.get(from..to).unwrap_or(&[]) {
        text.push(if matches!(c, '\n' | '\r' | '\t') {
            ' '
        } else {
            *c
        });
    }
    if to < chars.len() {
        text.push('…');
    }
    let mut highlights: Vec<Range<usize>> = terms.iter().flat_map(|t| find_all(&text, t)).collect();
    highlights.sort_by_key(|r| r.start);
    (text, highlights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_quote_and_split() {
        assert_eq!(terms("  hello   world "), ["hello", "world"]);
        assert_eq!(terms("\"new york\" pizza"), ["new york", "pizza"]);
        assert_eq!(terms("\"unbalanced quote"), ["unbalanced", "quote"]);
        assert_eq!(terms("\""), Vec::<String>::new());
        assert_eq!(terms(""), Vec::<String>::new());
        assert_eq!(terms("NEAR( * - AND"), ["NEAR(", "*", "-", "AND"]);
        assert_eq!(terms("a A a"), ["a"]);
        assert_eq!(phrase("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn snippets_mark_matches() {
        let (text, ranges) = parse_snippet("…the \u{E000}東京\u{E001}\nx");
        assert_eq!(text, "…the 東京 x");
        assert_eq!(text.get(ranges[0].clone()), Some("東京"));
        let t = "ok".to_string();
        let (text, ranges) = make_snippet("first line\nsay OK twice ok", &[&t]);
        assert_eq!(text, "first line say OK twice ok");
        assert_eq!(ranges.len(), 2);
    }
}
