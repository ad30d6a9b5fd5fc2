//! Engines: one trait every model provider implements, the shared request/response types, and
//! the typed errors they map into. Provider wire formats stay private to each adapter module.
//! `local` is any OpenAI-compatible server ([`openai::OpenAiEngine::local`]) or, with none
//! configured, a GGUF model run in-process (`llama`, behind the `local-llm` feature).

pub mod anthropic;
pub mod bedrock;
pub(crate) mod http;
#[cfg(feature = "local-llm")]
pub mod llama;
pub mod openai;
pub mod registry;
pub mod retry;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use registry::EngineRegistry;

/// The model providers Helix talks to. `local` is any OpenAI-compatible server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    OpenAi,
    Anthropic,
    Bedrock,
    Local,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::OpenAi,
        Provider::Anthropic,
        Provider::Bedrock,
        Provider::Local,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Bedrock => "bedrock",
            Provider::Local => "local",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Provider::ALL.into_iter().find(|p| p.as_str() == raw)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompletionInput {
    pub messages: Vec<Message>,
    pub tools: Vec<ToolDefinition>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

/// Token counts as the provider reports them. `cached_input_tokens` is the part of
/// `input_tokens` served from the provider's prompt cache (priced lower).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cached_input_tokens: u64,
}

impl From<Usage> for crate::pricing::TokenCounts {
    fn from(usage: Usage) -> Self {
        crate::pricing::TokenCounts {
            input_tokens: usage.input_tokens,
            cached_input_tokens: usage.cached_input_tokens,
            output_tokens: usage.output_tokens,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Completion {
    pub text: String,
    pub usage: Option<Usage>,
    pub tool_calls: Vec<ToolCall>,
}

/// A model behind a provider. Implementations are cheap to share (`Arc<dyn Engine>`).
#[async_trait::async_trait]
pub trait Engine: Send + Sync {
    /// The provider id (`openai`, `anthropic`, `bedrock`, `local`).
    fn id(&self) -> &'static str;
    fn model(&self) -> &str;
    async fn complete(&self, input: &CompletionInput) -> Result<Completion, EngineError>;
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    #[error("the provider rejected Helix's credentials")]
    Auth,
    #[error("the provider is rate limiting requests")]
    RateLimited { retry_after: Option<Duration> },
    #[error("the provider rejected the request: {message}")]
    InvalidRequest { message: String },
    #[error("the conversation is longer than the model's context window")]
    ContextLength,
    #[error("the provider failed with HTTP {status}")]
    Upstream { status: u16 },
    #[error("the provider did not answer in time")]
    Timeout,
    #[error("the provider's response could not be understood: {detail}")]
    Malformed { detail: String },
    #[error("the provider could not be reached: {detail}")]
    Unreachable { detail: String },
    #[error("provider {provider} is not configured (no API key)")]
    NotConfigured { provider: &'static str },
    /// The in-process model cannot run here: no model file, or a build without it.
    #[error("the local model is not available: {reason}")]
    LocalModelUnavailable { reason: String },
    #[error("the local model failed: {reason}")]
    LocalModelFailed { reason: String },
    #[error("the local engine serves model {served}, not {requested}")]
    ModelNotServed { requested: String, served: String },
}

impl EngineError {
    /// 429s, 5xx, timeouts and connection failures may succeed on another attempt; nothing else will.
    pub fn is_retryable(&self) -> bool {
        match self {
            EngineError::RateLimited { .. }
            | EngineError::Timeout
            | EngineError::Unreachable { .. } => true,
            EngineError::Upstream { status } => *status >= 500,
            _ => false,
        }
    }
}

impl From<EngineError> for crate::ApiError {
    /// A provider's auth failure is Helix's misconfiguration, not the caller's: it is a 502, so the
    /// web app does not mistake it for an expired session (which is what a 401 means to it).
    fn from(error: EngineError) -> Self {
        use crate::ApiError;
        let message = error.to_string();
        match error {
            EngineError::Auth => ApiError::BadGateway {
                code: "provider_auth_failed",
                message,
            },
            EngineError::RateLimited { retry_after } => ApiError::TooManyRequests {
                code: "provider_rate_limited",
                message,
                retry_after_secs: retry_after.map_or(1, |d| d.as_secs().max(1)),
            },
            EngineError::InvalidRequest { .. } => ApiError::BadRequest {
                code: "provider_rejected_request",
                message,
            },
            EngineError::ContextLength => ApiError::BadRequest {
                code: "context_length_exceeded",
                message,
            },
            EngineError::Upstream { .. } => ApiError::BadGateway {
                code: "provider_error",
                message,
            },
            EngineError::Malformed { .. } => ApiError::BadGateway {
                code: "provider_malformed_response",
                message: "the provider's response could not be understood".into(),
            },
            EngineError::Unreachable { .. } => ApiError::BadGateway {
                code: "provider_unreachable",
                message: "the provider could not be reached".into(),
            },
            EngineError::Timeout => ApiError::GatewayTimeout {
                code: "provider_timeout",
                message,
            },
            EngineError::NotConfigured { .. } => ApiError::Unavailable {
                code: "provider_not_configured",
                message,
            },
            EngineError::LocalModelUnavailable { .. } => ApiError::Unavailable {
                code: "local_model_unavailable",
                message,
            },
            EngineError::ModelNotServed { .. } => ApiError::BadRequest {
                code: "model_not_available",
                message,
            },
            EngineError::LocalModelFailed { .. } => ApiError::Internal(Box::new(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiError;
    use axum::http::StatusCode;

    #[test]
    fn providers_round_trip_through_their_ids() {
        for provider in Provider::ALL {
            assert_eq!(Provider::parse(provider.as_str()), Some(provider));
        }
        assert_eq!(Provider::parse("acme"), None);
    }

    #[test]
    fn engine_errors_map_to_clear_http_answers() {
        let cases = [
            (
                EngineError::Auth,
                StatusCode::BAD_GATEWAY,
                "provider_auth_failed",
            ),
            (
                EngineError::RateLimited {
                    retry_after: Some(Duration::from_secs(7)),
                },
                StatusCode::TOO_MANY_REQUESTS,
                "provider_rate_limited",
            ),
            (
                EngineError::InvalidRequest {
                    message: "bad".into(),
                },
                StatusCode::BAD_REQUEST,
                "provider_rejected_request",
            ),
            (
                EngineError::ContextLength,
                StatusCode::BAD_REQUEST,
                "context_length_exceeded",
            ),
            (
                EngineError::Upstream { status: 500 },
                StatusCode::BAD_GATEWAY,
                "provider_error",
            ),
            (
                EngineError::Timeout,
                StatusCode::GATEWAY_TIMEOUT,
                "provider_timeout",
            ),
            (
                EngineError::Malformed { detail: "x".into() },
                StatusCode::BAD_GATEWAY,
                "provider_malformed_response",
            ),
            (
                EngineError::Unreachable { detail: "x".into() },
                StatusCode::BAD_GATEWAY,
                "provider_unreachable",
            ),
            (
                EngineError::NotConfigured { provider: "openai" },
                StatusCode::SERVICE_UNAVAILABLE,
                "provider_not_configured",
            ),
            (
                EngineError::LocalModelUnavailable { reason: "x".into() },
                StatusCode::SERVICE_UNAVAILABLE,
                "local_model_unavailable",
            ),
            (
                EngineError::ModelNotServed {
                    requested: "a".into(),
                    served: "b".into(),
                },
                StatusCode::BAD_REQUEST,
                "model_not_available",
            ),
            (
                EngineError::LocalModelFailed { reason: "x".into() },
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
            ),
        ];
        for (error, status, code) in cases {
            let api = ApiError::from(error);
            assert_eq!((api.status(), api.code()), (status, code));
        }
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        assert!(EngineError::RateLimited { retry_after: None }.is_retryable());
        assert!(EngineError::Upstream { status: 503 }.is_retryable());
        assert!(EngineError::Timeout.is_retryable());
        assert!(
            EngineError::Unreachable {
                detail: String::new()
            }
            .is_retryable()
        );
        assert!(!EngineError::Upstream { status: 404 }.is_retryable());
        assert!(!EngineError::Auth.is_retryable());
        assert!(
            !EngineError::InvalidRequest {
                message: String::new()
            }
            .is_retryable()
        );
        assert!(!EngineError::ContextLength.is_retryable());
    }
}
