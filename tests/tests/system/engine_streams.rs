//! The streaming adapters against loopback servers that answer in each provider's real wire
//! format (server-sent events; Bedrock's binary event stream through the real AWS SDK): a full
//! stream with usage, a stream without a usage chunk, a stream cut mid-answer, an error event
//! mid-stream, tool calls split across chunks, and a refusal before anything was generated.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use helix_shared::chat::{Chunk, CompletionInput, FinishReason, Message, Role, ToolCall};
use helix_shared::engine::anthropic::AnthropicEngine;
use helix_shared::engine::bedrock::BedrockEngine;
use helix_shared::engine::openai::OpenAiEngine;
use helix_shared::engine::retry::RetryPolicy;
use helix_shared::engine::{ChunkStream, Engine, EngineError};
use helix_shared::usage::Usage;
use helix_tests::{EVENT_STREAM, bedrock_event, bedrock_exception, fake_aws_config};
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
async fn an_anthropic_stream_ended_by_a_stop_sequence_finishes_as_stop_and_was_asked_for_it() {
    let server = MockServer::start().await;
    let body = anthropic_events(&["Bon"], true).replace(
        r#"{"stop_reason":"end_turn","stop_sequence":null}"#,
        r#"{"stop_reason":"stop_sequence","stop_sequence":"END"}"#,
    );
    assert!(body.contains("\"stop_sequence\":\"END\""));
    serve(&server, "/v1/messages", body).await;
    let input = CompletionInput {
        stop: vec!["END".into()],
        top_p: Some(0.5),
        ..input()
    };

    let (chunks, error, _) = drain(anthropic(&server).stream(&input).await.unwrap()).await;

    assert_eq!(error, None);
    assert_eq!(chunks.last(), Some(&Chunk::Finished(FinishReason::Stop)));
    let sent: Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(sent["stop_sequences"], json!(["END"]));
    assert_eq!(sent["top_p"], json!(0.5));
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

// ---- Bedrock ConverseStream --------------------------------------------------------------

const BEDROCK_MODEL: &str = "anthropic.claude-test";
const CONVERSE_STREAM: &str = "/model/anthropic.claude-test/converse-stream";

async fn bedrock(server: &MockServer) -> BedrockEngine {
    bedrock_at(&server.uri()).await
}

async fn bedrock_at(endpoint: &str) -> BedrockEngine {
    let sdk = fake_aws_config(None).await;
    BedrockEngine::new(BEDROCK_MODEL, &sdk, Some(endpoint)).with_retry_policy(policy())
}

/// A ConverseStream answer: 200 with the frames as its body.
fn event_stream(frames: &[Vec<u8>]) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(frames.concat(), EVENT_STREAM)
}

/// Bedrock's error reply before a stream opens: the kind in `x-amzn-errortype`, a message body.
fn bedrock_refusal(status: u16, kind: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header(
            "x-amzn-errortype",
            format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        )
        .set_body_json(json!({ "message": message }))
}

async fn bedrock_answers(server: &MockServer, responses: Vec<ResponseTemplate>) {
    for response in responses {
        Mock::given(method("POST"))
            .and(path(CONVERSE_STREAM))
            .respond_with(response)
            .up_to_n_times(1)
            .mount(server)
            .await;
    }
}

// Bedrock pads its events with a random `p` field so their sizes say nothing about the text.
fn message_start() -> Vec<u8> {
    bedrock_event(
        "messageStart",
        json!({"role": "assistant", "p": "abcdefgh"}),
    )
}

fn text_delta(text: &str) -> Vec<u8> {
    bedrock_event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"text": text}, "p": "abcd"}),
    )
}

fn block_stop(index: u32) -> Vec<u8> {
    bedrock_event("contentBlockStop", json!({"contentBlockIndex": index}))
}

fn message_stop(reason: &str) -> Vec<u8> {
    bedrock_event("messageStop", json!({"stopReason": reason, "p": "ab"}))
}

fn metadata(input: u64, output: u64) -> Vec<u8> {
    bedrock_event(
        "metadata",
        json!({"usage": {"inputTokens": input, "outputTokens": output, "totalTokens": input + output}, "metrics": {"latencyMs": 312}}),
    )
}

#[tokio::test]
async fn a_bedrock_stream_yields_its_text_then_the_usage_and_the_stop_from_a_signed_request() {
    let server = MockServer::start().await;
    let frames = [
        message_start(),
        text_delta("Hel"),
        text_delta("lo"),
        block_stop(0),
        message_stop("end_turn"),
        metadata(12, 2),
    ];
    bedrock_answers(&server, vec![event_stream(&frames)]).await;

    let stream = bedrock(&server).await.stream(&input()).await.unwrap();
    let (chunks, error, bytes) = drain(stream).await;

    assert_eq!(error, None);
    assert_eq!(
        chunks,
        [
            Chunk::Text("Hel".into()),
            Chunk::Text("lo".into()),
            Chunk::Usage(Usage {
                input_tokens: 12,
                output_tokens: 2,
                cached_input_tokens: 0
            }),
            Chunk::Finished(FinishReason::Stop),
        ]
    );
    assert_eq!(bytes, 5);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let authorization = requests[0].headers["authorization"].to_str().unwrap();
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
            && authorization.contains("/us-east-1/bedrock/aws4_request"),
        "{authorization}"
    );
    let sent: Value = requests[0].body_json().unwrap();
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": [{"text": "Hi"}]}])
    );
    assert_eq!(sent["inferenceConfig"], json!({"maxTokens": 50}));
}

#[tokio::test]
async fn a_bedrock_stream_ended_by_a_stop_sequence_finishes_as_stop_and_was_asked_for_it() {
    let server = MockServer::start().await;
    let frames = [
        message_start(),
        text_delta("Hel"),
        block_stop(0),
        message_stop("stop_sequence"),
        metadata(12, 2),
    ];
    bedrock_answers(&server, vec![event_stream(&frames)]).await;
    let input = CompletionInput {
        stop: vec!["END".into()],
        top_p: Some(0.5),
        ..input()
    };

    let (chunks, error, _) = drain(bedrock(&server).await.stream(&input).await.unwrap()).await;

    assert_eq!(error, None);
    assert_eq!(chunks.last(), Some(&Chunk::Finished(FinishReason::Stop)));
    let sent: Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(
        sent["inferenceConfig"],
        json!({"maxTokens": 50, "topP": 0.5, "stopSequences": ["END"]})
    );
}

#[tokio::test]
async fn an_openai_stream_sends_top_p_stop_and_tool_choice() {
    let server = MockServer::start().await;
    let mut body = sse(&[openai_text("Hi"), openai_finish("stop")]);
    body.push_str("data: [DONE]\n\n");
    serve(&server, "/v1/chat/completions", body).await;
    let input = CompletionInput {
        stop: vec!["END".into()],
        top_p: Some(0.5),
        tools: vec![helix_shared::chat::ToolDefinition {
            name: "clock".into(),
            description: "The time".into(),
            parameters: json!({"type": "object", "properties": {}}),
        }],
        tool_choice: helix_shared::chat::ToolChoice::Required,
        ..input()
    };

    let (chunks, error, _) = drain(openai(&server).stream(&input).await.unwrap()).await;

    assert_eq!(error, None);
    assert_eq!(chunks.last(), Some(&Chunk::Finished(FinishReason::Stop)));
    let sent: Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(sent["stop"], json!(["END"]));
    assert_eq!(sent["top_p"], json!(0.5));
    assert_eq!(sent["tool_choice"], json!("required"));
    assert_eq!(sent["stream"], json!(true));
}

#[tokio::test]
async fn a_bedrock_stream_without_metadata_ends_properly_at_message_stop_with_no_usage() {
    let server = MockServer::start().await;
    let frames = [
        message_start(),
        text_delta("Hi"),
        block_stop(0),
        message_stop("max_tokens"),
    ];
    bedrock_answers(&server, vec![event_stream(&frames)]).await;

    let (chunks, error, _) = drain(bedrock(&server).await.stream(&input()).await.unwrap()).await;

    assert_eq!(error, None);
    assert_eq!(
        chunks,
        [
            Chunk::Text("Hi".into()),
            Chunk::Finished(FinishReason::Length)
        ]
    );
}

#[tokio::test]
async fn a_bedrock_stream_cut_before_message_stop_is_a_stream_cut_after_the_text_that_came() {
    let whole = [message_start(), text_delta("Once upon")];
    // The body ends between frames, or in the middle of the next one.
    let mut torn = whole.concat();
    let next = text_delta(" a time");
    torn.extend_from_slice(&next[..next.len() / 2]);
    for body in [whole.concat(), torn] {
        let server = MockServer::start().await;
        bedrock_answers(
            &server,
            vec![ResponseTemplate::new(200).set_body_raw(body, EVENT_STREAM)],
        )
        .await;

        let (chunks, error, bytes) =
            drain(bedrock(&server).await.stream(&input()).await.unwrap()).await;

        assert_eq!(chunks, [Chunk::Text("Once upon".into())]);
        assert_eq!(error, Some(EngineError::StreamCut));
        assert_eq!(
            bytes, 9,
            "what was generated stays countable for the charge"
        );
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            1,
            "an open stream is never retried"
        );
    }
}

/// A server that answers one request with a chunked 200 carrying `body`, then closes the
/// connection without ending the body, as a provider cut off mid-answer would.
async fn hanging_up_after(body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        read_request(&mut socket).await;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: {EVENT_STREAM}\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n",
            body.len()
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(&body).await.unwrap();
        socket.write_all(b"\r\n").await.unwrap();
        // No last (zero-length) chunk: the socket is dropped here.
    });
    format!("http://{address}")
}

/// Reads one HTTP/1.1 request: the head, then `content-length` bytes of body.
async fn read_request(socket: &mut tokio::net::TcpStream) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = socket.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the client hung up first");
        received.extend_from_slice(&buffer[..read]);
        let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&received[..end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .map_or(0, |value| value.trim().parse().unwrap());
        if received.len() >= end + 4 + length {
            return;
        }
    }
}

#[tokio::test]
async fn a_bedrock_connection_dropped_mid_answer_is_a_stream_cut() {
    let endpoint = hanging_up_after([message_start(), text_delta("Once upon")].concat()).await;

    let (chunks, error, bytes) =
        drain(bedrock_at(&endpoint).await.stream(&input()).await.unwrap()).await;

    assert_eq!(chunks, [Chunk::Text("Once upon".into())]);
    assert_eq!(error, Some(EngineError::StreamCut));
    assert_eq!(bytes, 9);
}

#[tokio::test]
async fn a_bedrock_exception_mid_stream_ends_it_with_the_error_the_same_refusal_would_be() {
    let cases = [
        (
            "internalServerException",
            EngineError::Upstream { status: 500 },
        ),
        (
            "modelStreamErrorException",
            EngineError::Upstream { status: 424 },
        ),
        (
            "serviceUnavailableException",
            EngineError::Upstream { status: 503 },
        ),
        (
            "throttlingException",
            EngineError::RateLimited { retry_after: None },
        ),
        (
            "validationException",
            EngineError::InvalidRequest {
                message: "The model returned an invalid tool use".into(),
            },
        ),
    ];
    for (exception, expected) in cases {
        let server = MockServer::start().await;
        let frames = [
            message_start(),
            text_delta("Par"),
            bedrock_exception(exception, "The model returned an invalid tool use"),
        ];
        bedrock_answers(&server, vec![event_stream(&frames)]).await;

        let (chunks, error, _) =
            drain(bedrock(&server).await.stream(&input()).await.unwrap()).await;

        assert_eq!(chunks, [Chunk::Text("Par".into())], "{exception}");
        assert_eq!(error, Some(expected), "{exception}");
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn bedrock_tool_input_split_across_deltas_arrives_whole() {
    let server = MockServer::start().await;
    let tool_input = |fragment: &str| {
        bedrock_event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": fragment}}}),
        )
    };
    let frames = [
        message_start(),
        text_delta("Checking."),
        block_stop(0),
        bedrock_event(
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_7", "name": "get_time"}}}),
        ),
        tool_input("{\"tz\""),
        tool_input(": \"Europe/"),
        tool_input("Paris\"}"),
        block_stop(1),
        message_stop("tool_use"),
        metadata(30, 17),
    ];
    bedrock_answers(&server, vec![event_stream(&frames)]).await;

    let (chunks, error, bytes) =
        drain(bedrock(&server).await.stream(&input()).await.unwrap()).await;

    assert_eq!(error, None);
    assert_eq!(
        chunks[..2],
        [
            Chunk::Text("Checking.".into()),
            Chunk::ToolCall(ToolCall {
                id: "tooluse_7".into(),
                name: "get_time".into(),
                arguments: json!({"tz": "Europe/Paris"}),
            }),
        ]
    );
    assert_eq!(
        chunks.last(),
        Some(&Chunk::Finished(FinishReason::ToolCalls))
    );
    let arguments = "{\"tz\": \"Europe/Paris\"}".len() as u64;
    assert_eq!(
        bytes,
        "Checking.".len() as u64 + "get_time".len() as u64 + arguments
    );
}

#[tokio::test]
async fn a_bedrock_refusal_before_the_stream_is_an_error_from_stream_and_retried_when_transient() {
    let server = MockServer::start().await;
    let frames = [
        message_start(),
        text_delta("Hi"),
        message_stop("end_turn"),
        metadata(3, 1),
    ];
    bedrock_answers(
        &server,
        vec![
            bedrock_refusal(
                429,
                "ThrottlingException",
                "Too many requests, please wait.",
            )
            .insert_header("retry-after", "0"),
            event_stream(&frames),
        ],
    )
    .await;

    let (chunks, error, _) = drain(bedrock(&server).await.stream(&input()).await.unwrap()).await;

    assert_eq!(error, None);
    assert_eq!(chunks[0], Chunk::Text("Hi".into()));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);

    let refused = MockServer::start().await;
    bedrock_answers(
        &refused,
        vec![bedrock_refusal(
            400,
            "ValidationException",
            "temperature: must be at most 1",
        )],
    )
    .await;

    let error = bedrock(&refused).await.stream(&input()).await.err();

    assert_eq!(
        error,
        Some(EngineError::InvalidRequest {
            message: "temperature: must be at most 1".into()
        })
    );
    assert_eq!(
        refused.received_requests().await.unwrap().len(),
        1,
        "a request the provider rejects is not retried"
    );
}
