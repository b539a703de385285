//! The retry policy of the official OpenAI SDKs, as pure functions.
//!
//! At most two retries, and only before any body byte arrived: on connect
//! errors and timeouts, 408, 409, 429 and ≥ 500, or when the server says
//! `x-should-retry: true` (`false` forbids it). Never on 429
//! `insufficient_quota`/billing codes or "Request too large", nor other 4xx.
//! The wait is the server's `retry-after-ms`/`retry-after` when given, else
//! `min(0.5·2ⁿ, 8) s` less up to 25 % jitter; a server asking for more than
//! 60 s is not retried (the user decides). No clock or randomness is read
//! here: the caller passes them in.

use std::time::{Duration, SystemTime};

use super::error::ApiError;

/// Retries after the first attempt.
pub const MAX_RETRIES: u32 = 2;
/// Longest server-requested wait kaiwa sleeps through by itself.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(60);

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryDecision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Give up with this error (possibly `WaitTooLong`).
    GiveUp(ApiError),
}

const BILLING_CODES: &[&str] = &[
    "insufficient_quota",
    "credit_balance_exhausted",
    "organization_spend_limit_exceeded",
    "project_spend_limit_exceeded",
    "organization_usage_limit_exceeded",
    "billing_hard_limit_reached",
];

/// Whether an error (before any body byte) may be retried at all.
pub fn is_retryable(error: &ApiError) -> bool {
    match error {
        ApiError::Status {
            status,
            error,
            should_retry,
            ..
        } => {
            let billing = [error.code.as_deref(), error.kind.as_deref()]
                .into_iter()
                .flatten()
                .any(|c| BILLING_CODES.contains(&c));
            if billing || error.message.starts_with("Request too large") {
                return false;
            }
            if let Some(explicit) = should_retry {
                return *explicit;
            }
            matches!(status, 408 | 409 | 429) || *status >= 500
        }
        ApiError::Connect { .. } | ApiError::ConnectTimeout { .. } => true,
        ApiError::Idle(_)
        | ApiError::Broken(_)
        | ApiError::EndedEarly
        | ApiError::LineTooLong(_)
        | ApiError::InStream(_)
        | ApiError::Decode(_)
        | ApiError::WaitTooLong { .. }
        | ApiError::Request(_) => false,
    }
}

/// The default backoff for retry number `n` (0-based), given `jitter` in
/// `[0, 1)`: `min(0.5·2ⁿ, 8) × (1 − 0.25·jitter)` seconds.
pub fn backoff(n: u32, jitter: f64) -> Duration {
    let base = (0.5 * 2f64.powi(i32::try_from(n).unwrap_or(i32::MAX))).min(8.0);
    let secs = base * (1.0 - 0.25 * jitter.clamp(0.0, 1.0));
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::from_millis(500))
}

/// Decide after attempt number `retries_done` (0 = the first try failed).
pub fn decide(error: ApiError, retries_done: u32, jitter: f64) -> RetryDecision {
    if retries_done >= MAX_RETRIES || !is_retryable(&error) {
        return RetryDecision::GiveUp(error);
    }
    let server_wait = if let ApiError::Status { retry_after, .. } = &error {
        *retry_after
    } else {
        None
    };
    match server_wait {
        Some(wait) if wait > MAX_SERVER_WAIT => RetryDecision::GiveUp(ApiError::WaitTooLong {
            wait,
            cause: Box::new(error),
        }),
        Some(wait) if !wait.is_zero() => RetryDecision::RetryAfter(wait),
        _ => RetryDecision::RetryAfter(backoff(retries_done, jitter)),
    }
}

/// Parse the wait from `retry-after-ms` (float ms), else `retry-after`
/// (float seconds or an HTTP date, measured from `now`).
pub fn parse_retry_after(
    retry_after_ms: Option<&str>,
    retry_after: Option<&str>,
    now: SystemTime,
) -> Option<Duration> {
    if let Some(ms) = retry_after_ms.and_then(|v| v.trim().parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Duration::try_from_secs_f64(ms / 1000.0).ok();
    }
    let value = retry_after?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return if secs.is_finite() && secs >= 0.0 {
            Duration::try_from_secs_f64(secs).ok()
        } else {
            None
        };
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::ServerError;

    fn status(code: u16, err_code: Option<&str>, retry_after: Option<Duration>) -> ApiError {
        ApiError::Status {
            status: code,
            error: ServerError {
                message: "m".into(),
                code: err_code.map(str::to_string),
                ..ServerError::default()
            },
            retry_after,
            should_retry: None,
            base_url: "u".into(),
            key_hint: None,
        }
    }

    #[test]
    fn which_statuses_retry() {
        for s in [408, 409, 429, 500, 502, 503, 529] {
            assert!(is_retryable(&status(s, None, None)), "{s}");
        }
        for s in [400, 401, 402, 403, 404, 422] {
            assert!(!is_retryable(&status(s, None, None)), "{s}");
        }
        assert!(!is_retryable(&status(
            429,
            Some("insufficient_quota"),
            None
        )));
        assert!(is_retryable(&ApiError::Connect {
            base_url: "u".into(),
            detail: "x".into()
        }));
        assert!(!is_retryable(&ApiError::EndedEarly));
        let mut forced = status(400, None, None);
        if let ApiError::Status { should_retry, .. } = &mut forced {
            *should_retry = Some(true);
        }
        assert!(is_retryable(&forced));
        let mut forbidden = status(500, None, None);
        if let ApiError::Status { should_retry, .. } = &mut forbidden {
            *should_retry = Some(false);
        }
        assert!(!is_retryable(&forbidden));
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(0, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(1, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(10, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(0, 1.0), Duration::from_millis(375));
    }

    #[test]
    fn decisions() {
        assert_eq!(
            decide(status(429, None, Some(Duration::from_secs(2))), 0, 0.0),
            RetryDecision::RetryAfter(Duration::from_secs(2))
        );
        assert_eq!(
            decide(status(500, None, None), 1, 0.0),
            RetryDecision::RetryAfter(Duration::from_secs(1))
        );
        assert!(matches!(
            decide(status(500, None, None), 2, 0.0),
            RetryDecision::GiveUp(_)
        ));
        assert!(matches!(
            decide(status(429, None, Some(Duration::from_secs(61))), 0, 0.0),
            RetryDecision::GiveUp(ApiError::WaitTooLong { .. })
        ));
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(
            parse_retry_after(Some("644"), Some("9"), now),
            Some(Duration::from_millis(644))
        );
        assert_eq!(
            parse_retry_after(None, Some("1.5"), now),
            Some(Duration::from_millis(1500))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(None, Some(&date), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after(None, Some("soon"), now), None);
        assert_eq!(parse_retry_after(Some("-5"), None, now), None);
    }
}
