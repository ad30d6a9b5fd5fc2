//! What every Helix router gets, whether it runs in Lambda or in the local gateway: a trace id
//! per request, JSON errors for unknown routes and oversized bodies, and the extractors for bodies,
//! paths and queries, which refuse what Postgres cannot store (U+0000) before a handler runs.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, RawPathParams,
    Request,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use lambda_http::request::RequestContext;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;

use crate::telemetry::{RequestId, TraceId, with_request_id, with_trace_id};
use crate::{ApiError, AppState, auth};

/// The response header that hands the trace id back to the caller (quote it in support requests).
pub const TRACE_ID_HEADER: HeaderName = HeaderName::from_static("x-trace-id");
/// The response header with Helix's own id for the request (`meta.request_id` of its charges).
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// A JSON request body whose rejections become Helix's JSON errors (400/413/415). A string (or an
/// object key) holding U+0000 is a 400 naming the field: Postgres stores it in neither `text` nor
/// `jsonb`, so it is refused here, before anything is charged or written.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                    _ => ApiError::BadRequest {
                        code: "invalid_json",
                        message: rejection.body_text(),
                    },
                })?;
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        if let Some(field) = nul_in_json(&bytes) {
            return Err(nul_refused(&field));
        }
        Ok(ApiJson(value))
    }
}

/// `application/json`, or any `application/…+json`, with or without parameters (as axum's `Json`
/// decides).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    let subtype = subtype.to_ascii_lowercase();
    kind.eq_ignore_ascii_case("application") && (subtype == "json" || subtype.ends_with("+json"))
}

/// The field of a (valid) JSON body that holds U+0000, if one does. JSON can only spell it as the
/// escape `\u0000`, so a body without that text is passed at the cost of one scan.
fn nul_in_json(body: &[u8]) -> Option<String> {
    const ESCAPE: &[u8] = b"\\u0000";
    if !body.windows(ESCAPE.len()).any(|window| window == ESCAPE) {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    nul_path(&value, String::new())
}

fn nul_path(value: &Value, path: String) -> Option<String> {
    let named = |path: &str| {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.to_owned()
        }
    };
    match value {
        Value::String(text) if text.contains('\0') => Some(named(&path)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| nul_path(item, format!("{path}[{index}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                return Some(format!("{} (a key)", named(&path)));
            }
            let inner = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            nul_path(item, inner)
        }),
        _ => None,
    }
}

fn nul_refused(field: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{field}: must not contain the NUL character (U+0000)"
    ))
}

/// Path parameters, percent-decoded: a rejection or a parameter holding U+0000 (`%00`) is a 400
/// naming it.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
        if let Some((key, _)) = raw.iter().find(|(_, value)| value.contains('\0')) {
            return Err(nul_refused(key));
        }
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(ApiPath(value))
    }
}

/// A query string, percent-decoded: a rejection or a parameter holding U+0000 (`%00`) is a 400
/// naming it.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)?;
        if let Some((key, _)) = pairs
            .iter()
            .find(|(key, value)| key.contains('\0') || value.contains('\0'))
        {
            let key = if key.contains('\0') { "query" } else { key };
            return Err(nul_refused(key));
        }
        let Query(value) = Query::<T>::try_from_uri(&parts.uri)?;
        Ok(ApiQuery(value))
    }
}

/// Wraps a complete router: the `/v1/` token guard, JSON 404/405 fallbacks, the body limit, and
/// request tracing (outermost, so even a refused request is traced). Called once per process, on
/// the function's router in Lambda or on the merged gateway router.
pub fn finish(router: Router, state: &AppState) -> Router {
    router
        .fallback(|| async { ApiError::NotFound { resource: "route" } })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::guard_protected_routes,
        ))
        .layer(middleware::from_fn(openai_error_shape))
        .layer(DefaultBodyLimit::max(state.config.http.max_body_bytes))
        .layer(middleware::from_fn(trace_request))
}

/// The caller's IP. Behind CloudFront, the viewer's address it sends in `x-helix-viewer-ip` —
/// trusted only on a request that carries the edge secret (`x-helix-edge-secret`, added by
/// CloudFront, never by a viewer); else API Gateway's source IP in Lambda, the socket's peer
/// address locally, else `unknown` (all such callers then share one throttling bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceIp(pub String);

pub const EDGE_SECRET_HEADER: HeaderName = HeaderName::from_static("x-helix-edge-secret");
pub const VIEWER_IP_HEADER: HeaderName = HeaderName::from_static("x-helix-viewer-ip");

impl FromRequestParts<AppState> for SourceIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let edge_secret = state.config.http.edge_secret.as_ref();
        let from_edge = || viewer_ip_from_edge(&parts.headers, edge_secret?.expose_secret());
        let from_api_gateway = || {
            parts
                .extensions
                .get::<RequestContext>()
                .and_then(|context| match context {
                    RequestContext::ApiGatewayV2(context) => context.http.source_ip.clone(),
                    RequestContext::ApiGatewayV1(context) => context.identity.source_ip.clone(),
                    _ => None,
                })
        };
        let from_socket = || {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip().to_string())
        };
        Ok(SourceIp(
            from_edge()
                .or_else(from_api_gateway)
                .or_else(from_socket)
                .unwrap_or_else(|| "unknown".to_owned()),
        ))
    }
}

/// The viewer's IP CloudFront names, if the request proves it came through CloudFront.
fn viewer_ip_from_edge(headers: &HeaderMap, edge_secret: &str) -> Option<String> {
    let presented = headers.get(EDGE_SECRET_HEADER)?.as_bytes();
    if !constant_time_eq(presented, edge_secret.as_bytes()) {
        return None;
    }
    let viewer = headers.get(VIEWER_IP_HEADER)?.to_str().ok()?;
    viewer
        .trim()
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| ip.to_string())
}

/// Compares without stopping at the first difference, so timing tells nothing of the secret.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// When the Lambda invocation serving this request will be stopped, if it is one: work that must
/// finish (a turn's settlement) plans around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvocationDeadline(pub Option<std::time::SystemTime>);

impl<S: Send + Sync> FromRequestParts<S> for InvocationDeadline {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let context = parts.extensions.get::<lambda_http::Context>();
        Ok(InvocationDeadline(
            context.map(lambda_http::Context::deadline),
        ))
    }
}

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// The `Idempotency-Key` header, if present: 1 to 255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default();
    let valid = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY_CHARS
        && key.chars().all(|c| c.is_ascii_graphic());
    if valid {
        Ok(Some(key.to_owned()))
    } else {
        Err(ApiError::bad_request(format!(
            "Idempotency-Key: must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"
        )))
    }
}

/// What a keyed write is known by: its route and its body, so one key reused for another route
/// or another body is a conflict, never a wrong replay.
pub fn write_fingerprint(route: &str, body: &impl serde::Serialize) -> Result<String, ApiError> {
    let body = serde_json::to_value(body).map_err(ApiError::internal)?;
    Ok(crate::db::idempotency::request_hash(
        &serde_json::json!({ "route": route, "body": body }),
    ))
}

/// For routes a later release implements: an honest 501 instead of a fake answer.
pub async fn not_implemented() -> ApiError {
    ApiError::NotImplemented
}

/// The OpenAI-compatible routes: every error they give, the guard's 401 and the 404/405/413
/// fallbacks included, is in OpenAI's shape, so unmodified SDKs raise their own error types.
pub const OPENAI_COMPATIBLE_PATHS: [&str; 3] =
    ["/v1/chat/completions", "/v1/models", "/v1/embeddings"];

fn is_openai_compatible(path: &str) -> bool {
    OPENAI_COMPATIBLE_PATHS
        .iter()
        .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")))
}

async fn openai_error_shape(request: Request, next: Next) -> Response {
    let compatible = is_openai_compatible(request.uri().path());
    let response = next.run(request).await;
    if !compatible || response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Helix's own error bodies are small; anything unreadable is answered as a plain error.
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let helix = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
    let shaped = crate::error::openai_shape(parts.status, &helix);
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = axum::Json(shaped).into_response().into_body();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, body)
}

async fn trace_request(request: Request, next: Next) -> Response {
    let trace_id = request_trace_id(&request);
    let request_id = RequestId::generate();
    let span = tracing::info_span!(
        "request",
        trace_id = %trace_id,
        request_id = %request_id,
        method = %request.method(),
        path = %request.uri().path(),
        user_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let served = next.run(request).instrument(span.clone());
    let mut response = with_trace_id(
        trace_id.clone(),
        with_request_id(request_id.clone(), served),
    )
    .await;
    let headers = response.headers_mut();
    for (name, value) in [
        (TRACE_ID_HEADER, trace_id.as_str()),
        (REQUEST_ID_HEADER, request_id.as_str()),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request served"
        );
    });
    response
}

/// X-Ray's header first (API Gateway and the X-Ray SDKs set it; a caller may too, so only an
/// X-Ray trace id counts), then API Gateway's request id, then a fresh X-Ray id.
fn request_trace_id(request: &Request) -> TraceId {
    trace_id_from_headers(request.headers())
        .or_else(|| {
            request
                .extensions()
                .get::<RequestContext>()
                .and_then(api_gateway_request_id)
        })
        .unwrap_or_else(TraceId::generate)
}

fn trace_id_from_headers(headers: &HeaderMap) -> Option<TraceId> {
    headers
        .get("x-amzn-trace-id")
        .and_then(|value| value.to_str().ok())
        .and_then(TraceId::from_amzn_header)
}

fn api_gateway_request_id(context: &RequestContext) -> Option<TraceId> {
    match context {
        RequestContext::ApiGatewayV2(context) => {
            context.request_id.as_deref().and_then(TraceId::parse)
        }
        RequestContext::ApiGatewayV1(context) => {
            context.request_id.as_deref().and_then(TraceId::parse)
        }
        _ => None,
    }
}

impl<T> IntoResponse for ApiJson<T>
where
    axum::Json<T>: IntoResponse,
{
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Method, StatusCode};
    use axum::routing::post;
    use http_body_util::BodyExt;
    use serde::Deserialize;
    use serde_json::Value;
    use tower::ServiceExt;

    /// A state whose database is never reached by these tests.
    pub(super) fn test_state(max_body_bytes: usize) -> AppState {
        let layer = [
            (
                "DATABASE_URL".to_owned(),
                "postgres://unused@127.0.0.1:1/unused".to_owned(),
            ),
            (
                "HELIX_MAX_BODY_BYTES".to_owned(),
                max_body_bytes.to_string(),
            ),
        ];
        let config = crate::config::Config::from_sources(
            &crate::settings::Sources::default().with_layer(layer.into()),
        )
        .unwrap();
        AppState::from_config(config).unwrap()
    }

    #[derive(Deserialize)]
    struct Echo {
        name: String,
    }

    fn app() -> Router {
        let router = Router::new().route(
            "/echo",
            post(|ApiJson(body): ApiJson<Echo>| async move { body.name }),
        );
        finish(router, &test_state(64))
    }

    async fn call(request: axum::http::Request<Body>) -> (StatusCode, HeaderMap, Value) {
        let response = app().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn post_json(body: &str) -> axum::http::Request<Body> {
        axum::http::Request::post("/echo")
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    }

    #[tokio::test]
    async fn unknown_routes_are_json_404s_with_the_trace_id_in_body_and_header() {
        let (status, headers, body) = call(
            axum::http::Request::get("/nope")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "not_found");
        assert_eq!(
            body["error"]["trace_id"],
            headers[TRACE_ID_HEADER].to_str().unwrap()
        );
    }

    #[tokio::test]
    async fn the_amzn_trace_header_is_reused() {
        let request = axum::http::Request::get("/nope")
            .header(
                "x-amzn-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
            )
            .body(Body::empty())
            .unwrap();
        let (_, headers, body) = call(request).await;
        assert_eq!(
            headers[TRACE_ID_HEADER],
            "1-5759e988-bd862e3fe1be46a994272793"
        );
        assert_eq!(
            body["error"]["trace_id"],
            "1-5759e988-bd862e3fe1be46a994272793"
        );
    }

    #[tokio::test]
    async fn a_trace_header_that_is_not_xray_is_ignored_and_every_request_has_its_own_id() {
        let forged = || {
            axum::http::Request::get("/nope")
                .header("x-amzn-trace-id", "Root=audit-entry-42;Sampled=1")
                .body(Body::empty())
                .unwrap()
        };
        let (_, first, body) = call(forged()).await;
        let (_, second, _) = call(forged()).await;
        let trace_id = first[TRACE_ID_HEADER].to_str().unwrap();
        assert!(crate::telemetry::is_xray_trace_id(trace_id), "{trace_id}");
        assert_eq!(body["error"]["trace_id"], trace_id);
        assert_ne!(first[REQUEST_ID_HEADER], second[REQUEST_ID_HEADER]);
        assert_ne!(first[TRACE_ID_HEADER], second[TRACE_ID_HEADER]);
    }

    #[tokio::test]
    async fn wrong_methods_are_json_405s() {
        let request = axum::http::Request::builder()
            .method(Method::DELETE)
            .uri("/echo")
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = call(request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }

    #[tokio::test]
    async fn a_bad_field_is_named_in_a_400() {
        let (status, _, body) = call(post_json(r#"{"name": 5}"#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "invalid_json");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("name"),
            "{body}"
        );
    }

    #[test]
    fn nul_is_found_in_any_string_or_key_and_named_by_its_path() {
        let cases = [
            (r#"{"name": "a\u0000"}"#, Some("name")),
            (r#"{"m": [{"c": "ok"}, {"c": "\u0000"}]}"#, Some("m[1].c")),
            (r#"{"meta": {"\u0000": 1}}"#, Some("meta (a key)")),
            (r#""\u0000""#, Some("body")),
            // An escaped backslash followed by the text u0000 is no NUL.
            (r#"{"name": "\\u0000"}"#, None),
            (r#"{"name": "plain"}"#, None),
        ];
        for (body, expected) in cases {
            assert_eq!(nul_in_json(body.as_bytes()).as_deref(), expected, "{body}");
        }
    }

    #[test]
    fn json_content_types_are_recognised_as_axum_recognises_them() {
        let headers = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            headers
        };
        for yes in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/problem+json",
        ] {
            assert!(is_json(&headers(yes)), "{yes}");
        }
        for no in [
            "text/plain",
            "application/jsonx",
            "json",
            "application/x-www-form-urlencoded",
        ] {
            assert!(!is_json(&headers(no)), "{no}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }

    #[tokio::test]
    async fn a_nul_in_the_body_is_a_400_naming_the_field() {
        let (status, _, body) = call(post_json(r#"{"name": "a\u0000b"}"#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "invalid_request");
        assert_eq!(
            body["error"]["message"],
            "name: must not contain the NUL character (U+0000)"
        );
    }

    #[tokio::test]
    async fn an_oversized_body_is_a_413() {
        let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(100));
        let (status, _, body) = call(post_json(&big)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"]["code"], "payload_too_large");
    }

    #[tokio::test]
    async fn a_body_without_json_content_type_is_a_415() {
        let request = axum::http::Request::post("/echo")
            .body(Body::from(r#"{"name":"a"}"#))
            .unwrap();
        let (status, _, _) = call(request).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}

#[cfg(test)]
mod lambda_tests {
    use super::*;
    use axum::routing::get;
    use tower::ServiceExt;

    /// An API Gateway HTTP API (payload v2) event, as Lambda delivers it.
    const EVENT: &str = r#"{
        "version": "2.0", "routeKey": "$default", "rawPath": "/where", "rawQueryString": "",
        "headers": {"accept": "application/json"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "domainPrefix": "api", "requestId": "JKJaXmPLvHcESHA=", "routeKey": "$default",
            "stage": "$default", "time": "23/Nov/2026:23:05:14 +0000", "timeEpoch": 1795475114000,
            "http": {"method": "GET", "path": "/where", "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.9", "userAgent": "test"}
        },
        "isBase64Encoded": false
    }"#;

    #[tokio::test]
    async fn without_an_amzn_header_the_api_gateway_request_id_is_the_trace_id() {
        let request = lambda_http::request::from_str(EVENT).unwrap();
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, axum::body::Body::from(body.to_vec()));
        let app = finish(
            Router::new().route("/where", get(|| async { "here" })),
            &super::tests::test_state(1024),
        );
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.headers()[TRACE_ID_HEADER], "JKJaXmPLvHcESHA=");
    }
}
