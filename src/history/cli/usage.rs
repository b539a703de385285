//! `kaiwa usage`: tokens and cost per day and model from the ledger, the
//! total, and this month's spend against `budget_monthly_usd`.
//!
//! Invariants: an estimated count is marked `~`, a cost that leaves out
//! unpriced requests `≥`, and a row with no price at all reads `unpriced`
//! (never `$0`); `--json` carries the same figures unmarked, with the
//! flags beside them.

use serde_json::{Value, json};

use super::{open, out, out_json, say, shown, store_error};
use crate::chat::usage::format_usd;
use crate::cli::UsageArgs;
use crate::cli_io::{Exit, Io};
use crate::config::Config;
use crate::store::{StoreError, UsageDay, now_ms};

/// Token counts with a `~` when estimated.
fn count(n: u64, estimated: bool) -> String {
    if estimated {
        format!("~{n}")
    } else {
        n.to_string()
    }
}

/// `$0.0012`, `~$…` when estimated, `≥$…` when some requests had no
/// price, `unpriced` when none had one.
pub(super) fn cost_text(cost: f64, requests: u64, unpriced: u64, estimated: bool) -> String {
    if unpriced >= requests && requests > 0 && cost == 0.0 {
        return "unpriced".to_string();
    }
    let partial = if unpriced > 0 { "≥" } else { "" };
    let approx = if estimated { "~" } else { "" };
    format!("{partial}{approx}${}", format_usd(cost))
}

fn day_json(d: &UsageDay) -> Value {
    json!({
        "day": d.day,
        "model": d.model,
        "requests": d.requests,
        "prompt_tokens": d.prompt,
        "cached_tokens": d.cached,
        "completion_tokens": d.completion,
        "reasoning_tokens": d.reasoning,
        "cost_usd": d.cost_usd,
        "unpriced_requests": d.unpriced,
        "estimated": d.estimated,
    })
}

/// `kaiwa usage`.
pub fn run_usage(config: &Config, args: &UsageArgs, io: &mut Io<'_>) -> Exit {
    let store = match open(config, io, false) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let now = now_ms();
    let figures = store
        .as_ref()
        .map(|s| Ok::<_, StoreError>((s.usage_by_day(args.days, now)?, s.month_spend(now)?)))
        .transpose();
    let (days, month) = match figures {
        Ok(found) => found.unwrap_or_default(),
        Err(e) => return store_error(io, &e),
    };
    let total = total_of(&days);
    if args.json {
        out_json(io, &usage_json(config, args, &days, &total, month));
        let _ = io.stdout.flush();
        return Exit::Ok;
    }
    if days.is_empty() {
        say(io, &format!("no requests in the last {} days", args.days));
        return Exit::Ok;
    }
    let mut text = usage_table(io, &days, &total);
    text.push_str(&month_line(config, month));
    let _ = out(io, &text);
    let _ = io.stdout.flush();
    Exit::Ok
}

/// The sum of every row (its day and model empty).
fn total_of(days: &[UsageDay]) -> UsageDay {
    let mut total = UsageDay {
        day: String::new(),
        model: String::new(),
        requests: 0,
        prompt: 0,
        cached: 0,
        completion: 0,
        reasoning: 0,
        cost_usd: 0.0,
        unpriced: 0,
        estimated: false,
    };
    for d in days {
        total.requests += d.requests;
        total.prompt += d.prompt;
        total.cached += d.cached;
        total.completion += d.completion;
        total.reasoning += d.reasoning;
        total.cost_usd += d.cost_usd;
        total.unpriced += d.unpriced;
        total.estimated |= d.estimated;
    }
    total
}

/// `--json`: the rows, the total, the month's spend and the budget.
fn usage_json(
    config: &Config,
    args: &UsageArgs,
    days: &[UsageDay],
    total: &UsageDay,
    month: f64,
) -> Value {
    let mut total_json = day_json(total);
    if let Some(obj) = total_json.as_object_mut() {
        obj.remove("day");
        obj.remove("model");
    }
    json!({
        "days": args.days,
        "rows": days.iter().map(day_json).collect::<Vec<_>>(),
        "total": total_json,
        "month_spend_usd": month,
        "budget_monthly_usd": config.budget_monthly_usd,
    })
}

/// The aligned table: a header, a row per day and model, the total.
fn usage_table(io: &Io<'_>, days: &[UsageDay], total: &UsageDay) -> String {
    let model_width = days
        .iter()
        .map(|d| d.model.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(5, 32);
    let row = |day: &str, model: &str, d: &UsageDay| {
        format!(
            "{day:<10}  {model:<model_width$}  {:>8}  {:>10}  {:>10}  {:>10}  {}\n",
            d.requests,
            count(d.prompt, d.estimated),
            count(d.cached, d.estimated),
            count(d.completion, d.estimated),
            cost_text(d.cost_usd, d.requests, d.unpriced, d.estimated),
        )
    };
    let mut text = format!(
        "{:<10}  {:<model_width$}  {:>8}  {:>10}  {:>10}  {:>10}  COST\n",
        "DAY", "MODEL", "REQUESTS", "PROMPT", "CACHED", "COMPLETION"
    );
    for d in days {
        text.push_str(&row(&d.day, &shown(io, &d.model), d));
    }
    text.push_str(&row("total", "", total));
    text
}

/// `this month: $x`, with the share of the monthly budget when one is set.
fn month_line(config: &Config, month: f64) -> String {
    let month_text = format!("this month: ${}", format_usd(month));
    match config.budget_monthly_usd {
        Some(budget) if budget > 0.0 => {
            let percent = (month / budget * 100.0).round();
            format!(
                "{month_text} of a ${} monthly budget ({percent} %)\n",
                format_usd(budget)
            )
        }
        _ => format!("{month_text}\n"),
    }
}
