//! `budget`: the caller's balance, spend and ledger (GET /v1/budget), and admin grants
//! (POST /v1/budget/grants). Budget only ever comes from grant rows, never from editing a balance.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use helix_shared::auth::AuthUser;
use helix_shared::budget::account::{self, LedgerEntry, LedgerFilter};
use helix_shared::budget::ledger;
use helix_shared::http::ApiJson;
use helix_shared::money::{MICROS_PER_CENT, balance_cents, cost_cents};
use helix_shared::pagination::{self, Cursor};
use helix_shared::{ApiError, AppState, http};
use serde::{Deserialize, Serialize};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/budget", get(get_budget))
        .route("/v1/budget/grants", post(create_grant))
        .with_state(state)
}

/// The deployable application: the router plus Helix's auth guard, tracing, limits and errors.
pub fn app(state: AppState) -> Router {
    http::finish(router(state.clone()), &state)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetQuery {
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
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
    pub ledger: Vec<LedgerEntry>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct OpenHolds {
    pub count: i64,
    pub micros: i64,
}

async fn get_budget(
    State(state): State<AppState>,
    user: AuthUser,
    query: Result<Query<BudgetQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<BudgetResponse>, ApiError> {
    let Query(query) = query?;
    let limit = pagination::limit(query.limit)?;
    let cursor = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from >= to
    {
        return Err(ApiError::bad_request("from: must be before to"));
    }
    let summary = account::summary(&state.db, &user.id)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    let filter = LedgerFilter {
        agent_id: query.agent_id,
        from: query.from,
        to: query.to,
    };
    let rows =
        account::ledger_page(&state.db, &user.id, &filter, cursor.as_ref(), limit + 1).await?;
    let (ledger, next_cursor) = pagination::page(rows, limit, |entry| Cursor {
        created_at: entry.created_at,
        id: entry.id.clone(),
    });
    Ok(Json(BudgetResponse {
        balance_cents: summary.balance_cents,
        balance_micros: summary.balance_micros,
        spent_cents_this_month: cost_cents(summary.spent_micros_this_month),
        spent_micros_this_month: summary.spent_micros_this_month,
        open_holds: OpenHolds {
            count: summary.open_holds,
            micros: summary.held_micros,
        },
        ledger,
        next_cursor,
    }))
}

/// The most one grant may add: $1,000,000.
const MAX_GRANT_CENTS: i64 = 100_000_000;

#[derive(Debug, Deserialize)]
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

async fn create_grant(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiJson(request): ApiJson<GrantRequest>,
) -> Result<(StatusCode, Json<GrantResponse>), ApiError> {
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

    let amount_micros = request.amount_cents * MICROS_PER_CENT;
    let grant_id = ledger::grant(
        &state.db,
        &recipient,
        amount_micros,
        reason,
        Some(&admin.id),
    )
    .await?;
    let balance_micros = ledger::balance_micros(&state.db, &recipient).await?;
    tracing::info!(%grant_id, recipient = %recipient, amount_micros, granted_by = %admin.id, "budget granted");
    Ok((
        StatusCode::CREATED,
        Json(GrantResponse {
            grant_id,
            user_id: recipient,
            amount_cents: request.amount_cents,
            amount_micros,
            reason: reason.to_owned(),
            granted_by: admin.id,
            balance_cents: balance_cents(balance_micros),
            balance_micros,
        }),
    ))
}
