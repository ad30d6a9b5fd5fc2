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
}

/// Which of [`CallLimits`] stopped a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallLimit {
    InFlight,
    PerMinute,
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
            && let Some(hold_id) = try_hold(pool, request, reservation.hold_micros).await?
        {
            return Ok(ReserveOutcome::Held(Hold {
                id: hold_id,
                user_id: request.user_id.to_owned(),
                reservation,
                api_key_id: request.api_key_id.map(str::to_owned),
            }));
        }
        let account = account_state(pool, request.user_id).await?;
        if let Some(refusal) = account.refusal(request.limits) {
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
        // The key's limit clamps the output as the balance does: whichever is lower decides.
        plan = plan_reservation(
            key_left.map_or(balance_micros, |left| left.min(balance_micros)),
            request.price,
            request.input_bound,
            request.requested_max_tokens,
        );
        if let Plan::Exhausted { required_micros } = plan {
            if let Some(key) = key.filter(|_| key_left.is_some_and(|left| left < balance_micros)) {
                return Ok(ReserveOutcome::KeyLimitReached {
                    limit_micros: key.spend_limit_micros.unwrap_or_default(),
                    spent_micros: key.spent_micros,
                    held_micros: key.held_micros,
                });
            }
            return Ok(ReserveOutcome::Exhausted {
                balance_micros,
                required_micros,
            });
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

async fn try_hold(
    pool: &PgPool,
    request: &HoldRequest<'_>,
    hold_micros: i64,
) -> Result<Option<String>, sqlx::Error> {
    // With a key, the user's row is locked first (as settle and release lock it before their
    // triggers touch the key), then the key's, which is read as it stands after that lock: its
    // counters are exact and no two calls can both fit under its limit.
    sqlx::query_scalar(
        "WITH account AS (
             SELECT id FROM users WHERE $9::text IS NOT NULL AND id = $1 FOR UPDATE
         ),
         api_key AS (
             SELECT id FROM api_keys
             WHERE id = $9 AND user_id = $1 AND EXISTS (SELECT 1 FROM account)
               AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
               AND (spend_limit_micros IS NULL OR spent_micros + held_micros + $2 <= spend_limit_micros)
             FOR UPDATE
         ),
         debited AS (
             UPDATE users SET balance_micros = balance_micros - $2,
                 calls_in_flight = calls_in_flight + 1,
                 call_window_calls = CASE WHEN call_window_start = date_trunc('minute', now())
                                          THEN call_window_calls + 1 ELSE 1 END,
                 call_window_start = date_trunc('minute', now())
             WHERE id = $1 AND balance_micros >= $2 AND balance_micros > 0 AND spend_locked_at IS NULL
               AND calls_in_flight < $7
               AND (call_window_start <> date_trunc('minute', now()) OR call_window_calls < $8)
               AND ($9::text IS NULL OR EXISTS (SELECT 1 FROM api_key))
             RETURNING id
         )
         INSERT INTO budget_holds (id, user_id, agent_id, amount_micros, trace_id, expires_at, api_key_id)
         SELECT $3, id, $4, $2, $5, now() + make_interval(secs => $6), $9 FROM debited
         RETURNING id",
    )
    .bind(request.user_id)
    .bind(hold_micros)
    .bind(new_id())
    .bind(request.agent_id)
    .bind(request.trace_id)
    .bind(request.ttl.as_secs_f64())
    .bind(i32::try_from(request.limits.in_flight).unwrap_or(i32::MAX))
    .bind(i32::try_from(request.limits.per_minute).unwrap_or(i32::MAX))
    .bind(request.api_key_id)
    .fetch_optional(pool)
    .await
}

/// What a refused reservation reads to say why: the balance, the lock and the call counters.
#[derive(Debug, Default, sqlx::FromRow)]
struct AccountState {
    balance_micros: i64,
    locked: bool,
    calls_in_flight: i32,
    /// Calls admitted this minute (0 when the counter is from an earlier minute).
    calls_this_minute: i32,
    seconds_left_in_minute: f64,
}

impl AccountState {
    fn refusal(&self, limits: CallLimits) -> Option<ReserveOutcome> {
        let limited = |limit, retry_after_secs| {
            Some(ReserveOutcome::Limited {
                limit,
                retry_after_secs,
            })
        };
        if self.locked {
            return Some(ReserveOutcome::Locked);
        }
        if i64::from(self.calls_in_flight) >= i64::from(limits.in_flight) {
            return limited(CallLimit::InFlight, 1);
        }
        if i64::from(self.calls_this_minute) >= i64::from(limits.per_minute) {
            let wait = self.seconds_left_in_minute.ceil().max(1.0) as u64;
            return limited(CallLimit::PerMinute, wait);
        }
        None
    }
}

async fn account_state(pool: &PgPool, user_id: &str) -> Result<AccountState, sqlx::Error> {
    let row: Option<AccountState> = sqlx::query_as(
        "SELECT balance_micros, spend_locked_at IS NOT NULL AS locked, calls_in_flight,
                CASE WHEN call_window_start = date_trunc('minute', now()) THEN call_window_calls ELSE 0 END
                    AS calls_this_minute,
                extract(epoch FROM date_trunc('minute', now()) + interval '1 minute' - now())::float8
                    AS seconds_left_in_minute
         FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.unwrap_or_default())
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
    let row: (i64, i64, i64, i64, bool) = sqlx::query_as(
        "WITH account AS (
             SELECT balance_micros FROM users WHERE id = $2 FOR UPDATE
         ),
         released AS (
             DELETE FROM budget_holds WHERE id = $1 RETURNING amount_micros
         ),
         plan AS (
             SELECT
                 COALESCE((SELECT amount_micros FROM released), 0) AS refund_micros,
                 CASE WHEN EXISTS (SELECT 1 FROM released) THEN $4
                      ELSE LEAST($4, GREATEST((SELECT balance_micros FROM account), 0))
                 END AS charged_micros,
                 EXISTS (SELECT 1 FROM released WHERE amount_micros < $4) AS exceeded
         ),
         charged AS (
             UPDATE users
             SET balance_micros = balance_micros + plan.refund_micros - plan.charged_micros,
                 spend_locked_at = CASE WHEN plan.exceeded THEN now() ELSE spend_locked_at END,
                 calls_in_flight = GREATEST(calls_in_flight - (SELECT count(*) FROM released)::int, 0)
             FROM plan WHERE id = $2
             RETURNING balance_micros, budget_cents
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
         )
         SELECT charged.balance_micros, charged.budget_cents, entry.cost_micros, entry.cost_cents, plan.exceeded
         FROM charged, entry, plan",
    )
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
    let (balance_micros, balance_cents, charged_micros, cost_cents, exceeded_hold) = row;
    Ok(Settlement {
        ledger_id,
        charged_micros,
        cost_cents,
        balance_micros,
        balance_cents,
        exceeded_hold,
        shortfall_micros: charge.cost_micros - charged_micros,
    })
}

/// The call failed without usage: the whole hold goes back, nothing is charged.
pub async fn release(db: impl PgExecutor<'_>, hold: &Hold) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH released AS (DELETE FROM budget_holds WHERE id = $1 RETURNING user_id, amount_micros)
         UPDATE users SET balance_micros = users.balance_micros + released.amount_micros,
             calls_in_flight = GREATEST(users.calls_in_flight - 1, 0)
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
