//! Figures from the usage ledger: tokens and cost per local day and model,
//! and the spend of the current local month (for `budget_monthly_usd`).
//!
//! Invariant: an unpriced request adds its tokens but never a cost: sums
//! carry the priced part plus a count of the unpriced requests, so a
//! reader can show `≥$x` instead of a wrong `$x`. Local days and months are
//! computed by SQLite (`'localtime'`), the one source of the time zone.

use rusqlite::params;

use super::{Store, StoreError, UsageDay};

impl Store {
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
                    max(usage_source = 'estimated')
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
