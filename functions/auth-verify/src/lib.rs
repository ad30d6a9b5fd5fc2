//! `auth-verify`: sessions. Exchanges a passcode for a JWT (POST /auth/verify, throttled per
//! source), signs a token out (POST /auth/logout), and lets an admin revoke every token of a user
//! (POST /v1/admin/revoke-tokens); personal API keys (POST/GET /v1/keys, DELETE /v1/keys/{id}).

pub mod keys;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use helix_shared::auth::passcode;
use helix_shared::auth::settings::PasscodeEntry;
use helix_shared::auth::settings::normalise_email;
use helix_shared::auth::throttle::{Admission, Throttle, ThrottleReason};
use helix_shared::auth::{AuthUser, now_unix};
use helix_shared::db::users;
use helix_shared::http::{ApiJson, SourceIp};
use helix_shared::{ApiError, AppState, http};
use serde::{Deserialize, Serialize};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/auth/verify", post(verify_passcode))
        .route("/auth/logout", post(sign_out))
        .route("/v1/admin/revoke-tokens", post(revoke_tokens))
        .merge(keys::routes())
        .with_state(state)
}

/// The deployable application: the router plus Helix's auth guard, tracing, limits and errors.
pub fn app(state: AppState) -> Router {
    http::finish(router(state.clone()), &state)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub passcode: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct VerifyResponse {
    pub token: String,
    pub token_type: String,
    pub expires_at: DateTime<Utc>,
    pub user: UserView,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    /// `user` or `admin` (admins may grant budget), so the web app shows only what works.
    pub role: String,
    pub budget_cents: i64,
}

async fn verify_passcode(
    State(state): State<AppState>,
    SourceIp(source_ip): SourceIp,
    ApiJson(request): ApiJson<VerifyRequest>,
) -> Result<Json<VerifyResponse>, ApiError> {
    // Before the throttle: a passcode bcrypt would cut is bad input, not an attempt.
    passcode::check_length(&request.passcode)?;
    let throttle = Throttle::new(&state.db, &state.config.auth.throttle);
    let attempt = match throttle.begin(&source_ip).await? {
        Admission::Admitted(attempt) => attempt,
        Admission::Throttled {
            retry_after_secs,
            reason,
        } => {
            tracing::warn!(%source_ip, retry_after_secs, reason = reason.as_str(), "passcode attempts throttled");
            let message = match reason {
                ThrottleReason::Backoff => format!(
                    "too many failed passcode attempts from this address; try again in {retry_after_secs} seconds"
                ),
                ThrottleReason::GlobalCeiling => format!(
                    "sign-in is paused for new addresses after many failed attempts; try again in {retry_after_secs} seconds"
                ),
            };
            return Err(ApiError::TooManyRequests {
                code: "too_many_attempts",
                message,
                retry_after_secs,
            });
        }
    };
    let Some(entry) = matching_entry(&state, request.passcode).await? else {
        throttle.keep_failure(attempt).await?;
        tracing::info!(%source_ip, "wrong passcode");
        return Err(ApiError::Unauthorized {
            code: "invalid_passcode",
            message: "the passcode is not correct".into(),
        });
    };
    throttle.succeed(attempt).await?;

    let mut db = state.db.acquire().await?;
    let (user, _) = users::ensure_user(&mut db, &entry.email, entry.role).await?;
    let issued = state
        .tokens
        .issue(&user.id, user.issue_time(now_unix()))
        .map_err(ApiError::internal)?;
    tracing::info!(user_id = %user.id, "signed in");
    Ok(Json(VerifyResponse {
        token: issued.token,
        token_type: "Bearer".into(),
        expires_at: DateTime::from_timestamp(issued.expires_at, 0).unwrap_or_default(),
        user: UserView {
            id: user.id,
            email: user.email,
            name: user.name,
            role: user.role.as_str().to_owned(),
            budget_cents: user.budget_cents,
        },
    }))
}

/// Signs the presented token out: from now on it is `401 invalid_token` everywhere, while the
/// user's other tokens (other devices) keep working.
async fn sign_out(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, ApiError> {
    // A key has no session to end: it is revoked with DELETE /v1/keys/{id}.
    user.require_session("sign out (revoke it with DELETE /v1/keys/{id})")?;
    users::revoke_token(
        &state.db,
        &user.id,
        &user.token.jti,
        user.token.usable_until,
    )
    .await?;
    tracing::info!(user_id = %user.id, "signed out");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeTokensRequest {
    /// The user whose tokens stop working, by email (as grants name them).
    pub email: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RevokeTokensResponse {
    pub user_id: String,
    pub email: String,
    /// Tokens issued before this moment are refused; signing in again gives one that works.
    pub tokens_valid_after: DateTime<Utc>,
}

/// An admin signs a user out everywhere (a lost laptop, a leaked token, someone leaving).
async fn revoke_tokens(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiJson(request): ApiJson<RevokeTokensRequest>,
) -> Result<Json<RevokeTokensResponse>, ApiError> {
    admin.require_admin("revoke tokens")?;
    let email = normalise_email(&request.email)
        .ok_or_else(|| ApiError::bad_request("email: not an email address"))?;
    let user = users::revoke_all_tokens(&state.db, &email)
        .await?
        .ok_or(ApiError::NotFound { resource: "user" })?;
    let valid_after = user
        .tokens_valid_after
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .ok_or_else(|| ApiError::internal("a revocation without its moment"))?;
    tracing::info!(user_id = %user.id, revoked_by = %admin.id, "tokens revoked");
    Ok(Json(RevokeTokensResponse {
        user_id: user.id,
        email: user.email,
        tokens_valid_after: valid_after,
    }))
}

/// bcrypt is deliberately slow: it runs on the blocking pool, not on the async workers.
async fn matching_entry(
    state: &AppState,
    passcode: String,
) -> Result<Option<PasscodeEntry>, ApiError> {
    let config = state.config.clone();
    tokio::task::spawn_blocking(move || {
        passcode::find_matching(&passcode, &config.auth.passcodes).cloned()
    })
    .await
    .map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each includer uses only some of the helpers.
    #[allow(dead_code)]
    mod openapi_schema {
        include!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/support/openapi_schema.rs"
        ));
    }
    use openapi_schema::{keys, schema as spec_schema, strings};

    #[test]
    fn revocation_bodies_match_the_openapi_schemas() {
        let request: RevokeTokensRequest =
            serde_json::from_value(serde_json::json!({"email": "a@b.c"})).unwrap();
        assert_eq!(request.email, "a@b.c");
        let schema = spec_schema("RevokeTokensRequest");
        assert_eq!(strings(&schema["required"]), keys(&schema["properties"]));
        assert!(
            serde_json::from_value::<RevokeTokensRequest>(
                serde_json::json!({"email": "a@b.c", "all": true})
            )
            .is_err(),
            "unknown fields are refused, as additionalProperties: false says"
        );

        let response = serde_json::to_value(RevokeTokensResponse {
            user_id: "u".into(),
            email: "a@b.c".into(),
            tokens_valid_after: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        })
        .unwrap();
        let schema = spec_schema("RevokedTokens");
        assert_eq!(keys(&response), keys(&schema["properties"]));
        assert_eq!(keys(&response), strings(&schema["required"]));
    }
}
