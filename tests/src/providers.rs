//! Fake providers that answer in each provider's real wire format, whole or streamed as the
//! request asks (`"stream": true`), the way the real APIs do; and a paced provider that streams
//! over time and can break off, stall, or notice that Helix hung up on it.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::response::Response;
use axum::routing::post;
use futures_util::stream;
use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

/// An OpenAI Chat Completions answer: `text` (in `pieces` when streamed), its tool calls, and
/// its usage (none: a server that does not report it).
#[derive(Debug, Clone)]
pub struct OpenAiReply {
    pub pieces: Vec<String>,
    pub usage: Option<(u64, u64)>,
    pub tool_calls: Value,
}

impl OpenAiReply {
    pub fn text(text: &str, input: u64, output: u64) -> Self {
        OpenAiReply {
            pieces: vec![text.to_owned()],
            usage: Some((input, output)),
            tool_calls: json!([]),
        }
    }

    pub fn with_tool_calls(mut self, tool_calls: Value) -> Self {
        self.tool_calls = tool_calls;
        self
    }

    pub fn in_pieces(mut self, pieces: &[&str]) -> Self {
        self.pieces = pieces.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    pub fn without_usage(mut self) -> Self {
        self.usage = None;
        self
    }

    fn has_tool_calls(&self) -> bool {
        self.tool_calls.as_array().is_some_and(|c| !c.is_empty())
    }

    fn finish_reason(&self) -> &'static str {
        if self.has_tool_calls() {
            "tool_calls"
        } else {
            "stop"
        }
    }

    pub fn whole(&self) -> Value {
        let mut message = json!({"role": "assistant", "content": self.pieces.concat()});
        if self.has_tool_calls() {
            message["tool_calls"] = self.tool_calls.clone();
        }
        let mut answer = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason()}],
        });
        if let Some((input, output)) = self.usage {
            answer["usage"] = openai_usage(input, output);
        }
        answer
    }

    /// The stream's events, `data: [DONE]` included.
    pub fn events(&self) -> Vec<String> {
        let chunk = |delta: Value, finish: Value| {
            json!({
                "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
            })
        };
        let mut events = vec![chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        )];
        events.extend(
            self.pieces
                .iter()
                .map(|piece| chunk(json!({"content": piece}), Value::Null)),
        );
        for (index, call) in self.tool_calls.as_array().into_iter().flatten().enumerate() {
            let arguments = call["function"]["arguments"].as_str().unwrap_or("{}");
            let (head, tail) = arguments.split_at(arguments.len() / 2);
            let start = json!({"index": index, "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": head}});
            let rest = json!({"index": index, "function": {"arguments": tail}});
            events.push(chunk(json!({"tool_calls": [start]}), Value::Null));
            events.push(chunk(json!({"tool_calls": [rest]}), Value::Null));
        }
        events.push(chunk(json!({}), json!(self.finish_reason())));
        if let Some((input, output)) = self.usage {
            events.push(json!({
                "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                "model": "gpt-4o-mini", "choices": [], "usage": openai_usage(input, output)
            }));
        }
        let mut lines: Vec<String> = events.iter().map(|e| format!("data: {e}\n\n")).collect();
        lines.push("data: [DONE]\n\n".to_owned());
        lines
    }
}

fn openai_usage(input: u64, output: u64) -> Value {
    json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output})
}

impl Respond for OpenAiReply {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if wants_stream(request) {
            event_stream(self.events().concat())
        } else {
            ResponseTemplate::new(200).set_body_json(self.whole())
        }
    }
}

/// An Anthropic Messages answer: text, its usage.
#[derive(Debug, Clone)]
pub struct AnthropicReply {
    pub pieces: Vec<String>,
    pub input: u64,
    pub output: u64,
}

impl AnthropicReply {
    pub fn text(text: &str, input: u64, output: u64) -> Self {
        AnthropicReply {
            pieces: vec![text.to_owned()],
            input,
            output,
        }
    }

    pub fn whole(&self) -> Value {
        json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
            "content": [{"type": "text", "text": self.pieces.concat()}], "stop_reason": "end_turn",
            "usage": {"input_tokens": self.input, "output_tokens": self.output}
        })
    }

    pub fn events(&self) -> Vec<String> {
        let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
        let mut events = vec![
            event(
                "message_start",
                json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
                    "role": "assistant", "model": "claude-haiku-4-5", "content": [],
                    "stop_reason": null, "usage": {"input_tokens": self.input, "output_tokens": 1}}}),
            ),
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                    "content_block": {"type": "text", "text": ""}}),
            ),
            event("ping", json!({"type": "ping"})),
        ];
        events.extend(self.pieces.iter().map(|piece| {
            event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": piece}}),
            )
        }));
        events.extend([
            event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            event(
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": self.output}}),
            ),
            event("message_stop", json!({"type": "message_stop"})),
        ]);
        events
    }
}

impl Respond for AnthropicReply {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if wants_stream(request) {
            event_stream(self.events().concat())
        } else {
            ResponseTemplate::new(200).set_body_json(self.whole())
        }
    }
}

fn wants_stream(request: &Request) -> bool {
    serde_json::from_slice::<Value>(&request.body).is_ok_and(|body| body["stream"] == true)
}

fn event_stream(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/event-stream")
        .set_body_string(body)
}

/// How a paced stream ends after its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Properly: the events were the whole answer.
    Complete,
    /// The connection breaks (the body fails mid-answer).
    Cut,
    /// Nothing more ever comes.
    Stall,
}

/// A provider on a real socket that sends its stream's events one at a time, `pause` apart, at
/// `POST {uri}/v1/chat/completions` and `POST {uri}/v1/messages`, and records how many it sent
/// and whether Helix hung up before the end.
pub struct PacedProvider {
    pub uri: String,
    sent: Arc<AtomicUsize>,
    hung_up: Arc<AtomicBool>,
}

impl PacedProvider {
    pub async fn start(events: Vec<String>, pause: Duration, ending: Ending) -> Self {
        let sent = Arc::new(AtomicUsize::new(0));
        let hung_up = Arc::new(AtomicBool::new(false));
        let script = Arc::new(Script {
            events,
            pause,
            ending,
            sent: sent.clone(),
            hung_up: hung_up.clone(),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(paced))
            .route("/v1/messages", post(paced))
            .with_state(script);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        PacedProvider { uri, sent, hung_up }
    }

    /// Events written to the socket so far.
    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    /// Helix closed the connection before the stream's end.
    pub fn hung_up(&self) -> bool {
        self.hung_up.load(Ordering::SeqCst)
    }
}

struct Script {
    events: Vec<String>,
    pause: Duration,
    ending: Ending,
    sent: Arc<AtomicUsize>,
    hung_up: Arc<AtomicBool>,
}

/// Marks the stream as hung up on if the server drops its body before the end (a stalled stream
/// only ends that way).
struct Watch {
    script: Arc<Script>,
    next: usize,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.next < self.script.events.len() || self.script.ending == Ending::Stall {
            self.script.hung_up.store(true, Ordering::SeqCst);
        }
    }
}

async fn paced(axum::extract::State(script): axum::extract::State<Arc<Script>>) -> Response {
    let watch = Watch { script, next: 0 };
    let body = stream::unfold(watch, |mut watch| async move {
        let script = watch.script.clone();
        if watch.next < script.events.len() {
            if watch.next > 0 {
                tokio::time::sleep(script.pause).await;
            }
            let event = Bytes::from(script.events[watch.next].clone());
            watch.next += 1;
            script.sent.fetch_add(1, Ordering::SeqCst);
            return Some((Ok::<Bytes, std::io::Error>(event), watch));
        }
        match script.ending {
            Ending::Complete => None,
            Ending::Cut => {
                // Let what was written reach Helix before the connection breaks.
                tokio::time::sleep(script.pause).await;
                Some((Err(std::io::Error::other("cut")), watch))
            }
            Ending::Stall => {
                std::future::pending::<Infallible>().await;
                None
            }
        }
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap()
}

/// A Bedrock answer: Converse's JSON at `/model/{id}/converse`, ConverseStream's binary event
/// stream at `/model/{id}/converse-stream`, the way Bedrock answers each.
#[derive(Debug, Clone)]
pub struct BedrockReply {
    pub pieces: Vec<String>,
    pub input: u64,
    pub output: u64,
}

impl BedrockReply {
    pub fn text(text: &str, input: u64, output: u64) -> Self {
        BedrockReply {
            pieces: vec![text.to_owned()],
            input,
            output,
        }
    }

    fn usage(&self) -> Value {
        json!({"inputTokens": self.input, "outputTokens": self.output,
            "totalTokens": self.input + self.output})
    }

    pub fn whole(&self) -> Value {
        json!({
            "output": {"message": {"role": "assistant", "content": [{"text": self.pieces.concat()}]}},
            "stopReason": "end_turn", "usage": self.usage(), "metrics": {"latencyMs": 5}
        })
    }

    /// The stream's frames, concatenated.
    pub fn frames(&self) -> Vec<u8> {
        let mut frames = vec![crate::bedrock_event(
            "messageStart",
            json!({"role": "assistant"}),
        )];
        frames.extend(self.pieces.iter().map(|piece| {
            crate::bedrock_event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": piece}}),
            )
        }));
        frames.extend([
            crate::bedrock_event("contentBlockStop", json!({"contentBlockIndex": 0})),
            crate::bedrock_event("messageStop", json!({"stopReason": "end_turn"})),
            crate::bedrock_event(
                "metadata",
                json!({"usage": self.usage(), "metrics": {"latencyMs": 5}}),
            ),
        ]);
        frames.concat()
    }
}

impl Respond for BedrockReply {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if request.url.path().ends_with("/converse-stream") {
            ResponseTemplate::new(200).set_body_raw(self.frames(), crate::EVENT_STREAM)
        } else {
            ResponseTemplate::new(200).set_body_json(self.whole())
        }
    }
}
