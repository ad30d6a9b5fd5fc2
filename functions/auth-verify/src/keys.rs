//! Personal API keys (POST/GET /v1/keys, DELETE /v1/keys/{id}): credentials like the passcode
//! session, so they live with it. A key acts as its owner on every `/v1/*` route; managing keys
//! needs a signed-in session, so a leaked key can neither mint keys nor lift its own limit.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use helix_shared::auth::{AuthUser, api_keys};
use helix_shared::db::api_keys::{self as key_rows, ApiKey, NewKey};
use helix_shared::http::{ApiJson, ApiPath};
use helix_shared::money::{MICROS_PER_CENT, cost_cents};
use helix_shared::pagination::is_storable;
use helix_shared::{ApiError, AppState};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

/// Unrevoked keys a user may hold at once (the list is one page).
pub const MAX_KEYS_PER_USER: i64 = 100;
pub const MAX_NAME_CHARS: usize = 100;
/// $1,000,000, as for grants.
pub const MAX_SPEND_LIMIT_CENTS: i64 = 100_000_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/keys", axum::routing::post(create_key).get(list_keys))
        .route("/v1/keys/{id}", axum::routing::delete(revoke_key))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    pub name: String,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub spend_limit_cents: Option<i64>,
}

/// A new key, with its secret: the only time it is shown.
#[derive(Debug, Serialize, Deserialize)]
pub struct CreatedKey {
    pub id: String,
    pub name: String,
    pub key: String,
    pub prefix: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub spend_limit_cents: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// A key as the Keys page lists it: what it has spent against its limit, never its secret.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub expired: bool,
    pub spend_limit_cents: Option<i64>,
    /// Charged so far (ledger rows), in exact micros and in cents.
    pub spent_micros: i64,
    pub spent_cents: i64,
    /// Held for calls in flight.
    pub held_micros: i64,
}

impl From<ApiKey> for KeyView {
    fn from(key: ApiKey) -> Self {
        KeyView {
            expired: key.expires_at.is_some_and(|at| at <= Utc::now()),
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            expires_at: key.expires_at,
            spend_limit_cents: key.spend_limit_micros.map(|m| m / MICROS_PER_CENT),
            spent_micros: key.spent_micros,
            spent_cents: cost_cents(key.spent_micros),
            held_micros: key.held_micros,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

impl CreateKeyRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let name = self.name.trim();
        if name.is_empty() || self.name.chars().count() > MAX_NAME_CHARS {
            return Err(ApiError::bad_request(format!(
                "name: must be 1 to {MAX_NAME_CHARS} characters"
            )));
        }
        if let Some(at) = self.expires_at
            && (!is_storable(&at) || at <= Utc::now())
        {
            return Err(ApiError::bad_request(
                "expires_at: must be a time in the future, before the year 10000",
            ));
        }
        if let Some(cents) = self.spend_limit_cents
            && !(1..=MAX_SPEND_LIMIT_CENTS).contains(&cents)
        {
            return Err(ApiError::bad_request(format!(
                "spend_limit_cents: must be 1 to {MAX_SPEND_LIMIT_CENTS}"
            )));
        }
        Ok(())
    }
}

async fn create_key(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<CreateKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    user.require_session("create keys")?;
    request.validate()?;
    let secret = api_keys::generate();
    let new_key = NewKey {
        user_id: &user.id,
        name: request.name.trim(),
        prefix: &secret.prefix,
        sha256: &secret.sha256,
        spend_limit_micros: request.spend_limit_cents.map(|c| c * MICROS_PER_CENT),
        expires_at: request.expires_at,
    };
    let key = key_rows::create(&state.db, &new_key, MAX_KEYS_PER_USER)
        .await?
        .ok_or_else(|| ApiError::Conflict {
            code: "too_many_keys",
            message: format!(
                "you already hold {MAX_KEYS_PER_USER} keys; revoke one before creating another"
            ),
        })?;
    tracing::info!(user_id = %user.id, api_key_id = %key.id, prefix = %key.prefix, "API key created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            id: key.id,
            name: key.name,
            key: secret.secret.expose_secret().to_owned(),
            prefix: key.prefix,
            expires_at: key.expires_at,
            spend_limit_cents: request.spend_limit_cents,
            created_at: key.created_at,
        }),
    ))
}

async fn list_keys(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<KeyList>, ApiError> {
    user.require_session("list keys")?;
    let keys = key_rows::list_for_user(&state.db, &user.id, MAX_KEYS_PER_USER).await?;
    Ok(Json(KeyList {
        keys: keys.into_iter().map(KeyView::from).collect(),
    }))
}

/// Revokes at once: the next request with the key is a 401. Calls already running settle.
async fn revoke_key(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    user.require_session("revoke keys")?;
    if id.chars().count() > 64 {
        return Err(ApiError::NotFound { resource: "key" });
    }
    if key_rows::revoke(&state.db, &user.id, &id).await? {
        tracing::info!(user_id = %user.id, api_key_id = %id, "API key revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound { resource: "key" })
    }
}
