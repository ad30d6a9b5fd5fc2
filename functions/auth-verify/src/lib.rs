//! `auth-verify`: exchanges a passcode for a JWT (POST /auth/verify), with brute-force throttling
//! per source IP.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use helix_shared::auth::now_unix;
use helix_shared::auth::passcode::{self, MAX_PASSCODE_CHARS};
use helix_shared::auth::settings::PasscodeEntry;
use helix_shared::auth::throttle::{Admission, Throttle};
use helix_shared::db::users;
use helix_shared::http::{ApiJson, SourceIp};
use helix_shared::{ApiError, AppState, http};
use serde::{Deserialize, Serialize};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/auth/verify", post(verify_passcode))
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
    validate_passcode(&request.passcode)?;
    let auth = &state.config.auth;
    let throttle = Throttle::new(&state.db, auth.max_failures, auth.failure_window);
    let attempt = match throttle.begin(&source_ip).await? {
        Admission::Admitted(attempt) => attempt,
        Admission::Throttled { retry_after_secs } => {
            tracing::warn!(%source_ip, retry_after_secs, "passcode attempts throttled");
            return Err(ApiError::TooManyRequests {
                code: "too_many_attempts",
                message: format!(
                    "too many failed passcode attempts; try again in {retry_after_secs} seconds"
                ),
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
    throttle.forgive(attempt).await?;

    let mut db = state.db.acquire().await?;
    let (user, _) = users::ensure_user(&mut db, &entry.email, entry.role).await?;
    let issued = state
        .tokens
        .issue(&user.id, now_unix())
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

fn validate_passcode(passcode: &str) -> Result<(), ApiError> {
    let chars = passcode.chars().count();
    if chars == 0 || chars > MAX_PASSCODE_CHARS {
        return Err(ApiError::bad_request(format!(
            "passcode: must be 1 to {MAX_PASSCODE_CHARS} characters"
        )));
    }
    Ok(())
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
