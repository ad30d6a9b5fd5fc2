//! The streaming adapters against loopback servers that answer in each provider's real
//! server-sent-events format: a full stream with usage, a stream without a usage chunk, a stream
//! cut mid-answer, an error event mid-stream, tool calls split across chunks, and a refusal
//! before anything was generated.

use std::time::Duration;

use helix_shared::chat::{Chunk, CompletionInput, FinishReason, Message, Role, ToolCall};
use helix_shared::engine::anthropic::AnthropicEngine;
use helix_shared::engine::openai::OpenAiEngine;
use helix_shared::engine::retry::RetryPolicy;
use helix_shared::engine::{ChunkStream, Engine, EngineError};
use helix_shared::usage::Usage;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
        attempt_timeout: Duration::from_secs(5),
        deadline: Duration::from_secs(10),
    }
}

fn input() -> CompletionInput {
    CompletionInput {
        messages: vec![Message::new(Role::User, "Hi")],
        max_tokens: Some(50),
        ..CompletionInput::default()
    }
}

fn openai(server: &MockServer) -> OpenAiEngine {
    OpenAiEngine::new("gpt-4o-mini", None)
        .with_base_url(format!("{}/v1", server.uri()))
        .with_api_key(SecretString::from("sk-test"))
        .with_retry_policy(policy())
}

fn anthropic(server: &MockServer) -> AnthropicEngine {
    AnthropicEngine::new("claude-test", SecretString::from("sk-ant-test"), 1024, None)
        .with_base_url(server.uri())
        .with_retry_policy(policy())
}

/// A `text/event-stream` body of `data:` events (with an `event:` name when given).
fn sse(events: &[(&str, Value)]) -> String {
    events
        .iter()
        .map(|(name, data)| match *name {
            "" => format!("data: {data}\n\n"),
            name => format!("event: {name}\ndata: {data}\n\n"),
        })
        .collect()
}

async fn serve(server: &MockServer, route: &str, body: String) {
    Mock::given(method("POST"))
        .and(path(route))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(body),
        )
        .mount(server)
        .await;
}

/// Every chunk until the end, and the error that ended the stream early, if one did.
async fn drain(mut stream: Box<dyn ChunkStream>) -> (Vec<Chunk>, Option<EngineError>, u64) {
    let mut chunks = Vec::new();
    while let Some(next) = stream.next().await {
        match next {
            Ok(chunk) => chunks.push(chunk),
            Err(error) => return (chunks, Some(error), stream.progress().output_bytes),
        }
    }
    (chunks, None, stream.progress().output_bytes)
}

fn openai_text(text: &str) -> (&'static str, Value) {
    (
        "",
        json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]}),
    )
}

fn openai_finish(reason: &str) -> (&'static str, Value) {
    (
        "",
        json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}),
    )
}

fn openai_usage(input: u64, output: u64) -> (&'static str, Value) {
    (
        "",
        json!({"object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": input, "completion_tokens": output}}),
    )
}

#[tokio::test]
async fn an_openai_stream_yields_its_text_the_finish_and_the_usage_and_asks_for_usage() {
    let server = MockServer::start().await;
    let mut body = sse(&[
        openai_text("Hel"),
        openai_text("lo"),
        openai_finish("stop"),
        openai_usage(12, 2),
    ]);
    body.push_str("data: [DONE]\n\n");
    serve(&server, "/v1/chat/completions", body).await;

    let stream = openai(&server).stream(&input()).await.unwrap();
    let (chunks, error, bytes) = drain(stream).await;

    assert_eq!(error, None);
    assert_eq!(
        chunks,
        [
            Chunk::Text("Hel".into()),
            Chunk::Text("lo".into()),
            Chunk::Finished(FinishReason::Stop),
            Chunk::Usage(Usage {
                input_tokens: 12,
                output_tokens: 2,
                cached_input_tokens: 0
            }),
        ]
    );
    assert_eq!(bytes, 5);
    let sent: Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(sent["stream"], json!(true));
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn an_openai_stream_without_a_usage_chunk_ends_properly_with_no_usage() {
    let server = MockServer::start().await;
    let mut body = sse(&[openai_text("Hi"), openai_finish("length")]);
    body.push_str("data: [DONE]\n\n");
    serve(&server, "/v1/chat/completions", body).await;

    let stream = openai(&server).stream(&input()).await.unwrap();
    let (chunks, error, _) = drain(stream).await;

    assert_eq!(error, None);
    assert!(!chunks.iter().any(|c| matches!(c, Chunk::Usage(_))));
    assert_eq!(chunks.last(), Some(&Chunk::Finished(FinishReason::Length)));
}

#[tokio::test]
async fn a_stream_cut_mid_answer_is_a_stream_cut_after_the_text_that_came() {
    let server = MockServer::start().await;
    // No finish, no [DONE]: the body just ends.
    serve(
        &server,
        "/v1/chat/completions",
        sse(&[openai_text("Once upon")]),
    )
    .await;

    let stream = openai(&server).stream(&input()).await.unwrap();
    let (chunks, error, bytes) = drain(stream).await;

    assert_eq!(chunks, [Chunk::Text("Once upon".into())]);
    assert_eq!(error, Some(EngineError::StreamCut));
    assert_eq!(
        bytes, 9,
        "what was generated stays countable for the charge"
    );
}

#[tokio::test]
async fn an_error_object_mid_stream_ends_it_with_the_provider_failure() {
    let server = MockServer::start().await;
    let body = sse(&[
        openai_text("Par"),
        (
            "",
            json!({"error": {"message": "The server had an error", "type": "server_error", "code": null}}),
        ),
    ]);
    serve(&server, "/v1/chat/completions", body).await;

    let (chunks, error, _) = drain(openai(&server).stream(&input()).await.unwrap()).await;

    assert_eq!(chunks, [Chunk::Text("Par".into())]);
    assert_eq!(error, Some(EngineError::Upstream { status: 500 }));
}

#[tokio::test]
async fn openai_tool_calls_split_across_chunks_arrive_whole() {
    let server = MockServer::start().await;
    let fragment = |delta: Value| {
        (
            "",
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [delta]}}]}),
        )
    };
    let mut body = sse(&[
        fragment(
            json!({"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\""}}),
        ),
        fragment(json!({"index": 0, "function": {"arguments": ": \"UTC\"}"}})),
        openai_finish("tool_calls"),
        openai_usage(20, 9),
    ]);
    body.push_str("data: [DONE]\n\n");
    serve(&server, "/v1/chat/completions", body).await;

    let (chunks, error, _) = drain(openai(&server).stream(&input()).await.unwrap()).await;

    assert_eq!(error, None);
    assert_eq!(
        chunks[0],
        Chunk::ToolCall(ToolCall {
            id: "call_1".into(),
            name: "get_time".into(),
            arguments: json!({"tz": "UTC"}),
        })
    );
    assert_eq!(chunks[1], Chunk::Finished(FinishReason::ToolCalls));
}

#[tokio::test]
async fn a_refusal_before_the_stream_opens_is_an_error_from_stream_itself() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"message": "Incorrect API key", "type": "invalid_request_error", "code": "invalid_api_key"}}),
        ))
        .mount(&server)
        .await;

    let error = openai(&server).stream(&input()).await.err();

    assert_eq!(error, Some(EngineError::Auth));
}

fn anthropic_events(text: &[&str], stop: bool) -> String {
    let mut events = vec![
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "claude-test", "usage": {"input_tokens": 14, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        ("ping", json!({"type": "ping"})),
    ];
    for part in text {
        events.push((
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": part}}),
        ));
    }
    if stop {
        events.extend([
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            (
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 4}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ]);
    }
    sse(&events)
}

#[tokio::test]
async fn an_anthropic_stream_yields_its_text_then_the_usage_and_the_stop() {
    let server = MockServer::start().await;
    serve(
        &server,
        "/v1/messages",
        anthropic_events(&["Bon", "jour"], true),
    )
    .await;

    let (chunks, error, _) = drain(anthropic(&server).stream(&input()).await.unwrap()).await;

    assert_eq!(error, None);
    assert_eq!(
        chunks,
        [
            Chunk::Text("Bon".into()),
            Chunk::Text("jour".into()),
            Chunk::Usage(Usage {
                input_tokens: 14,
                output_tokens: 4,
                cached_input_tokens: 0
            }),
            Chunk::Finished(FinishReason::Stop),
        ]
    );
    let sent: Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(sent["stream"], json!(true));
}

#[tokio::test]
async fn a_cut_anthropic_stream_still_reports_its_input_usage_and_the_bytes_generated() {
    let server = MockServer::start().await;
    serve(&server, "/v1/messages", anthropic_events(&["abc"], false)).await;

    let mut stream = anthropic(&server).stream(&input()).await.unwrap();
    let mut error = None;
    while let Some(next) = stream.next().await {
        if let Err(e) = next {
            error = Some(e);
            break;
        }
    }

    assert_eq!(error, Some(EngineError::StreamCut));
    let progress = stream.progress();
    assert_eq!(progress.output_bytes, 3);
    assert_eq!(progress.usage.map(|u| u.input_tokens), Some(14));
}

#[tokio::test]
async fn an_anthropic_error_event_mid_stream_ends_it_with_the_provider_failure() {
    let server = MockServer::start().await;
    let mut body = anthropic_events(&["Hi"], false);
    body.push_str(&sse(&[(
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    )]));
    serve(&server, "/v1/messages", body).await;

    let (chunks, error, _) = drain(anthropic(&server).stream(&input()).await.unwrap()).await;

    assert_eq!(chunks, [Chunk::Text("Hi".into())]);
    assert_eq!(error, Some(EngineError::Upstream { status: 529 }));
}

#[tokio::test]
async fn anthropic_tool_input_split_across_deltas_arrives_whole() {
    let server = MockServer::start().await;
    let body = sse(&[
        (
            "message_start",
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 30, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_9", "name": "get_time", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"tz\": "}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "\"UTC\"}"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 11}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ]);
    serve(&server, "/v1/messages", body).await;

    let (chunks, error, _) = drain(anthropic(&server).stream(&input()).await.unwrap()).await;

    assert_eq!(error, None);
    assert_eq!(
        chunks[0],
        Chunk::ToolCall(ToolCall {
            id: "toolu_9".into(),
            name: "get_time".into(),
            arguments: json!({"tz": "UTC"}),
        })
    );
    assert_eq!(
        chunks.last(),
        Some(&Chunk::Finished(FinishReason::ToolCalls))
    );
}
