//! The wire shapes of POST /v1/turns and GET /v1/personalities, and the validation that turns a
//! request body into a turn Helix can run (every 400 names its field).

use helix_shared::ApiError;
use helix_shared::chat::{FinishReason, Message, Role, ToolCall};
use helix_shared::orchestrator::Overrides;
use helix_shared::personality::{Personality, PersonalityKind};
use helix_shared::pipeline::conversation::{Action, ConversationTurn};
use helix_shared::pipeline::turn::{TurnInput, TurnOutcome};
use helix_shared::provider::Provider;
use serde::{Deserialize, Serialize};

pub const MAX_MESSAGES: usize = 500;
pub const MAX_OUTPUT_TOKENS: u32 = 32_768;
/// More tool names than any personality whitelists: a longer list is a mistake or an attack.
pub const MAX_TOOLS: usize = 32;
pub const MAX_TOOL_NAME_CHARS: usize = 64;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnRequest {
    pub engine: Provider,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(rename = "personalityId")]
    pub personality_id: String,
    pub messages: Vec<MessageIn>,
    #[serde(default)]
    pub overrides: Option<OverridesIn>,
    /// Tools (by name) this turn may offer the model; all of the personality's whitelist if absent.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// Answer as server-sent events while the model generates (see `stream`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Continue this stored conversation: its history is loaded, `messages` are the new ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Without `conversation_id`: store the turn as a new conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save: Option<bool>,
    /// Answer the conversation's last question again; the earlier answer stays as a version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regenerate: Option<bool>,
    /// Send `messages` (one user message) as a new version of this earlier question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_message_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageIn {
    pub role: Role,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// On assistant messages: the tool calls a previous turn returned.
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverridesIn {
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
}

impl TurnRequest {
    pub fn validate(self) -> Result<TurnInput, ApiError> {
        let bad = |message: String| Err(ApiError::bad_request(message));
        // Characters, as the spec's maxLength counts them.
        if self.personality_id.trim().is_empty() || self.personality_id.chars().count() > 100 {
            return bad("personalityId: must be 1 to 100 characters".into());
        }
        if let Some(model) = &self.model
            && (model.trim().is_empty() || model.chars().count() > 200)
        {
            return bad("model: must be 1 to 200 characters".into());
        }
        let conversation = self.conversation()?;
        let regenerating = conversation
            .as_ref()
            .is_some_and(|c| c.action == Action::Regenerate);
        if regenerating {
            if !self.messages.is_empty() {
                return bad("messages: must be empty to regenerate an answer".into());
            }
        } else if self.messages.is_empty() || self.messages.len() > MAX_MESSAGES {
            return bad(format!("messages: must hold 1 to {MAX_MESSAGES} messages"));
        }
        if let Some(asked) = &conversation {
            validate_conversation_messages(asked, &self.messages)?;
        }
        for (index, message) in self.messages.iter().enumerate() {
            validate_message(index, message)?;
        }
        if let Some(last) = self.messages.last()
            && !matches!(last.role, Role::User | Role::Tool)
        {
            return bad("messages: the last message must be from the user or a tool result".into());
        }
        let overrides = self.overrides.unwrap_or_default();
        if let Some(t) = overrides.temperature
            && !(t.is_finite() && (0.0..=2.0).contains(&t))
        {
            return bad("overrides.temperature: must be between 0 and 2".into());
        }
        if let Some(n) = overrides.max_tokens
            && !(1..=MAX_OUTPUT_TOKENS).contains(&n)
        {
            return bad(format!(
                "overrides.max_tokens: must be 1 to {MAX_OUTPUT_TOKENS}"
            ));
        }
        if let Some(tools) = &self.tools {
            if tools.len() > MAX_TOOLS {
                return bad(format!("tools: must name at most {MAX_TOOLS} tools"));
            }
            if let Some(index) = tools
                .iter()
                .position(|name| name.is_empty() || name.chars().count() > MAX_TOOL_NAME_CHARS)
            {
                return bad(format!(
                    "tools[{index}]: must be 1 to {MAX_TOOL_NAME_CHARS} characters"
                ));
            }
        }
        Ok(TurnInput {
            provider: self.engine,
            model: self.model,
            personality_id: self.personality_id,
            messages: self
                .messages
                .into_iter()
                .map(MessageIn::into_message)
                .collect(),
            overrides: Overrides {
                temperature: overrides.temperature,
                max_tokens: overrides.max_tokens,
            },
            tools: self.tools,
            conversation,
        })
    }

    /// The stored conversation this turn belongs to, if any.
    fn conversation(&self) -> Result<Option<ConversationTurn>, ApiError> {
        let bad = |message: &str| Err(ApiError::bad_request(message.to_owned()));
        let regenerate = self.regenerate == Some(true);
        if let Some(id) = &self.conversation_id
            && !is_id(id)
        {
            return bad("conversation_id: not a conversation id");
        }
        if let Some(id) = &self.edit_message_id
            && !is_id(id)
        {
            return bad("edit_message_id: not a message id");
        }
        let action = match (&self.edit_message_id, regenerate) {
            (Some(_), true) => return bad("regenerate: cannot be combined with edit_message_id"),
            (Some(id), false) => Action::Edit {
                message_id: id.clone(),
            },
            (None, true) => Action::Regenerate,
            (None, false) => Action::Continue,
        };
        match (&self.conversation_id, self.save) {
            (Some(_), Some(false)) => bad("save: a turn of a stored conversation is always saved"),
            (Some(id), _) => Ok(Some(ConversationTurn {
                id: Some(id.clone()),
                action,
            })),
            (None, _) if action != Action::Continue => {
                bad("conversation_id: required to regenerate or edit")
            }
            (None, Some(true)) => Ok(Some(ConversationTurn { id: None, action })),
            (None, _) => Ok(None),
        }
    }
}

/// Ids Helix makes (CUID2): anything else names no conversation or message.
pub(crate) fn is_id(id: &str) -> bool {
    (8..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A stored conversation already has its system prompt and answers: a continued one takes new
/// questions and tool results only, an edit exactly one question.
fn validate_conversation_messages(
    asked: &ConversationTurn,
    messages: &[MessageIn],
) -> Result<(), ApiError> {
    if asked.id.is_none() {
        return Ok(());
    }
    if let Action::Edit { .. } = asked.action
        && !(messages.len() == 1 && messages[0].role == Role::User)
    {
        return Err(ApiError::bad_request(
            "messages: an edit sends exactly one user message",
        ));
    }
    if let Some(index) = messages
        .iter()
        .position(|m| !matches!(m.role, Role::User | Role::Tool))
    {
        return Err(ApiError::bad_request(format!(
            "messages[{index}].role: a stored conversation takes user messages and tool results"
        )));
    }
    Ok(())
}

fn validate_message(index: usize, message: &MessageIn) -> Result<(), ApiError> {
    let field = |name: &str| format!("messages[{index}].{name}");
    let empty = message.content.trim().is_empty();
    match message.role {
        Role::Tool if message.tool_call_id.as_deref().is_none_or(str::is_empty) => {
            Err(ApiError::bad_request(format!(
                "{}: required on tool messages",
                field("tool_call_id")
            )))
        }
        Role::Assistant if empty && message.tool_calls.is_empty() => Err(ApiError::bad_request(
            format!("{}: must not be empty", field("content")),
        )),
        Role::System | Role::User if empty => Err(ApiError::bad_request(format!(
            "{}: must not be empty",
            field("content")
        ))),
        role if role != Role::Assistant && !message.tool_calls.is_empty() => {
            Err(ApiError::bad_request(format!(
                "{}: only assistant messages carry tool calls",
                field("tool_calls")
            )))
        }
        _ => Ok(()),
    }
}

impl MessageIn {
    fn into_message(self) -> Message {
        Message {
            role: self.role,
            content: self.content,
            tool_call_id: self.tool_call_id,
            tool_calls: self.tool_calls,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TurnResponse {
    pub text: String,
    pub usage: UsageView,
    /// The provider reported no usage, so Helix charged its upper bound (see docs/api.md).
    /// Absent from answers stored before it existed: those were all reported or flagged alike.
    #[serde(default)]
    pub usage_estimated: bool,
    #[serde(default = "stopped")]
    pub finish_reason: FinishReason,
    pub tool_calls: Vec<ToolCall>,
    pub cost: CostView,
    pub budget: BudgetView,
    pub engine: Provider,
    pub model: String,
    pub personality_id: String,
    pub trace_id: String,
    /// The output limit the model was given.
    pub max_tokens: u32,
    /// The balance could not pay for the requested max_tokens, so it was lowered to fit.
    pub max_tokens_reduced: bool,
    /// The memory documents whose chunks were placed into the context, best match first.
    pub memory_doc_ids: Vec<String>,
    /// A saved turn's conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// A saved turn's stored answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// A saved turn's stored messages that were not sent, oldest first, to fit the input budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_omitted: Option<usize>,
}

fn stopped() -> FinishReason {
    FinishReason::Stop
}

impl From<&TurnOutcome> for TurnResponse {
    fn from(outcome: &TurnOutcome) -> Self {
        TurnResponse {
            text: outcome.text.clone(),
            usage: UsageView {
                input_tokens: outcome.usage.input_tokens,
                output_tokens: outcome.usage.output_tokens,
            },
            usage_estimated: outcome.usage_estimated.is_some(),
            finish_reason: outcome.finish_reason,
            tool_calls: outcome.tool_calls.clone(),
            cost: CostView {
                micros: outcome.cost_micros,
                cents: outcome.cost_cents,
            },
            budget: BudgetView {
                remaining_cents: outcome.balance_cents,
                remaining_micros: outcome.balance_micros,
            },
            engine: outcome.provider,
            model: outcome.model.clone(),
            personality_id: outcome.personality_id.clone(),
            trace_id: outcome.trace_id.clone(),
            max_tokens: outcome.max_tokens,
            max_tokens_reduced: outcome.max_tokens_reduced,
            memory_doc_ids: outcome.memory_doc_ids.clone(),
            conversation_id: outcome
                .conversation
                .as_ref()
                .map(|c| c.conversation_id.clone()),
            message_id: outcome
                .conversation
                .as_ref()
                .and_then(|c| c.message_id.clone()),
            history_omitted: outcome.conversation.as_ref().map(|c| c.history_omitted),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct UsageView {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct CostView {
    pub micros: i64,
    pub cents: i64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct BudgetView {
    pub remaining_cents: i64,
    pub remaining_micros: i64,
}

/// One entry of the personality picker: presets and the caller's own personas alike.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PersonalityView {
    pub id: String,
    pub label: String,
    pub avatar: Option<String>,
    pub kind: PersonalityKindView,
    #[serde(rename = "toolWhitelist")]
    pub tool_whitelist: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PersonalityKindView {
    Preset,
    Persona,
}

impl From<&Personality> for PersonalityView {
    fn from(personality: &Personality) -> Self {
        PersonalityView {
            id: personality.id.clone(),
            label: personality.label.clone(),
            avatar: personality.avatar.clone(),
            kind: match personality.kind {
                PersonalityKind::Preset => PersonalityKindView::Preset,
                PersonalityKind::Persona => PersonalityKindView::Persona,
            },
            tool_whitelist: personality.tool_whitelist.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PersonalitiesResponse {
    pub personalities: Vec<PersonalityView>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    // Each includer uses only some of the helpers.
    #[allow(dead_code)]
    mod openapi_schema {
        include!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/support/openapi_schema.rs"
        ));
    }
    use openapi_schema::{keys, schema as spec_schema};

    #[test]
    fn the_openapi_turn_response_lists_exactly_the_fields_helix_sends() {
        let response = TurnResponse {
            text: String::new(),
            usage: UsageView {
                input_tokens: 0,
                output_tokens: 0,
            },
            usage_estimated: false,
            finish_reason: FinishReason::Stop,
            tool_calls: vec![],
            cost: CostView {
                micros: 0,
                cents: 0,
            },
            budget: BudgetView {
                remaining_cents: 0,
                remaining_micros: 0,
            },
            engine: Provider::Local,
            model: String::new(),
            personality_id: String::new(),
            trace_id: String::new(),
            max_tokens: 0,
            max_tokens_reduced: false,
            memory_doc_ids: vec![],
            conversation_id: None,
            message_id: None,
            history_omitted: None,
        };
        let sent = keys(&serde_json::to_value(&response).unwrap());
        let schema = spec_schema("TurnResponse");
        let documented: BTreeSet<String> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(sent, documented);
        // A saved turn's fields are documented but optional.
        let saved = TurnResponse {
            conversation_id: Some("c".into()),
            message_id: Some("m".into()),
            history_omitted: Some(0),
            ..response
        };
        let sent = keys(&serde_json::to_value(saved).unwrap());
        assert_eq!(keys(&schema["properties"]), sent);
    }

    #[test]
    fn the_openapi_turn_request_lists_exactly_the_fields_helix_reads() {
        let documented = keys(&spec_schema("TurnRequest")["properties"]);
        let request = TurnRequest {
            engine: Provider::Local,
            model: None,
            personality_id: String::new(),
            messages: vec![],
            overrides: None,
            tools: None,
            stream: Some(true),
            conversation_id: Some(String::new()),
            save: Some(true),
            regenerate: Some(true),
            edit_message_id: Some(String::new()),
        };
        assert_eq!(keys(&serde_json::to_value(request).unwrap()), documented);
    }
}
