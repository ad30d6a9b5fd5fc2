//! Requests as API Gateway or the local gateway's socket would deliver them, and the one way to
//! send them through a router.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// Every route registered under `/v1/`, as API Gateway routes it.
pub const V1_ROUTES: [(&str, &str); 25] = [
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
    ("POST", "/v1/admin/revoke-tokens"),
    ("POST", "/v1/keys"),
    ("GET", "/v1/keys"),
    ("DELETE", "/v1/keys/abc"),
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
    ("POST", "/v1/embeddings"),
];

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
    let is_json = headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_none_or(|value| value.starts_with("application/json"));
    let body = if bytes.is_empty() {
        Value::Null
    } else if is_json {
        serde_json::from_slice(&bytes).unwrap()
    } else {
        // A download (CSV): its text, for the tests that read it.
        Value::String(String::from_utf8_lossy(&bytes).into_owned())
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
