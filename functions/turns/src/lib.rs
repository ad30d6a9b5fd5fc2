//! `turns`: one conversational turn through a personality and an engine, charged to the caller's
//! budget (POST /v1/turns, whole or streamed), the personality picker (GET /v1/personalities),
//! and the OpenAI-compatible API (`openai`: chat completions, models, embeddings).

pub mod api;
pub mod openai;
pub mod stream;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use helix_shared::auth::AuthUser;
use helix_shared::avatars;
use helix_shared::db::idempotency;
use helix_shared::db::personas;
use helix_shared::http::{ApiJson, InvocationDeadline};
use helix_shared::personality::Personality;
use helix_shared::telemetry::{RequestId, current_request_id, current_trace_id, spawn_traced};
use helix_shared::{ApiError, AppState, http};

use helix_shared::pipeline::claim_key;
use helix_shared::pipeline::turn::{Idempotent, TurnContext, TurnOutcome, run_turn};

use crate::api::{PersonalitiesResponse, PersonalityView, TurnRequest, TurnResponse};

/// The request's trace id (an X-Ray link, possibly the caller's) and Helix's own request id.
pub(crate) fn request_ids() -> (String, String) {
    let trace_id = current_trace_id()
        .map(|id| id.to_string())
        .unwrap_or_default();
    let request_id = current_request_id()
        .unwrap_or_else(RequestId::generate)
        .to_string();
    (trace_id, request_id)
}

/// A turn's context from its request: who asks, its ids and X-Ray header, its claimed
/// Idempotency-Key, and when the invocation ends. No live client yet: a streamed turn adds one.
pub(crate) fn turn_context(
    user: AuthUser,
    (trace_id, request_id): (String, String),
    headers: &HeaderMap,
    idempotency: Option<Idempotent>,
    must_end_by: Option<std::time::SystemTime>,
) -> TurnContext {
    TurnContext {
        user,
        trace_id,
        request_id,
        trace_header: headers
            .get("x-amzn-trace-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        idempotency,
        live: None,
        must_end_by,
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/turns", post(post_turn))
        .route("/v1/personalities", get(list_personalities))
        .merge(openai::routes())
        .with_state(state)
}

/// The deployable application: the router plus Helix's auth guard, tracing, limits and errors.
pub fn app(state: AppState) -> Router {
    http::finish(router(state.clone()), &state)
}

/// One turn: whole as JSON, or with `"stream": true` as server-sent events (see `stream`). Either
/// way it runs in a task of its own, so a client that hangs up cannot leave it unsettled.
async fn post_turn(
    State(state): State<AppState>,
    user: AuthUser,
    InvocationDeadline(must_end_by): InvocationDeadline,
    headers: HeaderMap,
    ApiJson(mut request): ApiJson<TurnRequest>,
) -> Result<Response, ApiError> {
    let key = http::idempotency_key(&headers)?;
    // The same turn may be retried streamed or not: the fingerprint leaves the delivery out.
    let streamed = request.stream.take().unwrap_or(false);
    // Only a keyed request pays for its fingerprint.
    let fingerprint = key
        .as_ref()
        .map(|_| serde_json::to_value(&request).map(|body| idempotency::request_hash(&body)))
        .transpose()
        .map_err(ApiError::internal)?;
    let turn = request.validate()?;
    let (trace_id, request_id) = request_ids();
    if let (Some(key), Some(fingerprint)) = (&key, &fingerprint)
        && let Some(stored) = claim_key(&state.db, &user.id, key, fingerprint, &request_id).await?
    {
        return replay(stored, streamed, &state);
    }
    let idempotency = key.map(|key| Idempotent {
        key,
        render: render_response,
    });
    let context = turn_context(
        user,
        (trace_id, request_id),
        &headers,
        idempotency,
        must_end_by,
    );
    if streamed {
        return stream::stream_turn(state, context, turn).await;
    }
    let task = spawn_traced(async move { run_turn(&state, &context, turn).await });
    let outcome = task.await.map_err(ApiError::internal)??;
    match outcome.failure() {
        // Charged for what was generated before the provider broke off (the ledger row says so).
        Some(error) => Err(error),
        None => Ok(Json(TurnResponse::from(&outcome)).into_response()),
    }
}

fn render_response(outcome: &TurnOutcome) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(TurnResponse::from(outcome))
}

/// An earlier request's stored answer, as JSON or as the stream it would have been.
fn replay(
    stored: serde_json::Value,
    streamed: bool,
    state: &AppState,
) -> Result<Response, ApiError> {
    if !streamed {
        return Ok(([("idempotent-replayed", "true")], Json(stored)).into_response());
    }
    let stored: TurnResponse = serde_json::from_value(stored).map_err(ApiError::internal)?;
    Ok(stream::replay(stored, state.config.turns.stream_keep_alive))
}

/// Presets first, then the caller's own personas (newest first), in one shape for the picker.
async fn list_personalities(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<PersonalitiesResponse>, ApiError> {
    let presets = state.presets.all().map(PersonalityView::from);
    let mut own = Vec::new();
    // Bounded: a user has at most `max_per_user` personas.
    let max = state.config.personas.max_per_user;
    for p in personas::list_for_user(&state.db, &user.id, max).await? {
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
