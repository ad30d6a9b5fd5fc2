//! Amazon Bedrock's Converse and ConverseStream APIs through the AWS SDK: region, credentials and
//! endpoint come from aws-config (so tests point it at a local server); tools travel in
//! `toolConfig`. The SDK's own retries are off: Helix's retry policy applies to every provider alike.

pub mod stream;

use std::collections::HashMap;

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::http::HttpResponse;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::ConverseOutput as ConverseResponse;
use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, ContentBlock, ConversationRole, ConverseOutput, InferenceConfiguration,
    Message as WireMessage, SpecificToolChoice, SystemContentBlock, TokenUsage, Tool,
    ToolChoice as WireToolChoice, ToolConfiguration, ToolInputSchema, ToolResultBlock,
    ToolResultContentBlock, ToolSpecification, ToolUseBlock,
};
use aws_smithy_types::{Document, Number};
use serde_json::Value;

use stream::BedrockStream;

use super::retry::{CallSite, RetryPolicy, call_with_retries};
use super::{ChunkStream, Engine, EngineError};
use crate::chat::{Completion, CompletionInput, Message, Role, ToolCall, ToolChoice};
use crate::usage::Usage;

pub struct BedrockEngine {
    model: String,
    client: Client,
    policy: RetryPolicy,
}

impl BedrockEngine {
    /// `sdk` supplies region and credentials; `endpoint` overrides Bedrock's (HELIX_BEDROCK_ENDPOINT).
    pub fn new(
        model: impl Into<String>,
        sdk: &aws_config::SdkConfig,
        endpoint: Option<&str>,
    ) -> Self {
        BedrockEngine {
            model: model.into(),
            client: client(sdk, endpoint),
            policy: RetryPolicy::default(),
        }
    }

    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    fn site(&self) -> CallSite<'_> {
        CallSite {
            engine: "bedrock",
            provider: "bedrock",
            model: &self.model,
        }
    }

    async fn attempt(&self, request: &ConverseRequest) -> Result<Completion, EngineError> {
        let output = self
            .client
            .converse()
            .model_id(&self.model)
            .set_system(request.system.clone())
            .set_messages(Some(request.messages.clone()))
            .set_tool_config(request.tool_config.clone())
            .set_inference_config(request.inference.clone())
            .send()
            .await
            .map_err(classify)?;
        completion_from(output)
    }

    /// One attempt at opening ConverseStream: an error reply is the service refusing before it
    /// generated anything; a 2xx hands back the event stream without reading from it.
    async fn open_stream(&self, request: &ConverseRequest) -> Result<BedrockStream, EngineError> {
        let output = self
            .client
            .converse_stream()
            .model_id(&self.model)
            .set_system(request.system.clone())
            .set_messages(Some(request.messages.clone()))
            .set_tool_config(request.tool_config.clone())
            .set_inference_config(request.inference.clone())
            .send()
            .await
            .map_err(classify)?;
        Ok(BedrockStream::new(output.stream))
    }
}

#[async_trait::async_trait]
impl Engine for BedrockEngine {
    fn id(&self) -> &'static str {
        "bedrock"
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, input: &CompletionInput) -> Result<Completion, EngineError> {
        let request = ConverseRequest::try_from(input)?;
        call_with_retries(&self.policy, self.site(), || self.attempt(&request)).await
    }

    /// Opening is retried like a call; once the stream is open nothing is, since a second
    /// generation would be billed twice.
    async fn stream(&self, input: &CompletionInput) -> Result<Box<dyn ChunkStream>, EngineError> {
        let request = ConverseRequest::try_from(input)?;
        let stream =
            call_with_retries(&self.policy, self.site(), || self.open_stream(&request)).await?;
        Ok(Box::new(stream))
    }
}

/// The Converse request, built once and reused by every attempt.
struct ConverseRequest {
    system: Option<Vec<SystemContentBlock>>,
    messages: Vec<WireMessage>,
    tool_config: Option<ToolConfiguration>,
    inference: Option<InferenceConfiguration>,
}

impl TryFrom<&CompletionInput> for ConverseRequest {
    type Error = EngineError;

    fn try_from(input: &CompletionInput) -> Result<Self, Self::Error> {
        let system: Vec<SystemContentBlock> = input
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| SystemContentBlock::Text(m.content.clone()))
            .collect();
        let sampled = input.max_tokens.is_some()
            || input.temperature.is_some()
            || input.top_p.is_some()
            || !input.stop.is_empty();
        let inference = sampled.then(|| {
            InferenceConfiguration::builder()
                .set_max_tokens(
                    input
                        .max_tokens
                        .map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
                )
                .set_temperature(input.temperature)
                .set_top_p(input.top_p)
                .set_stop_sequences((!input.stop.is_empty()).then(|| input.stop.clone()))
                .build()
        });
        Ok(ConverseRequest {
            system: (!system.is_empty()).then_some(system),
            messages: conversation(&input.messages)?,
            tool_config: tool_config(input)?,
            inference,
        })
    }
}

/// Converse wants alternating user/assistant turns: tool results are user content blocks and
/// consecutive messages of one role merge into one turn.
fn conversation(messages: &[Message]) -> Result<Vec<WireMessage>, EngineError> {
    let mut turns: Vec<(ConversationRole, Vec<ContentBlock>)> = Vec::new();
    for message in messages.iter().filter(|m| m.role != Role::System) {
        let (role, blocks) = blocks_of(message)?;
        match turns.last_mut() {
            Some((last, content)) if *last == role => content.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    turns
        .into_iter()
        .map(|(role, content)| {
            WireMessage::builder()
                .role(role)
                .set_content(Some(content))
                .build()
                .map_err(invalid_request)
        })
        .collect()
}

fn blocks_of(message: &Message) -> Result<(ConversationRole, Vec<ContentBlock>), EngineError> {
    match message.role {
        Role::Tool => {
            let result = ToolResultBlock::builder()
                .tool_use_id(message.tool_call_id.clone().unwrap_or_default())
                .content(ToolResultContentBlock::Text(message.content.clone()))
                .build()
                .map_err(invalid_request)?;
            Ok((
                ConversationRole::User,
                vec![ContentBlock::ToolResult(result)],
            ))
        }
        Role::Assistant => {
            let mut blocks = Vec::new();
            if !message.content.is_empty() {
                blocks.push(ContentBlock::Text(message.content.clone()));
            }
            for call in &message.tool_calls {
                let tool_use = ToolUseBlock::builder()
                    .tool_use_id(&call.id)
                    .name(&call.name)
                    .input(document_from_json(&call.arguments))
                    .build()
                    .map_err(invalid_request)?;
                blocks.push(ContentBlock::ToolUse(tool_use));
            }
            Ok((ConversationRole::Assistant, blocks))
        }
        Role::User | Role::System => Ok((
            ConversationRole::User,
            vec![ContentBlock::Text(message.content.clone())],
        )),
    }
}

fn tool_config(input: &CompletionInput) -> Result<Option<ToolConfiguration>, EngineError> {
    if input.tools.is_empty() {
        return Ok(None);
    }
    let tools = input
        .tools
        .iter()
        .map(|tool| {
            ToolSpecification::builder()
                .name(&tool.name)
                .description(&tool.description)
                .input_schema(ToolInputSchema::Json(document_from_json(&tool.parameters)))
                .build()
                .map(Tool::ToolSpec)
                .map_err(invalid_request)
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Left out for auto, Converse's default.
    let choice = match &input.tool_choice {
        ToolChoice::Auto => None,
        ToolChoice::Required => Some(WireToolChoice::Any(AnyToolChoice::builder().build())),
        ToolChoice::Function(name) => Some(WireToolChoice::Tool(
            SpecificToolChoice::builder()
                .name(name)
                .build()
                .map_err(invalid_request)?,
        )),
    };
    ToolConfiguration::builder()
        .set_tools(Some(tools))
        .set_tool_choice(choice)
        .build()
        .map(Some)
        .map_err(invalid_request)
}

fn invalid_request(error: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidRequest {
        message: error.to_string(),
    }
}

fn completion_from(output: ConverseResponse) -> Result<Completion, EngineError> {
    let Some(ConverseOutput::Message(message)) = output.output() else {
        return Err(EngineError::Malformed {
            detail: "the response has no output message".into(),
        });
    };
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in message.content() {
        match block {
            ContentBlock::Text(part) => text.push_str(part),
            ContentBlock::ToolUse(call) => tool_calls.push(ToolCall {
                id: call.tool_use_id().to_owned(),
                name: call.name().to_owned(),
                arguments: json_from_document(call.input()),
            }),
            _ => {}
        }
    }
    Ok(Completion {
        text,
        usage: output.usage().map(usage_from),
        tool_calls,
    })
}

/// Converse's and ConverseStream's token counts as Helix's usage.
fn usage_from(usage: &TokenUsage) -> Usage {
    let count = |n: i32| u64::try_from(n).unwrap_or(0);
    let cached = usage.cache_read_input_tokens().map_or(0, count);
    Usage {
        // Converse, like Anthropic, reports cache reads apart from `inputTokens`.
        input_tokens: count(usage.input_tokens()) + cached,
        output_tokens: count(usage.output_tokens()),
        cached_input_tokens: cached,
    }
}

/// A Bedrock runtime client without the SDK's own retries (Helix's policy applies to every provider).
pub(crate) fn client(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> Client {
    let mut config = aws_sdk_bedrockruntime::config::Builder::from(sdk)
        .retry_config(aws_config::retry::RetryConfig::disabled());
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    Client::from_conf(config.build())
}

/// Any Bedrock runtime operation's failure (Converse, InvokeModel), by the service's error code.
pub(crate) fn classify<E: ProvideErrorMetadata>(error: SdkError<E, HttpResponse>) -> EngineError {
    match error {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let retry_after = context
                .raw()
                .headers()
                .get("retry-after")
                .and_then(|v| v.trim().parse::<f64>().ok())
                .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok());
            let error = context.into_err();
            classify_service_error(error.code(), error.message(), status, retry_after)
        }
        SdkError::TimeoutError(_) => EngineError::Timeout,
        SdkError::DispatchFailure(failure) if failure.is_timeout() => EngineError::Timeout,
        SdkError::DispatchFailure(failure) => EngineError::Unreachable {
            detail: format!("{failure:?}"),
        },
        SdkError::ResponseError(failure) => EngineError::Malformed {
            detail: format!("{failure:?}"),
        },
        other => EngineError::InvalidRequest {
            message: other.to_string(),
        },
    }
}

fn classify_service_error(
    code: Option<&str>,
    message: Option<&str>,
    status: u16,
    retry_after: Option<std::time::Duration>,
) -> EngineError {
    let message = message.unwrap_or("no message").to_owned();
    match code {
        Some("AccessDeniedException") => EngineError::Auth,
        Some("ThrottlingException") => EngineError::RateLimited { retry_after },
        Some("ValidationException") if is_context_overflow(&message) => EngineError::ContextLength,
        Some("ValidationException" | "ResourceNotFoundException") => {
            EngineError::InvalidRequest { message }
        }
        Some("ModelTimeoutException") => EngineError::Timeout,
        // The model failed while streaming (Bedrock's 424): the provider's fault, not the request's.
        Some("ModelStreamErrorException") => EngineError::Upstream { status },
        _ => match status {
            // A 2xx that the SDK could not read surfaces as an unhandled "service error".
            200..=299 => EngineError::Malformed { detail: message },
            401 | 403 => EngineError::Auth,
            429 => EngineError::RateLimited { retry_after },
            400..=499 => EngineError::InvalidRequest { message },
            _ => EngineError::Upstream { status },
        },
    }
}

fn is_context_overflow(message: &str) -> bool {
    let message = message.to_lowercase();
    message.contains("too long")
        || message.contains("too many input tokens")
        || message.contains("context")
}

fn document_from_json(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Number::PosInt(u),
            (None, Some(i)) => Number::NegInt(i),
            _ => Number::Float(n.as_f64().unwrap_or_default()),
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(document_from_json).collect()),
        Value::Object(map) => Document::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), document_from_json(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn json_from_document(document: &Document) -> Value {
    match document {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => Value::from(*f),
        Document::String(s) => Value::String(s.clone()),
        Document::Array(items) => Value::Array(items.iter().map(json_from_document).collect()),
        Document::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), json_from_document(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_and_documents_convert_both_ways_without_loss() {
        let value = json!({"a": [1, -2, 2.5, "x", true, null], "b": {"c": {}}});
        assert_eq!(json_from_document(&document_from_json(&value)), value);
    }

    #[test]
    fn context_overflow_messages_are_recognised() {
        assert!(is_context_overflow(
            "Input is too long for requested model."
        ));
        assert!(!is_context_overflow(
            "Malformed input request: temperature must be <= 1"
        ));
    }
}
