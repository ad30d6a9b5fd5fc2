//! `turns`: one conversational turn through a personality and an engine, charged to the caller's
//! budget (POST /v1/turns), and the personality picker (GET /v1/personalities).

pub mod api;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use helix_shared::auth::AuthUser;
use helix_shared::avatars;
use helix_shared::db::idempotency;
use helix_shared::db::personas;
use helix_shared::http::ApiJson;
use helix_shared::personality::Personality;
use helix_shared::telemetry::current_trace_id;
use helix_shared::{ApiError, AppState, http};

use helix_shared::pipeline::claim_key;
use helix_shared::pipeline::turn::{Idempotent, TurnContext, TurnOutcome, run_turn};

use crate::api::{PersonalitiesResponse, PersonalityView, TurnRequest, TurnResponse};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/turns", post(post_turn))
        .route("/v1/personalities", get(list_personalities))
        .with_state(state)
}

/// The deployable application: the router plus Helix's auth guard, tracing, limits and errors.
pub fn app(state: AppState) -> Router {
    http::finish(router(state.clone()), &state)
}

async fn post_turn(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(request): ApiJson<TurnRequest>,
) -> Result<Response, ApiError> {
    let key = api::idempotency_key(&headers)?;
    // Only a keyed request pays for its fingerprint.
    let fingerprint = key
        .as_ref()
        .map(|_| serde_json::to_value(&request).map(|body| idempotency::request_hash(&body)))
        .transpose()
        .map_err(ApiError::internal)?;
    let turn = request.validate()?;
    if let (Some(key), Some(fingerprint)) = (&key, &fingerprint)
        && let Some(response) = claim_key(&state.db, &user.id, key, fingerprint).await?
    {
        return Ok(([("idempotent-replayed", "true")], Json(response)).into_response());
    }
    let trace_id = current_trace_id()
        .map(|id| id.to_string())
        .unwrap_or_default();
    let render = |outcome: &TurnOutcome| serde_json::to_value(TurnResponse::from(outcome));
    let context = TurnContext {
        user: &user,
        trace_id: &trace_id,
        trace_header: headers.get("x-amzn-trace-id").and_then(|v| v.to_str().ok()),
        idempotency: key.as_deref().map(|key| Idempotent {
            key,
            render: &render,
        }),
    };
    let outcome = run_turn(&state, &context, turn).await?;
    Ok(Json(TurnResponse::from(&outcome)).into_response())
}

/// Presets first, then the caller's own personas (newest first), in one shape for the picker.
async fn list_personalities(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<PersonalitiesResponse>, ApiError> {
    let presets = state.presets.all().map(PersonalityView::from);
    let mut own = Vec::new();
    for p in personas::list_for_user(&state.db, &user.id).await? {
        // Avatars are private S3 objects: the picker gets a short-lived presigned URL.
        let avatar =
            avatars::avatar_url(state.avatars.as_deref(), &user.id, p.avatar_key.as_deref()).await;
        let memory = p.memory.map(|m| m.0);
        let persona = Personality::from_persona(p.id, p.name, p.prompt, avatar, memory);
        own.push(PersonalityView::from(&persona));
    }
    Ok(Json(PersonalitiesResponse {
        personalities: presets.chain(own).collect(),
    }))
}
