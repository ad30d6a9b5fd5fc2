//! OpenAI's wire shapes for chat completions, models and embeddings, and the validation that
//! turns a chat request into a `CompletionTurn`. Unknown fields are ignored, as OpenAI does;
//! a wrong type or value is a 400 naming the field.

use helix_shared::ApiError;
use helix_shared::chat::{FinishReason, Message, Role, ToolCall, ToolChoice, ToolDefinition};
use helix_shared::pipeline::compat::CompletionTurn;
use helix_shared::pipeline::conversation::{Action, ConversationTurn};
use helix_shared::pipeline::turn::TurnOutcome;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{MAX_MESSAGES, MAX_OUTPUT_TOKENS, is_id};

/// OpenAI's own limit on function tools per request.
pub const MAX_TOOLS: usize = 128;
pub const MAX_TOOL_NAME_CHARS: usize = 64;
pub const MAX_STOP_SEQUENCES: usize = 4;
/// Long enough for any delimiter a client ends an answer with; short enough to cost nothing.
pub const MAX_STOP_CHARS: usize = 256;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessageIn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<StopIn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ToolIn>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoiceIn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Helix's extension: a personality for the call, a stored conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helix: Option<HelixIn>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StopIn {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoiceIn {
    /// `none`, `auto` or `required`.
    Mode(String),
    Named(Value),
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HelixIn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personality_id: Option<String>,
    /// Continue this stored conversation: its history is loaded, the request's messages after
    /// its last assistant message are added, and the answer is stored with its charge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Without `conversation_id`: store the call as a new conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save: Option<bool>,
}

impl HelixIn {
    /// The stored conversation the call belongs to, if any.
    fn conversation(&self) -> Result<Option<ConversationTurn>, ApiError> {
        if let Some(id) = &self.conversation_id
            && !is_id(id)
        {
            return bad("helix.conversation_id: not a conversation id".into());
        }
        match (&self.conversation_id, self.save) {
            (Some(_), Some(false)) => {
                bad("helix.save: a call of a stored conversation is always saved".into())
            }
            (Some(id), _) => Ok(Some(ConversationTurn {
                id: Some(id.clone()),
                action: Action::Continue,
            })),
            (None, Some(true)) => Ok(Some(ConversationTurn {
                id: None,
                action: Action::Continue,
            })),
            (None, _) => Ok(None),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatMessageIn {
    pub role: String,
    #[serde(default)]
    pub content: Option<ContentIn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallIn>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ContentIn {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolCallIn {
    pub id: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub function: FunctionCallIn,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionCallIn {
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolIn {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionIn,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionIn {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

fn bad<T>(message: String) -> Result<T, ApiError> {
    Err(ApiError::bad_request(message))
}

impl ChatRequest {
    /// The turn to run; `personality_header` is `X-Helix-Personality` (the body's field wins).
    pub fn validate(self, personality_header: Option<String>) -> Result<CompletionTurn, ApiError> {
        if self.model.trim().is_empty() || self.model.chars().count() > 200 {
            return bad("model: must be 1 to 200 characters".into());
        }
        if self.messages.is_empty() || self.messages.len() > MAX_MESSAGES {
            return bad(format!("messages: must hold 1 to {MAX_MESSAGES} messages"));
        }
        let messages = self
            .messages
            .into_iter()
            .enumerate()
            .map(|(index, message)| message.into_message(index))
            .collect::<Result<Vec<_>, _>>()?;
        let max_tokens = match (self.max_completion_tokens, self.max_tokens) {
            (Some(n), _) => Some(("max_completion_tokens", n)),
            (None, Some(n)) => Some(("max_tokens", n)),
            (None, None) => None,
        };
        if let Some((field, n)) = max_tokens
            && !(1..=MAX_OUTPUT_TOKENS).contains(&n)
        {
            return bad(format!("{field}: must be 1 to {MAX_OUTPUT_TOKENS}"));
        }
        if let Some(t) = self.temperature
            && !(t.is_finite() && (0.0..=2.0).contains(&t))
        {
            return bad("temperature: must be between 0 and 2".into());
        }
        if let Some(p) = self.top_p
            && !(p.is_finite() && (0.0..=1.0).contains(&p))
        {
            return bad("top_p: must be between 0 and 1".into());
        }
        if self.n.is_some_and(|n| n != 1) {
            return bad("n: Helix answers with one choice; must be 1".into());
        }
        let stop = validate_stop(self.stop)?;
        if self.user.as_ref().is_some_and(|u| u.chars().count() > 256) {
            return bad("user: must be at most 256 characters".into());
        }
        let tools = validate_tools(self.tools.unwrap_or_default())?;
        let (offer_tools, tool_choice) = validate_tool_choice(self.tool_choice, &tools)?;
        let helix = self.helix.unwrap_or_default();
        let conversation = helix.conversation()?;
        let personality_id = helix.personality_id.or(personality_header);
        if let Some(id) = &personality_id
            && (id.trim().is_empty() || id.chars().count() > 100)
        {
            return bad("helix.personality_id: must be 1 to 100 characters".into());
        }
        Ok(CompletionTurn {
            model: self.model,
            personality_id,
            messages,
            conversation,
            tools: if offer_tools { tools } else { Vec::new() },
            temperature: self.temperature,
            max_tokens: max_tokens.map(|(_, n)| n),
            top_p: self.top_p,
            stop,
            tool_choice,
            offer_tools,
        })
    }
}

/// `stop` as a string or up to four, each non-empty and at most [`MAX_STOP_CHARS`].
fn validate_stop(stop: Option<StopIn>) -> Result<Vec<String>, ApiError> {
    let stops = match stop {
        None => Vec::new(),
        Some(StopIn::One(one)) => vec![one],
        Some(StopIn::Many(many)) => many,
    };
    if stops.len() > MAX_STOP_SEQUENCES {
        return bad(format!("stop: at most {MAX_STOP_SEQUENCES} sequences"));
    }
    if stops
        .iter()
        .any(|s| s.is_empty() || s.chars().count() > MAX_STOP_CHARS)
    {
        return bad(format!(
            "stop: each sequence must be 1 to {MAX_STOP_CHARS} characters"
        ));
    }
    Ok(stops)
}

/// Whether tools are offered at all (`none` offers none), and how the model must use them:
/// `required` and a named function need tools, and the function must be one of them.
fn validate_tool_choice(
    choice: Option<ToolChoiceIn>,
    tools: &[ToolDefinition],
) -> Result<(bool, ToolChoice), ApiError> {
    let choice = match choice {
        None => return Ok((true, ToolChoice::Auto)),
        Some(ToolChoiceIn::Mode(mode)) => match mode.as_str() {
            "none" => return Ok((false, ToolChoice::Auto)),
            "auto" => return Ok((true, ToolChoice::Auto)),
            "required" => ToolChoice::Required,
            _ => {
                return bad("tool_choice: must be none, auto, required or a named function".into());
            }
        },
        Some(ToolChoiceIn::Named(value)) => {
            if value.get("type").and_then(Value::as_str) != Some("function") {
                return bad("tool_choice.type: must be function".into());
            }
            let Some(name) = value.pointer("/function/name").and_then(Value::as_str) else {
                return bad(
                    "tool_choice.function.name: must name one of the request's tools".into(),
                );
            };
            if !tools.iter().any(|tool| tool.name == name) {
                return bad(format!(
                    "tool_choice: function {name} is not among the request's tools"
                ));
            }
            ToolChoice::Function(name.to_owned())
        }
    };
    if tools.is_empty() {
        return bad("tool_choice: required needs tools; send tools or use auto".into());
    }
    Ok((true, choice))
}

fn validate_tools(tools: Vec<ToolIn>) -> Result<Vec<ToolDefinition>, ApiError> {
    if tools.len() > MAX_TOOLS {
        return bad(format!("tools: at most {MAX_TOOLS} tools"));
    }
    let mut seen = std::collections::HashSet::new();
    tools
        .into_iter()
        .enumerate()
        .map(|(index, tool)| {
            if tool.kind != "function" {
                return bad(format!("tools[{index}].type: must be function"));
            }
            let name = tool.function.name;
            let valid_name = !name.is_empty()
                && name.chars().count() <= MAX_TOOL_NAME_CHARS
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_name {
                return bad(format!(
                    "tools[{index}].function.name: must be 1 to {MAX_TOOL_NAME_CHARS} of a-z, A-Z, 0-9, _ and -"
                ));
            }
            if !seen.insert(name.clone()) {
                return bad(format!("tools[{index}].function.name: {name} is named twice"));
            }
            let parameters = match tool.function.parameters {
                None => serde_json::json!({"type": "object", "properties": {}}),
                Some(Value::Object(schema)) => Value::Object(schema),
                Some(_) => {
                    return bad(format!(
                        "tools[{index}].function.parameters: must be a JSON Schema object"
                    ));
                }
            };
            Ok(ToolDefinition {
                name,
                description: tool.function.description.unwrap_or_default(),
                parameters,
            })
        })
        .collect()
}

impl ChatMessageIn {
    fn into_message(self, index: usize) -> Result<Message, ApiError> {
        let field = |name: &str| format!("messages[{index}].{name}");
        let role = match self.role.as_str() {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            _ => {
                return bad(format!(
                    "{}: must be system, developer, user, assistant or tool",
                    field("role")
                ));
            }
        };
        let content = match self.content {
            None => String::new(),
            Some(ContentIn::Text(text)) => text,
            Some(ContentIn::Parts(parts)) => {
                let mut text = String::new();
                for (part_index, part) in parts.into_iter().enumerate() {
                    match (part.kind.as_str(), part.text) {
                        ("text", Some(piece)) => text.push_str(&piece),
                        _ => {
                            return bad(format!(
                                "{}: only text parts are supported",
                                field(&format!("content[{part_index}]"))
                            ));
                        }
                    }
                }
                text
            }
        };
        let tool_calls = self.tool_calls.unwrap_or_default();
        if role != Role::Assistant && !tool_calls.is_empty() {
            return bad(format!(
                "{}: only assistant messages carry tool calls",
                field("tool_calls")
            ));
        }
        let tool_calls = tool_calls
            .into_iter()
            .enumerate()
            .map(|(call_index, call)| {
                let arguments = serde_json::from_str::<Value>(&call.function.arguments)
                    .ok()
                    .filter(Value::is_object);
                match arguments {
                    Some(arguments) if !call.id.is_empty() && !call.function.name.is_empty() => {
                        Ok(ToolCall {
                            id: call.id,
                            name: call.function.name,
                            arguments,
                        })
                    }
                    Some(_) => bad(format!(
                        "{}: id and function.name must not be empty",
                        field(&format!("tool_calls[{call_index}]"))
                    )),
                    None => bad(format!(
                        "{}: must be a JSON object, as a string",
                        field(&format!("tool_calls[{call_index}].function.arguments"))
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let empty = content.trim().is_empty();
        match role {
            Role::Tool if self.tool_call_id.as_deref().is_none_or(str::is_empty) => bad(format!(
                "{}: required on tool messages",
                field("tool_call_id")
            )),
            Role::Assistant if empty && tool_calls.is_empty() => {
                bad(format!("{}: must not be empty", field("content")))
            }
            Role::System | Role::User if empty => {
                bad(format!("{}: must not be empty", field("content")))
            }
            _ => Ok(Message {
                role,
                content,
                tool_call_id: self.tool_call_id.filter(|_| role == Role::Tool),
                tool_calls,
            }),
        }
    }
}

/// OpenAI's `finish_reason` for Helix's.
pub fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::Other => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatCompletion {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: UsageOut,
    pub system_fingerprint: Option<String>,
    pub helix: HelixOut,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: String,
    pub logprobs: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AssistantMessage {
    pub role: String,
    pub content: Option<String>,
    pub refusal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallOut>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolCallOut {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionCallOut,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionCallOut {
    pub name: String,
    /// JSON, as a string (OpenAI's shape).
    pub arguments: String,
}

impl From<&ToolCall> for ToolCallOut {
    fn from(call: &ToolCall) -> Self {
        ToolCallOut {
            id: call.id.clone(),
            kind: "function".into(),
            function: FunctionCallOut {
                name: call.name.clone(),
                arguments: call.arguments.to_string(),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct UsageOut {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// What Helix adds to OpenAI's answer: what the call cost and the balance after it, and where a
/// stored conversation's answer went.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HelixOut {
    pub cost_micros: i64,
    pub cost_cents: i64,
    pub balance_micros: i64,
    pub balance_cents: i64,
    pub max_tokens: u32,
    pub max_tokens_reduced: bool,
    pub usage_estimated: bool,
    pub trace_id: String,
    pub personality_id: Option<String>,
    /// A stored conversation's call: the conversation (absent for a stateless call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// The stored answer (absent when the conversation was deleted while the call ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Stored messages left out of the call, oldest first, so the input fits the budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_omitted: Option<usize>,
}

impl From<&TurnOutcome> for HelixOut {
    fn from(outcome: &TurnOutcome) -> Self {
        HelixOut {
            cost_micros: outcome.cost_micros,
            cost_cents: outcome.cost_cents,
            balance_micros: outcome.balance_micros,
            balance_cents: outcome.balance_cents,
            max_tokens: outcome.max_tokens,
            max_tokens_reduced: outcome.max_tokens_reduced,
            usage_estimated: outcome.usage_estimated.is_some(),
            trace_id: outcome.trace_id.clone(),
            personality_id: (!outcome.personality_id.is_empty())
                .then(|| outcome.personality_id.clone()),
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

pub fn usage_of(outcome: &TurnOutcome) -> UsageOut {
    UsageOut {
        prompt_tokens: outcome.usage.input_tokens,
        completion_tokens: outcome.usage.output_tokens,
        total_tokens: outcome.usage.input_tokens + outcome.usage.output_tokens,
    }
}

/// `chatcmpl-` and the request's trace id: the same id in the answer, its stream and its replay.
pub fn completion_id(trace_id: &str) -> String {
    format!("chatcmpl-{trace_id}")
}

pub fn model_id(outcome: &TurnOutcome) -> String {
    format!("{}/{}", outcome.provider.as_str(), outcome.model)
}

impl From<&TurnOutcome> for ChatCompletion {
    fn from(outcome: &TurnOutcome) -> Self {
        let tool_calls: Vec<ToolCallOut> =
            outcome.tool_calls.iter().map(ToolCallOut::from).collect();
        ChatCompletion {
            id: completion_id(&outcome.trace_id),
            object: "chat.completion".into(),
            created: chrono::Utc::now().timestamp(),
            model: model_id(outcome),
            choices: vec![Choice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant".into(),
                    content: (!outcome.text.is_empty() || tool_calls.is_empty())
                        .then(|| outcome.text.clone()),
                    refusal: None,
                    tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                },
                finish_reason: finish_reason(outcome.finish_reason).into(),
                logprobs: None,
            }],
            usage: usage_of(outcome),
            system_fingerprint: None,
            helix: HelixOut::from(outcome),
        }
    }
}

/// `GET /v1/models`: OpenAI's list shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelList {
    pub object: String,
    pub data: Vec<ModelOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelOut {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub owned_by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingRequest {
    pub input: EmbeddingInput,
    pub model: String,
    #[serde(default)]
    pub encoding_format: Option<String>,
    #[serde(default)]
    pub dimensions: Option<u32>,
    #[serde(default)]
    pub user: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingList {
    pub object: String,
    pub data: Vec<EmbeddingOut>,
    pub model: String,
    pub usage: EmbeddingUsage,
    pub helix: EmbeddingHelix,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingOut {
    pub object: String,
    pub index: usize,
    /// Floats, or base64 of little-endian f32s with `encoding_format: base64`.
    pub embedding: Value,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct EmbeddingUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct EmbeddingHelix {
    pub cost_micros: i64,
    pub cost_cents: i64,
    pub balance_micros: i64,
    pub balance_cents: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Each includer uses only some of the helpers.
    #[allow(dead_code)]
    mod openapi_schema {
        include!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/support/openapi_schema.rs"
        ));
    }

    fn outcome() -> TurnOutcome {
        TurnOutcome {
            text: "Hello!".into(),
            usage: helix_shared::usage::Usage {
                input_tokens: 12,
                output_tokens: 3,
                cached_input_tokens: 0,
            },
            usage_estimated: None,
            finish_reason: FinishReason::ToolCalls,
            tool_calls: vec![ToolCall {
                id: "call_1".into(),
                name: "clock".into(),
                arguments: json!({"zone": "UTC"}),
            }],
            cost_micros: 15,
            cost_cents: 0,
            balance_micros: 985,
            balance_cents: 0,
            provider: helix_shared::provider::Provider::Local,
            model: "llama3.2".into(),
            personality_id: String::new(),
            trace_id: "1-abc".into(),
            max_tokens: 20,
            max_tokens_reduced: false,
            memory_doc_ids: vec![],
            stop: None,
            conversation: None,
        }
    }

    #[test]
    fn the_openapi_chat_completion_lists_exactly_the_fields_helix_sends() {
        use openapi_schema::{keys, schema, strings};
        let sent = serde_json::to_value(ChatCompletion::from(&outcome())).unwrap();
        let documented = schema("ChatCompletion");
        assert_eq!(keys(&sent), strings(&documented["required"]));
        assert_eq!(keys(&sent), keys(&documented["properties"]));
        assert_eq!(
            keys(&sent["helix"]),
            strings(&schema("ChatHelix")["required"])
        );
        // A stored conversation's fields are documented but sent only for one.
        let saved = TurnOutcome {
            conversation: Some(helix_shared::pipeline::conversation::Saved {
                conversation_id: "c".into(),
                message_id: Some("m".into()),
                history_omitted: 0,
            }),
            ..outcome()
        };
        let saved = serde_json::to_value(ChatCompletion::from(&saved)).unwrap();
        assert_eq!(
            keys(&saved["helix"]),
            keys(&schema("ChatHelix")["properties"])
        );
        assert_eq!(sent["id"], "chatcmpl-1-abc");
        assert_eq!(sent["model"], "local/llama3.2");
        assert_eq!(
            sent["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"zone\":\"UTC\"}"
        );
        assert_eq!(sent["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(sent["usage"]["total_tokens"], 15);
    }

    fn request(body: Value) -> ChatRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn openai_messages_become_helix_messages_with_parsed_tool_arguments() {
        let turn = request(json!({
            "model": "openai/gpt-4o-mini",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "What time "}, {"type": "text", "text": "is it?"}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "clock", "arguments": "{\"zone\":\"UTC\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "12:00"}
            ],
            "max_tokens": 50, "max_completion_tokens": 20, "unknown": true
        }))
        .validate(None)
        .unwrap();
        assert_eq!(turn.messages[0].role, Role::System);
        assert_eq!(turn.messages[1].content, "What time is it?");
        assert_eq!(
            turn.messages[2].tool_calls[0].arguments,
            json!({"zone": "UTC"})
        );
        assert_eq!(turn.messages[3].tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(turn.max_tokens, Some(20));
    }

    #[test]
    fn each_bad_field_is_refused_by_name() {
        let base = || json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let cases: Vec<(Value, &str)> = vec![
            (json!({"model": ""}), "model"),
            (json!({"messages": []}), "messages"),
            (
                json!({"messages": [{"role": "function", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"messages": [{"role": "tool", "content": "x"}]}),
                "messages[0].tool_call_id",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
                "messages[0].content[0]",
            ),
            (
                json!({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "nope"}}]}]}),
                "messages[0].tool_calls[0].function.arguments",
            ),
            (json!({"max_tokens": 0}), "max_tokens"),
            (
                json!({"max_completion_tokens": 40000}),
                "max_completion_tokens",
            ),
            (json!({"temperature": 3.0}), "temperature"),
            (json!({"top_p": 1.5}), "top_p"),
            (json!({"n": 2}), "n"),
            (json!({"tool_choice": "sometimes"}), "tool_choice"),
            (json!({"tool_choice": "required"}), "tool_choice"),
            (
                json!({"tool_choice": {"type": "function", "function": {"name": "clock"}}}),
                "tool_choice",
            ),
            (json!({"stop": ""}), "stop"),
            (json!({"stop": ["a", "b", "c", "d", "e"]}), "stop"),
            (json!({"stop": ["ok", ""]}), "stop"),
            (json!({"stop": "x".repeat(257)}), "stop"),
            (
                json!({"tools": [{"type": "retrieval", "function": {"name": "f"}}]}),
                "tools[0].type",
            ),
            (
                json!({"tools": [{"type": "function", "function": {"name": "a b"}}]}),
                "tools[0].function.name",
            ),
            (
                json!({"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]}),
                "tools[0].function.parameters",
            ),
            (
                json!({"helix": {"personality_id": ""}}),
                "helix.personality_id",
            ),
            (
                json!({"helix": {"conversation_id": "../etc"}}),
                "helix.conversation_id",
            ),
            (
                json!({"helix": {"conversation_id": "abcdefgh1", "save": false}}),
                "helix.save",
            ),
        ];
        for (patch, field) in cases {
            let mut body = base();
            for (key, value) in patch.as_object().unwrap() {
                body[key] = value.clone();
            }
            let error = request(body).validate(None).unwrap_err();
            assert!(
                error.to_string().starts_with(&format!("{field}: ")),
                "{field}: {error}"
            );
        }
    }

    #[test]
    fn tool_choice_none_offers_no_tools_and_the_header_names_a_personality() {
        let turn = request(json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "clock"}}],
            "tool_choice": "none"
        }))
        .validate(Some("helix-assistant".into()))
        .unwrap();
        assert!(turn.tools.is_empty());
        assert!(!turn.offer_tools);
        assert_eq!(turn.personality_id.as_deref(), Some("helix-assistant"));
    }

    #[test]
    fn sampling_stop_sequences_and_a_named_tool_reach_the_turn() {
        let turn = request(json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "clock"}}],
            "tool_choice": {"type": "function", "function": {"name": "clock"}},
            "top_p": 0.5, "stop": "END"
        }))
        .validate(None)
        .unwrap();
        assert_eq!(turn.tool_choice, ToolChoice::Function("clock".into()));
        assert!(turn.offer_tools);
        assert_eq!(turn.top_p, Some(0.5));
        assert_eq!(turn.stop, ["END"]);
        let required = request(json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "clock"}}],
            "tool_choice": "required", "stop": ["a", "b"]
        }))
        .validate(None)
        .unwrap();
        assert_eq!(required.tool_choice, ToolChoice::Required);
        assert_eq!(required.stop, ["a", "b"]);
    }
}
