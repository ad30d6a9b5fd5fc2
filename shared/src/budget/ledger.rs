//! The budget in Postgres. Each money movement is one SQL statement (data-modifying CTEs run
//! atomically), so the invariant Σ grants − Σ ledger − Σ open holds = balance holds at all times.

use std::time::Duration;

use serde_json::Value;
use sqlx::{PgExecutor, PgPool};

use super::rules::{CallLimits, Plan, Reservation, plan_reservation};
use crate::ids::new_id;
use crate::pricing::Price;

/// Money set aside for one call in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: String,
    pub user_id: String,
    pub reservation: Reservation,
    /// The API key the call came with: its ledger row names it, and its spend counts against it.
    pub api_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    Held(Hold),
    Exhausted {
        balance_micros: i64,
        required_micros: i64,
    },
    /// An earlier call cost more than its hold: nothing more until reconciliation checked the books.
    Locked,
    /// One of the user's call limits is reached: try again in `retry_after_secs`.
    Limited {
        limit: CallLimit,
        retry_after_secs: u64,
    },
    /// The call's API key cannot pay even the smallest call within its own spend limit.
    KeyLimitReached {
        limit_micros: i64,
        spent_micros: i64,
        held_micros: i64,
    },
    /// The call's API key was revoked or expired since the request was authenticated.
    KeyUnusable,
    /// The user's spending cap for the period would be passed (spent + held + this call).
    CapReached {
        cap_micros: i64,
        spent_micros: i64,
        held_micros: i64,
    },
}

/// Which of [`CallLimits`] stopped a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallLimit {
    InFlight,
    PerMinute,
    /// Tokens per minute: the call's worst case does not fit in what is left of this minute.
    TokensPerMinute,
    /// The call's worst case alone is more than the whole per-minute token limit.
    TokensPerMinuteExceededByCall,
}

/// What a reservation is for.
pub struct HoldRequest<'a> {
    pub user_id: &'a str,
    pub agent_id: Option<&'a str>,
    pub trace_id: &'a str,
    pub price: Price,
    pub input_bound: u64,
    pub requested_max_tokens: u32,
    /// After this long the hold counts as abandoned (a crashed call) and reconciliation refunds it.
    pub ttl: Duration,
    pub limits: CallLimits,
    /// The API key the call came with, whose spend limit the reservation checks with the balance.
    pub api_key_id: Option<&'a str>,
}

/// How many times a reservation is re-planned when concurrent calls move the balance under it.
const RESERVE_ATTEMPTS: usize = 5;

/// Takes the worst-case cost from the balance, or as much output as the balance covers. The
/// conditional debit and the hold row are one statement: no concurrency can overspend.
pub async fn reserve(
    pool: &PgPool,
    request: &HoldRequest<'_>,
) -> Result<ReserveOutcome, sqlx::Error> {
    // Optimistic first try with the full request: one round trip in the common case.
    let mut plan = plan_reservation(
        i64::MAX,
        request.price,
        request.input_bound,
        request.requested_max_tokens,
    );
    for _ in 0..RESERVE_ATTEMPTS {
        if let Plan::Reserve(reservation) = plan
            && let Some(hold_id) = try_hold(pool, request, &reservation).await?
        {
            return Ok(ReserveOutcome::Held(Hold {
                id: hold_id,
                user_id: request.user_id.to_owned(),
                reservation,
                api_key_id: request.api_key_id.map(str::to_owned),
            }));
        }
        let account = account_state(pool, request.user_id, request.limits).await?;
        if let Some(refusal) = account.refusal() {
            return Ok(refusal);
        }
        let key = match request.api_key_id {
            Some(id) => Some(key_state(pool, id).await?),
            None => None,
        };
        if key.as_ref().is_some_and(|key| !key.usable) {
            return Ok(ReserveOutcome::KeyUnusable);
        }
        let key_left = key.as_ref().and_then(KeyState::left_micros);
        let balance_micros = account.balance_micros;
        let cap_left = account.cap_left_micros();
        // The key's limit and the period's cap clamp the output as the balance does: whichever
        // is lowest decides.
        let spendable = balance_micros
            .min(cap_left.unwrap_or(i64::MAX))
            .min(key_left.unwrap_or(i64::MAX));
        plan = plan_reservation(
            spendable,
            request.price,
            request.input_bound,
            request.requested_max_tokens,
        );
        match plan {
            Plan::Exhausted { required_micros } => {
                return Ok(exhausted(&account, key.as_ref(), required_micros));
            }
            Plan::Reserve(reservation) => {
                if let Some(refusal) = account.token_refusal(call_tokens(request, &reservation)) {
                    return Ok(refusal);
                }
            }
        }
    }
    // The balance (or the key's spend) kept moving under us; report it as it stands rather than
    // spin, naming the key when its limit, not the balance, is what ran short.
    let balance_micros = balance_micros(pool, request.user_id).await?;
    if let Some(id) = request.api_key_id {
        let key = key_state(pool, id).await?;
        if key.left_micros().is_some_and(|left| left < balance_micros) {
            return Ok(ReserveOutcome::KeyLimitReached {
                limit_micros: key.spend_limit_micros.unwrap_or_default(),
                spent_micros: key.spent_micros,
                held_micros: key.held_micros,
            });
        }
    }
    let required_micros = match plan {
        Plan::Reserve(reservation) => reservation.hold_micros,
        Plan::Exhausted { required_micros } => required_micros,
    };
    Ok(ReserveOutcome::Exhausted {
        balance_micros,
        required_micros,
    })
}

/// Why not even the smallest call fits: the key's spend limit, the period's cap or the balance,
/// whichever is shortest.
fn exhausted(
    account: &AccountState,
    key: Option<&KeyState>,
    required_micros: i64,
) -> ReserveOutcome {
    let balance_micros = account.balance_micros;
    let cap_left = account.cap_left_micros();
    if let Some(key) = key
        && let Some(left) = key.left_micros()
        && left < balance_micros
        && cap_left.is_none_or(|cap_left| left <= cap_left)
    {
        return ReserveOutcome::KeyLimitReached {
            limit_micros: key.spend_limit_micros.unwrap_or_default(),
            spent_micros: key.spent_micros,
            held_micros: key.held_micros,
        };
    }
    if let (Some(cap_micros), Some(left)) = (account.cap_micros, cap_left)
        && left < balance_micros
    {
        return ReserveOutcome::CapReached {
            cap_micros,
            spent_micros: account.period_spent_micros,
            held_micros: account.held_micros,
        };
    }
    ReserveOutcome::Exhausted {
        balance_micros,
        required_micros,
    }
}

/// Tokens a call counts against the per-minute limit while it runs: its worst case.
fn call_tokens(request: &HoldRequest<'_>, reservation: &Reservation) -> i64 {
    i64::try_from(
        request
            .input_bound
            .saturating_add(u64::from(reservation.max_tokens)),
    )
    .unwrap_or(i64::MAX)
}

/// The CTE `policy`: what governs the user `$user` (their own policy, else the deployment
/// default) as columns every reservation statement joins: the period start of the spend counter,
/// the cap, tokens per minute, and the call limits (the configured `$in_flight`/`$per_minute`
/// for a policy that sets none).
fn policy_cte(user: &str, in_flight: &str, per_minute: &str) -> String {
    format!(
        "policy AS (
         SELECT helix_period_start(COALESCE(p.period, 'monthly'), COALESCE(p.time_zone, 'UTC'), now())
                    AS period_start,
                COALESCE(p.period, 'monthly') || ':' || to_char(
                    date_trunc(CASE COALESCE(p.period, 'monthly') WHEN 'daily' THEN 'day' WHEN 'weekly' THEN 'week'
                               ELSE 'month' END, now() AT TIME ZONE COALESCE(p.time_zone, 'UTC')),
                    'YYYY-MM-DD') AS period_key,
                p.spend_cap_micros AS cap_micros, p.max_tokens_per_minute AS tokens_per_minute,
                p.allowance_micros, COALESCE(p.alert_threshold_percent, 80) AS alert_percent,
                COALESCE(p.max_calls_in_flight, {in_flight}) AS in_flight,
                COALESCE(p.max_calls_per_minute, {per_minute}) AS per_minute
         FROM (SELECT 1) AS one
         LEFT JOIN LATERAL (SELECT * FROM budget_policies b WHERE b.user_id = {user} OR b.user_id IS NULL
                            ORDER BY b.user_id IS NULL LIMIT 1) p ON true
     )"
    )
}

/// The conditional debit: balance, lock, calls in flight and per minute, the period's spending
/// cap (spent + held + this hold) and tokens per minute (this minute's + this call's worst case),
/// all checked and counted on the user's row, with the hold row, in one statement.
async fn try_hold(
    pool: &PgPool,
    request: &HoldRequest<'_>,
    reservation: &Reservation,
) -> Result<Option<String>, sqlx::Error> {
    // With a key, the user's row is locked first (as settle and release lock it before their
    // triggers touch the key), then the key's, which is read as it stands after that lock: its
    // counters are exact and no two calls can both fit under its limit.
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "WITH {},
         account AS (
             SELECT id FROM users WHERE $10::text IS NOT NULL AND id = $1 FOR UPDATE
         ),
         api_key AS (
             SELECT id FROM api_keys
             WHERE id = $10 AND user_id = $1 AND EXISTS (SELECT 1 FROM account)
               AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
               AND (spend_limit_micros IS NULL OR spent_micros + held_micros + $2 <= spend_limit_micros)
             FOR UPDATE
         ),
         debited AS (
             UPDATE users SET balance_micros = balance_micros - $2,
                 held_micros = held_micros + $2,
                 calls_in_flight = calls_in_flight + 1,
                 call_window_calls = CASE WHEN call_window_start = date_trunc('minute', now())
                                          THEN call_window_calls + 1 ELSE 1 END,
                 call_window_start = date_trunc('minute', now()),
                 spend_period_micros = CASE WHEN spend_period_start = policy.period_start
                                            THEN spend_period_micros ELSE 0 END,
                 spend_period_start = policy.period_start,
                 token_window_tokens = CASE WHEN token_window_start = date_trunc('minute', now())
                                            THEN token_window_tokens + $9 ELSE $9 END,
                 token_window_start = date_trunc('minute', now())
             FROM policy
             WHERE id = $1 AND balance_micros >= $2 AND balance_micros > 0 AND spend_locked_at IS NULL
               AND calls_in_flight < policy.in_flight
               AND (call_window_start <> date_trunc('minute', now()) OR call_window_calls < policy.per_minute)
               AND (policy.cap_micros IS NULL
                    OR CASE WHEN spend_period_start = policy.period_start THEN spend_period_micros ELSE 0 END
                       + held_micros + $2 <= policy.cap_micros)
               AND (policy.tokens_per_minute IS NULL
                    OR CASE WHEN token_window_start = date_trunc('minute', now()) THEN token_window_tokens ELSE 0 END
                       + $9 <= policy.tokens_per_minute)
               AND ($10::text IS NULL OR EXISTS (SELECT 1 FROM api_key))
             RETURNING id, token_window_start
         )
         INSERT INTO budget_holds (id, user_id, agent_id, amount_micros, trace_id, expires_at, tokens, token_window, api_key_id)
         SELECT $3, id, $4, $2, $5, now() + make_interval(secs => $6), $9, token_window_start, $10 FROM debited
         RETURNING id",
        policy_cte("$1", "$7", "$8")
    )))
    .bind(request.user_id)
    .bind(reservation.hold_micros)
    .bind(new_id())
    .bind(request.agent_id)
    .bind(request.trace_id)
    .bind(request.ttl.as_secs_f64())
    .bind(i32::try_from(request.limits.in_flight).unwrap_or(i32::MAX))
    .bind(i32::try_from(request.limits.per_minute).unwrap_or(i32::MAX))
    .bind(call_tokens(request, reservation))
    .bind(request.api_key_id)
    .fetch_optional(pool)
    .await
}

/// What a refused reservation reads to say why: the balance, the lock, the call and token
/// counters and the cap, with the limits that apply to the user.
#[derive(Debug, Default, sqlx::FromRow)]
struct AccountState {
    balance_micros: i64,
    locked: bool,
    calls_in_flight: i32,
    /// Calls admitted this minute (0 when the counter is from an earlier minute).
    calls_this_minute: i32,
    seconds_left_in_minute: f64,
    in_flight_limit: i32,
    per_minute_limit: i32,
    held_micros: i64,
    period_spent_micros: i64,
    cap_micros: Option<i64>,
    tokens_this_minute: i64,
    tokens_per_minute: Option<i64>,
}

impl AccountState {
    fn limited(&self, limit: CallLimit) -> Option<ReserveOutcome> {
        let retry_after_secs = match limit {
            CallLimit::InFlight => 1,
            CallLimit::TokensPerMinuteExceededByCall => 60,
            CallLimit::PerMinute | CallLimit::TokensPerMinute => {
                self.seconds_left_in_minute.ceil().max(1.0) as u64
            }
        };
        Some(ReserveOutcome::Limited {
            limit,
            retry_after_secs,
        })
    }

    fn refusal(&self) -> Option<ReserveOutcome> {
        if self.locked {
            return Some(ReserveOutcome::Locked);
        }
        if self.calls_in_flight >= self.in_flight_limit {
            return self.limited(CallLimit::InFlight);
        }
        if self.calls_this_minute >= self.per_minute_limit {
            return self.limited(CallLimit::PerMinute);
        }
        None
    }

    fn token_refusal(&self, call_tokens: i64) -> Option<ReserveOutcome> {
        let limit = self.tokens_per_minute?;
        if call_tokens > limit {
            return self.limited(CallLimit::TokensPerMinuteExceededByCall);
        }
        if self.tokens_this_minute.saturating_add(call_tokens) > limit {
            return self.limited(CallLimit::TokensPerMinute);
        }
        None
    }

    /// What the cap still lets the user hold this period; `None` without a cap.
    fn cap_left_micros(&self) -> Option<i64> {
        self.cap_micros
            .map(|cap| cap - self.period_spent_micros - self.held_micros)
    }
}

async fn account_state(
    pool: &PgPool,
    user_id: &str,
    limits: CallLimits,
) -> Result<AccountState, sqlx::Error> {
    let row: Option<AccountState> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH {}
         SELECT balance_micros, spend_locked_at IS NOT NULL AS locked, calls_in_flight,
                CASE WHEN call_window_start = date_trunc('minute', now()) THEN call_window_calls ELSE 0 END
                    AS calls_this_minute,
                extract(epoch FROM date_trunc('minute', now()) + interval '1 minute' - now())::float8
                    AS seconds_left_in_minute,
                policy.in_flight AS in_flight_limit, policy.per_minute AS per_minute_limit,
                held_micros,
                CASE WHEN spend_period_start = policy.period_start THEN spend_period_micros ELSE 0 END
                    AS period_spent_micros,
                policy.cap_micros,
                CASE WHEN token_window_start = date_trunc('minute', now()) THEN token_window_tokens ELSE 0 END
                    AS tokens_this_minute,
                policy.tokens_per_minute
         FROM users, policy WHERE id = $1",
        policy_cte("$1", "$2", "$3")
    )))
    .bind(user_id)
    .bind(i32::try_from(limits.in_flight).unwrap_or(i32::MAX))
    .bind(i32::try_from(limits.per_minute).unwrap_or(i32::MAX))
    .fetch_optional(pool)
    .await?;
    // No such user: a balance of zero, which is what refuses the call.
    Ok(row.unwrap_or(AccountState {
        in_flight_limit: i32::MAX,
        per_minute_limit: i32::MAX,
        ..AccountState::default()
    }))
}

/// An API key's limit and counters, as a refused reservation reads them.
#[derive(Debug, Default, sqlx::FromRow)]
struct KeyState {
    usable: bool,
    spend_limit_micros: Option<i64>,
    spent_micros: i64,
    held_micros: i64,
}

impl KeyState {
    /// What the key may still spend; `None` without a limit.
    fn left_micros(&self) -> Option<i64> {
        self.spend_limit_micros
            .map(|limit| (limit - self.spent_micros - self.held_micros).max(0))
    }
}

async fn key_state(pool: &PgPool, api_key_id: &str) -> Result<KeyState, sqlx::Error> {
    let row: Option<KeyState> = sqlx::query_as(
        "SELECT revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) AS usable,
                spend_limit_micros, spent_micros, held_micros
         FROM api_keys WHERE id = $1",
    )
    .bind(api_key_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.unwrap_or_default())
}

pub async fn balance_micros(db: impl PgExecutor<'_>, user_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT balance_micros FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(db)
        .await
        .map(Option::unwrap_or_default)
}

/// One finished call, to be written to the ledger.
pub struct Charge<'a> {
    pub hold: &'a Hold,
    pub agent_id: Option<&'a str>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micros: i64,
    pub kind: &'a str,
    pub meta: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    pub ledger_id: String,
    /// What was charged: the call's cost, or less when its hold had already been refunded.
    pub charged_micros: i64,
    pub cost_cents: i64,
    pub balance_micros: i64,
    pub balance_cents: i64,
    /// The provider reported more than the hold covered: the truth was charged, and the user's
    /// calls are locked until reconciliation.
    pub exceeded_hold: bool,
    /// Cost the balance could not pay because the hold was refunded before the call settled.
    pub shortfall_micros: i64,
    /// Spend alerts this charge raised (each fires once per period).
    pub alerts: Vec<FiredAlert>,
}

/// Writes the ledger row, refunds what the hold did not need and removes the hold, in one
/// statement, under the user's row lock:
/// - a cost above the hold is charged in full and locks the user's calls (`spend_locked_at`)
///   until reconciliation;
/// - a hold already refunded (expired and reconciled under a call that outlived it) is charged
///   from the balance only as far as it goes, never below zero; the rest is recorded as the
///   row's `shortfall_micros`;
/// - an agent deleted while its call ran leaves the row without an agent, never unwritten.
pub async fn settle(
    db: impl PgExecutor<'_>,
    charge: &Charge<'_>,
) -> Result<Settlement, sqlx::Error> {
    let ledger_id = new_id();
    let row: (i64, i64, i64, i64, bool, sqlx::types::Json<Vec<FiredAlert>>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH account AS (
             SELECT balance_micros FROM users WHERE id = $2 FOR UPDATE
         ),
         {},
         released AS (
             DELETE FROM budget_holds WHERE id = $1 RETURNING amount_micros, tokens, token_window
         ),
         plan AS (
             SELECT
                 COALESCE((SELECT amount_micros FROM released), 0) AS refund_micros,
                 CASE WHEN EXISTS (SELECT 1 FROM released) THEN $4
                      ELSE LEAST($4, GREATEST((SELECT balance_micros FROM account), 0))
                 END AS charged_micros,
                 EXISTS (SELECT 1 FROM released WHERE amount_micros < $4) AS exceeded,
                 (SELECT tokens FROM released) AS held_tokens,
                 (SELECT token_window FROM released) AS token_window
         ),
         charged AS (
             UPDATE users
             SET balance_micros = balance_micros + plan.refund_micros - plan.charged_micros,
                 held_micros = GREATEST(held_micros - plan.refund_micros, 0),
                 spend_locked_at = CASE WHEN plan.exceeded THEN now() ELSE spend_locked_at END,
                 calls_in_flight = GREATEST(calls_in_flight - (SELECT count(*) FROM released)::int, 0),
                 spend_period_micros = CASE WHEN spend_period_start = policy.period_start
                                            THEN spend_period_micros + plan.charged_micros
                                            ELSE plan.charged_micros END,
                 spend_period_start = policy.period_start,
                 token_window_tokens = CASE WHEN token_window_start = plan.token_window
                                            THEN GREATEST(token_window_tokens - plan.held_tokens + $6::bigint + $7::bigint, 0)
                                            ELSE token_window_tokens END
             FROM plan, policy WHERE id = $2
             RETURNING balance_micros, budget_cents, spend_period_micros
         ),
         entry AS (
             INSERT INTO usage_ledger (id, user_id, agent_id, input_tokens, output_tokens, cost_micros, kind, meta, api_key_id)
             SELECT $3, $2, (SELECT id FROM agents WHERE id = $5), $6, $7, plan.charged_micros, $8,
                    CASE WHEN plan.charged_micros < $4
                         THEN $9 || jsonb_build_object('shortfall_micros', $4 - plan.charged_micros, 'hold_refunded_before_settle', true)
                         ELSE $9 END,
                    (SELECT id FROM api_keys WHERE id = $10)
             FROM plan
             RETURNING cost_micros, cost_cents
         ),
         alerted AS (
             INSERT INTO budget_alerts (id, user_id, kind, alert_key, spent_micros, limit_micros, details)
             SELECT $3 || limits.suffix, $2, limits.kind, policy.period_key, charged.spend_period_micros,
                    limits.limit_micros, jsonb_build_object('threshold_percent', policy.alert_percent)
             FROM charged, policy,
                  LATERAL (VALUES ('_a', 'allowance_threshold', policy.allowance_micros),
                                  ('_c', 'cap_threshold', policy.cap_micros)) AS limits (suffix, kind, limit_micros)
             WHERE limits.limit_micros > 0 AND $4 > 0
               AND charged.spend_period_micros * 100 >= limits.limit_micros * policy.alert_percent
             ON CONFLICT DO NOTHING
             RETURNING kind, alert_key, spent_micros, limit_micros
         )
         SELECT charged.balance_micros, charged.budget_cents, entry.cost_micros, entry.cost_cents, plan.exceeded,
                COALESCE((SELECT jsonb_agg(to_jsonb(alerted)) FROM alerted), '[]'::jsonb)
         FROM charged, entry, plan",
        policy_cte("$2", "0", "0")
    )))
    .bind(&charge.hold.id)
    .bind(&charge.hold.user_id)
    .bind(&ledger_id)
    .bind(charge.cost_micros)
    .bind(charge.agent_id)
    .bind(i32::try_from(charge.input_tokens).unwrap_or(i32::MAX))
    .bind(i32::try_from(charge.output_tokens).unwrap_or(i32::MAX))
    .bind(charge.kind)
    .bind(&charge.meta)
    .bind(charge.hold.api_key_id.as_deref())
    .fetch_one(db)
    .await?;
    let (balance_micros, balance_cents, charged_micros, cost_cents, exceeded_hold, alerts) = row;
    Ok(Settlement {
        ledger_id,
        charged_micros,
        cost_cents,
        balance_micros,
        balance_cents,
        exceeded_hold,
        shortfall_micros: charge.cost_micros - charged_micros,
        alerts: alerts.0,
    })
}

/// A spend alert a settlement raised: the user's period spend crossed the policy's threshold of
/// their allowance or cap, for the first time this period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FiredAlert {
    pub kind: String,
    pub alert_key: String,
    pub spent_micros: i64,
    pub limit_micros: i64,
}

/// The call failed without usage: the whole hold goes back, nothing is charged.
pub async fn release(db: impl PgExecutor<'_>, hold: &Hold) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH released AS (
             DELETE FROM budget_holds WHERE id = $1 RETURNING user_id, amount_micros, tokens, token_window
         )
         UPDATE users SET balance_micros = users.balance_micros + released.amount_micros,
             held_micros = GREATEST(users.held_micros - released.amount_micros, 0),
             calls_in_flight = GREATEST(users.calls_in_flight - 1, 0),
             token_window_tokens = CASE WHEN users.token_window_start = released.token_window
                                        THEN GREATEST(users.token_window_tokens - released.tokens, 0)
                                        ELSE users.token_window_tokens END
         FROM released WHERE users.id = released.user_id",
    )
    .bind(&hold.id)
    .execute(db)
    .await?;
    Ok(())
}

/// Adds budget to a user (or takes it away, when negative), with its reason, on the record.
pub async fn grant(
    db: impl PgExecutor<'_>,
    user_id: &str,
    amount_micros: i64,
    reason: &str,
    granted_by: Option<&str>,
) -> Result<String, sqlx::Error> {
    let id = new_id();
    sqlx::query(
        "WITH granted AS (
             INSERT INTO budget_grants (id, user_id, amount_micros, reason, granted_by)
             VALUES ($1, $2, $3, $4, $5) RETURNING user_id, amount_micros
         )
         UPDATE users SET balance_micros = users.balance_micros + granted.amount_micros
         FROM granted WHERE users.id = granted.user_id",
    )
    .bind(&id)
    .bind(user_id)
    .bind(amount_micros)
    .bind(reason)
    .bind(granted_by)
    .execute(db)
    .await?;
    Ok(id)
}
