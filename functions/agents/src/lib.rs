//! `agents`: which engines and models the caller may use, and whether each is active
//! (/v1/agents), plus the priced models a new agent can choose from (/v1/agents/models).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Json, Router};
use helix_shared::auth::AuthUser;
use helix_shared::db::agents::{self, Agent, AgentWriteError};
use helix_shared::http::{ApiJson, ApiPath};
use helix_shared::provider::Provider;
use helix_shared::{ApiError, AppState, http};
use serde::{Deserialize, Serialize};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/agents", get(list_agents).post(create_agent))
        .route("/v1/agents/models", get(list_models))
        .route("/v1/agents/{id}", patch(update_agent).delete(delete_agent))
        .with_state(state)
}

/// The deployable application: the router plus Helix's auth guard, tracing, limits and errors.
pub fn app(state: AppState) -> Router {
    http::finish(router(state.clone()), &state)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AgentsResponse {
    pub agents: Vec<Agent>,
    /// Providers this deployment can call right now (a key is set, or for `local` a server or the
    /// in-process model), so a client can pick a default that will answer.
    pub available_providers: Vec<Provider>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    pub provider: Provider,
    pub model: String,
    #[serde(default)]
    pub status: Option<Status>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub status: Option<Status>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Disabled,
}

async fn list_agents(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<AgentsResponse>, ApiError> {
    Ok(Json(AgentsResponse {
        agents: agents::list_for_user(&state.db, &user.id).await?,
        available_providers: state.engines.available_providers(),
    }))
}

async fn create_agent(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<CreateAgent>,
) -> Result<(StatusCode, Json<Agent>), ApiError> {
    let model = validate_model(&state, request.provider, &request.model)?;
    let active = request.status != Some(Status::Disabled);
    let agent = agents::create(&state.db, &user.id, request.provider, model, active)
        .await
        .map_err(write_error)?;
    tracing::info!(agent_id = %agent.id, provider = %agent.provider, model = %agent.model, "agent created");
    Ok((StatusCode::CREATED, Json(agent)))
}

async fn update_agent(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateAgent>,
) -> Result<Json<Agent>, ApiError> {
    if request.model.is_none() && request.status.is_none() {
        return Err(ApiError::bad_request(
            "body: give a model, a status, or both",
        ));
    }
    let not_found = || ApiError::NotFound { resource: "agent" };
    let model = match &request.model {
        Some(model) => {
            let provider = agents::provider_of(&state.db, &user.id, &id)
                .await?
                .ok_or_else(not_found)?;
            let provider = Provider::parse(&provider).ok_or_else(|| {
                ApiError::internal(format!("unknown provider {provider} in the database"))
            })?;
            Some(validate_model(&state, provider, model)?)
        }
        None => None,
    };
    let active = request.status.map(|s| s == Status::Active);
    let agent = agents::update(&state.db, &user.id, &id, model, active)
        .await
        .map_err(write_error)?
        .ok_or_else(not_found)?;
    tracing::info!(agent_id = %agent.id, status = %agent.status, model = %agent.model, "agent updated");
    Ok(Json(agent))
}

async fn delete_agent(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if agents::delete(&state.db, &user.id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound { resource: "agent" })
    }
}

/// A model must be priced for its provider (never free by accident); any name goes for `local`.
fn validate_model<'a>(
    state: &AppState,
    provider: Provider,
    model: &'a str,
) -> Result<&'a str, ApiError> {
    let model = model.trim();
    if model.is_empty() || model.chars().count() > 200 {
        return Err(ApiError::bad_request("model: must be 1 to 200 characters"));
    }
    state
        .prices
        .price(provider.as_str(), model)
        .map_err(|_| ApiError::BadRequest {
            code: "unknown_model",
            message: format!(
                "model: {model} is not a priced {provider} model (see GET /v1/agents/models)"
            ),
        })?;
    Ok(model)
}

fn write_error(error: AgentWriteError) -> ApiError {
    match error {
        AgentWriteError::Duplicate => ApiError::Conflict {
            code: "agent_exists",
            message: "you already have an agent for this provider and model".into(),
        },
        AgentWriteError::Database(error) => error.into(),
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ModelsResponse {
    pub price_table_version: String,
    pub providers: Vec<ProviderModels>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ProviderModels {
    pub provider: Provider,
    /// Empty for `local`: any model name the local server knows is accepted.
    pub models: Vec<ModelPrice>,
    pub any_model: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ModelPrice {
    pub model: String,
    pub input_per_mtok_micros: u64,
    pub cached_input_per_mtok_micros: u64,
    pub output_per_mtok_micros: u64,
}

/// The priced models per provider, for the web app's "add agent" form.
async fn list_models(State(state): State<AppState>, _user: AuthUser) -> Json<ModelsResponse> {
    let providers = Provider::ALL
        .into_iter()
        .map(|provider| ProviderModels {
            provider,
            any_model: provider == Provider::Local,
            models: state
                .prices
                .models(provider.as_str())
                .into_iter()
                .filter_map(|model| {
                    let price = state.prices.price(provider.as_str(), model).ok()?;
                    Some(ModelPrice {
                        model: model.to_owned(),
                        input_per_mtok_micros: price.input_per_mtok_micros,
                        cached_input_per_mtok_micros: price.cached_input_per_mtok_micros,
                        output_per_mtok_micros: price.output_per_mtok_micros,
                    })
                })
                .collect(),
        })
        .collect();
    Json(ModelsResponse {
        price_table_version: state.prices.version().to_owned(),
        providers,
    })
}
