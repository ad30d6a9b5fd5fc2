//! Budget policies: what an admin sets per user or as the deployment's default (allowance, spending
//! cap, call and token limits, alert threshold), parsed from input, stored, and read back.
//! A user's own policy replaces the default whole; the reservation reads it in its own statement.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, PgExecutor, PgPool};

use super::period::{self, Period, RefillRule, Window};
use super::rules::CallLimits;
use crate::ids::new_id;
use crate::money::{MICROS_PER_CENT, balance_cents, cost_cents};
use crate::pagination::Cursor;

/// The most an allowance, cap or rollover cap may be: $1,000,000, as one grant.
pub const MAX_AMOUNT_CENTS: i64 = 100_000_000;
pub const DEFAULT_ALERT_THRESHOLD_PERCENT: u8 = 80;
/// Tokens per minute beyond this are no limit at all.
pub const MAX_TOKENS_PER_MINUTE: u64 = 1 << 40;

/// A policy as an admin sends it (`PUT /v1/admin/users/{id}/policy`); amounts in cents.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    #[serde(default)]
    pub period: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub allowance_cents: Option<i64>,
    #[serde(default)]
    pub refill_rule: Option<String>,
    #[serde(default)]
    pub rollover_cap_cents: Option<i64>,
    #[serde(default)]
    pub spend_cap_cents: Option<i64>,
    #[serde(default)]
    pub max_calls_in_flight: Option<i64>,
    #[serde(default)]
    pub max_calls_per_minute: Option<i64>,
    #[serde(default)]
    pub max_tokens_per_minute: Option<i64>,
    #[serde(default)]
    pub alert_threshold_percent: Option<i64>,
}

/// A policy Helix can enforce: every field checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub period: Period,
    pub time_zone: Tz,
    pub allowance_micros: Option<i64>,
    pub refill_rule: RefillRule,
    pub rollover_cap_micros: Option<i64>,
    pub spend_cap_micros: Option<i64>,
    pub max_calls_in_flight: Option<u32>,
    pub max_calls_per_minute: Option<u32>,
    pub max_tokens_per_minute: Option<u64>,
    pub alert_threshold_percent: u8,
}

/// Input Helix cannot enforce; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

impl PolicyRequest {
    pub fn parse(&self) -> Result<Policy, PolicyError> {
        let fail = |message: String| Err(PolicyError(message));
        let period = match self.period.as_deref() {
            None => Period::Monthly,
            Some(text) => match text.parse() {
                Ok(period) => period,
                Err(()) => return fail("period: must be daily, weekly or monthly".into()),
            },
        };
        let time_zone = match self.time_zone.as_deref() {
            None => Tz::UTC,
            Some(name) => match period::parse_time_zone(name) {
                Some(zone) => zone,
                None => {
                    return fail(
                        "time_zone: must be an IANA time zone name such as Europe/Paris".into(),
                    );
                }
            },
        };
        let refill_rule = match self.refill_rule.as_deref() {
            None => RefillRule::TopUp,
            Some(text) => match text.parse() {
                Ok(rule) => rule,
                Err(()) => return fail("refill_rule: must be top_up or add".into()),
            },
        };
        let amount = |field: &str, cents: Option<i64>| match cents {
            None => Ok(None),
            Some(cents) if (0..=MAX_AMOUNT_CENTS).contains(&cents) => {
                Ok(Some(cents * MICROS_PER_CENT))
            }
            Some(_) => Err(PolicyError(format!(
                "{field}: must be 0 to {MAX_AMOUNT_CENTS} cents"
            ))),
        };
        let ceiling = CallLimits::UNLIMITED.in_flight;
        let calls = |field: &str, n: Option<i64>| match n {
            None => Ok(None),
            Some(n) if (1..=i64::from(ceiling)).contains(&n) => Ok(u32::try_from(n).ok()),
            Some(_) => Err(PolicyError(format!("{field}: must be 1 to {ceiling}"))),
        };
        let allowance_micros = amount("allowance_cents", self.allowance_cents)?;
        let rollover_cap_micros = amount("rollover_cap_cents", self.rollover_cap_cents)?;
        if rollover_cap_micros.is_some() && refill_rule != RefillRule::Add {
            return fail("rollover_cap_cents: applies only to refill_rule add".into());
        }
        let max_tokens_per_minute = match self.max_tokens_per_minute {
            None => None,
            Some(n) if n >= 1 && n.unsigned_abs() <= MAX_TOKENS_PER_MINUTE => {
                Some(n.unsigned_abs())
            }
            Some(_) => {
                return fail(format!(
                    "max_tokens_per_minute: must be 1 to {MAX_TOKENS_PER_MINUTE}"
                ));
            }
        };
        let alert_threshold_percent = match self.alert_threshold_percent {
            None => DEFAULT_ALERT_THRESHOLD_PERCENT,
            Some(n) => match u8::try_from(n) {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => return fail("alert_threshold_percent: must be 1 to 100".into()),
            },
        };
        Ok(Policy {
            period,
            time_zone,
            allowance_micros,
            refill_rule,
            rollover_cap_micros,
            spend_cap_micros: amount("spend_cap_cents", self.spend_cap_cents)?,
            max_calls_in_flight: calls("max_calls_in_flight", self.max_calls_in_flight)?,
            max_calls_per_minute: calls("max_calls_per_minute", self.max_calls_per_minute)?,
            max_tokens_per_minute,
            alert_threshold_percent,
        })
    }
}

/// Whose policy: one user's, or the deployment's default for users without their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    User(&'a str),
    Default,
}

/// A stored policy as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, FromRow)]
pub struct StoredPolicy {
    /// `None` for the deployment default.
    pub user_id: Option<String>,
    pub period: String,
    pub time_zone: String,
    pub allowance_micros: Option<i64>,
    pub refill_rule: String,
    pub rollover_cap_micros: Option<i64>,
    pub spend_cap_micros: Option<i64>,
    pub max_calls_in_flight: Option<i32>,
    pub max_calls_per_minute: Option<i32>,
    pub max_tokens_per_minute: Option<i64>,
    pub alert_threshold_percent: i32,
    pub configured_by: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl StoredPolicy {
    /// The period this policy is in at `at`; `None` if the stored names no longer parse.
    pub fn window(&self, at: DateTime<Utc>) -> Option<Window> {
        let period = self.period.parse().ok()?;
        let zone = period::parse_time_zone(&self.time_zone)?;
        Some(period::window(period, zone, at))
    }

    pub fn refill_rule(&self) -> RefillRule {
        self.refill_rule.parse().unwrap_or(RefillRule::TopUp)
    }
}

const POLICY_COLUMNS: &str = "user_id, period, time_zone, allowance_micros, refill_rule, \
     rollover_cap_micros, spend_cap_micros, max_calls_in_flight, max_calls_per_minute, \
     max_tokens_per_minute, alert_threshold_percent, configured_by, updated_at";

/// Whether Postgres knows the zone too (its tz database can lag or lead chrono-tz's).
pub async fn postgres_knows_zone(db: impl PgExecutor<'_>, name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
        .bind(name)
        .fetch_one(db)
        .await
}

/// Stores `policy` for `scope` (replacing any earlier one) and re-derives the period spend counter
/// of every user it governs under their row locks, so the cap counts this period's spend at once.
pub async fn put(
    pool: &PgPool,
    scope: Scope<'_>,
    policy: &Policy,
    configured_by: &str,
) -> Result<StoredPolicy, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let user_id = match scope {
        Scope::User(id) => Some(id),
        Scope::Default => None,
    };
    let conflict = match scope {
        Scope::User(_) => "(user_id)",
        Scope::Default => "((true)) WHERE user_id IS NULL",
    };
    let stored: StoredPolicy = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO budget_policies (id, user_id, period, time_zone, allowance_micros, refill_rule,
             rollover_cap_micros, spend_cap_micros, max_calls_in_flight, max_calls_per_minute,
             max_tokens_per_minute, alert_threshold_percent, configured_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT {conflict} DO UPDATE SET
             period = EXCLUDED.period, time_zone = EXCLUDED.time_zone,
             allowance_micros = EXCLUDED.allowance_micros, refill_rule = EXCLUDED.refill_rule,
             rollover_cap_micros = EXCLUDED.rollover_cap_micros, spend_cap_micros = EXCLUDED.spend_cap_micros,
             max_calls_in_flight = EXCLUDED.max_calls_in_flight,
             max_calls_per_minute = EXCLUDED.max_calls_per_minute,
             max_tokens_per_minute = EXCLUDED.max_tokens_per_minute,
             alert_threshold_percent = EXCLUDED.alert_threshold_percent,
             configured_by = EXCLUDED.configured_by, updated_at = now()
         RETURNING {POLICY_COLUMNS}"
    )))
    .bind(new_id())
    .bind(user_id)
    .bind(policy.period.as_str())
    .bind(policy.time_zone.name())
    .bind(policy.allowance_micros)
    .bind(policy.refill_rule.as_str())
    .bind(policy.rollover_cap_micros)
    .bind(policy.spend_cap_micros)
    .bind(policy.max_calls_in_flight.map(|n| i32::try_from(n).unwrap_or(i32::MAX)))
    .bind(policy.max_calls_per_minute.map(|n| i32::try_from(n).unwrap_or(i32::MAX)))
    .bind(policy.max_tokens_per_minute.map(|n| i64::try_from(n).unwrap_or(i64::MAX)))
    .bind(i32::from(policy.alert_threshold_percent))
    .bind(configured_by)
    .fetch_one(&mut *tx)
    .await?;
    // Lock first, sum after: the sum's statement then sees every settlement before the lock.
    let governed = "(($1::text IS NOT NULL AND u.id = $1) OR ($1::text IS NULL AND NOT EXISTS (
                        SELECT 1 FROM budget_policies p WHERE p.user_id = u.id)))";
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT u.id FROM users u WHERE {governed} ORDER BY u.id FOR UPDATE"
    )))
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE users u SET spend_period_start = helix_period_start($2, $3, now()),
             spend_period_micros = COALESCE((SELECT sum(l.cost_micros) FROM usage_ledger l
                 WHERE l.user_id = u.id AND l.created_at >= helix_period_start($2, $3, now())), 0)
         WHERE {governed}"
    )))
    .bind(user_id)
    .bind(policy.period.as_str())
    .bind(policy.time_zone.name())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(stored)
}

/// The policy that governs `user_id`: their own, else the deployment default, else none.
pub async fn effective(
    db: impl PgExecutor<'_>,
    user_id: &str,
) -> Result<Option<StoredPolicy>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {POLICY_COLUMNS} FROM budget_policies WHERE user_id = $1 OR user_id IS NULL
         ORDER BY user_id IS NULL LIMIT 1"
    )))
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// One user as the admin Users page lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, FromRow)]
pub struct UserBudget {
    pub id: String,
    pub email: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub balance_micros: i64,
    pub balance_cents: i64,
    pub open_holds: i64,
    pub held_micros: i64,
    pub period_spent_micros: i64,
    pub period_spent_cents: i64,
    /// `user`, `default`, or `none`: where the policy below comes from.
    pub policy_source: String,
    pub period: String,
    pub time_zone: String,
    pub allowance_micros: Option<i64>,
    pub refill_rule: Option<String>,
    pub rollover_cap_micros: Option<i64>,
    pub spend_cap_micros: Option<i64>,
    pub max_calls_in_flight: Option<i32>,
    pub max_calls_per_minute: Option<i32>,
    pub max_tokens_per_minute: Option<i64>,
}

/// Up to `limit` users after `cursor`, newest first, each with the policy that governs them.
pub async fn list_users(
    db: impl PgExecutor<'_>,
    cursor: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<UserBudget>, sqlx::Error> {
    let mut rows: Vec<UserBudget> = sqlx::query_as(
        "SELECT u.id, u.email, u.role::text AS role, u.created_at, u.balance_micros,
                u.budget_cents AS balance_cents, u.calls_in_flight::bigint AS open_holds, u.held_micros,
                CASE WHEN u.spend_period_start = helix_period_start(COALESCE(p.period, 'monthly'),
                                                                    COALESCE(p.time_zone, 'UTC'), now())
                     THEN u.spend_period_micros ELSE 0 END AS period_spent_micros,
                0::bigint AS period_spent_cents,
                CASE WHEN p.id IS NULL THEN 'none' WHEN p.user_id IS NULL THEN 'default' ELSE 'user' END
                    AS policy_source,
                COALESCE(p.period, 'monthly') AS period, COALESCE(p.time_zone, 'UTC') AS time_zone,
                p.allowance_micros, p.refill_rule, p.rollover_cap_micros, p.spend_cap_micros,
                p.max_calls_in_flight, p.max_calls_per_minute, p.max_tokens_per_minute
         FROM users u
         LEFT JOIN LATERAL (SELECT * FROM budget_policies b WHERE b.user_id = u.id OR b.user_id IS NULL
                            ORDER BY b.user_id IS NULL LIMIT 1) p ON true
         WHERE ($1::timestamptz IS NULL OR (u.created_at, u.id) < ($1, $2))
         ORDER BY u.created_at DESC, u.id DESC
         LIMIT $3",
    )
    .bind(cursor.map(|c| c.created_at))
    .bind(cursor.map(|c| c.id.as_str()))
    .bind(limit)
    .fetch_all(db)
    .await?;
    for row in &mut rows {
        row.period_spent_cents = cost_cents(row.period_spent_micros);
        row.balance_cents = balance_cents(row.balance_micros);
    }
    Ok(rows)
}

/// The deployment default policy, if one is set.
pub async fn default_policy(db: impl PgExecutor<'_>) -> Result<Option<StoredPolicy>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {POLICY_COLUMNS} FROM budget_policies WHERE user_id IS NULL"
    )))
    .fetch_optional(db)
    .await
}
