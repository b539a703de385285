//! Context windows learned from servers' overflow errors ("maximum context
//! length is 4097 tokens"), remembered per model id so the meter and the
//! overflow dialog know them in the next run too (SPEC, Context).

use rusqlite::params;

use super::{Store, StoreError};

impl Store {
    /// Remembers `model`'s window (the newest word wins).
    pub fn learn_limit(&mut self, model: &str, tokens: u64, at_ms: i64) -> Result<(), StoreError> {
        // Windows beyond i64 do not exist; keep the largest one SQLite holds.
        let tokens = i64::try_from(tokens).unwrap_or(i64::MAX);
        self.atomic(|conn| {
            conn.execute(
                "INSERT INTO context_limits (model, tokens, learned_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(model) DO UPDATE SET tokens = ?2, learned_at = ?3",
                params![model, tokens, at_ms],
            )?;
            Ok(())
        })
    }

    /// A message's marks in `meta_json`: left out of requests (trimmed to
    /// fit the window), a summary sent in place of earlier turns.
    pub fn set_message_flags(
        &mut self,
        message: i64,
        not_sent: bool,
        summary: bool,
    ) -> Result<(), StoreError> {
        self.atomic(|conn| {
            conn.execute(
                "UPDATE messages SET meta_json = json_set(coalesce(meta_json, '{}'),
                 '$.not_sent', ?2, '$.summary', ?3) WHERE id = ?1",
                params![message, i64::from(not_sent), i64::from(summary)],
            )?;
            Ok(())
        })
    }

    /// Every window learned so far, by model id.
    pub fn learned_limits(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT model, tokens FROM context_limits ORDER BY model")?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (model, tokens) = row?;
            if let Ok(tokens) = u64::try_from(tokens) {
                out.push((model, tokens));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_learned_window_is_remembered_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let mut store = Store::open(&path).unwrap().store;
        store.learn_limit("local:qwen", 8192, 1).unwrap();
        store.learn_limit("gpt-4o-mini", 128_000, 2).unwrap();
        store.learn_limit("local:qwen", 4096, 3).unwrap();
        drop(store);
        let store = Store::open(&path).unwrap().store;
        assert_eq!(
            store.learned_limits().unwrap(),
            [
                ("gpt-4o-mini".to_string(), 128_000),
                ("local:qwen".to_string(), 4096)
            ]
        );
    }
}
