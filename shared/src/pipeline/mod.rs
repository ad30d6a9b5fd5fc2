//! One metered model call, written once: reserve the worst case → call → settle the exact cost or
//! release the hold. Turns (`turn`), memory's embeddings (`embedding`) and the benchmark all go
//! through it, so the hold's lifetime, the 402 and the ledger row's metadata cannot drift apart.

pub mod compat;
pub mod conversation;
pub mod embedding;
pub mod generation;
pub mod turn;

use std::time::Duration;

use serde_json::{Map, Value, json};
use sqlx::{PgExecutor, PgPool};

use crate::ApiError;
use crate::budget::alerts::{self, FailureRule};
use crate::budget::ledger::{
    self, CallLimit, Charge, Hold, HoldRequest, ReserveOutcome, Settlement,
};
use crate::budget::rules::CallLimits;
use crate::db::idempotency::{self, Claim};
use crate::money::{balance_cents, cents_to_cover, cost_cents};
use crate::pricing::{Price, cost_micros};
use crate::usage::Usage;
use crate::user::ApiKeyRef;

/// How long after the engine deadline a hold is presumed abandoned (a crashed call) and
/// reconciliation may refund it.
pub const HOLD_GRACE: Duration = Duration::from_secs(60);

/// What a ledger row is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeKind {
    Completion,
    Embedding,
}

impl ChargeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeKind::Completion => "completion",
            ChargeKind::Embedding => "embedding",
        }
    }
}

/// One call to be paid for: who pays, for which model at which price, and the most it can cost.
#[derive(Debug, Clone)]
pub struct CallSpec<'a> {
    pub user_id: &'a str,
    pub agent_id: Option<&'a str>,
    /// The X-Ray trace the call belongs to (possibly the caller's): a link, not an audit key.
    pub trace_id: &'a str,
    /// Helix's own id for the request that made the call, never the caller's: the audit key.
    pub request_id: &'a str,
    pub kind: ChargeKind,
    /// The engine/provider id (`openai`, `local`, …) for the ledger row and the logs.
    pub provider: &'a str,
    pub model: &'a str,
    pub price: Price,
    pub price_table_version: &'a str,
    /// An upper bound of the input tokens (see `budget::rules`).
    pub input_bound: u64,
    /// Output tokens asked for; the reservation may clamp them to what the balance covers.
    pub requested_max_tokens: u32,
    /// How long the call may take; the hold outlives it by [`HOLD_GRACE`].
    pub deadline: Duration,
    /// The caller's call limits, checked by the reservation itself.
    pub limits: CallLimits,
    /// The API key the call came with (if any): the reservation checks its spend limit too.
    pub api_key: Option<&'a ApiKeyRef>,
}

/// A call whose worst case is held: it must end in [`Metered::settle`] (or a charge settled in
/// the caller's transaction) or [`Metered::release`].
#[derive(Debug)]
pub struct Metered<'a> {
    pub spec: CallSpec<'a>,
    pub hold: Hold,
}

/// A settled call: its exact cost and the balance after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub cost_micros: i64,
    pub settlement: Settlement,
}

/// What a call used, as charged: the provider's usage, or Helix's estimate when it reported none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Billed {
    pub usage: Usage,
    /// Why the usage is Helix's estimate (`client_disconnected`, `provider_stream_cut`,
    /// `deadline`, `usage_not_reported`); `None` for the provider's own count.
    pub estimated: Option<&'static str>,
}

impl Billed {
    pub fn reported(usage: Usage) -> Self {
        Billed {
            usage,
            estimated: None,
        }
    }

    pub fn estimated(usage: Usage, reason: &'static str) -> Self {
        Billed {
            usage,
            estimated: Some(reason),
        }
    }

    pub fn is_estimated(&self) -> bool {
        self.estimated.is_some()
    }
}

/// Holds the call's worst case, or as much output as the balance covers; a balance that cannot pay
/// even the smallest call is a 402 before anything is sent to a provider.
pub async fn reserve<'a>(db: &PgPool, spec: CallSpec<'a>) -> Result<Metered<'a>, ApiError> {
    let request = HoldRequest {
        user_id: spec.user_id,
        agent_id: spec.agent_id,
        // Helix's own id of the request, unique (a trace id may come from the client): an
        // Idempotency-Key claimed by the same request is freed with the hold if it expires.
        trace_id: spec.request_id,
        price: spec.price,
        input_bound: spec.input_bound,
        requested_max_tokens: spec.requested_max_tokens,
        ttl: spec.deadline + HOLD_GRACE,
        limits: spec.limits,
        api_key_id: spec.api_key.map(|key| key.id.as_str()),
    };
    match ledger::reserve(db, &request).await? {
        ReserveOutcome::Held(hold) => Ok(Metered { spec, hold }),
        ReserveOutcome::Locked => Err(ApiError::SpendLocked),
        ReserveOutcome::Limited {
            limit,
            retry_after_secs,
        } => Err(ApiError::TooManyRequests {
            code: "rate_limited",
            message: match limit {
                CallLimit::InFlight => "too many of your calls are running at once".into(),
                CallLimit::PerMinute => "too many calls this minute".into(),
                CallLimit::TokensPerMinute => "too many tokens this minute".into(),
                CallLimit::TokensPerMinuteExceededByCall => {
                    "this call may use more tokens than your per-minute limit allows; ask for fewer output tokens".into()
                }
            },
            retry_after_secs,
        }),
        ReserveOutcome::KeyLimitReached {
            limit_micros,
            spent_micros,
            held_micros,
        } => {
            let key = spec.api_key.cloned().unwrap_or_else(|| ApiKeyRef {
                id: String::new(),
                name: String::new(),
                prefix: String::new(),
            });
            Err(ApiError::KeySpendLimitReached {
                key_name: key.name,
                key_prefix: key.prefix,
                limit_cents: balance_cents(limit_micros),
                spent_cents: cost_cents(spent_micros + held_micros),
            })
        }
        ReserveOutcome::KeyUnusable => Err(ApiError::InvalidToken),
        ReserveOutcome::CapReached {
            cap_micros,
            spent_micros,
            held_micros,
        } => Err(ApiError::SpendCapReached {
            cap_cents: balance_cents(cap_micros),
            spent_cents: cost_cents(spent_micros),
            held_cents: cost_cents(held_micros),
        }),
        ReserveOutcome::Exhausted {
            balance_micros,
            required_micros,
        } => Err(ApiError::BudgetExhausted {
            balance_cents: balance_cents(balance_micros),
            required_cents: cents_to_cover(required_micros),
        }),
    }
}

impl Metered<'_> {
    /// The output tokens the hold pays for: what the call may ask the provider for.
    pub fn max_tokens(&self) -> u32 {
        self.hold.reservation.max_tokens
    }

    /// Runs the provider call under the hold. A failed call gives the whole hold back, so a call
    /// the provider refused charges nothing.
    pub async fn call<T, E: Into<ApiError>>(
        &self,
        db: &PgPool,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, ApiError> {
        match call.await {
            Ok(value) => Ok(value),
            Err(error) => {
                self.release(db).await?;
                let error = error.into();
                if matches!(
                    error,
                    ApiError::BadGateway { .. }
                        | ApiError::GatewayTimeout { .. }
                        | ApiError::Unavailable { .. }
                ) && let Err(failure) =
                    alerts::note_provider_failure(db, self.spec.provider, FailureRule::DEFAULT)
                        .await
                {
                    tracing::warn!(error.chain = %crate::telemetry::cause_chain(&failure), "provider failure not counted");
                }
                Err(error)
            }
        }
    }

    /// Gives the whole hold back: nothing is charged.
    pub async fn release(&self, db: impl PgExecutor<'_>) -> Result<(), ApiError> {
        ledger::release(db, &self.hold).await?;
        Ok(())
    }

    /// The ledger row for what the call used: tokens, exact cost, and the metadata every row
    /// carries, plus `details` of this kind of call (a turn's personality, an embedding's purpose).
    pub fn charge(&self, billed: Billed, details: Map<String, Value>) -> Charge<'_> {
        let spec = &self.spec;
        let reservation = &self.hold.reservation;
        let mut meta = json!({
            "engine": spec.provider, "provider": spec.provider, "model": spec.model,
            "trace_id": spec.trace_id, "request_id": spec.request_id,
            "price_table_version": spec.price_table_version,
            "hold_id": self.hold.id, "hold_micros": reservation.hold_micros,
            "max_tokens": reservation.max_tokens, "max_tokens_reduced": reservation.clamped,
            "usage_estimated": billed.is_estimated(),
            "cached_input_tokens": billed.usage.cached_input_tokens,
        });
        if let Value::Object(common) = &mut meta {
            if let Some(reason) = billed.estimated {
                common.insert("usage_estimated_reason".into(), json!(reason));
            }
            common.extend(details);
        }
        Charge {
            hold: &self.hold,
            agent_id: spec.agent_id,
            input_tokens: billed.usage.input_tokens,
            output_tokens: billed.usage.output_tokens,
            cost_micros: cost_micros(spec.price, billed.usage),
            kind: spec.kind.as_str(),
            meta,
        }
    }

    /// Charges what the call used and refunds the rest of the hold, in one statement. `db` may be
    /// a transaction that also records the answer (an idempotent turn).
    pub async fn settle(
        &self,
        db: impl PgExecutor<'_>,
        billed: Billed,
        details: Map<String, Value>,
    ) -> Result<Settled, ApiError> {
        let charge = self.charge(billed, details);
        let settlement = ledger::settle(db, &charge).await?;
        alerts::announce_spend(&self.hold.user_id, &settlement.alerts);
        if settlement.exceeded_hold {
            tracing::warn!(
                engine = self.spec.provider,
                provider = self.spec.provider,
                model = self.spec.model,
                hold_micros = self.hold.reservation.hold_micros,
                cost_micros = charge.cost_micros,
                "provider reported more than was reserved; charged the truth, calls locked until reconciliation"
            );
        }
        if settlement.shortfall_micros > 0 {
            tracing::error!(
                engine = self.spec.provider,
                provider = self.spec.provider,
                model = self.spec.model,
                cost_micros = charge.cost_micros,
                shortfall_micros = settlement.shortfall_micros,
                "the hold was refunded before the call settled; charged what the balance had"
            );
        }
        Ok(Settled {
            cost_micros: settlement.charged_micros,
            settlement,
        })
    }
}

/// Claims an Idempotency-Key for a request with this fingerprint: `None` to go ahead, or the
/// stored answer of the earlier request to replay. A key in use by another request, or by this
/// one still running, is a 409.
pub async fn claim_key(
    db: &PgPool,
    user_id: &str,
    key: &str,
    fingerprint: &str,
    request_id: &str,
) -> Result<Option<Value>, ApiError> {
    let conflict = |code, message: &str| ApiError::Conflict {
        code,
        message: message.to_owned(),
    };
    match idempotency::claim(db, user_id, key, fingerprint, request_id).await? {
        Claim::Fresh => Ok(None),
        Claim::Replay(response) => Ok(Some(response)),
        Claim::Conflict => Err(conflict(
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request",
        )),
        Claim::InProgress => Err(conflict(
            "idempotency_key_in_progress",
            "a request with this Idempotency-Key is still running",
        )),
    }
}

/// `details` for [`Metered::charge`] from `json!({...})` literals.
pub fn details(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
