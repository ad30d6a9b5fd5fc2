//! `budget`: the caller's balance, spend, policy and ledger (GET /v1/budget), usage summaries and
//! CSV export, admin grants (POST /v1/budget/grants) and admin policies and user lists (`policy`).
//! Budget only ever comes from grant rows, never from editing a balance.

pub mod policy;
pub mod usage;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use helix_shared::auth::AuthUser;
use helix_shared::budget::account::{self, LedgerEntry, LedgerFilter};
use helix_shared::budget::alerts::{self, Alert};
use helix_shared::budget::ledger;
use helix_shared::budget::period::{self, Period};
use helix_shared::budget::policy as budget_policy;
use helix_shared::budget::usage as usage_rows;
use helix_shared::db::idempotency;
use helix_shared::http::{ApiJson, ApiQuery};
use helix_shared::money::{MICROS_PER_CENT, balance_cents, cost_cents};
use helix_shared::pagination::{self, Cursor};
use helix_shared::pipeline::claim_key;
use helix_shared::telemetry::{RequestId, current_request_id};
use helix_shared::{ApiError, AppState, http};
use serde::{Deserialize, Serialize};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/budget", get(get_budget))
        .route("/v1/budget/grants", post(create_grant))
        .route("/v1/budget/summary", get(usage::get_summary))
        .route("/v1/budget/export.csv", get(usage::export_csv))
        .route("/v1/admin/users", get(policy::list_users))
        .route("/v1/admin/users/{id}/budget", get(policy::get_user_budget))
        .route("/v1/admin/users/{id}/policy", put(policy::put_policy))
        .with_state(state)
}

/// The deployable application: the router plus Helix's auth guard, tracing, limits and errors.
pub fn app(state: AppState) -> Router {
    http::finish(router(state.clone()), &state)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetQuery {
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Only the calls made with this personal API key.
    #[serde(default)]
    pub api_key_id: Option<String>,
    /// Inclusive start of the ledger window (RFC 3339).
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    /// Exclusive end of the ledger window (RFC 3339).
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BudgetResponse {
    pub balance_cents: i64,
    pub balance_micros: i64,
    pub spent_cents_this_month: i64,
    pub spent_micros_this_month: i64,
    pub open_holds: OpenHolds,
    /// The period the user's policy is in now (calendar month in UTC without a policy).
    pub period: PeriodView,
    pub spent_cents_this_period: i64,
    pub spent_micros_this_period: i64,
    /// The recurring allowance, if the user's policy (or the default) has one.
    pub allowance: Option<AllowanceView>,
    /// When the next refill is due: the start of the next period, with an allowance.
    pub next_refill_at: Option<DateTime<Utc>>,
    pub spend_cap_cents: Option<i64>,
    pub spend_cap_micros: Option<i64>,
    pub limits: LimitsView,
    /// Alerts raised this period (spend past the threshold of the allowance or cap).
    pub alerts: Vec<Alert>,
    pub ledger: Vec<LedgerEntry>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PeriodView {
    pub kind: Period,
    pub time_zone: String,
    pub key: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AllowanceView {
    pub amount_cents: i64,
    pub amount_micros: i64,
    pub refill_rule: String,
    pub rollover_cap_cents: Option<i64>,
    pub rollover_cap_micros: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LimitsView {
    pub max_calls_in_flight: u32,
    pub max_calls_per_minute: u32,
    pub max_tokens_per_minute: Option<i64>,
    pub alert_threshold_percent: i32,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct OpenHolds {
    pub count: i64,
    pub micros: i64,
}

async fn get_budget(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<BudgetQuery>,
) -> Result<Json<BudgetResponse>, ApiError> {
    Ok(Json(budget_of(&state, &user.id, query).await?))
}

/// The ledger filter of `GET /v1/budget` and the CSV export, checked.
pub fn ledger_filter(query: &BudgetQuery) -> Result<LedgerFilter, ApiError> {
    for (field, at) in [("from", query.from), ("to", query.to)] {
        if at.is_some_and(|at| !pagination::is_storable(&at)) {
            return Err(ApiError::bad_request(format!(
                "{field}: must be a time in the years 1 to 9999"
            )));
        }
    }
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from >= to
    {
        return Err(ApiError::bad_request("from: must be before to"));
    }
    for (field, id) in [
        ("agent_id", &query.agent_id),
        ("api_key_id", &query.api_key_id),
    ] {
        if id.as_ref().is_some_and(|id| id.is_empty() || id.len() > 64) {
            return Err(ApiError::bad_request(format!(
                "{field}: must be 1 to 64 characters"
            )));
        }
    }
    Ok(LedgerFilter {
        agent_id: query.agent_id.clone(),
        api_key_id: query.api_key_id.clone(),
        from: query.from,
        to: query.to,
    })
}

/// A user's budget as `GET /v1/budget` shows it (admins read anyone's).
pub async fn budget_of(
    state: &AppState,
    user_id: &str,
    query: BudgetQuery,
) -> Result<BudgetResponse, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let cursor = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    let filter = ledger_filter(&query)?;
    let summary = account::summary(&state.db, user_id)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    let now = Utc::now();
    let policy = budget_policy::effective(&state.db, user_id).await?;
    let window = policy
        .as_ref()
        .and_then(|p| p.window(now))
        .unwrap_or_else(|| period::default_window(now));
    let spent_micros_this_period =
        usage_rows::spent_since(&state.db, user_id, window.start).await?;
    let alerts = alerts::for_user(&state.db, user_id, window.start).await?;
    let rows = account::ledger_page(
        &state.db,
        &state.presets,
        user_id,
        &filter,
        cursor.as_ref(),
        limit + 1,
    )
    .await?;
    let (ledger, next_cursor) = pagination::page(rows, limit, |entry| Cursor {
        created_at: entry.created_at,
        id: entry.id.clone(),
    });
    let configured = state.config.call_limits;
    let allowance = policy.as_ref().and_then(|p| {
        p.allowance_micros.map(|amount_micros| AllowanceView {
            amount_cents: balance_cents(amount_micros),
            amount_micros,
            refill_rule: p.refill_rule.clone(),
            rollover_cap_cents: p.rollover_cap_micros.map(balance_cents),
            rollover_cap_micros: p.rollover_cap_micros,
        })
    });
    let limits = LimitsView {
        max_calls_in_flight: policy
            .as_ref()
            .and_then(|p| p.max_calls_in_flight)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(configured.in_flight),
        max_calls_per_minute: policy
            .as_ref()
            .and_then(|p| p.max_calls_per_minute)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(configured.per_minute),
        max_tokens_per_minute: policy.as_ref().and_then(|p| p.max_tokens_per_minute),
        alert_threshold_percent: policy.as_ref().map_or(80, |p| p.alert_threshold_percent),
    };
    let spend_cap_micros = policy.as_ref().and_then(|p| p.spend_cap_micros);
    Ok(BudgetResponse {
        balance_cents: summary.balance_cents,
        balance_micros: summary.balance_micros,
        spent_cents_this_month: cost_cents(summary.spent_micros_this_month),
        spent_micros_this_month: summary.spent_micros_this_month,
        open_holds: OpenHolds {
            count: summary.open_holds,
            micros: summary.held_micros,
        },
        next_refill_at: allowance.as_ref().map(|_| window.end),
        period: PeriodView {
            kind: policy
                .as_ref()
                .and_then(|p| p.period.parse().ok())
                .unwrap_or(Period::Monthly),
            time_zone: policy
                .as_ref()
                .map_or_else(|| "UTC".to_owned(), |p| p.time_zone.clone()),
            key: window.key,
            start: window.start,
            end: window.end,
        },
        spent_cents_this_period: cost_cents(spent_micros_this_period),
        spent_micros_this_period,
        allowance,
        spend_cap_cents: spend_cap_micros.map(balance_cents),
        spend_cap_micros,
        limits,
        alerts,
        ledger,
        next_cursor,
    })
}

/// The most one grant may add: $1,000,000.
const MAX_GRANT_CENTS: i64 = 100_000_000;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// The recipient, by email.
    pub email: String,
    pub amount_cents: i64,
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct GrantResponse {
    pub grant_id: String,
    pub user_id: String,
    pub amount_cents: i64,
    pub amount_micros: i64,
    pub reason: String,
    pub granted_by: String,
    pub balance_cents: i64,
    pub balance_micros: i64,
}

const GRANT_ROUTE: &str = "POST /v1/budget/grants";

/// A grant, applied once: with an `Idempotency-Key`, a retry gets the first answer back (the
/// answer is stored in the transaction that writes the grant) and grants nothing more.
async fn create_grant(
    State(state): State<AppState>,
    admin: AuthUser,
    headers: HeaderMap,
    ApiJson(request): ApiJson<GrantRequest>,
) -> Result<Response, ApiError> {
    let key = http::idempotency_key(&headers)?;
    admin.require_admin("grant budget")?;
    if !(1..=MAX_GRANT_CENTS).contains(&request.amount_cents) {
        return Err(ApiError::bad_request(format!(
            "amount_cents: must be 1 to {MAX_GRANT_CENTS}"
        )));
    }
    let reason = request.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::bad_request("reason: must be 1 to 500 characters"));
    }
    let email = helix_shared::auth::settings::normalise_email(&request.email)
        .ok_or_else(|| ApiError::bad_request("email: not an email address"))?;
    let recipient: String = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(&email)
        .fetch_optional(&state.db)
        .await?
        .ok_or(ApiError::NotFound { resource: "user" })?;
    if let Some(key) = &key {
        let fingerprint = http::write_fingerprint(GRANT_ROUTE, &request)?;
        let request_id = request_id();
        if let Some(stored) =
            claim_key(&state.db, &admin.id, key, &fingerprint, &request_id).await?
        {
            return Ok(replayed(StatusCode::CREATED, stored));
        }
    }
    let granted = grant_once(&state, &admin, &recipient, &request, reason, key.as_deref()).await;
    if granted.is_err()
        && let Some(key) = &key
    {
        idempotency::abandon(&state.db, &admin.id, key).await?;
    }
    Ok((StatusCode::CREATED, Json(granted?)).into_response())
}

/// Writes the grant and, for a keyed request, its answer, in one transaction.
async fn grant_once(
    state: &AppState,
    admin: &AuthUser,
    recipient: &str,
    request: &GrantRequest,
    reason: &str,
    key: Option<&str>,
) -> Result<GrantResponse, ApiError> {
    let amount_micros = request.amount_cents * MICROS_PER_CENT;
    let mut tx = state.db.begin().await?;
    let grant_id =
        ledger::grant(&mut *tx, recipient, amount_micros, reason, Some(&admin.id)).await?;
    let balance_micros = ledger::balance_micros(&mut *tx, recipient).await?;
    let response = GrantResponse {
        grant_id,
        user_id: recipient.to_owned(),
        amount_cents: request.amount_cents,
        amount_micros,
        reason: reason.to_owned(),
        granted_by: admin.id.clone(),
        balance_cents: balance_cents(balance_micros),
        balance_micros,
    };
    if let Some(key) = key {
        let stored = serde_json::to_value(&response).map_err(ApiError::internal)?;
        idempotency::complete(&mut *tx, &admin.id, key, &stored).await?;
    }
    tx.commit().await?;
    tracing::info!(grant_id = %response.grant_id, recipient = %recipient, amount_micros, granted_by = %admin.id, "budget granted");
    Ok(response)
}

/// An earlier request's stored answer, replayed with the status it had.
fn replayed(status: StatusCode, stored: serde_json::Value) -> Response {
    (status, [("idempotent-replayed", "true")], Json(stored)).into_response()
}

fn request_id() -> String {
    current_request_id()
        .unwrap_or_else(RequestId::generate)
        .to_string()
}
