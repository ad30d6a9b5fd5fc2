//! `POST /v1/turns` with `"stream": true`: the answer as server-sent events. The turn runs in a
//! task of its own, so a client that hangs up stops the provider but never the settlement; this
//! module only turns the turn's events and outcome into `start`, `delta`, `tool_call`, then `done`
//! or `error`, with a `: keep-alive` comment in every silence (15 s by default: API Gateway's and
//! CloudFront's idle limits are longer).

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::pin::Pin;

use axum::http::HeaderValue;
use futures_util::StreamExt;
use futures_util::stream::{self, Stream};
use helix_shared::chat::FinishReason;
use helix_shared::pipeline::generation::{Live, TurnEvent, TurnStart};
use helix_shared::pipeline::turn::{TurnContext, TurnInput, TurnOutcome, run_turn};
use helix_shared::provider::Provider;
use helix_shared::telemetry::spawn_traced;
use helix_shared::{ApiError, AppState};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::api::{BudgetView, CostView, TurnResponse, UsageView};

type TurnTask = JoinHandle<Result<TurnOutcome, ApiError>>;

/// Starts the turn and answers with its stream once the provider accepted the call; anything
/// that fails before that (validation, 402, 403, 404, a provider that refused) is a plain JSON
/// error with its status.
pub async fn stream_turn(
    state: AppState,
    mut context: TurnContext,
    turn: TurnInput,
) -> Result<Response, ApiError> {
    let (live, mut events) = Live::channel();
    context.live = Some(live);
    let keep_alive = state.config.turns.stream_keep_alive;
    let task = spawn_traced(async move { run_turn(&state, &context, turn).await });
    match events.recv().await {
        Some(TurnEvent::Started(start)) => Ok(sse(
            start_event(&start),
            Body::Live(events, task, start.trace_id),
            keep_alive,
        )),
        // The turn ended before it streamed: it failed (it sends `Started` before anything else).
        _ => match task.await.map_err(ApiError::internal)? {
            Err(error) => Err(error),
            Ok(_) => Err(ApiError::internal("a streamed turn ended without starting")),
        },
    }
}

/// A finished turn's stored answer, replayed as the stream it was: `start`, the whole text as
/// one `delta`, its tool calls, `done`.
pub fn replay(stored: TurnResponse, keep_alive: Duration) -> Response {
    let mut events = vec![
        start_event(&TurnStart {
            trace_id: stored.trace_id.clone(),
            provider: stored.engine,
            model: stored.model.clone(),
            personality_id: stored.personality_id.clone(),
            max_tokens: stored.max_tokens,
            max_tokens_reduced: stored.max_tokens_reduced,
            conversation_id: stored.conversation_id.clone(),
        }),
        event("delta", &DeltaData { text: &stored.text }),
    ];
    events.extend(
        stored
            .tool_calls
            .iter()
            .map(|call| event("tool_call", call)),
    );
    events.push(event("done", &DoneData::from(&stored)));
    let mut response = sse(events.remove(0), Body::Replay(events), keep_alive);
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// What follows the `start` event.
enum Body {
    /// The turn's events, the turn, and its trace id (the body outlives the request's scope).
    Live(mpsc::Receiver<TurnEvent>, TurnTask, String),
    Replay(Vec<Event>),
}

fn sse(first: Event, body: Body, keep_alive: Duration) -> Response {
    let rest: Events = match body {
        Body::Live(events, task, trace_id) => Box::pin(live_events(events, task, trace_id)),
        Body::Replay(events) => Box::pin(stream::iter(events.into_iter().map(Ok))),
    };
    let all = stream::once(async { Ok(first) }).chain(rest);
    Sse::new(all)
        .keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive"))
        .into_response()
}

/// The turn's text and tool calls as they come, then its end: `done` once it is charged, or
/// `error` (with what was charged) when it stopped early. Dropped when the client hangs up,
/// which the turn notices and settles on its own.
fn live_events(
    events: mpsc::Receiver<TurnEvent>,
    task: TurnTask,
    trace_id: String,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    stream::unfold(Some((events, task)), move |state| {
        let trace_id = trace_id.clone();
        async move {
            let (mut events, task) = state?;
            match events.recv().await {
                Some(turn_event) => Some((Ok(live_event(&turn_event)), Some((events, task)))),
                None => Some((Ok(end_event(task.await, &trace_id)), None)),
            }
        }
    })
}

fn live_event(turn_event: &TurnEvent) -> Event {
    match turn_event {
        TurnEvent::Started(start) => start_event(start),
        TurnEvent::Delta(text) => event("delta", &DeltaData { text }),
        TurnEvent::ToolCall(call) => event("tool_call", call),
    }
}

fn end_event(
    ended: Result<Result<TurnOutcome, ApiError>, tokio::task::JoinError>,
    trace_id: &str,
) -> Event {
    let outcome = match ended {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(error)) => return error_event(&error, None, trace_id),
        Err(join) => return error_event(&ApiError::internal(join), None, trace_id),
    };
    match outcome.failure() {
        None => event("done", &DoneData::from(&TurnResponse::from(&outcome))),
        Some(error) => error_event(&error, Some(&outcome), trace_id),
    }
}

/// An `error` event: the error as the JSON error body has it, plus what was charged for what the
/// provider generated before it broke off. Logged like any error answer.
fn error_event(error: &ApiError, charged: Option<&TurnOutcome>, trace_id: &str) -> Event {
    tracing::info_span!("request", trace_id).in_scope(|| error.log());
    let data = ErrorData {
        code: error.code(),
        message: error.to_string(),
        trace_id,
        charged: CostView {
            micros: charged.map_or(0, |o| o.cost_micros),
            cents: charged.map_or(0, |o| o.cost_cents),
        },
        budget: charged.map(|o| BudgetView {
            remaining_cents: o.balance_cents,
            remaining_micros: o.balance_micros,
        }),
    };
    event("error", &data)
}

fn start_event(start: &TurnStart) -> Event {
    event(
        "start",
        &StartData {
            trace_id: &start.trace_id,
            engine: start.provider,
            model: &start.model,
            personality_id: &start.personality_id,
            max_tokens: start.max_tokens,
            max_tokens_reduced: start.max_tokens_reduced,
            conversation_id: start.conversation_id.as_deref(),
        },
    )
}

fn event(name: &'static str, data: &impl Serialize) -> Event {
    // Serializing these plain structs cannot fail; an empty event would still end the turn cleanly.
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name))
}

type Events = Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>>;

#[derive(Serialize)]
pub struct StartData<'a> {
    pub trace_id: &'a str,
    pub engine: Provider,
    pub model: &'a str,
    pub personality_id: &'a str,
    pub max_tokens: u32,
    pub max_tokens_reduced: bool,
    /// A saved turn's conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<&'a str>,
}

#[derive(Serialize)]
pub struct DeltaData<'a> {
    pub text: &'a str,
}

#[derive(Serialize)]
pub struct DoneData {
    pub usage: UsageView,
    pub cost: CostView,
    pub budget: BudgetView,
    pub usage_estimated: bool,
    pub finish_reason: FinishReason,
    pub memory_doc_ids: Vec<String>,
    /// A saved turn's conversation, stored answer, and history left out (see TurnResponse).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_omitted: Option<usize>,
}

impl From<&TurnResponse> for DoneData {
    fn from(response: &TurnResponse) -> Self {
        DoneData {
            usage: response.usage,
            cost: response.cost,
            budget: response.budget,
            usage_estimated: response.usage_estimated,
            finish_reason: response.finish_reason,
            memory_doc_ids: response.memory_doc_ids.clone(),
            conversation_id: response.conversation_id.clone(),
            message_id: response.message_id.clone(),
            history_omitted: response.history_omitted,
        }
    }
}

#[derive(Serialize)]
pub struct ErrorData<'a> {
    pub code: &'static str,
    pub message: String,
    pub trace_id: &'a str,
    /// What the turn was charged for what the provider generated before it failed.
    pub charged: CostView,
    /// The balance after that charge; absent when nothing was charged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetView>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[allow(dead_code)]
    mod openapi_schema {
        include!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/support/openapi_schema.rs"
        ));
    }
    use openapi_schema::{keys, schema, spec, strings};

    fn assert_documented(name: &str, sent: Value, optional: &[&str]) {
        let documented = schema(name);
        let mut required = keys(&sent);
        for key in optional {
            required.remove(*key);
        }
        assert_eq!(
            required,
            strings(&documented["required"]),
            "{name}.required"
        );
        assert_eq!(
            keys(&sent),
            keys(&documented["properties"]),
            "{name}.properties"
        );
    }

    #[test]
    fn every_event_is_documented_as_helix_sends_it() {
        let start = StartData {
            trace_id: "t",
            engine: Provider::Local,
            model: "m",
            personality_id: "p",
            max_tokens: 1,
            max_tokens_reduced: false,
            conversation_id: Some("c"),
        };
        let sent = serde_json::to_value(start).unwrap();
        assert_documented("TurnStreamStart", sent, &["conversation_id"]);
        let delta = DeltaData { text: "x" };
        assert_documented("TurnStreamDelta", serde_json::to_value(delta).unwrap(), &[]);
        let done = DoneData {
            usage: UsageView {
                input_tokens: 1,
                output_tokens: 1,
            },
            cost: CostView {
                micros: 1,
                cents: 1,
            },
            budget: BudgetView {
                remaining_cents: 1,
                remaining_micros: 1,
            },
            usage_estimated: false,
            finish_reason: FinishReason::Stop,
            memory_doc_ids: vec![],
            conversation_id: Some("c".into()),
            message_id: Some("m".into()),
            history_omitted: Some(0),
        };
        let saved = ["conversation_id", "message_id", "history_omitted"];
        assert_documented(
            "TurnStreamDone",
            serde_json::to_value(done).unwrap(),
            &saved,
        );
        let error = ErrorData {
            code: "provider_stream_cut",
            message: String::new(),
            trace_id: "t",
            charged: CostView {
                micros: 1,
                cents: 1,
            },
            budget: Some(BudgetView {
                remaining_cents: 1,
                remaining_micros: 1,
            }),
        };
        let sent = serde_json::to_value(error).unwrap();
        assert_documented("TurnStreamError", sent, &["budget"]);
    }

    #[test]
    fn the_turn_route_documents_its_event_stream() {
        let turns = &spec()["paths"]["/v1/turns"]["post"]["responses"]["200"]["content"];
        let stream = &turns["text/event-stream"];
        // One event's schema (`itemSchema`, as OpenAPI 3.2 and schemathesis read it), and the
        // stream's as a whole: an array of them.
        let event = "#/components/schemas/TurnStreamEvent";
        assert_eq!(stream["itemSchema"]["$ref"], event);
        assert_eq!(stream["schema"]["items"]["$ref"], event);
        let documented: std::collections::BTreeMap<String, String> =
            schema("TurnStreamEvent")["oneOf"]
                .as_array()
                .unwrap()
                .iter()
                .map(|one| {
                    let name = one["properties"]["event"]["const"].as_str().unwrap();
                    let data = &one["properties"]["data"];
                    assert_eq!(data["contentMediaType"], "application/json", "{name}");
                    let schema = data["contentSchema"]["$ref"].as_str().unwrap();
                    (
                        name.to_owned(),
                        schema.rsplit('/').next().unwrap().to_owned(),
                    )
                })
                .collect();
        let expected = [
            ("start", "TurnStreamStart"),
            ("delta", "TurnStreamDelta"),
            ("tool_call", "ToolCall"),
            ("done", "TurnStreamDone"),
            ("error", "TurnStreamError"),
        ];
        let expected = expected
            .iter()
            .map(|(name, schema)| ((*name).to_owned(), (*schema).to_owned()))
            .collect();
        assert_eq!(documented, expected);
    }
}
