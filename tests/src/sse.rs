//! Reading Helix's streamed answers (server-sent events) in tests: whole through the router, or
//! one event at a time from a real socket, so a test can hang up mid-answer.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// One server-sent event: its name and its JSON data.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub name: String,
    pub data: Value,
}

/// A streamed answer, read to its end.
pub struct StreamReply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub events: Vec<SseEvent>,
    /// A JSON body, when the answer was not a stream (an error before the provider was called).
    pub json: Value,
}

impl StreamReply {
    pub fn names(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.name.as_str()).collect()
    }

    pub fn last(&self) -> &SseEvent {
        self.events.last().expect("at least one event")
    }

    /// The `delta` texts, joined.
    pub fn text(&self) -> String {
        self.events
            .iter()
            .filter(|e| e.name == "delta")
            .map(|e| e.data["text"].as_str().unwrap_or_default())
            .collect()
    }
}

/// Sends one request through `app` and reads the whole answer, stream or JSON.
pub async fn send_stream(app: &Router, request: Request<Body>) -> StreamReply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let is_stream = headers
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"));
    let (events, json) = if is_stream {
        (parse_events(&text), Value::Null)
    } else {
        (
            Vec::new(),
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    };
    StreamReply {
        status,
        headers,
        events,
        json,
    }
}

/// The events of a complete `text/event-stream` body (comments skipped).
pub fn parse_events(text: &str) -> Vec<SseEvent> {
    text.split("\n\n").filter_map(parse_event).collect()
}

fn parse_event(block: &str) -> Option<SseEvent> {
    let mut name = None;
    let mut data = String::new();
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("event: ") {
            name = Some(value.to_owned());
        } else if let Some(value) = line.strip_prefix("data: ") {
            data.push_str(value);
        }
    }
    Some(SseEvent {
        name: name?,
        data: serde_json::from_str(&data).unwrap(),
    })
}

/// Serves `app` on a loopback port, as the local gateway does; its base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    uri
}

/// A streamed answer from a real socket, read one event at a time; dropping it hangs up.
pub struct EventReader {
    response: reqwest::Response,
    buffer: String,
    /// Keep-alive comments seen so far.
    pub comments: usize,
}

impl EventReader {
    pub fn new(response: reqwest::Response) -> Self {
        EventReader {
            response,
            buffer: String::new(),
            comments: 0,
        }
    }

    /// The next event; `None` when the stream ended.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if block.starts_with(':') {
                    self.comments += 1;
                    continue;
                }
                return parse_event(&block);
            }
            let chunk = self.response.chunk().await.unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}
