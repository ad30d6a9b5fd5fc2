//! Budget reconciliation: refunds holds abandoned past their expiry, checks every user's
//! Σ grants − Σ ledger − Σ holds = balance (repairing drift with an audit row when asked), and
//! forgets old idempotency keys. Each user is checked under its row lock, so live turns never
//! race it into a wrong answer; running it twice changes nothing the second time.

use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::{PgExecutor, PgPool};

use crate::ids::new_id;
use crate::settings::{ConfigError, Sources, duration_or, switch};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub users_checked: u64,
    pub holds_released: u64,
    pub holds_released_micros: i64,
    pub drifts_found: u64,
    pub drifts_repaired: u64,
    pub idempotency_keys_pruned: u64,
    /// Keys of killed turns, freed with their expired holds.
    pub idempotency_keys_freed: u64,
    /// Users whose calls were locked (a call cost more than its hold) and whose books now balance.
    pub spend_locks_cleared: u64,
    /// Allowance refills issued this run (one per user and period, ever), and what they granted.
    pub refills_issued: u64,
    pub refilled_micros: i64,
    /// Alerts published to SNS (or logged, with no topic) after the run.
    pub alerts_published: u64,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub user_id: String,
    pub balance_micros: i64,
    pub expected_micros: i64,
}

pub struct Options {
    pub repair: bool,
    pub idempotency_retention: Duration,
}

pub async fn run(pool: &PgPool, options: &Options) -> Result<Summary, sqlx::Error> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let released = release_expired_holds(pool).await?;
    summary.holds_released = released.holds;
    summary.holds_released_micros = released.micros;
    summary.idempotency_keys_freed = released.keys_freed;
    for user_id in user_ids(pool).await? {
        summary.users_checked += 1;
        let checked = check_user(pool, &user_id, options.repair).await?;
        summary.spend_locks_cleared += u64::from(checked.unlocked);
        if let Some(drift) = checked.drift {
            summary.drifts_found += 1;
            summary.drifts_repaired += u64::from(options.repair);
            tracing::warn!(
                user_id = %drift.user_id,
                balance_micros = drift.balance_micros,
                expected_micros = drift.expected_micros,
                drift_micros = drift.balance_micros - drift.expected_micros,
                repaired = options.repair,
                "budget drift"
            );
            // One alert per user and day: a drift that persists unrepaired does not page hourly.
            super::alerts::raise(
                pool,
                Some(&drift.user_id),
                "reconcile_drift",
                &format!("drift:{}", chrono::Utc::now().date_naive()),
                serde_json::json!({
                    "balance_micros": drift.balance_micros,
                    "expected_micros": drift.expected_micros,
                    "repaired": options.repair,
                }),
            )
            .await?;
        }
    }
    for drift in api_key_drifts(pool).await? {
        // Counted, not repaired: a key's counters only cap the key, never move a balance.
        summary.drifts_found += 1;
        tracing::warn!(
            api_key_id = %drift.api_key_id,
            spent_micros = drift.spent_micros,
            ledger_micros = drift.ledger_micros,
            held_micros = drift.held_micros,
            holds_micros = drift.holds_micros,
            "API key counter drift"
        );
    }
    // After the checks: a top-up then reads a balance that repair has already set right.
    let refilled = super::refill::refill_due(pool, chrono::Utc::now()).await?;
    summary.refills_issued = refilled.refills;
    summary.refilled_micros = refilled.granted_micros;
    summary.idempotency_keys_pruned =
        prune_idempotency_keys(pool, options.idempotency_retention).await?;
    summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(summary)
}

/// Runs reconciliation every `every`, for as long as the process lives: the local gateway's
/// stand-in for the EventBridge schedule. A failed run is logged and the next one tried.
pub async fn run_periodically(pool: PgPool, options: Options, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        match run(&pool, &options).await {
            Ok(summary) => {
                if let Err(error) = super::alerts::publish_pending(&pool, None).await {
                    tracing::error!(error.chain = %crate::telemetry::cause_chain(&error), "budget alerts not published");
                }
                tracing::info!(
                    holds_released = summary.holds_released,
                    drifts_found = summary.drifts_found,
                    idempotency_keys_freed = summary.idempotency_keys_freed,
                    spend_locks_cleared = summary.spend_locks_cleared,
                    refills_issued = summary.refills_issued,
                    "budget reconciliation finished"
                )
            }
            Err(error) => tracing::error!(
                error.chain = %crate::telemetry::cause_chain(&error),
                "budget reconciliation failed"
            ),
        }
    }
}

/// What releasing expired holds did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    pub holds: u64,
    pub micros: i64,
    /// Idempotency keys whose turn held one of those holds: the turn is dead, a retry may run.
    pub keys_freed: u64,
}

/// Refunds every hold past its expiry (a crashed or timed-out turn), and frees the Idempotency-Key
/// its turn held (deleted, or released with the recall vector it paid for), in one statement. A turn that settles later finds its hold gone and is charged
/// from the balance, as far as it goes.
pub async fn release_expired_holds(pool: &PgPool) -> Result<Released, sqlx::Error> {
    let (holds, micros, keys): (i64, i64, i64) = sqlx::query_as(
        "WITH expired AS (
             DELETE FROM budget_holds WHERE expires_at < now()
             RETURNING user_id, amount_micros, trace_id
         ),
         per_user AS (
             SELECT user_id, sum(amount_micros)::bigint AS amount, count(*) AS holds FROM expired GROUP BY user_id
         ),
         refunded AS (
             UPDATE users SET balance_micros = users.balance_micros + per_user.amount,
                 held_micros = GREATEST(users.held_micros - per_user.amount, 0),
                 calls_in_flight = GREATEST(users.calls_in_flight - per_user.holds::int, 0)
             FROM per_user WHERE users.id = per_user.user_id
             RETURNING per_user.holds, per_user.amount
         ),
         deleted AS (
             DELETE FROM turn_idempotency k USING expired e
             WHERE k.user_id = e.user_id AND k.trace_id = e.trace_id AND k.response IS NULL
               AND k.recall_vector IS NULL
             RETURNING 1
         ),
         released AS (
             UPDATE turn_idempotency k SET released_at = now() FROM expired e
             WHERE k.user_id = e.user_id AND k.trace_id = e.trace_id AND k.response IS NULL
               AND k.recall_vector IS NOT NULL AND k.released_at IS NULL
             RETURNING 1
         )
         SELECT COALESCE(sum(holds), 0)::bigint, COALESCE(sum(amount), 0)::bigint,
                (SELECT count(*) FROM deleted) + (SELECT count(*) FROM released)
         FROM refunded",
    )
    .fetch_one(pool)
    .await?;
    Ok(Released {
        holds: u64::try_from(holds).unwrap_or_default(),
        micros,
        keys_freed: u64::try_from(keys).unwrap_or_default(),
    })
}

/// An API key whose counters disagree with its ledger rows or open holds.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyDrift {
    pub api_key_id: String,
    pub spent_micros: i64,
    pub ledger_micros: i64,
    pub held_micros: i64,
    pub holds_micros: i64,
}

/// Every key whose `spent_micros` ≠ Σ its ledger rows or `held_micros` ≠ Σ its open holds. One
/// statement, one snapshot: a hold and its counter are written by one statement, so a live call
/// never shows as drift.
pub async fn api_key_drifts(pool: &PgPool) -> Result<Vec<KeyDrift>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM (
             SELECT k.id AS api_key_id, k.spent_micros, k.held_micros,
                    COALESCE((SELECT sum(cost_micros) FROM usage_ledger l WHERE l.api_key_id = k.id), 0)::bigint
                        AS ledger_micros,
                    COALESCE((SELECT sum(amount_micros) FROM budget_holds h WHERE h.api_key_id = k.id), 0)::bigint
                        AS holds_micros
             FROM api_keys k
         ) counted
         WHERE spent_micros <> ledger_micros OR held_micros <> holds_micros",
    )
    .fetch_all(pool)
    .await
}

async fn user_ids(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM users ORDER BY id")
        .fetch_all(pool)
        .await
}

/// One user's check: the drift found (if any), and whether a spend lock was cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCheck {
    pub drift: Option<Drift>,
    pub unlocked: bool,
}

/// Checks one user under the lock every money movement also takes (each one updates the user
/// row), so the sums are read between movements, never halfway through one. Books that balance
/// (or were repaired) lift a spend lock: the call that caused it is fully on the ledger.
pub async fn check_user(
    pool: &PgPool,
    user_id: &str,
    repair: bool,
) -> Result<UserCheck, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let balance: Option<i64> =
        sqlx::query_scalar("SELECT balance_micros FROM users WHERE id = $1 FOR UPDATE")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(balance_micros) = balance else {
        return Ok(UserCheck {
            drift: None,
            unlocked: false,
        });
    };
    let expected_micros = expected_balance_micros(&mut *tx, user_id).await?;
    let drift = (balance_micros != expected_micros).then(|| Drift {
        user_id: user_id.to_owned(),
        balance_micros,
        expected_micros,
    });
    if drift.is_some() && repair {
        sqlx::query("UPDATE users SET balance_micros = $2 WHERE id = $1")
            .bind(user_id)
            .bind(expected_micros)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO budget_audit (id, user_id, kind, balance_before_micros, balance_after_micros)
             VALUES ($1, $2, 'drift_repaired', $3, $4)",
        )
        .bind(new_id())
        .bind(user_id)
        .bind(balance_micros)
        .bind(expected_micros)
        .execute(&mut *tx)
        .await?;
    }
    // The counters are bookkeeping, not money: they are set right whenever they are off. The
    // period spend is re-derived from the ledger for the period the user's policy is in now.
    sqlx::query(
        "UPDATE users SET calls_in_flight = held.count, held_micros = held.micros,
             spend_period_start = period.start, spend_period_micros = period.spent
         FROM (SELECT count(*)::int AS count, COALESCE(sum(amount_micros), 0)::bigint AS micros
               FROM budget_holds WHERE user_id = $1) AS held,
              LATERAL (SELECT helix_period_start(COALESCE(p.period, 'monthly'), COALESCE(p.time_zone, 'UTC'), now())
                              AS start
                       FROM (SELECT 1) AS one
                       LEFT JOIN LATERAL (SELECT * FROM budget_policies b WHERE b.user_id = $1 OR b.user_id IS NULL
                                          ORDER BY b.user_id IS NULL LIMIT 1) p ON true) AS policy,
              LATERAL (SELECT policy.start,
                              COALESCE((SELECT sum(cost_micros) FROM usage_ledger
                                        WHERE user_id = $1 AND created_at >= policy.start), 0)::bigint AS spent)
                  AS period
         WHERE id = $1 AND (calls_in_flight <> held.count OR held_micros <> held.micros
               OR spend_period_start <> period.start OR spend_period_micros <> period.spent)",
    )
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    let balanced = drift.is_none() || repair;
    let unlocked = balanced
        && sqlx::query(
            "UPDATE users SET spend_locked_at = NULL WHERE id = $1 AND spend_locked_at IS NOT NULL",
        )
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
    tx.commit().await?;
    Ok(UserCheck { drift, unlocked })
}

/// What the ledger says the balance should be: Σ grants − Σ ledger − Σ open holds.
pub async fn expected_balance_micros(
    db: impl PgExecutor<'_>,
    user_id: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT (COALESCE((SELECT sum(amount_micros) FROM budget_grants WHERE user_id = $1), 0)
               - COALESCE((SELECT sum(cost_micros) FROM usage_ledger WHERE user_id = $1), 0)
               - COALESCE((SELECT sum(amount_micros) FROM budget_holds WHERE user_id = $1), 0))::bigint",
    )
    .bind(user_id)
    .fetch_one(db)
    .await
}

async fn prune_idempotency_keys(pool: &PgPool, retention: Duration) -> Result<u64, sqlx::Error> {
    // A key still without a response after an hour belongs to a turn that crashed: free it too.
    let result = sqlx::query(
        "DELETE FROM turn_idempotency
         WHERE created_at < now() - make_interval(secs => $1)
            OR (response IS NULL AND created_at < now() - interval '1 hour')",
    )
    .bind(retention.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(result.rows_affected())
}

/// The summary as a CloudWatch Embedded Metric Format line: printed alone on stdout, CloudWatch
/// Logs turns it into metrics with no API call.
pub fn emf_line(summary: &Summary, function: &str, timestamp_ms: i64) -> String {
    let metric = |name: &str, unit: &str| serde_json::json!({"Name": name, "Unit": unit});
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "Helix",
                "Dimensions": [["Function"]],
                "Metrics": [
                    metric("UsersChecked", "Count"),
                    metric("HoldsReleased", "Count"),
                    metric("DriftsFound", "Count"),
                    metric("DriftsRepaired", "Count"),
                    metric("SpendLocksCleared", "Count"),
                    metric("RefillsIssued", "Count"),
                    metric("ReconcileDuration", "Milliseconds"),
                ],
            }],
        },
        "Function": function,
        "UsersChecked": summary.users_checked,
        "HoldsReleased": summary.holds_released,
        "DriftsFound": summary.drifts_found,
        "DriftsRepaired": summary.drifts_repaired,
        "SpendLocksCleared": summary.spend_locks_cleared,
        "RefillsIssued": summary.refills_issued,
        "ReconcileDuration": summary.duration_ms,
    })
    .to_string()
}

#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    /// Correct a balance that drifted from its ledger (with an audit row), not just report it.
    pub repair: bool,
    /// Idempotency keys older than this are forgotten.
    pub idempotency_retention: Duration,
    /// How often the local gateway reconciles, as EventBridge schedules it in AWS; `None`: never.
    pub local_interval: Option<Duration>,
    /// The SNS topic alerts are published to (`HELIX_ALERT_TOPIC_ARN`); `None`: logged only.
    pub alert_topic_arn: Option<String>,
}

impl ReconcileConfig {
    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        Ok(ReconcileConfig {
            repair: switch(sources, "HELIX_RECONCILE_REPAIR")?,
            idempotency_retention: duration_or(
                sources,
                "HELIX_IDEMPOTENCY_RETENTION",
                Duration::from_secs(24 * 3600),
            )?,
            local_interval: match sources.get("HELIX_LOCAL_RECONCILE_EVERY") {
                Some("off") => None,
                _ => Some(duration_or(
                    sources,
                    "HELIX_LOCAL_RECONCILE_EVERY",
                    Duration::from_secs(300),
                )?)
                .filter(|every| !every.is_zero()),
            },
            alert_topic_arn: sources
                .get("HELIX_ALERT_TOPIC_ARN")
                .map(str::trim)
                .filter(|arn| !arn.is_empty())
                .map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_emf_line_declares_each_metric_and_carries_its_value() {
        let summary = Summary {
            users_checked: 3,
            holds_released: 1,
            drifts_found: 2,
            drifts_repaired: 2,
            ..Summary::default()
        };
        let line: serde_json::Value =
            serde_json::from_str(&emf_line(&summary, "budget-reconcile", 1_700_000_000_000))
                .unwrap();
        let declared = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "Helix");
        for metric in declared["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_number(), "{name} has no value");
        }
        assert_eq!(line["DriftsFound"], 2);
        assert_eq!(line["Function"], "budget-reconcile");
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000_i64);
    }
}
