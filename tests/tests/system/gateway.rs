//! The local gateway serves the whole API: health, routing to every function, errors.

use axum::http::StatusCode;
use helix_tests::{
    V1_ROUTES, authorised, get, request, send, signed_in_user, state, state_without_database,
};
use sqlx::PgPool;

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

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn every_function_route_is_reachable_through_the_gateway(pool: PgPool) {
    let state = state(pool);
    let (_, token) = signed_in_user(&state, "router@example.com").await;
    let app = local_gateway::app(state);
    for (method, path) in V1_ROUTES {
        let reply = send(&app, authorised(request(method, path), &token)).await;
        assert!(
            !reply.is_unrouted()
                && ![StatusCode::UNAUTHORIZED, StatusCode::NOT_IMPLEMENTED].contains(&reply.status),
            "{method} {path} answered {}",
            reply.status
        );
    }
    let sign_in = send(&app, request("POST", "/auth/verify")).await;
    assert_eq!(
        sign_in.status,
        StatusCode::BAD_REQUEST,
        "routed to auth-verify: {}",
        sign_in.body
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn each_function_app_builds_and_serves_only_its_own_routes(pool: PgPool) {
    let state = state(pool);
    let (_, token) = signed_in_user(&state, "apps@example.com").await;
    let apps = [
        ("POST", "/auth/verify", auth_verify::app(state.clone())),
        ("POST", "/v1/turns", turns::app(state.clone())),
        ("GET", "/v1/personas", personas::app(state.clone())),
        ("GET", "/v1/agents", agents::app(state.clone())),
        ("GET", "/v1/budget", budget::app(state.clone())),
    ];
    for (method, path, app) in apps {
        let reply = send(&app, authorised(request(method, path), &token)).await;
        assert_ne!(reply.status, StatusCode::NOT_FOUND, "{method} {path}");
        let foreign = send(&app, authorised(get("/v1/elsewhere"), &token)).await;
        assert_eq!(
            foreign.status,
            StatusCode::NOT_FOUND,
            "{path}'s app must not serve /v1/elsewhere"
        );
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
