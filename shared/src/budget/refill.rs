//! Allowance refills, issued by the scheduled reconciliation: each user's refill for the period
//! their policy is in, as an ordinary grant row, exactly once — `budget_refills`' key (user,
//! period) makes a second run, a retry or a concurrent run a no-op.

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{FromRow, PgPool};

use super::ledger;
use super::period::refill_micros;
use super::policy::StoredPolicy;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refilled {
    /// Periods refilled (a top-up of a full balance counts, with no grant).
    pub refills: u64,
    pub grants: u64,
    pub granted_micros: i64,
}

#[derive(FromRow)]
struct Candidate {
    #[sqlx(rename = "target_user_id")]
    user_id: String,
    #[sqlx(flatten)]
    policy: StoredPolicy,
}

/// Refills every user whose policy has an allowance and whose period at `at` has no refill yet.
pub async fn refill_due(pool: &PgPool, at: DateTime<Utc>) -> Result<Refilled, sqlx::Error> {
    let candidates: Vec<Candidate> = sqlx::query_as(
        "SELECT u.id AS target_user_id, p.*
         FROM users u
         JOIN LATERAL (SELECT b.user_id, b.period, b.time_zone, b.allowance_micros, b.refill_rule,
                              b.rollover_cap_micros, b.spend_cap_micros, b.max_calls_in_flight,
                              b.max_calls_per_minute, b.max_tokens_per_minute,
                              b.alert_threshold_percent, b.configured_by, b.updated_at
                       FROM budget_policies b WHERE b.user_id = u.id OR b.user_id IS NULL
                       ORDER BY b.user_id IS NULL LIMIT 1) p ON true
         WHERE p.allowance_micros IS NOT NULL
         ORDER BY u.id",
    )
    .fetch_all(pool)
    .await?;
    // Refills already issued for recent periods (a month is the longest): skip those users at once.
    let done: HashSet<(String, String)> =
        sqlx::query_as("SELECT user_id, period_key FROM budget_refills WHERE created_at >= $1")
            .bind(at - TimeDelta::days(40))
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
    let mut refilled = Refilled::default();
    for candidate in candidates {
        let Some(window) = candidate.policy.window(at) else {
            continue;
        };
        if done.contains(&(candidate.user_id.clone(), window.key.clone())) {
            continue;
        }
        if let Some(granted) = refill_one(pool, &candidate, &window.key).await? {
            refilled.refills += 1;
            if granted != 0 {
                refilled.grants += 1;
                refilled.granted_micros += granted;
            }
        }
    }
    Ok(refilled)
}

/// One user's refill for `period_key`, under their row lock: the amount from the balance as it is
/// now, the grant and the refill record in one transaction. `None` if the period was refilled.
async fn refill_one(
    pool: &PgPool,
    candidate: &Candidate,
    period_key: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let policy = &candidate.policy;
    let Some(allowance_micros) = policy.allowance_micros else {
        return Ok(None);
    };
    let mut tx = pool.begin().await?;
    let balance: Option<i64> =
        sqlx::query_scalar("SELECT balance_micros FROM users WHERE id = $1 FOR UPDATE")
            .bind(&candidate.user_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(balance_micros) = balance else {
        return Ok(None);
    };
    let rule = policy.refill_rule();
    let amount_micros = refill_micros(
        rule,
        allowance_micros,
        policy.rollover_cap_micros,
        balance_micros,
    );
    let claimed = sqlx::query(
        "INSERT INTO budget_refills (user_id, period_key, amount_micros, refill_rule, configured_by)
         VALUES ($1, $2, $3, $4, (SELECT id FROM users WHERE id = $5))
         ON CONFLICT (user_id, period_key) DO NOTHING",
    )
    .bind(&candidate.user_id)
    .bind(period_key)
    .bind(amount_micros)
    .bind(rule.as_str())
    .bind(&policy.configured_by)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !claimed {
        return Ok(None);
    }
    if amount_micros != 0 {
        let reason = format!("allowance refill {period_key} ({})", rule.as_str());
        let grant_id = ledger::grant(
            &mut *tx,
            &candidate.user_id,
            amount_micros,
            &reason,
            policy.configured_by.as_deref(),
        )
        .await?;
        sqlx::query(
            "UPDATE budget_refills SET grant_id = $3 WHERE user_id = $1 AND period_key = $2",
        )
        .bind(&candidate.user_id)
        .bind(period_key)
        .bind(&grant_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    tracing::info!(user_id = %candidate.user_id, period_key, amount_micros, rule = rule.as_str(), "allowance refilled");
    Ok(Some(amount_micros))
}
