//! Support for Helix's system tests (`tests/tests/*.rs`): configuration, requests, captured logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use helix_shared::AppState;
use helix_shared::config::Config;
use helix_shared::settings::Sources;
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::PgPool;
use tower::ServiceExt;

/// Every route registered under `/v1/`, as API Gateway routes it.
pub const V1_ROUTES: [(&str, &str); 18] = [
    ("POST", "/v1/turns"),
    ("GET", "/v1/personalities"),
    ("GET", "/v1/personas"),
    ("POST", "/v1/personas"),
    ("GET", "/v1/personas/abc"),
    ("PATCH", "/v1/personas/abc"),
    ("DELETE", "/v1/personas/abc"),
    ("POST", "/v1/personas/abc/avatar"),
    ("GET", "/v1/agents"),
    ("POST", "/v1/agents"),
    ("PATCH", "/v1/agents/abc"),
    ("DELETE", "/v1/agents/abc"),
    ("GET", "/v1/budget"),
    ("POST", "/v1/budget/grants"),
    ("GET", "/v1/memory/documents"),
    ("POST", "/v1/memory/documents"),
    ("DELETE", "/v1/memory/documents/abc"),
    ("POST", "/v1/memory/search"),
];

/// A signed-in user for handler tests: created in `state`'s database, with a valid token.
pub async fn signed_in_user(
    state: &AppState,
    email: &str,
) -> (helix_shared::db::users::User, String) {
    let mut db = state.db.acquire().await.unwrap();
    let (user, _) =
        helix_shared::db::users::ensure_user(&mut db, email, helix_shared::user::UserRole::User)
            .await
            .unwrap();
    let token = state
        .tokens
        .issue(&user.id, chrono::Utc::now().timestamp())
        .unwrap()
        .token;
    (user, token)
}

/// Sizes memory's vector column for `state`'s embedding model, as `helix-admin migrate` does
/// after the migrations (`#[sqlx::test]` runs only the migrations).
pub async fn prepare_memory(state: &AppState) {
    helix_shared::memory::schema::prepare(&state.db, &state.config.embeddings)
        .await
        .unwrap();
}

/// Gives the user an agent for `provider`/`model` with `status` (`active` or `disabled`).
pub async fn add_agent(
    pool: &PgPool,
    user_id: &str,
    provider: &str,
    model: &str,
    status: &str,
) -> String {
    let id = helix_shared::ids::new_id();
    sqlx::query(
        "INSERT INTO agents (id, user_id, provider, model, status)
         VALUES ($1, $2, $3::engine_provider, $4, $5::agent_status)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(provider)
    .bind(model)
    .bind(status)
    .execute(pool)
    .await
    .unwrap();
    id
}

/// A JSON request with the caller's token.
pub fn json_request(method: &str, path: &str, body: &Value, token: &str) -> Request<Body> {
    authorised(
        Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        token,
    )
}

/// `request` with `Authorization: Bearer <token>`.
pub fn authorised(mut request: Request<Body>, token: &str) -> Request<Body> {
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

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
    // The models `scripts/models` fetched, wherever cargo runs the tests from.
    layer
        .entry("HELIX_MODELS_DIR".into())
        .or_insert_with(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../models").into());
    Config::from_sources(&Sources::default().with_layer(layer)).unwrap()
}

pub fn state(pool: PgPool) -> AppState {
    AppState::new(config_with(&[]), pool).unwrap()
}

pub fn state_with(pool: PgPool, pairs: &[(&str, &str)]) -> AppState {
    AppState::new(config_with(pairs), pool).unwrap()
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

impl Reply {
    /// The router has no such route or method (a 404 about a missing *resource* does not count).
    pub fn is_unrouted(&self) -> bool {
        self.status == StatusCode::METHOD_NOT_ALLOWED
            || self.body["error"]["message"] == "route not found"
    }
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

/// A JSON POST from `source_ip`, as the local gateway's socket would report it.
pub fn post_json_from(path: &str, body: &Value, source_ip: [u8; 4]) -> Request<Body> {
    let mut request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let address = std::net::SocketAddr::from((source_ip, 40000));
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(address));
    request
}

pub fn get_with_token(path: &str, token: &str) -> Request<Body> {
    authorised(get(path), token)
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

/// A moto server (a local AWS API) on a free loopback port, stopped when dropped. It comes from
/// the project's tool venv (`scripts/tools`, which `make test` runs).
pub struct MotoServer {
    child: std::process::Child,
    pub endpoint: String,
}

impl MotoServer {
    pub async fn start() -> Self {
        let binary =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
        assert!(
            binary.exists(),
            "{} is missing: run scripts/tools (make test does)",
            binary.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let server = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("moto_server did not listen on port {port} within 15 s");
    }

    /// SDK configuration pointing every client at this server with dummy credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        use aws_sdk_secretsmanager::config::{Credentials, Region};
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "helix-tests"))
            .load()
            .await
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
