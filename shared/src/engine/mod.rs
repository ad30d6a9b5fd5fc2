//! Engines: one trait every model provider implements and the typed errors they map into (the
//! request/response types are the shared vocabulary in `chat`). Provider wire formats stay
//! private to each adapter module.
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
pub mod settings;
pub mod sse;

use std::collections::VecDeque;
use std::time::Duration;

use crate::chat::{Chunk, Completion, CompletionInput, FinishReason, ToolCall};
use crate::usage::Usage;

/// A model behind a provider. Implementations are cheap to share (`Arc<dyn Engine>`).
#[async_trait::async_trait]
pub trait Engine: Send + Sync {
    /// The provider id (`openai`, `anthropic`, `bedrock`, `local`).
    fn id(&self) -> &'static str;
    fn model(&self) -> &str;
    async fn complete(&self, input: &CompletionInput) -> Result<Completion, EngineError>;

    /// The answer as it is generated: what every turn calls. An `Err` here means the provider
    /// refused before generating anything; errors after that come from the stream.
    async fn stream(&self, input: &CompletionInput) -> Result<Box<dyn ChunkStream>, EngineError>;
}

/// A provider's answer as it arrives. Dropping it closes the provider connection, which is how a
/// provider learns to stop generating.
#[async_trait::async_trait]
pub trait ChunkStream: Send {
    /// The next piece of the answer; `None` once the provider ended the stream properly. A stream
    /// that ends any other way yields an error ([`EngineError::StreamCut`] when it just stopped).
    async fn next(&mut self) -> Option<Result<Chunk, EngineError>>;

    /// What was generated so far, for charging a stream that never reached its usage.
    fn progress(&self) -> StreamProgress;
}

/// What a stream knows of its output so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamProgress {
    /// Bytes of text, tool names and tool arguments received.
    pub output_bytes: u64,
    /// The usage the provider reported so far (Anthropic reports the input first).
    pub usage: Option<Usage>,
    /// `usage` counts every token generated so far, with the model's own tokenizer (the
    /// in-process model); otherwise it may lag behind the text received.
    pub usage_is_current: bool,
}

/// A tool call being assembled from a stream's fragments: its id and name, then its JSON
/// arguments piece by piece. Every streaming adapter builds its tool calls with it.
#[derive(Debug, Default)]
pub(crate) struct PartialToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

impl PartialToolCall {
    pub(crate) fn new(id: String, name: String) -> Self {
        PartialToolCall {
            id,
            name,
            arguments: String::new(),
        }
    }

    /// The whole call; arguments that are not JSON are the provider's nonsense (or an answer
    /// cut off by `max_tokens`, which each adapter tells apart). No arguments mean `{}`.
    pub(crate) fn finish(self) -> Result<ToolCall, EngineError> {
        let arguments = if self.arguments.trim().is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_str(&self.arguments).map_err(|e| EngineError::Malformed {
                detail: format!("tool call {} has arguments that are not JSON: {e}", self.id),
            })?
        };
        Ok(ToolCall {
            id: self.id,
            name: self.name,
            arguments,
        })
    }
}

/// A whole completion replayed as a stream: its text, its tool calls, its usage, the end (for
/// fakes and tests of stream readers).
pub struct ReplayedStream {
    chunks: VecDeque<Chunk>,
    progress: StreamProgress,
}

impl ReplayedStream {
    pub fn of(completion: Completion) -> Self {
        let calls: usize = completion
            .tool_calls
            .iter()
            .map(|c| c.name.len() + c.arguments.to_string().len())
            .sum();
        let progress = StreamProgress {
            output_bytes: (completion.text.len() + calls) as u64,
            usage: completion.usage,
            usage_is_current: completion.usage.is_some(),
        };
        let finish = if completion.tool_calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        };
        let mut chunks = VecDeque::new();
        if !completion.text.is_empty() {
            chunks.push_back(Chunk::Text(completion.text));
        }
        chunks.extend(completion.tool_calls.into_iter().map(Chunk::ToolCall));
        chunks.extend(completion.usage.map(Chunk::Usage));
        chunks.push_back(Chunk::Finished(finish));
        ReplayedStream { chunks, progress }
    }
}

#[async_trait::async_trait]
impl ChunkStream for ReplayedStream {
    async fn next(&mut self) -> Option<Result<Chunk, EngineError>> {
        self.chunks.pop_front().map(Ok)
    }

    fn progress(&self) -> StreamProgress {
        self.progress
    }
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
    /// The provider's stream ended before the answer did (a dropped connection, a cut body).
    #[error("the provider's stream ended before the answer was complete")]
    StreamCut,
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
    /// The request asks for something this engine cannot do (`param` names the request field),
    /// refused before anything is sent rather than silently ignored.
    #[error("{param}: {reason}")]
    Unsupported {
        param: &'static str,
        reason: &'static str,
    },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Provider;

    #[test]
    fn providers_round_trip_through_their_ids() {
        for provider in Provider::ALL {
            assert_eq!(Provider::parse(provider.as_str()), Some(provider));
        }
        assert_eq!(Provider::parse("acme"), None);
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
