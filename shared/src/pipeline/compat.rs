//! OpenAI-compatible calls (`POST /v1/chat/completions`) through the turn pipeline: the model
//! named `<engine>/<model>` (or a bare model one agent serves) against the caller's active
//! agents; the client's own messages and tools as they are, a personality only when one is named
//! (its system prompt first, its tool whitelist applied). Metering is the turn's own.

use std::time::Instant;

use super::turn::{
    Planned, TurnContext, TurnOutcome, abandon_unless_finished, model_price, read_deadline,
    resolve_agent, resolve_personality, run_planned,
};
use crate::chat::{CompletionInput, Message, Role, ToolDefinition};
use crate::db::agents;
use crate::orchestrator::{self, Overrides, PreparedTurn};
use crate::personality::Personality;
use crate::provider::Provider;
use crate::{ApiError, AppState};

/// A chat completion request that passed validation (the HTTP layer's job).
#[derive(Debug, Clone)]
pub struct CompletionTurn {
    /// As the client named it: `openai/gpt-4o-mini`, or a bare `gpt-4o-mini`.
    pub model: String,
    pub personality_id: Option<String>,
    pub messages: Vec<Message>,
    /// The client's function tools; offered to the model, and the only calls passed back.
    pub tools: Vec<ToolDefinition>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

/// An active agent's model, as OpenAI clients name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedModel {
    pub provider: Provider,
    pub model: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl ServedModel {
    pub fn id(&self) -> String {
        format!("{}/{}", self.provider.as_str(), self.model)
    }
}

/// The models the caller's active agents serve, as `GET /v1/models` lists them.
pub async fn served_models(state: &AppState, user_id: &str) -> Result<Vec<ServedModel>, ApiError> {
    let rows = agents::list_for_user(&state.db, user_id).await?;
    Ok(rows
        .into_iter()
        .filter(|agent| agent.status == "active")
        .filter_map(|agent| {
            Some(ServedModel {
                provider: Provider::parse(&agent.provider)?,
                model: agent.model,
                created_at: agent.created_at,
            })
        })
        .collect())
}

/// `<engine>/<model>` exactly, else a bare model name exactly one active agent serves.
pub fn resolve_model<'a>(served: &'a [ServedModel], requested: &str) -> Option<&'a ServedModel> {
    if let Some(found) = served.iter().find(|m| m.id() == requested) {
        return Some(found);
    }
    let mut bare = served.iter().filter(|m| m.model == requested);
    match (bare.next(), bare.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// The model `requested` names among the caller's active agents, or `404 model_not_found`.
pub async fn find_model(
    state: &AppState,
    user_id: &str,
    requested: &str,
) -> Result<ServedModel, ApiError> {
    let served = served_models(state, user_id).await?;
    resolve_model(&served, requested)
        .cloned()
        .ok_or_else(|| ApiError::ModelNotFound {
            model: requested.to_owned(),
        })
}

/// Runs the completion as a turn. Unless it finished whole, its Idempotency-Key is given back.
pub async fn run_completion(
    state: &AppState,
    context: &TurnContext,
    turn: CompletionTurn,
) -> Result<TurnOutcome, ApiError> {
    let outcome = charged_completion(state, context, turn).await;
    abandon_unless_finished(state, context, outcome).await
}

async fn charged_completion(
    state: &AppState,
    context: &TurnContext,
    turn: CompletionTurn,
) -> Result<TurnOutcome, ApiError> {
    let started = Instant::now();
    let deadline = read_deadline(state.config.engines.retry.deadline, context.must_end_by);
    let user = &context.user;
    let served = find_model(state, &user.id, &turn.model).await?;
    let agent = resolve_agent(state, user, served.provider, Some(&served.model)).await?;
    let price = model_price(state, served.provider, &agent.model)?;
    let personality = match &turn.personality_id {
        Some(id) => Some(resolve_personality(state, user, id).await?),
        None => None,
    };
    let default_max_tokens = state.config.turns.default_max_tokens;
    let prepared = prepare(personality.as_ref(), turn, &state.tools, default_max_tokens)?;
    let planned = Planned {
        provider: served.provider,
        agent,
        price,
        personality,
        prepared,
        saving: None,
        started,
        deadline,
    };
    run_planned(state, context, planned).await
}

/// The engine input: the personality's system prompt (if any) before the client's messages; the
/// client's tools (within the personality's whitelist, when there is one), or with none given
/// and a personality named, the personality's own tools.
fn prepare(
    personality: Option<&Personality>,
    turn: CompletionTurn,
    catalog: &crate::tools::ToolCatalog,
    default_max_tokens: u32,
) -> Result<PreparedTurn, ApiError> {
    let overrides = Overrides {
        temperature: turn.temperature,
        max_tokens: turn.max_tokens,
    };
    if let Some(personality) = personality
        && turn.tools.is_empty()
    {
        return orchestrator::prepare_turn(
            personality,
            turn.messages,
            overrides,
            None,
            catalog,
            default_max_tokens,
        )
        .map_err(|error| ApiError::BadRequest {
            code: "tool_not_allowed",
            message: error.to_string(),
        });
    }
    if let Some(personality) = personality
        && let Some(index) = turn
            .tools
            .iter()
            .position(|tool| !personality.tool_whitelist.contains(&tool.name))
    {
        return Err(ApiError::BadRequest {
            code: "tool_not_allowed",
            message: format!(
                "tools[{index}].function.name: {} is not allowed for this personality",
                turn.tools[index].name
            ),
        });
    }
    let mut messages = Vec::with_capacity(turn.messages.len() + 1);
    if let Some(personality) = personality {
        messages.push(Message::new(Role::System, personality.system.clone()));
    }
    messages.extend(turn.messages);
    let defaults = personality.map(|p| p.defaults).unwrap_or_default();
    Ok(PreparedTurn {
        allowed_tools: turn.tools.iter().map(|tool| tool.name.clone()).collect(),
        input: CompletionInput {
            messages,
            tools: turn.tools,
            temperature: overrides.temperature.or(defaults.temperature),
            max_tokens: Some(
                overrides
                    .max_tokens
                    .or(defaults.max_tokens)
                    .unwrap_or(default_max_tokens),
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(provider: Provider, model: &str) -> ServedModel {
        ServedModel {
            provider,
            model: model.to_owned(),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_model_resolves_by_engine_and_name_or_by_a_name_one_agent_serves() {
        let all = [
            served(Provider::OpenAi, "gpt-4o-mini"),
            served(Provider::Local, "llama3.2"),
            served(Provider::OpenAi, "llama3.2"),
        ];
        assert_eq!(
            resolve_model(&all, "openai/gpt-4o-mini").map(ServedModel::id),
            Some("openai/gpt-4o-mini".to_owned())
        );
        assert_eq!(
            resolve_model(&all, "gpt-4o-mini").map(ServedModel::id),
            Some("openai/gpt-4o-mini".to_owned())
        );
        assert_eq!(
            resolve_model(&all, "local/llama3.2").map(ServedModel::id),
            Some("local/llama3.2".to_owned())
        );
        // Two agents serve it: the bare name is ambiguous.
        assert_eq!(resolve_model(&all, "llama3.2"), None);
        assert_eq!(resolve_model(&all, "anthropic/claude"), None);
    }
}
