//! OpenAI's Chat Completions API, and any OpenAI-compatible server (Ollama, vLLM, llama.cpp's
//! server, LM Studio) as the `local` provider. Wire types are private to this module.

pub mod stream;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use stream::StreamDecoder;

use super::http::{self, ErrorReply};
use super::retry::{CallSite, RetryPolicy, call_with_retries};
use super::settings::DEFAULT_OPENAI_BASE_URL;
use super::{ChunkStream, Engine, EngineError};
use crate::chat::{Completion, CompletionInput, Message, Role, ToolCall, ToolChoice};
use crate::provider::Provider;
use crate::usage::Usage;

pub struct OpenAiEngine {
    provider: Provider,
    model: String,
    base_url: String,
    api_key: Option<SecretString>,
    http: reqwest::Client,
    policy: RetryPolicy,
}

impl OpenAiEngine {
    /// OpenAI itself, at its public base URL; set the key with [`with_api_key`](Self::with_api_key).
    pub fn new(model: impl Into<String>, client: Option<reqwest::Client>) -> Self {
        OpenAiEngine {
            provider: Provider::OpenAi,
            model: model.into(),
            base_url: DEFAULT_OPENAI_BASE_URL.into(),
            api_key: None,
            http: client.unwrap_or_default(),
            policy: RetryPolicy::default(),
        }
    }

    /// Any OpenAI-compatible server at `base_url`, as the `local` provider; no key needed.
    pub fn local(
        model: impl Into<String>,
        base_url: impl Into<String>,
        client: Option<reqwest::Client>,
    ) -> Self {
        OpenAiEngine {
            provider: Provider::Local,
            base_url: base_url.into(),
            ..OpenAiEngine::new(model, client)
        }
    }

    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    pub fn with_api_key(mut self, api_key: SecretString) -> Self {
        self.api_key = Some(api_key);
        self
    }

    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    fn site(&self) -> CallSite<'_> {
        CallSite {
            engine: self.provider.as_str(),
            provider: self.provider.as_str(),
            model: &self.model,
        }
    }

    fn request(&self, body: &ChatRequest<'_>) -> reqwest::RequestBuilder {
        let url = format!("{}/chat/completions", self.base_url.trim_end_matches('/'));
        let request = self.http.post(url).json(body);
        match &self.api_key {
            Some(key) => request.bearer_auth(key.expose_secret()),
            None => request,
        }
    }

    async fn attempt(&self, body: &ChatRequest<'_>) -> Result<Completion, EngineError> {
        match http::send_json::<ChatResponse>(self.request(body)).await? {
            Ok(response) => Completion::try_from(response),
            Err(reply) => Err(classify(reply)),
        }
    }
}

#[async_trait::async_trait]
impl Engine for OpenAiEngine {
    fn id(&self) -> &'static str {
        self.provider.as_str()
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, input: &CompletionInput) -> Result<Completion, EngineError> {
        let body = ChatRequest::new(&self.model, input, self.provider);
        call_with_retries(&self.policy, self.site(), || self.attempt(&body)).await
    }

    async fn stream(&self, input: &CompletionInput) -> Result<Box<dyn ChunkStream>, EngineError> {
        let body = ChatRequest {
            stream: true,
            stream_options: Some(StreamOptions {
                include_usage: true,
            }),
            ..ChatRequest::new(&self.model, input, self.provider)
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
struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    /// `required` or `{"type": "function", "function": {"name"}}`; left out for `auto`.
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop: &'a [String],
    /// OpenAI's current name; its reasoning models refuse the older `max_tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    /// What OpenAI-compatible servers (Ollama, vLLM, llama.cpp) read.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    /// With `stream`: the usage arrives in a last chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

impl<'a> ChatRequest<'a> {
    fn new(model: &'a str, input: &'a CompletionInput, provider: Provider) -> Self {
        let (max_completion_tokens, max_tokens) = match provider {
            Provider::OpenAi => (input.max_tokens, None),
            _ => (None, input.max_tokens),
        };
        ChatRequest {
            model,
            messages: input.messages.iter().map(WireMessage::from).collect(),
            tools: input
                .tools
                .iter()
                .map(|tool| WireTool {
                    kind: "function",
                    function: WireFunction {
                        name: &tool.name,
                        description: &tool.description,
                        parameters: &tool.parameters,
                    },
                })
                .collect(),
            tool_choice: tool_choice(input),
            temperature: input.temperature,
            top_p: input.top_p,
            stop: &input.stop,
            max_completion_tokens,
            max_tokens,
            stream: false,
            stream_options: None,
        }
    }
}

/// OpenAI's `tool_choice`, sent only when tools are and the model may not simply choose.
fn tool_choice(input: &CompletionInput) -> Option<serde_json::Value> {
    if input.tools.is_empty() {
        return None;
    }
    match &input.tool_choice {
        ToolChoice::Auto => None,
        ToolChoice::Required => Some(serde_json::json!("required")),
        ToolChoice::Function(name) => Some(serde_json::json!({
            "type": "function",
            "function": {"name": name},
        })),
    }
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    /// `null` only for an assistant turn that is nothing but tool calls.
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireToolCallOut<'a>>,
}

impl<'a> From<&'a Message> for WireMessage<'a> {
    fn from(message: &'a Message) -> Self {
        let role = match message.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        };
        let content = match (message.content.is_empty(), message.tool_calls.is_empty()) {
            (true, false) => None,
            _ => Some(message.content.as_str()),
        };
        WireMessage {
            role,
            content,
            tool_call_id: message.tool_call_id.as_deref(),
            tool_calls: message
                .tool_calls
                .iter()
                .map(|call| WireToolCallOut {
                    id: &call.id,
                    kind: "function",
                    function: WireFunctionCallOut {
                        name: &call.name,
                        arguments: call.arguments.to_string(),
                    },
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a serde_json::Value,
}

#[derive(Serialize)]
struct WireToolCallOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunctionCallOut<'a>,
}

#[derive(Serialize)]
struct WireFunctionCallOut<'a> {
    name: &'a str,
    /// OpenAI carries arguments as a JSON document inside a string.
    arguments: String,
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ResponseMessage,
}

#[derive(Deserialize)]
struct ResponseMessage {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCallIn>,
}

#[derive(Deserialize)]
struct WireToolCallIn {
    id: String,
    function: WireFunctionCallIn,
}

#[derive(Deserialize)]
struct WireFunctionCallIn {
    name: String,
    arguments: String,
}

#[derive(Deserialize)]
pub(super) struct WireUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    prompt_tokens_details: Option<PromptTokensDetails>,
}

#[derive(Deserialize)]
struct PromptTokensDetails {
    #[serde(default)]
    cached_tokens: u64,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorObject,
}

#[derive(Deserialize)]
struct ErrorObject {
    message: String,
    code: Option<String>,
}

impl From<WireUsage> for Usage {
    fn from(usage: WireUsage) -> Self {
        Usage {
            input_tokens: usage.prompt_tokens,
            output_tokens: usage.completion_tokens,
            cached_input_tokens: usage.prompt_tokens_details.map_or(0, |d| d.cached_tokens),
        }
    }
}

impl TryFrom<ChatResponse> for Completion {
    type Error = EngineError;

    fn try_from(response: ChatResponse) -> Result<Self, Self::Error> {
        let choice = response
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| EngineError::Malformed {
                detail: "the response has no choices".into(),
            })?;
        let tool_calls = choice
            .message
            .tool_calls
            .into_iter()
            .map(|call| {
                let arguments = serde_json::from_str(&call.function.arguments).map_err(|e| {
                    EngineError::Malformed {
                        detail: format!(
                            "tool call {} has arguments that are not JSON: {e}",
                            call.id
                        ),
                    }
                })?;
                Ok(ToolCall {
                    id: call.id,
                    name: call.function.name,
                    arguments,
                })
            })
            .collect::<Result<_, EngineError>>()?;
        Ok(Completion {
            text: choice.message.content.unwrap_or_default(),
            usage: response.usage.map(Usage::from),
            tool_calls,
        })
    }
}

/// OpenAI's error body names context overflows; the rest is the generic HTTP meaning.
pub(crate) fn classify(reply: ErrorReply) -> EngineError {
    let error = serde_json::from_str::<ErrorBody>(&reply.body)
        .ok()
        .map(|body| body.error);
    if error.as_ref().and_then(|e| e.code.as_deref()) == Some("context_length_exceeded") {
        return EngineError::ContextLength;
    }
    http::classify(reply, error.map(|e| e.message))
}
