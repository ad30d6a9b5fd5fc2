//! Admin budget policy routes: every user with balance, allowance, period spend, holds and caps
//! (GET /v1/admin/users), one user's budget and ledger (GET /v1/admin/users/{id}/budget), and a
//! user's or the deployment default's policy (PUT /v1/admin/users/{id}/policy, `{id}` = `default`).

use axum::Json;
use axum::extract::State;
use helix_shared::auth::AuthUser;
use helix_shared::budget::policy::{self, PolicyRequest, Scope, StoredPolicy, UserBudget};
use helix_shared::http::{ApiJson, ApiPath, ApiQuery};
use helix_shared::pagination::{self, Cursor};
use helix_shared::{ApiError, AppState};
use serde::{Deserialize, Serialize};

use crate::{BudgetQuery, BudgetResponse, budget_of};

/// The `{id}` that names the deployment's default policy.
pub const DEFAULT_SCOPE: &str = "default";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersQuery {
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct UsersResponse {
    pub users: Vec<UserBudget>,
    pub next_cursor: Option<String>,
    /// The deployment default, for users without their own policy.
    pub default_policy: Option<StoredPolicy>,
}

pub async fn list_users(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiQuery(query): ApiQuery<UsersQuery>,
) -> Result<Json<UsersResponse>, ApiError> {
    admin.require_admin("list users' budgets")?;
    let limit = pagination::limit(query.limit)?;
    let cursor = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    let rows = policy::list_users(&state.db, cursor.as_ref(), limit + 1).await?;
    let (users, next_cursor) = pagination::page(rows, limit, |user| Cursor {
        created_at: user.created_at,
        id: user.id.clone(),
    });
    let default_policy = policy::default_policy(&state.db).await?;
    Ok(Json(UsersResponse {
        users,
        next_cursor,
        default_policy,
    }))
}

pub async fn put_policy(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<PolicyRequest>,
) -> Result<Json<StoredPolicy>, ApiError> {
    admin.require_admin("set budget policies")?;
    let parsed = request
        .parse()
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    if !policy::postgres_knows_zone(&state.db, parsed.time_zone.name()).await? {
        return Err(ApiError::bad_request(
            "time_zone: not a time zone this deployment's database knows",
        ));
    }
    let scope = if id == DEFAULT_SCOPE {
        Scope::Default
    } else {
        if !user_exists(&state, &id).await? {
            return Err(ApiError::NotFound { resource: "user" });
        }
        Scope::User(&id)
    };
    let stored = policy::put(&state.db, scope, &parsed, &admin.id).await?;
    tracing::info!(scope = %id, configured_by = %admin.id, "budget policy set");
    Ok(Json(stored))
}

pub async fn get_user_budget(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<BudgetQuery>,
) -> Result<Json<BudgetResponse>, ApiError> {
    admin.require_admin("read another user's budget")?;
    if !user_exists(&state, &id).await? {
        return Err(ApiError::NotFound { resource: "user" });
    }
    Ok(Json(budget_of(&state, &id, query).await?))
}

async fn user_exists(state: &AppState, id: &str) -> Result<bool, ApiError> {
    if id.is_empty() || id.len() > 64 {
        return Ok(false);
    }
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)")
            .bind(id)
            .fetch_one(&state.db)
            .await?,
    )
}
