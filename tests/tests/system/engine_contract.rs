//! One contract, every provider: each adapter is driven against a real HTTP server on loopback
//! that answers in that provider's actual wire format, and the exact request it sent is checked.
//! Bedrock goes through the real AWS SDK pointed at the local server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use helix_shared::chat::{CompletionInput, Message, Role, ToolCall, ToolChoice, ToolDefinition};
use helix_shared::engine::anthropic::AnthropicEngine;
use helix_shared::engine::bedrock::BedrockEngine;
use helix_shared::engine::openai::OpenAiEngine;
use helix_shared::engine::retry::RetryPolicy;
use helix_shared::engine::{Engine, EngineError};
use helix_shared::usage::Usage;
use helix_tests::fake_aws_config;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const MODEL: &str = "test-model";

#[derive(Debug, Clone, Copy)]
enum Provider {
    OpenAi,
    Anthropic,
    Bedrock,
    Local,
}

const PROVIDERS: [Provider; 4] = [
    Provider::OpenAi,
    Provider::Anthropic,
    Provider::Bedrock,
    Provider::Local,
];

fn test_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        attempt_timeout: Duration::from_secs(5),
        deadline: Duration::from_secs(20),
    }
}

impl Provider {
    async fn engine(self, base: &str, policy: RetryPolicy) -> Arc<dyn Engine> {
        match self {
            Provider::OpenAi => Arc::new(
                OpenAiEngine::new(MODEL, None)
                    .with_base_url(format!("{base}/v1"))
                    .with_api_key(SecretString::from("sk-test-key"))
                    .with_retry_policy(policy),
            ),
            Provider::Anthropic => Arc::new(
                AnthropicEngine::new(MODEL, SecretString::from("sk-ant-test-key"), 1024, None)
                    .with_base_url(base)
                    .with_retry_policy(policy),
            ),
            Provider::Bedrock => {
                let sdk = fake_aws_config(None).await;
                Arc::new(BedrockEngine::new(MODEL, &sdk, Some(base)).with_retry_policy(policy))
            }
            Provider::Local => Arc::new(
                OpenAiEngine::local(MODEL, format!("{base}/v1"), None).with_retry_policy(policy),
            ),
        }
    }

    fn path(self) -> String {
        match self {
            Provider::OpenAi | Provider::Local => "/v1/chat/completions".into(),
            Provider::Anthropic => "/v1/messages".into(),
            Provider::Bedrock => format!("/model/{MODEL}/converse"),
        }
    }

    /// A plain answer: "Hello there." with 11 input and 7 output tokens.
    fn text_answer(self) -> Value {
        match self {
            Provider::OpenAi | Provider::Local => json!({
                "id": "chatcmpl-123", "object": "chat.completion", "created": 1_795_000_000, "model": MODEL,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there.", "refusal": null}, "logprobs": null, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18,
                          "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                          "completion_tokens_details": {"reasoning_tokens": 0}},
                "system_fingerprint": "fp_1"
            }),
            Provider::Anthropic => json!({
                "id": "msg_01", "type": "message", "role": "assistant", "model": MODEL,
                "content": [{"type": "text", "text": "Hello there."}],
                "stop_reason": "end_turn", "stop_sequence": null,
                "usage": {"input_tokens": 11, "output_tokens": 7, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
            }),
            Provider::Bedrock => json!({
                "output": {"message": {"role": "assistant", "content": [{"text": "Hello there."}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 11, "outputTokens": 7, "totalTokens": 18},
                "metrics": {"latencyMs": 120}
            }),
        }
    }

    /// The model asks for get_weather(city = Paris).
    fn tool_call_answer(self) -> Value {
        match self {
            Provider::OpenAi | Provider::Local => json!({
                "id": "chatcmpl-124", "object": "chat.completion", "created": 1_795_000_000, "model": MODEL,
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
                    "tool_calls": [{"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
                "usage": {"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52}
            }),
            Provider::Anthropic => json!({
                "id": "msg_02", "type": "message", "role": "assistant", "model": MODEL,
                "content": [
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "call_abc", "name": "get_weather", "input": {"city": "Paris"}}
                ],
                "stop_reason": "tool_use", "stop_sequence": null,
                "usage": {"input_tokens": 40, "output_tokens": 12}
            }),
            Provider::Bedrock => json!({
                "output": {"message": {"role": "assistant", "content": [
                    {"text": "Let me check."},
                    {"toolUse": {"toolUseId": "call_abc", "name": "get_weather", "input": {"city": "Paris"}}}
                ]}},
                "stopReason": "tool_use",
                "usage": {"inputTokens": 40, "outputTokens": 12, "totalTokens": 52},
                "metrics": {"latencyMs": 90}
            }),
        }
    }

    /// The provider's own error object for a status (and, for Bedrock, its error-type header).
    fn error(self, status: u16, kind: ErrorKind) -> ResponseTemplate {
        let message = kind.message();
        let template = ResponseTemplate::new(status);
        match self {
            Provider::OpenAi | Provider::Local => {
                let (kind, code) = match kind {
                    ErrorKind::ContextLength => {
                        ("invalid_request_error", json!("context_length_exceeded"))
                    }
                    ErrorKind::Invalid => ("invalid_request_error", Value::Null),
                    ErrorKind::Auth => ("invalid_request_error", json!("invalid_api_key")),
                    ErrorKind::RateLimit => ("requests", json!("rate_limit_exceeded")),
                    ErrorKind::Server => ("server_error", Value::Null),
                };
                template.set_body_json(json!({"error": {"message": message, "type": kind, "param": null, "code": code}}))
            }
            Provider::Anthropic => {
                let kind = match kind {
                    ErrorKind::ContextLength | ErrorKind::Invalid => "invalid_request_error",
                    ErrorKind::Auth => "authentication_error",
                    ErrorKind::RateLimit => "rate_limit_error",
                    ErrorKind::Server => "api_error",
                };
                template.set_body_json(
                    json!({"type": "error", "error": {"type": kind, "message": message}}),
                )
            }
            Provider::Bedrock => {
                let kind = match kind {
                    ErrorKind::ContextLength | ErrorKind::Invalid => "ValidationException",
                    ErrorKind::Auth => "AccessDeniedException",
                    ErrorKind::RateLimit => "ThrottlingException",
                    ErrorKind::Server => "InternalServerException",
                };
                template
                    .insert_header(
                        "x-amzn-errortype",
                        format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
                    )
                    .set_body_json(json!({"message": message}))
            }
        }
    }

    fn auth_status(self) -> u16 {
        match self {
            Provider::Bedrock => 403,
            _ => 401,
        }
    }

    fn assert_headers(self, request: &Request) {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert!(
            header("content-type")
                .unwrap()
                .starts_with("application/json"),
            "{self:?}"
        );
        match self {
            Provider::OpenAi => assert_eq!(
                header("authorization").as_deref(),
                Some("Bearer sk-test-key")
            ),
            Provider::Local => {
                assert_eq!(header("authorization"), None, "local servers get no key")
            }
            Provider::Anthropic => {
                assert_eq!(header("x-api-key").as_deref(), Some("sk-ant-test-key"));
                assert_eq!(header("anthropic-version").as_deref(), Some("2023-06-01"));
            }
            Provider::Bedrock => {
                let authorization = header("authorization").unwrap();
                assert!(
                    authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/"),
                    "{authorization}"
                );
                assert!(
                    authorization.contains("/us-east-1/bedrock/aws4_request"),
                    "{authorization}"
                );
            }
        }
    }

    /// The exact body the adapter must send for [`standard_input`].
    fn standard_request(self) -> Value {
        let schema = weather_schema();
        match self {
            Provider::OpenAi | Provider::Local => {
                let limit = if matches!(self, Provider::OpenAi) {
                    "max_completion_tokens"
                } else {
                    "max_tokens"
                };
                json!({
                    "model": MODEL,
                    "messages": [
                        {"role": "system", "content": "You are terse."},
                        {"role": "user", "content": "Weather in Paris?"}
                    ],
                    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city", "parameters": schema}}],
                    "temperature": 0.5,
                    limit: 100
                })
            }
            Provider::Anthropic => json!({
                "model": MODEL,
                "max_tokens": 100,
                "system": "You are terse.",
                "messages": [{"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]}],
                "tools": [{"name": "get_weather", "description": "Current weather for a city", "input_schema": schema}],
                "temperature": 0.5
            }),
            Provider::Bedrock => json!({
                "system": [{"text": "You are terse."}],
                "messages": [{"role": "user", "content": [{"text": "Weather in Paris?"}]}],
                "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "description": "Current weather for a city", "inputSchema": {"json": schema}}}]},
                "inferenceConfig": {"maxTokens": 100, "temperature": 0.5}
            }),
        }
    }

    /// The exact messages the adapter must send for [`tool_round_trip_input`].
    fn tool_round_trip_messages(self) -> Value {
        match self {
            Provider::OpenAi | Provider::Local => json!([
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "content": "18°C, sunny", "tool_call_id": "call_abc"}
            ]),
            Provider::Anthropic => json!([
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "call_abc", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_abc", "content": "18°C, sunny"}]}
            ]),
            Provider::Bedrock => json!([
                {"role": "user", "content": [{"text": "Weather in Paris?"}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "call_abc", "name": "get_weather", "input": {"city": "Paris"}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "call_abc", "content": [{"text": "18°C, sunny"}]}}]}
            ]),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum ErrorKind {
    ContextLength,
    Invalid,
    Auth,
    RateLimit,
    Server,
}

impl ErrorKind {
    fn message(self) -> &'static str {
        match self {
            ErrorKind::ContextLength => "prompt is too long: 210000 tokens > 200000 maximum",
            ErrorKind::Invalid => "temperature: must be at most 2",
            ErrorKind::Auth => "invalid x-api-key",
            ErrorKind::RateLimit => "Too many requests, please slow down.",
            ErrorKind::Server => "Internal server error",
        }
    }
}

fn weather_schema() -> Value {
    json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
}

fn standard_input() -> CompletionInput {
    CompletionInput {
        messages: vec![
            Message::new(Role::System, "You are terse."),
            Message::new(Role::User, "Weather in Paris?"),
        ],
        tools: vec![ToolDefinition {
            name: "get_weather".into(),
            description: "Current weather for a city".into(),
            parameters: weather_schema(),
        }],
        temperature: Some(0.5),
        max_tokens: Some(100),
        ..CompletionInput::default()
    }
}

fn tool_round_trip_input() -> CompletionInput {
    let call = ToolCall {
        id: "call_abc".into(),
        name: "get_weather".into(),
        arguments: json!({"city": "Paris"}),
    };
    CompletionInput {
        messages: vec![
            Message::new(Role::User, "Weather in Paris?"),
            Message {
                tool_calls: vec![call],
                ..Message::new(Role::Assistant, "")
            },
            Message::tool_result("call_abc", "18°C, sunny"),
        ],
        ..CompletionInput::default()
    }
}

async fn server_answering(provider: Provider, responses: Vec<ResponseTemplate>) -> MockServer {
    let server = MockServer::start().await;
    for response in responses {
        Mock::given(method("POST"))
            .and(path(provider.path()))
            .respond_with(response)
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    server
}

async fn complete(
    provider: Provider,
    server: &MockServer,
    policy: RetryPolicy,
    input: &CompletionInput,
) -> Result<helix_shared::chat::Completion, EngineError> {
    provider
        .engine(&server.uri(), policy)
        .await
        .complete(input)
        .await
}

fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

#[tokio::test]
async fn a_plain_answer_maps_text_and_usage_from_the_exact_request() {
    for provider in PROVIDERS {
        let server = server_answering(
            provider,
            vec![ResponseTemplate::new(200).set_body_json(provider.text_answer())],
        )
        .await;

        let completion = complete(provider, &server, test_policy(), &standard_input())
            .await
            .unwrap();

        assert_eq!(completion.text, "Hello there.", "{provider:?}");
        assert_eq!(
            completion.usage,
            Some(Usage {
                input_tokens: 11,
                output_tokens: 7,
                cached_input_tokens: 0
            }),
            "{provider:?}"
        );
        assert!(completion.tool_calls.is_empty());
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 1, "{provider:?}");
        assert_eq!(requests[0].url.path(), provider.path());
        provider.assert_headers(&requests[0]);
        assert_eq!(
            body(&requests[0]),
            provider.standard_request(),
            "{provider:?} request body"
        );
    }
}

#[tokio::test]
async fn tool_calls_in_the_answer_are_mapped() {
    for provider in PROVIDERS {
        let server = server_answering(
            provider,
            vec![ResponseTemplate::new(200).set_body_json(provider.tool_call_answer())],
        )
        .await;
        let completion = complete(provider, &server, test_policy(), &standard_input())
            .await
            .unwrap();
        assert_eq!(
            completion.tool_calls,
            vec![ToolCall {
                id: "call_abc".into(),
                name: "get_weather".into(),
                arguments: json!({"city": "Paris"})
            }],
            "{provider:?}"
        );
        assert_eq!(completion.usage.unwrap().output_tokens, 12);
    }
}

#[tokio::test]
async fn tool_calls_and_results_travel_in_each_providers_shape() {
    for provider in PROVIDERS {
        let server = server_answering(
            provider,
            vec![ResponseTemplate::new(200).set_body_json(provider.text_answer())],
        )
        .await;
        complete(provider, &server, test_policy(), &tool_round_trip_input())
            .await
            .unwrap();
        let sent = body(&server.received_requests().await.unwrap()[0]);
        assert_eq!(
            sent["messages"],
            provider.tool_round_trip_messages(),
            "{provider:?}"
        );
    }
}

/// [`standard_input`]'s exact body with `top_p` 0.25, stop sequences `END` and a blank line,
/// and `choice` in the provider's shape.
fn sampled_request(provider: Provider, choice: &ToolChoice) -> Value {
    let mut sent = provider.standard_request();
    let stops = json!(["END", "\n\n"]);
    match provider {
        Provider::OpenAi | Provider::Local => {
            sent["top_p"] = json!(0.25);
            sent["stop"] = stops;
            sent["tool_choice"] = match choice {
                ToolChoice::Auto => unreachable!("auto sends no tool_choice"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Function(name) => {
                    json!({"type": "function", "function": {"name": name}})
                }
            };
        }
        Provider::Anthropic => {
            sent["top_p"] = json!(0.25);
            sent["stop_sequences"] = stops;
            sent["tool_choice"] = match choice {
                ToolChoice::Auto => unreachable!("auto sends no tool_choice"),
                ToolChoice::Required => json!({"type": "any"}),
                ToolChoice::Function(name) => json!({"type": "tool", "name": name}),
            };
        }
        Provider::Bedrock => {
            sent["inferenceConfig"]["topP"] = json!(0.25);
            sent["inferenceConfig"]["stopSequences"] = stops;
            sent["toolConfig"]["toolChoice"] = match choice {
                ToolChoice::Auto => unreachable!("auto sends no toolChoice"),
                ToolChoice::Required => json!({"any": {}}),
                ToolChoice::Function(name) => json!({"tool": {"name": name}}),
            };
        }
    }
    sent
}

#[tokio::test]
async fn top_p_stop_sequences_and_a_forced_tool_travel_in_each_providers_shape() {
    for choice in [
        ToolChoice::Required,
        ToolChoice::Function("get_weather".into()),
    ] {
        for provider in PROVIDERS {
            let server = server_answering(
                provider,
                vec![ResponseTemplate::new(200).set_body_json(provider.tool_call_answer())],
            )
            .await;
            let input = CompletionInput {
                top_p: Some(0.25),
                stop: vec!["END".into(), "\n\n".into()],
                tool_choice: choice.clone(),
                ..standard_input()
            };
            complete(provider, &server, test_policy(), &input)
                .await
                .unwrap();
            assert_eq!(
                body(&server.received_requests().await.unwrap()[0]),
                sampled_request(provider, &choice),
                "{provider:?} {choice:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_tool_choice_without_tools_sends_neither() {
    for provider in PROVIDERS {
        let server = server_answering(
            provider,
            vec![ResponseTemplate::new(200).set_body_json(provider.text_answer())],
        )
        .await;
        let input = CompletionInput {
            tools: Vec::new(),
            tool_choice: ToolChoice::Required,
            ..standard_input()
        };
        complete(provider, &server, test_policy(), &input)
            .await
            .unwrap();
        let sent = body(&server.received_requests().await.unwrap()[0]);
        for field in ["tools", "tool_choice", "toolConfig"] {
            assert!(sent.get(field).is_none(), "{provider:?} sent {field}");
        }
    }
}

#[tokio::test]
async fn the_providers_error_object_becomes_an_invalid_request_and_is_not_retried() {
    for provider in PROVIDERS {
        let server =
            server_answering(provider, vec![provider.error(400, ErrorKind::Invalid)]).await;
        let error = complete(provider, &server, test_policy(), &standard_input())
            .await
            .unwrap_err();
        assert_eq!(
            error,
            EngineError::InvalidRequest {
                message: ErrorKind::Invalid.message().into()
            },
            "{provider:?}"
        );
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            1,
            "{provider:?}"
        );
    }
}

#[tokio::test]
async fn an_overlong_conversation_is_a_context_length_error() {
    for provider in PROVIDERS {
        let server = server_answering(
            provider,
            vec![provider.error(400, ErrorKind::ContextLength)],
        )
        .await;
        let error = complete(provider, &server, test_policy(), &standard_input())
            .await
            .unwrap_err();
        assert_eq!(error, EngineError::ContextLength, "{provider:?}");
    }
}

#[tokio::test]
async fn rejected_credentials_are_an_auth_error_and_are_not_retried() {
    for provider in PROVIDERS {
        let server = server_answering(
            provider,
            vec![provider.error(provider.auth_status(), ErrorKind::Auth)],
        )
        .await;
        let error = complete(provider, &server, test_policy(), &standard_input())
            .await
            .unwrap_err();
        assert_eq!(error, EngineError::Auth, "{provider:?}");
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            1,
            "{provider:?}"
        );
    }
}

#[tokio::test]
async fn rate_limiting_reports_the_providers_retry_after() {
    for provider in PROVIDERS {
        let limited = provider
            .error(429, ErrorKind::RateLimit)
            .insert_header("retry-after", "7");
        let server = server_answering(provider, vec![limited]).await;
        let policy = RetryPolicy {
            max_attempts: 1,
            ..test_policy()
        };
        let error = complete(provider, &server, policy, &standard_input())
            .await
            .unwrap_err();
        assert_eq!(
            error,
            EngineError::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            },
            "{provider:?}"
        );
    }
}

#[tokio::test]
async fn a_rate_limited_call_is_retried_after_the_wait_the_provider_asked_for() {
    for provider in PROVIDERS {
        let limited = provider
            .error(429, ErrorKind::RateLimit)
            .insert_header("retry-after", "1");
        let ok = ResponseTemplate::new(200).set_body_json(provider.text_answer());
        let server = server_answering(provider, vec![limited, ok]).await;
        let started = Instant::now();
        let completion = complete(provider, &server, test_policy(), &standard_input())
            .await
            .unwrap();
        assert_eq!(completion.text, "Hello there.");
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{provider:?} waited {:?}",
            started.elapsed()
        );
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn a_server_error_is_retried_and_then_succeeds() {
    for provider in PROVIDERS {
        let ok = ResponseTemplate::new(200).set_body_json(provider.text_answer());
        let server =
            server_answering(provider, vec![provider.error(500, ErrorKind::Server), ok]).await;
        let completion = complete(provider, &server, test_policy(), &standard_input())
            .await
            .unwrap();
        assert_eq!(completion.text, "Hello there.", "{provider:?}");
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 2, "{provider:?}");
        assert_eq!(
            body(&requests[0]),
            body(&requests[1]),
            "{provider:?}: a retry resends the same request"
        );
    }
}

#[tokio::test]
async fn persistent_server_errors_give_up_after_the_attempt_limit() {
    for provider in PROVIDERS {
        let errors = (0..5)
            .map(|_| provider.error(503, ErrorKind::Server))
            .collect();
        let server = server_answering(provider, errors).await;
        let error = complete(provider, &server, test_policy(), &standard_input())
            .await
            .unwrap_err();
        assert_eq!(error, EngineError::Upstream { status: 503 }, "{provider:?}");
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            3,
            "{provider:?}"
        );
    }
}

#[tokio::test]
async fn a_slow_provider_times_out() {
    for provider in PROVIDERS {
        let slow = ResponseTemplate::new(200)
            .set_body_json(provider.text_answer())
            .set_delay(Duration::from_secs(3));
        let server = server_answering(provider, vec![slow]).await;
        let policy = RetryPolicy {
            max_attempts: 1,
            attempt_timeout: Duration::from_millis(300),
            ..test_policy()
        };
        let error = complete(provider, &server, policy, &standard_input())
            .await
            .unwrap_err();
        assert_eq!(error, EngineError::Timeout, "{provider:?}");
    }
}

#[tokio::test]
async fn a_malformed_body_is_reported_as_malformed() {
    for provider in PROVIDERS {
        let garbage = ResponseTemplate::new(200)
            .insert_header("content-type", "application/json")
            .set_body_string("{\"choices\": [");
        let server = server_answering(provider, vec![garbage]).await;
        let error = complete(provider, &server, test_policy(), &standard_input())
            .await
            .unwrap_err();
        assert!(
            matches!(error, EngineError::Malformed { .. }),
            "{provider:?}: {error:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_provider_is_reported_after_retries() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for provider in PROVIDERS {
        let engine = provider
            .engine(&format!("http://127.0.0.1:{closed_port}"), test_policy())
            .await;
        let error = engine.complete(&standard_input()).await.unwrap_err();
        assert!(
            matches!(error, EngineError::Unreachable { .. }),
            "{provider:?}: {error:?}"
        );
    }
}
