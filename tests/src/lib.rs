//! Support for Helix's system tests (`tests/tests/*.rs`): configuration, requests, captured logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use helix_shared::AppState;
use helix_shared::config::{Config, Sources};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::PgPool;
use tower::ServiceExt;

/// Development configuration with `pairs` on top; the database URL is only a placeholder
/// because tests hand in their own pool.
pub fn config_with(pairs: &[(&str, &str)]) -> Config {
    let mut layer: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    layer
        .entry("DATABASE_URL".into())
        .or_insert_with(|| "postgres://unused@127.0.0.1:1/unused".into());
    Config::from_sources(&Sources::default().with_layer(layer)).unwrap()
}

pub fn state(pool: PgPool) -> AppState {
    AppState::new(config_with(&[]), pool)
}

/// A state whose database can never be reached (port 1), failing fast.
pub fn state_without_database() -> AppState {
    let config = config_with(&[("HELIX_DB_ACQUIRE_TIMEOUT", "300ms")]);
    AppState::from_config(config).unwrap()
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// Sends one request through `app` the way the runtime would.
pub async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    Reply {
        status,
        headers,
        body,
    }
}

pub fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

pub fn request(method: &str, path: &str) -> Request<Body> {
    let builder = Request::builder().method(method).uri(path);
    match method {
        "POST" | "PATCH" | "PUT" => builder
            .header("content-type", "application/json")
            .body(Body::from("{}")),
        _ => builder.body(Body::empty()),
    }
    .unwrap()
}

/// Log lines written while the guard from [`capture_logs`] is alive, parsed as JSON.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect()
    }
}

impl io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Routes this thread's logs, in Helix's production JSON format, into the returned buffer.
pub fn capture_logs() -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
    use tracing_subscriber::layer::SubscriberExt;
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::Registry::default()
        .with(helix_shared::telemetry::json_layer(move || writer.clone()));
    (logs, tracing::subscriber::set_default(subscriber))
}
