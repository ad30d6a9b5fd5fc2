//! OpenAI-compatible calls (`POST /v1/chat/completions`) through the turn pipeline: the model
//! named `<engine>/<model>` (or a bare model one agent serves) against the caller's active
//! agents; the client's own messages and tools as they are, a personality only when one is named
//! (its system prompt first, its tool whitelist applied). Metering is the turn's own, and so is a
//! stored conversation (`helix.conversation_id` / `helix.save`): history loaded, answer stored
//! with its charge.

use std::time::Instant;

use super::conversation::{self, ConversationTurn, Plan};
use super::turn::{
    Planned, TurnContext, TurnOutcome, abandon_unless_finished, model_price, read_deadline,
    resolve_agent, resolve_personality, run_planned,
};
use crate::chat::{CompletionInput, Message, Role, ToolChoice, ToolDefinition};
use crate::conversation::context::drop_unanswered_tool_calls;
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
    /// Named by the client; for a stored conversation's call without one, the conversation's own.
    pub personality_id: Option<String>,
    pub messages: Vec<Message>,
    /// A call of a stored conversation (`helix.conversation_id`, or `helix.save` to start one):
    /// the stored history stands in for the client's copy of it (see [`conversation_messages`]).
    pub conversation: Option<ConversationTurn>,
    /// The client's function tools; offered to the model, and the only calls passed back.
    pub tools: Vec<ToolDefinition>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub top_p: Option<f32>,
    /// Up to four sequences that end the answer.
    pub stop: Vec<String>,
    /// How the model must use `tools` (a named one is among them: the HTTP layer checks).
    pub tool_choice: ToolChoice,
    /// False for `tool_choice: "none"`: no tools at all, not even a personality's own.
    pub offer_tools: bool,
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
    mut turn: CompletionTurn,
) -> Result<TurnOutcome, ApiError> {
    let started = Instant::now();
    let deadline = read_deadline(state.config.engines.retry.deadline, context.must_end_by);
    let user = &context.user;
    // Another user's conversation is a 404 before anything else is looked at, as for a turn.
    let saving = match &turn.conversation {
        Some(asked) => {
            let messages = std::mem::take(&mut turn.messages);
            let (plan, messages) = plan_conversation(state, &user.id, asked, messages).await?;
            turn.messages = messages;
            Some(plan)
        }
        None => None,
    };
    // A stored conversation always runs under a personality: the one named, else its own; one
    // started without any is refused rather than given a system prompt the client never chose.
    let personality_id = turn
        .personality_id
        .clone()
        .or_else(|| saving.as_ref().and_then(|plan| plan.personality_id.clone()));
    if saving.is_some() && personality_id.is_none() {
        return Err(ApiError::bad_request(
            "helix.personality_id: a stored conversation runs under a personality; name one \
             (or send X-Helix-Personality) to start it",
        ));
    }
    let served = find_model(state, &user.id, &turn.model).await?;
    let agent = resolve_agent(state, user, served.provider, Some(&served.model)).await?;
    let price = model_price(state, served.provider, &agent.model)?;
    let personality = match &personality_id {
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
        saving,
        started,
        deadline,
    };
    run_planned(state, context, planned).await
}

/// The stored conversation's plan and what the model is sent: the request's system messages,
/// the stored history, then the messages this call adds. An unknown conversation, or another
/// user's, is `404 conversation_not_found` (OpenAI's way of naming what was not found).
async fn plan_conversation(
    state: &AppState,
    user_id: &str,
    asked: &ConversationTurn,
    messages: Vec<Message>,
) -> Result<(Plan, Vec<Message>), ApiError> {
    let (instructions, new) = conversation_messages(messages, asked.id.is_some())?;
    let plan = conversation::plan(state, user_id, asked, new)
        .await
        .map_err(|error| match (error, &asked.id) {
            (ApiError::NotFound { .. }, Some(id)) => {
                ApiError::ConversationNotFound { id: id.clone() }
            }
            (error, _) => error,
        })?;
    let mut sent = instructions;
    sent.extend(plan.history.iter().cloned());
    sent.extend(plan.new_messages.iter().map(|(_, m)| m.clone()));
    drop_unanswered_tool_calls(&mut sent);
    Ok((plan, sent))
}

/// A stored conversation's call, split: the request's system (and developer) messages, sent first
/// on this call only and never stored; and the messages it adds to the conversation. Starting
/// one, that is every other message; continuing one, those after the request's last assistant
/// message (OpenAI clients send the whole chat each time: the stored history stands in for their
/// copy of it). What is added ends in a user message or a tool result.
pub fn conversation_messages(
    messages: Vec<Message>,
    continuing: bool,
) -> Result<(Vec<Message>, Vec<Message>), ApiError> {
    let after_last_answer = if continuing {
        messages
            .iter()
            .rposition(|m| m.role == Role::Assistant)
            .map_or(0, |at| at + 1)
    } else {
        0
    };
    let (instructions, rest): (Vec<Message>, Vec<Message>) = messages
        .into_iter()
        .enumerate()
        .filter(|(at, m)| m.role == Role::System || *at >= after_last_answer)
        .map(|(_, m)| m)
        .partition(|m| m.role == Role::System);
    if !rest
        .last()
        .is_some_and(|m| matches!(m.role, Role::User | Role::Tool))
    {
        return Err(ApiError::bad_request(if continuing {
            "messages: to continue a stored conversation, end with a user message or tool results \
             after the last assistant message"
        } else {
            "messages: a stored conversation's last message must be from the user or a tool result"
        }));
    }
    Ok((instructions, rest))
}

/// The engine input: the personality's system prompt (if any) before the client's messages; the
/// client's tools (within the personality's whitelist, when there is one), or with none given
/// and a personality named, the personality's own tools (none at all for `tool_choice: "none"`).
/// The client's sampling (`top_p`, `stop`) and `tool_choice` reach the engine either way.
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
        && turn.offer_tools
    {
        let mut prepared = orchestrator::prepare_turn(
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
        })?;
        prepared.input.top_p = turn.top_p;
        prepared.input.stop = turn.stop;
        prepared.input.tool_choice = turn.tool_choice;
        return Ok(prepared);
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
            top_p: turn.top_p,
            stop: turn.stop,
            tool_choice: turn.tool_choice,
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

    fn m(role: Role, text: &str) -> Message {
        Message::new(role, text)
    }

    #[test]
    fn a_continued_conversation_adds_what_follows_the_last_answer_and_stores_no_system_message() {
        let chat = vec![
            m(Role::System, "Be brief."),
            m(Role::User, "Hi"),
            m(Role::Assistant, "Hello"),
            m(Role::User, "And now?"),
        ];
        let (instructions, added) = conversation_messages(chat.clone(), true).unwrap();
        assert_eq!(instructions, [m(Role::System, "Be brief.")]);
        assert_eq!(added, [m(Role::User, "And now?")]);
        // Starting one, the client's whole chat (its system message aside) is its beginning.
        let (_, started) = conversation_messages(chat, false).unwrap();
        assert_eq!(started.len(), 3);
        let tool_result = Message {
            tool_call_id: Some("call_1".into()),
            ..m(Role::Tool, "sunny")
        };
        let (_, results) =
            conversation_messages(vec![m(Role::Assistant, "…"), tool_result.clone()], true)
                .unwrap();
        assert_eq!(results, [tool_result]);
    }

    #[test]
    fn a_stored_conversations_call_must_add_a_question_or_a_tool_result() {
        for (chat, continuing) in [
            (vec![m(Role::User, "Hi"), m(Role::Assistant, "Hello")], true),
            (vec![m(Role::System, "Be brief.")], true),
            (
                vec![m(Role::User, "Hi"), m(Role::Assistant, "Hello")],
                false,
            ),
        ] {
            let error = conversation_messages(chat, continuing).unwrap_err();
            assert!(error.to_string().starts_with("messages: "), "{error}");
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
