//! `POST /v1/chat/completions` with `"stream": true`: OpenAI's `chat.completion.chunk` events,
//! then `data: [DONE]`. The completion runs in a task of its own (as a streamed turn does); a
//! forwarder turns its events into chunks and notices a client that hung up, which stops the
//! provider but never the settlement. The last chunk carries Helix's `helix` field (the cost).

use std::convert::Infallible;
use std::time::Duration;

use axum::http::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use helix_shared::error::openai_shape;
use helix_shared::pipeline::compat::{CompletionTurn, run_completion};
use helix_shared::pipeline::generation::{Live, TurnEvent};
use helix_shared::pipeline::turn::{TurnContext, TurnOutcome};
use helix_shared::telemetry::spawn_traced;
use helix_shared::{ApiError, AppState};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::wire::{ChatCompletion, ToolCallOut, completion_id};
use super::{MAX_TOKENS_REDUCED_HEADER, header_value};

/// The chunks' common fields: one id, one creation time and one model for the whole stream.
#[derive(Clone)]
struct Frame {
    id: String,
    created: i64,
    model: String,
    include_usage: bool,
}

impl Frame {
    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        let mut chunk = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "system_fingerprint": null,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": null}],
        });
        if self.include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }

    /// The end of a finished answer: the finish reason, then (if asked for) the usage on a chunk
    /// of its own with no choices, as OpenAI sends them; the last one carries `helix`.
    fn ending(&self, completion: &ChatCompletion) -> Vec<Value> {
        let choice = completion.choices.first();
        let reason = choice.map_or("stop", |c| c.finish_reason.as_str());
        let mut chunks = vec![self.chunk(json!({}), Some(reason))];
        if self.include_usage {
            let mut usage = self.chunk(json!({}), None);
            usage["choices"] = json!([]);
            usage["usage"] = json!(completion.usage);
            chunks.push(usage);
        }
        if let Some(last) = chunks.last_mut() {
            last["helix"] = json!(completion.helix);
        }
        chunks
    }
}

fn data(value: &Value) -> Event {
    Event::default().data(value.to_string())
}

fn done() -> Event {
    Event::default().data("[DONE]")
}

/// An error in the stream, in OpenAI's shape (the SDKs raise it as an `APIError`).
fn error_event(error: &ApiError) -> Event {
    error.log();
    let helix = json!({"error": {"code": error.code(), "message": error.to_string()}});
    data(&openai_shape(error.status(), &helix))
}

pub async fn stream_completion(
    state: AppState,
    mut context: TurnContext,
    turn: CompletionTurn,
    include_usage: bool,
) -> Result<Response, ApiError> {
    let (live, mut events) = Live::channel();
    context.live = Some(live);
    let keep_alive = state.config.turns.stream_keep_alive;
    let trace_id = context.trace_id.clone();
    let task = spawn_traced(async move { run_completion(&state, &context, turn).await });
    let start = match events.recv().await {
        Some(TurnEvent::Started(start)) => start,
        // It ended before it streamed: it failed (it sends `Started` before anything else).
        _ => {
            return match task.await.map_err(ApiError::internal)? {
                Err(error) => Err(error),
                Ok(_) => Err(ApiError::internal(
                    "a streamed completion ended without starting",
                )),
            };
        }
    };
    let frame = Frame {
        id: completion_id(&trace_id),
        created: chrono::Utc::now().timestamp(),
        model: format!("{}/{}", start.provider.as_str(), start.model),
        include_usage,
    };
    let (out, body) = mpsc::channel::<Event>(16);
    let first = frame.chunk(json!({"role": "assistant", "content": ""}), None);
    let _ = out.send(data(&first)).await;
    spawn_traced(forward(events, task, frame, out));
    let mut response = sse(body, keep_alive);
    response.headers_mut().insert(
        MAX_TOKENS_REDUCED_HEADER,
        header_value(start.max_tokens_reduced),
    );
    Ok(response)
}

/// The completion's events as chunks until it ends; returns (dropping the completion's events)
/// as soon as the client is gone, so the completion stops reading the provider and settles.
async fn forward(
    mut events: mpsc::Receiver<TurnEvent>,
    task: tokio::task::JoinHandle<Result<TurnOutcome, ApiError>>,
    frame: Frame,
    out: mpsc::Sender<Event>,
) {
    let mut tool_index = 0usize;
    loop {
        let next = tokio::select! {
            next = events.recv() => next,
            () = out.closed() => return,
        };
        let chunk = match next {
            Some(TurnEvent::Delta(text)) => frame.chunk(json!({ "content": text }), None),
            Some(TurnEvent::ToolCall(call)) => {
                let mut call = json!(ToolCallOut::from(&call));
                call["index"] = json!(tool_index);
                tool_index += 1;
                frame.chunk(json!({ "tool_calls": [call] }), None)
            }
            Some(TurnEvent::Started(_)) => continue,
            None => break,
        };
        if out.send(data(&chunk)).await.is_err() {
            return;
        }
    }
    let ended = match task.await {
        Ok(ended) => ended,
        Err(join) => Err(ApiError::internal(join)),
    };
    let outcome = match ended {
        Ok(outcome) => outcome,
        Err(error) => {
            let _ = out.send(error_event(&error)).await;
            return;
        }
    };
    if let Some(error) = outcome.failure() {
        // Charged for what was generated before the provider broke off (the ledger row says so).
        let _ = out.send(error_event(&error)).await;
        return;
    }
    for chunk in frame.ending(&ChatCompletion::from(&outcome)) {
        let _ = out.send(data(&chunk)).await;
    }
    let _ = out.send(done()).await;
}

fn sse(body: mpsc::Receiver<Event>, keep_alive: Duration) -> Response {
    let events = stream::unfold(body, |mut body| async move {
        body.recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), body))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive"))
        .into_response()
}

/// A finished completion's stored answer, replayed as the stream it would have been.
pub fn replay(stored: &ChatCompletion, include_usage: bool, keep_alive: Duration) -> Response {
    let frame = Frame {
        id: stored.id.clone(),
        created: stored.created,
        model: stored.model.clone(),
        include_usage,
    };
    let (out, body) = mpsc::channel::<Event>(64);
    let mut chunks = vec![frame.chunk(json!({"role": "assistant", "content": ""}), None)];
    if let Some(choice) = stored.choices.first() {
        if let Some(text) = choice.message.content.as_ref().filter(|t| !t.is_empty()) {
            chunks.push(frame.chunk(json!({ "content": text }), None));
        }
        for (index, call) in choice.message.tool_calls.iter().flatten().enumerate() {
            let mut call = json!(call);
            call["index"] = json!(index);
            chunks.push(frame.chunk(json!({ "tool_calls": [call] }), None));
        }
    }
    chunks.extend(frame.ending(stored));
    tokio::spawn(async move {
        for chunk in chunks {
            if out.send(data(&chunk)).await.is_err() {
                return;
            }
        }
        let _ = out.send(done()).await;
    });
    let mut response = sse(body, keep_alive);
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
