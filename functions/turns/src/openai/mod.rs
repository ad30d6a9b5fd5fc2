//! The OpenAI-compatible API: `POST /v1/chat/completions` (whole or streamed), `GET /v1/models`
//! and `POST /v1/embeddings`, so existing clients use Helix as a base URL. Chat completions run
//! through the turn pipeline (reserve → call → settle, Idempotency-Key, clamped max_tokens);
//! embeddings through memory's metered embedding call. Every error on these paths is in OpenAI's
//! shape (`http::finish` reshapes them).

pub mod stream;
pub mod wire;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use helix_shared::auth::AuthUser;
use helix_shared::http::{ApiJson, InvocationDeadline};
use helix_shared::pipeline::claim_key;
use helix_shared::pipeline::compat::{CompletionTurn, run_completion, served_models};
use helix_shared::pipeline::embedding::{self, Payer, Purpose};
use helix_shared::pipeline::turn::{Idempotent, TurnContext, TurnOutcome};
use helix_shared::telemetry::spawn_traced;
use helix_shared::{ApiError, AppState, http};
use serde_json::json;

use wire::{
    ChatCompletion, ChatRequest, EmbeddingHelix, EmbeddingInput, EmbeddingList, EmbeddingOut,
    EmbeddingRequest, EmbeddingUsage, ModelList, ModelOut,
};

pub const COST_HEADER: HeaderName = HeaderName::from_static("x-helix-cost-micros");
pub const BALANCE_HEADER: HeaderName = HeaderName::from_static("x-helix-balance-micros");
pub const MAX_TOKENS_REDUCED_HEADER: HeaderName =
    HeaderName::from_static("x-helix-max-tokens-reduced");
/// Names a personality for the call when the body's `helix.personality_id` does not.
pub const PERSONALITY_HEADER: &str = "x-helix-personality";

/// OpenAI's own limit on inputs per embeddings request.
pub const MAX_EMBEDDING_INPUTS: usize = 2048;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(post_chat_completion))
        .route("/v1/models", get(list_models))
        .route("/v1/embeddings", post(post_embeddings))
}

fn header_value(value: impl ToString) -> HeaderValue {
    HeaderValue::from_str(&value.to_string()).unwrap_or(HeaderValue::from_static("0"))
}

async fn post_chat_completion(
    State(state): State<AppState>,
    user: AuthUser,
    InvocationDeadline(must_end_by): InvocationDeadline,
    headers: HeaderMap,
    ApiJson(mut request): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let key = http::idempotency_key(&headers)?;
    // The same call may be retried streamed or not: the fingerprint leaves the delivery out.
    let streamed = request.stream.take().unwrap_or(false);
    let include_usage = request
        .stream_options
        .take()
        .and_then(|options| options.include_usage)
        .unwrap_or(false);
    let personality_header = headers
        .get(PERSONALITY_HEADER)
        .map(|value| value.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| ApiError::bad_request("X-Helix-Personality: must be visible ASCII"))?;
    let fingerprint = key
        .as_ref()
        .map(|_| {
            http::write_fingerprint(
                "chat.completions",
                &json!({ "body": request, "personality": personality_header }),
            )
        })
        .transpose()?;
    let turn = request.validate(personality_header)?;
    let (trace_id, request_id) = crate::request_ids();
    if let (Some(key), Some(fingerprint)) = (&key, &fingerprint)
        && let Some(stored) = claim_key(&state.db, &user.id, key, fingerprint, &request_id).await?
    {
        let stored: ChatCompletion =
            serde_json::from_value(stored).map_err(|_| ApiError::Conflict {
                code: "idempotency_key_reused",
                message: "this Idempotency-Key was used for a different request".into(),
            })?;
        let keep_alive = state.config.turns.stream_keep_alive;
        return Ok(if streamed {
            stream::replay(&stored, include_usage, keep_alive)
        } else {
            let mut response = completion_response(&stored);
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        });
    }
    let idempotency = key.map(|key| Idempotent {
        key,
        render: render_completion,
    });
    let context = crate::turn_context(
        user,
        (trace_id, request_id),
        &headers,
        idempotency,
        must_end_by,
    );
    if streamed {
        return stream::stream_completion(state, context, turn, include_usage).await;
    }
    let outcome = run_whole(state, context, turn).await?;
    match outcome.failure() {
        // Charged for what was generated before the provider broke off (the ledger row says so).
        Some(error) => Err(error),
        None => Ok(completion_response(&ChatCompletion::from(&outcome))),
    }
}

async fn run_whole(
    state: AppState,
    context: TurnContext,
    turn: CompletionTurn,
) -> Result<TurnOutcome, ApiError> {
    let task = spawn_traced(async move { run_completion(&state, &context, turn).await });
    task.await.map_err(ApiError::internal)?
}

fn render_completion(outcome: &TurnOutcome) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(ChatCompletion::from(outcome))
}

fn completion_response(completion: &ChatCompletion) -> Response {
    let mut response = Json(completion).into_response();
    let headers = response.headers_mut();
    headers.insert(COST_HEADER, header_value(completion.helix.cost_micros));
    headers.insert(
        BALANCE_HEADER,
        header_value(completion.helix.balance_micros),
    );
    headers.insert(
        MAX_TOKENS_REDUCED_HEADER,
        header_value(completion.helix.max_tokens_reduced),
    );
    response
}

/// The models the caller's active agents serve, and the deployment's embedding model.
async fn list_models(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<ModelList>, ApiError> {
    let mut data: Vec<ModelOut> = served_models(&state, &user.id)
        .await?
        .into_iter()
        .map(|served| ModelOut {
            id: served.id(),
            object: "model".into(),
            created: served.created_at.timestamp(),
            owned_by: served.provider.as_str().into(),
        })
        .collect();
    if let Ok(embedder) = state.embedders.embedder().await {
        data.push(ModelOut {
            id: format!("{}/{}", embedder.provider().as_str(), embedder.model()),
            object: "model".into(),
            created: 0,
            owned_by: embedder.provider().as_str().into(),
        });
    }
    Ok(Json(ModelList {
        object: "list".into(),
        data,
    }))
}

/// Embeddings through the deployment's embedding model, charged as memory's are.
async fn post_embeddings(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<EmbeddingRequest>,
) -> Result<Response, ApiError> {
    let texts = match request.input {
        EmbeddingInput::One(text) => vec![text],
        EmbeddingInput::Many(texts) => texts,
    };
    if texts.is_empty() || texts.len() > MAX_EMBEDDING_INPUTS {
        return Err(ApiError::bad_request(format!(
            "input: must hold 1 to {MAX_EMBEDDING_INPUTS} strings"
        )));
    }
    if let Some(index) = texts.iter().position(|t| t.trim().is_empty()) {
        return Err(ApiError::bad_request(format!(
            "input[{index}]: must not be empty"
        )));
    }
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "encoding_format: must be float or base64",
            ));
        }
    };
    if request
        .user
        .as_ref()
        .is_some_and(|u| u.chars().count() > 256)
    {
        return Err(ApiError::bad_request(
            "user: must be at most 256 characters",
        ));
    }
    let embedder = state.embedders.embedder().await?;
    let provider = embedder.provider().as_str();
    let model_id = format!("{provider}/{}", embedder.model());
    if request.model != model_id && request.model != embedder.model() {
        return Err(ApiError::ModelNotFound {
            model: request.model,
        });
    }
    if let Some(dimensions) = request.dimensions
        && usize::try_from(dimensions).ok() != Some(embedder.dimensions())
    {
        return Err(ApiError::bad_request(format!(
            "dimensions: {model_id} gives {} dimensions",
            embedder.dimensions()
        )));
    }
    let (trace_id, request_id) = crate::request_ids();
    let payer = Payer {
        user_id: &user.id,
        trace_id: &trace_id,
        request_id: &request_id,
        api_key: user.api_key.as_ref(),
    };
    let metered = embedding::embed(&state, &payer, Purpose::Api, &texts).await?;
    let data = metered
        .embeddings
        .vectors
        .into_iter()
        .enumerate()
        .map(|(index, vector)| EmbeddingOut {
            object: "embedding".into(),
            index,
            embedding: if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            },
        })
        .collect();
    let tokens = metered.embeddings.input_tokens;
    let mut response = Json(EmbeddingList {
        object: "list".into(),
        data,
        model: model_id,
        usage: EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
        helix: EmbeddingHelix {
            cost_micros: metered.cost_micros,
            cost_cents: metered.cost_cents,
            balance_micros: metered.balance_micros,
            balance_cents: metered.balance_cents,
        },
    })
    .into_response();
    let headers = response.headers_mut();
    headers.insert(COST_HEADER, header_value(metered.cost_micros));
    headers.insert(BALANCE_HEADER, header_value(metered.balance_micros));
    Ok(response)
}
