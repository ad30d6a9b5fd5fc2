//! A conversation as every layer sees it: messages and roles, tools and their calls, what is sent to
//! a model and what comes back. Provider wire formats convert into these and stay private.

use serde::{Deserialize, Serialize};

use crate::usage::Usage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// One message of a conversation. Tool results carry the `tool_call_id` they answer; an
/// assistant message may carry the tool calls it made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            tool_call_id: None,
            tool_calls: Vec::new(),
        }
    }

    pub fn tool_result(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            tool_call_id: Some(tool_call_id.into()),
            ..Message::new(Role::Tool, content)
        }
    }
}

/// A function tool the model may call, described by a JSON schema for its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// A call the model asked for: which tool, with which (JSON object) arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: serde_json::Value,
}

impl ToolCall {
    /// The call with U+0000 removed from its id, name and every string and key of its arguments
    /// (see [`strip_nul`]).
    pub fn without_nul(mut self) -> Self {
        strip_nul(&mut self.id);
        strip_nul(&mut self.name);
        strip_nul_in_json(&mut self.arguments);
        self
    }
}

/// Removes U+0000 from model output. Postgres stores it in neither `text` nor `jsonb`, so an
/// answer holding one could not be kept (a keyed turn's stored answer is charged in the same
/// transaction), and no client needs it.
pub fn strip_nul(text: &mut String) {
    if text.contains('\0') {
        text.retain(|c| c != '\0');
    }
}

fn strip_nul_in_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) => strip_nul(text),
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nul_in_json),
        serde_json::Value::Object(fields) => {
            if fields.keys().any(|key| key.contains('\0')) {
                *fields = std::mem::take(fields)
                    .into_iter()
                    .map(|(mut key, value)| {
                        strip_nul(&mut key);
                        (key, value)
                    })
                    .collect();
            }
            fields.values_mut().for_each(strip_nul_in_json);
        }
        _ => {}
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompletionInput {
    pub messages: Vec<Message>,
    pub tools: Vec<ToolDefinition>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    /// Nucleus sampling; `None` leaves it to the provider.
    pub top_p: Option<f32>,
    /// Text that ends the answer where the model writes it (not included in it).
    pub stop: Vec<String>,
    /// Whether the model must call one of `tools` (ignored when there are none: offering no
    /// tools is how "none" is said).
    pub tool_choice: ToolChoice,
}

/// How the model may use the tools it is offered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides whether to call a tool or to answer.
    #[default]
    Auto,
    /// The model must call at least one tool.
    Required,
    /// The model must call this tool.
    Function(String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Completion {
    pub text: String,
    pub usage: Option<Usage>,
    pub tool_calls: Vec<ToolCall>,
}

/// A piece of an answer as a provider streams it, in order: text as it arrives, each tool call
/// once it is complete, then the usage (when the provider reports it) and the end.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    Text(String),
    ToolCall(ToolCall),
    Usage(Usage),
    Finished(FinishReason),
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A natural end or a stop sequence.
    Stop,
    /// `max_tokens` ran out.
    Length,
    ToolCalls,
    ContentFilter,
    /// Anything else the provider said.
    Other,
}
