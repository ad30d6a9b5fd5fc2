//! Anthropic's Messages API: system messages lifted into `system`, tools as `tool_use` /
//! `tool_result` content blocks, `max_tokens` always sent. Wire types are private to this module.

pub mod stream;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use stream::StreamDecoder;

use super::http::{self, ErrorReply};
use super::retry::{CallSite, RetryPolicy, call_with_retries};
use super::settings::DEFAULT_ANTHROPIC_BASE_URL;
use super::{ChunkStream, Engine, EngineError};
use crate::chat::{Completion, CompletionInput, Message, Role, ToolCall, ToolChoice};
use crate::usage::Usage;

pub const ANTHROPIC_VERSION: &str = "2023-06-01";

pub struct AnthropicEngine {
    model: String,
    base_url: String,
    api_key: SecretString,
    default_max_tokens: u32,
    http: reqwest::Client,
    policy: RetryPolicy,
}

impl AnthropicEngine {
    pub fn new(
        model: impl Into<String>,
        api_key: SecretString,
        default_max_tokens: u32,
        client: Option<reqwest::Client>,
    ) -> Self {
        AnthropicEngine {
            model: model.into(),
            base_url: DEFAULT_ANTHROPIC_BASE_URL.into(),
            api_key,
            default_max_tokens,
            http: client.unwrap_or_default(),
            policy: RetryPolicy::default(),
        }
    }

    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    fn site(&self) -> CallSite<'_> {
        CallSite {
            engine: "anthropic",
            provider: "anthropic",
            model: &self.model,
        }
    }

    fn request(&self, body: &MessagesRequest<'_>) -> reqwest::RequestBuilder {
        let url = format!("{}/v1/messages", self.base_url.trim_end_matches('/'));
        self.http
            .post(url)
            .header("x-api-key", self.api_key.expose_secret())
            .header("anthropic-version", ANTHROPIC_VERSION)
            .json(body)
    }

    async fn attempt(&self, body: &MessagesRequest<'_>) -> Result<Completion, EngineError> {
        match http::send_json::<MessagesResponse>(self.request(body)).await? {
            Ok(response) => Ok(Completion::from(response)),
            Err(reply) => Err(classify(reply)),
        }
    }
}

#[async_trait::async_trait]
impl Engine for AnthropicEngine {
    fn id(&self) -> &'static str {
        "anthropic"
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, input: &CompletionInput) -> Result<Completion, EngineError> {
        let body = MessagesRequest::new(&self.model, input, self.default_max_tokens);
        call_with_retries(&self.policy, self.site(), || self.attempt(&body)).await
    }

    async fn stream(&self, input: &CompletionInput) -> Result<Box<dyn ChunkStream>, EngineError> {
        let body = MessagesRequest {
            stream: true,
            ..MessagesRequest::new(&self.model, input, self.default_max_tokens)
        };
        let request = || self.request(&body);
        http::open_sse_stream(
            &self.policy,
            self.site(),
            request,
            classify,
            StreamDecoder::new(),
        )
        .await
    }
}

// ---- wire format -------------------------------------------------------------------------

#[derive(Serialize)]
struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    /// `{"type": "any"}` or `{"type": "tool", "name"}`; left out for `auto` (Anthropic's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    /// A stop sequence ends the answer with `stop_reason: "stop_sequence"`.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

impl<'a> MessagesRequest<'a> {
    fn new(model: &'a str, input: &'a CompletionInput, default_max_tokens: u32) -> Self {
        let system: Vec<&str> = input
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.content.as_str())
            .collect();
        MessagesRequest {
            model,
            max_tokens: input.max_tokens.unwrap_or(default_max_tokens),
            system: (!system.is_empty()).then(|| system.join("\n\n")),
            messages: conversation(&input.messages),
            tools: input
                .tools
                .iter()
                .map(|tool| WireTool {
                    name: &tool.name,
                    description: &tool.description,
                    input_schema: &tool.parameters,
                })
                .collect(),
            tool_choice: tool_choice(input),
            temperature: input.temperature,
            top_p: input.top_p,
            stop_sequences: &input.stop,
            stream: false,
        }
    }
}

fn tool_choice(input: &CompletionInput) -> Option<Value> {
    if input.tools.is_empty() {
        return None;
    }
    match &input.tool_choice {
        ToolChoice::Auto => None,
        ToolChoice::Required => Some(serde_json::json!({"type": "any"})),
        ToolChoice::Function(name) => Some(serde_json::json!({"type": "tool", "name": name})),
    }
}

/// Anthropic wants strictly alternating user/assistant turns: tool results travel as user
/// blocks, and consecutive messages of one role are merged into one turn.
fn conversation(messages: &[Message]) -> Vec<WireMessage<'_>> {
    let mut turns: Vec<WireMessage<'_>> = Vec::new();
    for message in messages.iter().filter(|m| m.role != Role::System) {
        let (role, blocks) = blocks_of(message);
        match turns.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => turns.push(WireMessage {
                role,
                content: blocks,
            }),
        }
    }
    turns
}

fn blocks_of(message: &Message) -> (&'static str, Vec<Block<'_>>) {
    match message.role {
        Role::Tool => (
            "user",
            vec![Block::ToolResult {
                tool_use_id: message.tool_call_id.as_deref().unwrap_or_default(),
                content: &message.content,
            }],
        ),
        Role::Assistant => {
            let text = (!message.content.is_empty()).then(|| Block::Text {
                text: &message.content,
            });
            let calls = message.tool_calls.iter().map(|call| Block::ToolUse {
                id: &call.id,
                name: &call.name,
                input: &call.arguments,
            });
            ("assistant", text.into_iter().chain(calls).collect())
        }
        Role::User | Role::System => (
            "user",
            vec![Block::Text {
                text: &message.content,
            }],
        ),
    }
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: &'a Value,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: &'a str,
    },
}

#[derive(Serialize)]
struct WireTool<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: &'a Value,
}

#[derive(Deserialize)]
struct MessagesResponse {
    content: Vec<ResponseBlock>,
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ResponseBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    /// Thinking and any block types Anthropic adds later carry no answer text.
    #[serde(other)]
    Other,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct WireUsage {
    input_tokens: u64,
    output_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

impl From<&WireUsage> for Usage {
    /// Anthropic counts cache reads and writes apart from `input_tokens`; Helix's input is all of it.
    fn from(usage: &WireUsage) -> Self {
        let cached = usage.cache_read_input_tokens.unwrap_or(0);
        let written = usage.cache_creation_input_tokens.unwrap_or(0);
        Usage {
            input_tokens: usage.input_tokens + cached + written,
            output_tokens: usage.output_tokens,
            cached_input_tokens: cached,
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorObject,
}

#[derive(Deserialize)]
pub(super) struct ErrorObject {
    #[serde(rename = "type")]
    pub(super) kind: String,
    message: String,
}

impl From<MessagesResponse> for Completion {
    fn from(response: MessagesResponse) -> Self {
        let mut text = String::new();
        let mut tool_calls = Vec::new();
        for block in response.content {
            match block {
                ResponseBlock::Text { text: part } => text.push_str(&part),
                ResponseBlock::ToolUse { id, name, input } => tool_calls.push(ToolCall {
                    id,
                    name,
                    arguments: input,
                }),
                ResponseBlock::Other => {}
            }
        }
        Completion {
            text,
            usage: Some(Usage::from(&response.usage)),
            tool_calls,
        }
    }
}

fn classify(reply: ErrorReply) -> EngineError {
    let error = serde_json::from_str::<ErrorBody>(&reply.body)
        .ok()
        .map(|body| body.error);
    if let Some(error) = &error {
        let too_long = error.message.contains("prompt is too long")
            || error.message.contains("context window");
        if error.kind == "invalid_request_error" && too_long {
            return EngineError::ContextLength;
        }
    }
    http::classify(reply, error.map(|e| e.message))
}
