//! /v1/agents: each user manages only their own agents; models must be priced; duplicates are 409.

use axum::http::StatusCode;
use helix_tests::{Reply, authorised, get, json_request, request, send, signed_in_user, state};
use serde_json::{Value, json};
use sqlx::PgPool;

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> Reply {
    let request = match body {
        Some(body) => json_request(method, path, &body, token),
        None => authorised(request(method, path), token),
    };
    send(app, request).await
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_user_creates_lists_updates_and_deletes_their_agents(pool: PgPool) {
    let state = state(pool);
    let (_, token) = signed_in_user(&state, "owner@example.com").await;
    let app = local_gateway::app(state);

    let created = call(
        &app,
        "POST",
        "/v1/agents",
        Some(json!({"provider": "openai", "model": "gpt-4o-mini"})),
        &token,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        (
            created.body["provider"].as_str(),
            created.body["status"].as_str()
        ),
        (Some("openai"), Some("active"))
    );
    let id = created.body["id"].as_str().unwrap().to_owned();

    let local = call(
        &app,
        "POST",
        "/v1/agents",
        Some(json!({"provider": "local", "model": "any-local-model", "status": "disabled"})),
        &token,
    )
    .await;
    assert_eq!(
        (local.status, local.body["status"].as_str()),
        (StatusCode::CREATED, Some("disabled"))
    );

    let listed = call(&app, "GET", "/v1/agents", None, &token).await;
    assert_eq!(listed.body["agents"].as_array().unwrap().len(), 2);
    // No provider keys and no AWS region here: only the in-process local model.
    assert_eq!(listed.body["available_providers"], json!(["local"]));

    let disabled = call(
        &app,
        "PATCH",
        &format!("/v1/agents/{id}"),
        Some(json!({"status": "disabled"})),
        &token,
    )
    .await;
    assert_eq!(
        (disabled.status, disabled.body["status"].as_str()),
        (StatusCode::OK, Some("disabled"))
    );
    let moved = call(
        &app,
        "PATCH",
        &format!("/v1/agents/{id}"),
        Some(json!({"model": "gpt-4.1-mini", "status": "active"})),
        &token,
    )
    .await;
    assert_eq!(
        (moved.body["model"].as_str(), moved.body["status"].as_str()),
        (Some("gpt-4.1-mini"), Some("active"))
    );

    assert_eq!(
        call(&app, "DELETE", &format!("/v1/agents/{id}"), None, &token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, "DELETE", &format!("/v1/agents/{id}"), None, &token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, "GET", "/v1/agents", None, &token).await.body["agents"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn another_users_agents_are_invisible_and_untouchable(pool: PgPool) {
    let state = state(pool);
    let (_, mine) = signed_in_user(&state, "mine@example.com").await;
    let (_, theirs) = signed_in_user(&state, "theirs@example.com").await;
    let app = local_gateway::app(state);
    let created = call(
        &app,
        "POST",
        "/v1/agents",
        Some(json!({"provider": "anthropic", "model": "claude-haiku-4-5"})),
        &theirs,
    )
    .await;
    let id = created.body["id"].as_str().unwrap().to_owned();

    assert!(
        call(&app, "GET", "/v1/agents", None, &mine).await.body["agents"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let patched = call(
        &app,
        "PATCH",
        &format!("/v1/agents/{id}"),
        Some(json!({"status": "disabled"})),
        &mine,
    )
    .await;
    assert_eq!(patched.status, StatusCode::NOT_FOUND);
    let remodelled = call(
        &app,
        "PATCH",
        &format!("/v1/agents/{id}"),
        Some(json!({"model": "claude-sonnet-4-5"})),
        &mine,
    )
    .await;
    assert_eq!(remodelled.status, StatusCode::NOT_FOUND);
    assert_eq!(
        call(&app, "DELETE", &format!("/v1/agents/{id}"), None, &mine)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let still = call(&app, "GET", "/v1/agents", None, &theirs).await;
    assert_eq!(still.body["agents"][0]["status"], "active");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn bad_agents_are_refused_with_clear_answers(pool: PgPool) {
    let state = state(pool.clone());
    let (_, token) = signed_in_user(&state, "picky@example.com").await;
    let app = local_gateway::app(state);
    let ok = json!({"provider": "openai", "model": "gpt-4o-mini"});
    assert_eq!(
        call(&app, "POST", "/v1/agents", Some(ok.clone()), &token)
            .await
            .status,
        StatusCode::CREATED
    );

    let duplicate = call(&app, "POST", "/v1/agents", Some(ok), &token).await;
    assert_eq!(
        (duplicate.status, duplicate.body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("agent_exists"))
    );

    let cases = [
        (json!({"provider": "acme", "model": "x"}), "provider"),
        (
            json!({"provider": "openai", "model": "gpt-99-imaginary"}),
            "gpt-99-imaginary",
        ),
        (json!({"provider": "bedrock", "model": ""}), "model"),
        (
            json!({"provider": "openai", "model": "gpt-4o", "status": "paused"}),
            "status",
        ),
        (json!({"provider": "openai"}), "model"),
    ];
    for (body, named) in cases {
        let reply = call(&app, "POST", "/v1/agents", Some(body.clone()), &token).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(named),
            "{body}: {}",
            reply.body
        );
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM agents")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "bad input changes nothing");

    let listed = call(&app, "GET", "/v1/agents", None, &token).await;
    let id = listed.body["agents"][0]["id"].as_str().unwrap().to_owned();
    let empty = call(
        &app,
        "PATCH",
        &format!("/v1/agents/{id}"),
        Some(json!({})),
        &token,
    )
    .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    let unpriced = call(
        &app,
        "PATCH",
        &format!("/v1/agents/{id}"),
        Some(json!({"model": "claude-haiku-4-5"})),
        &token,
    )
    .await;
    assert_eq!(
        unpriced.body["error"]["code"], "unknown_model",
        "a model of another provider is not priced for openai"
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn the_priced_models_are_listed_per_provider(pool: PgPool) {
    let state = state(pool);
    let (_, token) = signed_in_user(&state, "shopper@example.com").await;
    let app = local_gateway::app(state);
    let reply = send(&app, authorised(get("/v1/agents/models"), &token)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let providers = reply.body["providers"].as_array().unwrap();
    assert_eq!(providers.len(), 4);
    let openai = providers
        .iter()
        .find(|p| p["provider"] == "openai")
        .unwrap();
    let mini = openai["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "gpt-4o-mini")
        .unwrap();
    assert_eq!(mini["output_per_mtok_micros"], 600_000);
    let local = providers.iter().find(|p| p["provider"] == "local").unwrap();
    assert_eq!(local["any_model"], true);
}
