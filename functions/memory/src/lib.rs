//! `memory`: a user's long-term memory. Documents are chunked on sentence boundaries, embedded
//! with the deployment's one embedding model (charged like model calls) and stored in
//! Postgres + pgvector; search ranks chunks by cosine similarity. Everything is user-scoped:
//! another user's documents are never listed, found or deleted.

pub mod api;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use helix_shared::auth::AuthUser;
use helix_shared::db::{idempotency, personas};
use helix_shared::http::{ApiJson, ApiPath};
use helix_shared::ids::new_id;
use helix_shared::memory::chunking::{self, ChunkLimits};
use helix_shared::memory::store::{self, NewDocument, Scope};
use helix_shared::pipeline::claim_key;
use helix_shared::pipeline::embedding::{self, MeteredEmbeddings, Payer, Purpose};
use helix_shared::telemetry::{RequestId, current_request_id, current_trace_id};
use helix_shared::{ApiError, AppState, http};

use api::{
    BudgetView, CostView, DocumentList, DocumentStored, PostDocument, SearchRequest,
    SearchResponse, ValidDocument, valid_doc_id,
};

/// More documents than a list shows at once is a sign the client wants search, not a list.
const LIST_LIMIT: i64 = 1_000;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/v1/memory/documents",
            get(list_documents).post(post_document),
        )
        .route("/v1/memory/documents/{doc_id}", delete(delete_document))
        .route("/v1/memory/search", post(search))
        .with_state(state)
}

/// The deployable application: the router plus Helix's auth guard, tracing, limits and errors.
pub fn app(state: AppState) -> Router {
    http::finish(router(state.clone()), &state)
}

const POST_DOCUMENT_ROUTE: &str = "POST /v1/memory/documents";

/// Stores a document, embedding it once: with an `Idempotency-Key`, a retry gets the first
/// answer back and is neither embedded nor charged again.
async fn post_document(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(request): ApiJson<PostDocument>,
) -> Result<Response, ApiError> {
    let key = http::idempotency_key(&headers)?;
    let valid = request.validate(state.config.memory.max_document_bytes)?;
    let ids = request_ids();
    if let Some(key) = &key {
        let fingerprint = http::write_fingerprint(POST_DOCUMENT_ROUTE, &request)?;
        if let Some(stored) = claim_key(&state.db, &user.id, key, &fingerprint, &ids.1).await? {
            return Ok((
                StatusCode::CREATED,
                [("idempotent-replayed", "true")],
                Json(stored),
            )
                .into_response());
        }
    }
    let stored = store_document(&state, &user, &valid, &request, &ids).await;
    let stored = match (stored, &key) {
        (Ok(stored), Some(key)) => {
            let answer = serde_json::to_value(&stored).map_err(ApiError::internal)?;
            idempotency::complete(&state.db, &user.id, key, &answer).await?;
            stored
        }
        (Ok(stored), None) => stored,
        (Err(error), Some(key)) => {
            idempotency::abandon(&state.db, &user.id, key).await?;
            return Err(error);
        }
        (Err(error), None) => return Err(error),
    };
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

async fn store_document(
    state: &AppState,
    user: &AuthUser,
    valid: &ValidDocument<'_>,
    request: &PostDocument,
    ids: &(String, String),
) -> Result<DocumentStored, ApiError> {
    // The persona stays until the document is stored (its deletion waits), so an embedding paid
    // for is never refused for a persona deleted meanwhile.
    let mut tx = state.db.begin().await?;
    let persona_id = hold_own_persona(&mut tx, user, request.persona_id.as_deref()).await?;
    let embedder = state.embedders.embedder().await?;
    let limits = ChunkLimits {
        max_tokens: state.config.memory.chunk_tokens,
        overlap_tokens: state.config.memory.overlap_tokens,
    };
    let chunks = chunking::chunk(valid.text, limits, &|text| embedder.count_tokens(text));
    let texts: Vec<String> = chunks
        .iter()
        .map(|c| c.text(valid.text).to_owned())
        .collect();
    let payer = Payer {
        user_id: &user.id,
        trace_id: &ids.0,
        request_id: &ids.1,
        api_key: user.api_key.as_ref(),
    };
    let metered = embedding::embed(state, &payer, Purpose::Document, &texts).await?;
    let generated;
    let doc_id = match valid.doc_id {
        Some(doc_id) => doc_id,
        None => {
            generated = new_id();
            &generated
        }
    };
    let document = store::replace(
        &mut tx,
        NewDocument {
            user_id: &user.id,
            doc_id,
            persona_id,
            title: valid.title,
            metadata: &valid.metadata,
            text: valid.text,
            chunks: &chunks,
            vectors: metered.embeddings.vectors.clone(),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(doc_id, chunks = chunks.len(), "memory document stored");
    Ok(DocumentStored {
        document,
        cost: cost_view(&metered),
        budget: budget_view(&metered),
    })
}

async fn list_documents(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<DocumentList>, ApiError> {
    Ok(Json(DocumentList {
        documents: store::list(&state.db, &user.id, LIST_LIMIT).await?,
    }))
}

async fn delete_document(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(doc_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let doc_id = valid_doc_id(&doc_id)?;
    if !store::delete(&state.db, &user.id, doc_id).await? {
        return Err(ApiError::NotFound {
            resource: "document",
        });
    }
    tracing::info!(doc_id, "memory document deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn search(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<SearchRequest>,
) -> Result<Json<SearchResponse>, ApiError> {
    let (query, k, min_score) = request.validate()?;
    let persona_id = own_persona(&state, &user, request.persona_id.as_deref()).await?;
    let (trace_id, request_id) = request_ids();
    let payer = Payer {
        user_id: &user.id,
        trace_id: &trace_id,
        request_id: &request_id,
        api_key: user.api_key.as_ref(),
    };
    let mut metered =
        embedding::embed(&state, &payer, Purpose::Search, &[query.to_owned()]).await?;
    let vector = metered.embeddings.vectors.pop().unwrap_or_default();
    let scope = persona_id.map_or(Scope::All, Scope::Persona);
    let results = store::search(&state.db, &user.id, scope, vector, k, min_score).await?;
    Ok(Json(SearchResponse {
        results,
        cost: cost_view(&metered),
        budget: budget_view(&metered),
    }))
}

/// The persona, if one is named, must be the caller's: another user's is as absent as none.
async fn own_persona<'a>(
    state: &AppState,
    user: &AuthUser,
    persona_id: Option<&'a str>,
) -> Result<Option<&'a str>, ApiError> {
    let Some(id) = persona_id else {
        return Ok(None);
    };
    personas::find_for_user(&state.db, &user.id, id)
        .await?
        .map(|_| Some(id))
        .ok_or(ApiError::NotFound {
            resource: "persona",
        })
}

/// As [`own_persona`], and the persona cannot be deleted until `tx` ends.
async fn hold_own_persona<'a>(
    tx: &mut sqlx::PgConnection,
    user: &AuthUser,
    persona_id: Option<&'a str>,
) -> Result<Option<&'a str>, ApiError> {
    let Some(id) = persona_id else {
        return Ok(None);
    };
    if personas::hold_for_user(tx, &user.id, id).await? {
        Ok(Some(id))
    } else {
        Err(ApiError::NotFound {
            resource: "persona",
        })
    }
}

/// The request's trace id and Helix's own request id (a fresh one outside a request).
fn request_ids() -> (String, String) {
    let trace_id = current_trace_id()
        .map(|id| id.to_string())
        .unwrap_or_default();
    let request_id = current_request_id().unwrap_or_else(RequestId::generate);
    (trace_id, request_id.to_string())
}

fn cost_view(metered: &MeteredEmbeddings) -> CostView {
    CostView {
        micros: metered.cost_micros,
        cents: metered.cost_cents,
    }
}

fn budget_view(metered: &MeteredEmbeddings) -> BudgetView {
    BudgetView {
        remaining_micros: metered.balance_micros,
        remaining_cents: metered.balance_cents,
    }
}
