//! The local gateway serves the whole API: health, routing to every function, tracing, errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::http::StatusCode;
use helix_tests::{get, request, send, state, state_without_database};
use sqlx::PgPool;

/// Every route each function registers, as API Gateway routes it.
const ROUTES: [(&str, &str); 14] = [
    ("POST", "/auth/verify"),
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
];

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn healthz_is_ok_when_the_database_answers(pool: PgPool) {
    let app = local_gateway::app(state(pool));
    let reply = send(&app, get("/healthz")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["database"], "ok");
    assert!(reply.headers.contains_key("x-trace-id"));
}

#[tokio::test]
async fn healthz_is_503_when_the_database_is_unreachable() {
    let app = local_gateway::app(state_without_database());
    let reply = send(&app, get("/healthz")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["error"]["code"], "database_unavailable");
    assert!(
        !reply.body.to_string().contains("127.0.0.1"),
        "no internals: {}",
        reply.body
    );
}

#[tokio::test]
async fn every_function_route_is_reachable_through_the_gateway() {
    let app = local_gateway::app(state_without_database());
    for (method, path) in ROUTES.into_iter().chain([("POST", "/v1/budget/grants")]) {
        let reply = send(&app, request(method, path)).await;
        assert_ne!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {path} is not routed"
        );
        assert_ne!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert!(
            reply.body["error"]["trace_id"].is_string() || reply.status.is_success(),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn each_function_app_builds_and_serves_its_own_routes() {
    let state = state_without_database();
    let apps = [
        ("POST", "/auth/verify", auth_verify::app(state.clone())),
        ("POST", "/v1/turns", turns::app(state.clone())),
        ("GET", "/v1/personas", personas::app(state.clone())),
        ("GET", "/v1/agents", agents::app(state.clone())),
        ("GET", "/v1/budget", budget::app(state.clone())),
    ];
    for (method, path, app) in apps {
        let reply = send(&app, request(method, path)).await;
        assert_ne!(reply.status, StatusCode::NOT_FOUND, "{method} {path}");
        // A function serves only its own routes: anything else is a JSON 404.
        let foreign = send(&app, get("/v1/elsewhere")).await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND);
        assert_eq!(foreign.body["error"]["code"], "not_found");
    }
}

#[tokio::test]
async fn unknown_routes_get_a_json_404_with_a_trace_id() {
    let app = local_gateway::app(state_without_database());
    let reply = send(&app, get("/v2/whatever")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let trace_id = reply.headers["x-trace-id"].to_str().unwrap();
    assert_eq!(reply.body["error"]["trace_id"], trace_id);
}
