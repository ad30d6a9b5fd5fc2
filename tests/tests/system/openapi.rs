//! docs/openapi.json stays true: every operation it documents is routed and answers as described.

use axum::http::StatusCode;
use helix_tests::{authorised, request, send, signed_in_user, state};
use serde_json::Value;
use sqlx::PgPool;

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn every_documented_operation_is_routed(pool: PgPool) {
    let state = state(pool);
    let (user, _) = signed_in_user(&state, "spec@example.com").await;
    let app = local_gateway::app(state.clone());
    let spec = spec();
    let paths = spec["paths"].as_object().unwrap();
    assert!(!paths.is_empty());
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            let method = method.to_uppercase();
            let concrete = with_placeholder_ids(path);
            // A token of its own: POST /auth/logout revokes the one it is sent with.
            let token = state
                .tokens
                .issue(&user.id, chrono::Utc::now().timestamp())
                .unwrap()
                .token;
            let reply = send(&app, authorised(request(&method, &concrete), &token)).await;
            assert!(
                !reply.is_unrouted() && reply.status != StatusCode::NOT_IMPLEMENTED,
                "{method} {path} is documented but answered {} {}",
                reply.status,
                reply.body
            );
            let documented = operation["responses"].as_object().unwrap();
            assert!(
                documented.contains_key(reply.status.as_str()),
                "{method} {path} answered {} which the spec does not list",
                reply.status
            );
        }
    }
}

/// `/v1/agents/{id}` → `/v1/agents/abc`: a path a router can be asked for.
fn with_placeholder_ids(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "abc"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_referenced_schema_exists() {
    let spec = spec();
    let text = spec.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let target = reference.split('"').next().unwrap();
        let pointer = target.trim_start_matches('#');
        assert!(spec.pointer(pointer).is_some(), "dangling $ref {target}");
    }
}
