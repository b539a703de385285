//! The usage ledger: a row per request written, and the figures read from
//! it: tokens and cost per local day and model, and the spend of the
//! current local month (for `budget_monthly_usd`).
//!
//! Invariant: an unknown price is stored as NULL ("unpriced"), never 0; an
//! unpriced request adds its tokens but never a cost: sums
//! carry the priced part plus a count of the unpriced requests, so a
//! reader can show `≥$x` instead of a wrong `$x`. Local days and months are
//! computed by SQLite (`'localtime'`), the one source of the time zone.

use rusqlite::params;

use super::{LedgerRow, Store, StoreError, UsageDay};

impl Store {
    /// Adds a request to the usage ledger. An unknown price is stored as
    /// NULL ("unpriced"), never 0.
    pub fn record_request(&mut self, row: &LedgerRow) -> Result<(), StoreError> {
        self.atomic(|conn| {
            conn.execute(
                "INSERT INTO requests (message_id, started_at, duration_ms, ttft_ms, base_url,
                 model, input_tokens, cached_tokens, output_tokens, usage_source, cost_nanousd,
                 price_source, status, usage_json, reasoning_tokens)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                params![
                    row.message_id,
                    row.started_at_ms,
                    row.duration_ms,
                    row.ttft_ms,
                    row.base_url,
                    row.model,
                    row.prompt_tokens.and_then(|n| i64::try_from(n).ok()),
                    row.cached_tokens.and_then(|n| i64::try_from(n).ok()),
                    row.completion_tokens.and_then(|n| i64::try_from(n).ok()),
                    row.usage_source.as_str(),
                    row.cost_usd.and_then(to_nano),
                    row.price_source,
                    row.status,
                    row.usage_json,
                    row.reasoning_tokens.and_then(|n| i64::try_from(n).ok()),
                ],
            )?;
            Ok(())
        })
    }

    /// Usage of the last `days` local days (today included), per day and
    /// model, newest day first.
    pub fn usage_by_day(&self, days: u32, now_ms: i64) -> Result<Vec<UsageDay>, StoreError> {
        let back = days.saturating_sub(1);
        let mut stmt = self.conn.prepare_cached(
            "WITH since(ms) AS (
               SELECT CAST(strftime('%s', ?1 / 1000, 'unixepoch', 'localtime', 'start of day',
                        '-' || ?2 || ' days', 'utc') AS INTEGER) * 1000)
             SELECT date(started_at / 1000, 'unixepoch', 'localtime') AS day, model,
                    count(*),
                    coalesce(sum(input_tokens), 0), coalesce(sum(cached_tokens), 0),
                    coalesce(sum(output_tokens), 0),
                    coalesce(sum(cost_nanousd), 0),
                    sum(cost_nanousd IS NULL AND usage_source <> 'none'),
                    max(usage_source = 'estimated'),
                    coalesce(sum(reasoning_tokens), 0)
             FROM requests, since WHERE started_at >= since.ms
             GROUP BY day, model ORDER BY day DESC, model",
        )?;
        let rows = stmt.query_map(params![now_ms, back], |row| {
            Ok(UsageDay {
                day: row.get(0)?,
                model: row.get(1)?,
                requests: count(row.get(2)?),
                prompt: count(row.get(3)?),
                cached: count(row.get(4)?),
                completion: count(row.get(5)?),
                reasoning: count(row.get(9)?),
                cost_usd: row.get::<_, i64>(6)? as f64 / 1e9,
                unpriced: count(row.get(7)?),
                estimated: row.get::<_, i64>(8)? != 0,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// USD spent (priced requests only) since the start of the current
    /// local month.
    pub fn month_spend(&self, now_ms: i64) -> Result<f64, StoreError> {
        let nano: i64 = self.conn.query_row(
            "SELECT coalesce(sum(cost_nanousd), 0) FROM requests
             WHERE started_at >= CAST(strftime('%s', ?1 / 1000, 'unixepoch', 'localtime',
                   'start of month', 'utc') AS INTEGER) * 1000",
            [now_ms],
            |row| row.get(0),
        )?;
        Ok(nano as f64 / 1e9)
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// USD → integer nano-dollars (None for nonsense).
fn to_nano(usd: f64) -> Option<i64> {
    if !usd.is_finite() || usd < 0.0 {
        return None;
    }
    #[allow(
        clippy::cast_possible_truncation,
        reason = "rounded and range-checked just below"
    )]
    let nano = (usd * 1e9).round() as i64;
    (nano >= 0).then_some(nano)
}
