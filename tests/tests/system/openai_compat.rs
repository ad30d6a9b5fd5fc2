//! Personal API keys and the OpenAI-compatible API (chat completions, models, embeddings) through
//! the real router, a real database, a fake OpenAI-wire provider and the real local embedder.

use std::sync::Arc;

use axum::http::StatusCode;
use helix_shared::AppState;
use helix_shared::budget::ledger;
use helix_shared::engine::registry::EngineRegistry;
use helix_tests::{
    OpenAiReply, Reply, add_agent, assert_invariant, config_with, fake_aws_config, get_with_token,
    json_request, open_holds, prepare_memory, send, signed_in_user,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

type World = helix_tests::World<MockServer>;

/// A user with an active local agent (`local/llama3.2`) and an OpenAI one; engines talk to one
/// fake provider; the local model is priced at $1 per million tokens each way.
async fn world(pool: PgPool, extra: &[(&str, &str)]) -> World {
    let provider = MockServer::start().await;
    let local = format!("{}/local/v1", provider.uri());
    let openai = format!("{}/v1", provider.uri());
    let mut pairs = vec![
        ("OPENAI_API_KEY", "sk-test"),
        ("HELIX_ENGINE_MAX_ATTEMPTS", "1"),
        ("HELIX_LOCAL_BASE_URL", local.as_str()),
        ("HELIX_OPENAI_BASE_URL", openai.as_str()),
        ("HELIX_LOCAL_INPUT_PER_MTOK_MICROS", "1000000"),
        ("HELIX_LOCAL_OUTPUT_PER_MTOK_MICROS", "1000000"),
    ];
    pairs.extend_from_slice(extra);
    let config = config_with(&pairs);
    let mut state = AppState::new(config.clone(), pool.clone()).unwrap();
    state.engines =
        Arc::new(EngineRegistry::new(config.engines).with_aws_config(fake_aws_config(None).await));
    let world = World::with_provider(state, "scripter@example.com", provider).await;
    add_agent(&pool, &world.user.id, "local", "llama3.2", "active").await;
    add_agent(&pool, &world.user.id, "openai", "gpt-4o-mini", "active").await;
    world
}

async fn answer(world: &World, reply: OpenAiReply) {
    Mock::given(method("POST"))
        .and(path("/local/v1/chat/completions"))
        .respond_with(reply)
        .mount(&world.provider)
        .await;
}

async fn create_key(world: &World, body: Value) -> Reply {
    send(
        &world.app,
        json_request("POST", "/v1/keys", &body, &world.token),
    )
    .await
}

/// A new key's secret and id.
async fn new_key(world: &World, body: Value) -> (String, String) {
    let reply = create_key(world, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    (
        reply.body["key"].as_str().unwrap().to_owned(),
        reply.body["id"].as_str().unwrap().to_owned(),
    )
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 20})
}

async fn complete(world: &World, key: &str, body: &Value) -> Reply {
    send(
        &world.app,
        json_request("POST", "/v1/chat/completions", body, key),
    )
    .await
}

/// The `data:` payloads of an OpenAI-style stream, `[DONE]` as a string.
async fn complete_streamed(world: &World, key: &str, body: &Value) -> (StatusCode, Vec<Value>) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = json_request("POST", "/v1/chat/completions", body, key);
    let response = world.app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let data = text
        .split("\n\n")
        .filter_map(|block| {
            block
                .lines()
                .find_map(|line| line.strip_prefix("data: "))
                .map(|data| serde_json::from_str(data).unwrap_or_else(|_| json!(data)))
        })
        .collect();
    (status, data)
}

async fn key_ledger(world: &World) -> Vec<(i64, Option<String>, String)> {
    sqlx::query_as(
        "SELECT cost_micros, api_key_id, kind FROM usage_ledger WHERE user_id = $1 ORDER BY created_at",
    )
    .bind(&world.user.id)
    .fetch_all(&world.pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_key_is_shown_once_stored_as_its_hash_and_acts_as_its_owner(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    let created = create_key(&world, json!({"name": "laptop", "spend_limit_cents": 500})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let secret = created.body["key"].as_str().unwrap();
    assert!(secret.starts_with("hx_") && secret.len() == 46, "{secret}");
    assert_eq!(created.body["prefix"], json!(secret[..11]));
    assert_eq!(created.body["spend_limit_cents"], json!(500));
    let stored: (String,) = sqlx::query_as("SELECT secret_sha256 FROM api_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_ne!(stored.0, secret);
    assert_eq!(stored.0, helix_shared::auth::api_keys::sha256_hex(secret));

    let as_owner = send(&world.app, get_with_token("/v1/agents", secret)).await;
    assert_eq!(as_owner.status, StatusCode::OK, "{}", as_owner.body);
    let listed = send(&world.app, get_with_token("/v1/keys", &world.token)).await;
    assert_eq!(listed.status, StatusCode::OK);
    let keys = listed.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["name"], "laptop");
    assert_eq!(keys[0]["spend_limit_cents"], 500);
    assert!(keys[0]["last_used_at"].is_string(), "{}", listed.body);
    assert!(!listed.body.to_string().contains(secret));
    // Used again at once: no second write of last_used_at within the minute.
    let before: (chrono::DateTime<chrono::Utc>,) =
        sqlx::query_as("SELECT last_used_at FROM api_keys")
            .fetch_one(&pool)
            .await
            .unwrap();
    send(&world.app, get_with_token("/v1/agents", secret)).await;
    let after: (chrono::DateTime<chrono::Utc>,) =
        sqlx::query_as("SELECT last_used_at FROM api_keys")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(before, after);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_revoked_or_expired_key_is_401_and_a_key_cannot_manage_keys(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    let (revoked, revoked_id) = new_key(&world, json!({"name": "old"})).await;
    let (expiring, expiring_id) = new_key(&world, json!({"name": "soon"})).await;
    let (live, _) = new_key(&world, json!({"name": "live"})).await;

    let minted = send(
        &world.app,
        json_request("POST", "/v1/keys", &json!({"name": "x"}), &live),
    )
    .await;
    assert_eq!(minted.status, StatusCode::FORBIDDEN);
    assert_eq!(minted.body["error"]["code"], "session_required");
    let revoke = axum::http::Request::delete(format!("/v1/keys/{revoked_id}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let revoked_reply = send(&world.app, helix_tests::authorised(revoke, &world.token)).await;
    assert_eq!(revoked_reply.status, StatusCode::NO_CONTENT);
    sqlx::query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(&expiring_id)
        .execute(&pool)
        .await
        .unwrap();

    for key in [&revoked, &expiring, &"hx_not-a-key".to_owned()] {
        let helix = send(&world.app, get_with_token("/v1/agents", key)).await;
        assert_eq!(helix.status, StatusCode::UNAUTHORIZED);
        assert_eq!(helix.body["error"]["code"], "invalid_token");
        // The OpenAI-compatible routes answer in OpenAI's shape.
        let openai = send(&world.app, get_with_token("/v1/models", key)).await;
        assert_eq!(openai.status, StatusCode::UNAUTHORIZED);
        assert_eq!(openai.body["error"]["code"], "invalid_api_key");
        assert_eq!(openai.body["error"]["type"], "authentication_error");
        assert!(openai.body["error"].get("param").is_some());
    }
    let listed = send(&world.app, get_with_token("/v1/keys", &world.token)).await;
    let names: Vec<&str> = listed.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["live", "soon"]);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn one_users_key_never_reaches_another_users_keys_or_data(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    let (_, key_id) = new_key(&world, json!({"name": "mine"})).await;
    let (other, other_token) = signed_in_user(&world.state, "other@example.com").await;
    let revoke = axum::http::Request::delete(format!("/v1/keys/{key_id}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let refused = send(&world.app, helix_tests::authorised(revoke, &other_token)).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    let theirs = send(&world.app, get_with_token("/v1/keys", &other_token)).await;
    assert_eq!(theirs.body["keys"], json!([]));
    let (other_key, _) = {
        let reply = send(
            &world.app,
            json_request("POST", "/v1/keys", &json!({"name": "theirs"}), &other_token),
        )
        .await;
        (reply.body["key"].as_str().unwrap().to_owned(), ())
    };
    // The other user's key sees only the other user's models (none) and budget.
    let models = send(&world.app, get_with_token("/v1/models", &other_key)).await;
    assert!(
        models.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| !m["id"].as_str().unwrap().contains("llama3.2")),
        "{}",
        models.body
    );
    let denied = complete(&world, &other_key, &chat("local/llama3.2")).await;
    assert_eq!(denied.status, StatusCode::NOT_FOUND);
    let budget = send(&world.app, get_with_token("/v1/budget", &other_key)).await;
    assert_eq!(budget.status, StatusCode::OK);
    assert_eq!(budget.body["ledger"], json!([]));
    let _ = other;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_chat_completion_answers_in_openai_shape_and_is_charged_to_its_key(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(1_000_000).await;
    answer(&world, OpenAiReply::text("Hello!", 12, 3)).await;
    let (key, key_id) = new_key(&world, json!({"name": "script"})).await;

    let reply = complete(&world, &key, &chat("local/llama3.2")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = &reply.body;
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["model"], "local/llama3.2");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], "Hello!");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15})
    );
    assert_eq!(body["helix"]["cost_micros"], 15);
    assert_eq!(reply.headers["x-helix-cost-micros"], "15");
    assert_eq!(reply.headers["x-helix-balance-micros"], "999985");
    assert_eq!(reply.headers["x-helix-max-tokens-reduced"], "false");

    // A bare model name resolves when one agent serves it.
    let bare = complete(&world, &key, &chat("llama3.2")).await;
    assert_eq!(bare.status, StatusCode::OK, "{}", bare.body);
    // The provider got the client's messages as they are: no personality's system prompt.
    let sent: Value =
        serde_json::from_slice(&world.provider.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": "Say hello."}])
    );

    let rows = key_ledger(&world).await;
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|(cost, id, _)| *cost == 15 && id.as_deref() == Some(key_id.as_str()))
    );
    let with_jwt = complete(&world, &world.token, &chat("local/llama3.2")).await;
    assert_eq!(with_jwt.status, StatusCode::OK);
    let filtered = send(
        &world.app,
        get_with_token(&format!("/v1/budget?api_key_id={key_id}"), &world.token),
    )
    .await;
    let ledger = filtered.body["ledger"].as_array().unwrap();
    assert_eq!(ledger.len(), 2, "{}", filtered.body);
    assert!(ledger.iter().all(|row| row["api_key_id"] == json!(key_id)));
    let listed = send(&world.app, get_with_token("/v1/keys", &world.token)).await;
    assert_eq!(listed.body["keys"][0]["spent_micros"], 30);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_streamed_completion_sends_openai_chunks_usage_helix_and_done(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(1_000_000).await;
    answer(
        &world,
        OpenAiReply::text("Hello!", 12, 3).in_pieces(&["Hel", "lo!"]),
    )
    .await;
    let (key, _) = new_key(&world, json!({"name": "stream"})).await;
    let mut body = chat("local/llama3.2");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});

    let (status, chunks) = complete_streamed(&world, &key, &body).await;
    assert_eq!(status, StatusCode::OK, "{chunks:?}");
    assert_eq!(chunks.last().unwrap(), &json!("[DONE]"));
    let chunks = &chunks[..chunks.len() - 1];
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello!");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["total_tokens"], 15);
    assert_eq!(last["helix"]["cost_micros"], 15);
    assert_eq!(open_holds(&pool).await, 0);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn client_tools_are_offered_and_tool_calls_come_back_in_openai_shape(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(1_000_000).await;
    let calls = json!([{"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]);
    answer(&world, OpenAiReply::text("", 20, 5).with_tool_calls(calls)).await;
    let (key, _) = new_key(&world, json!({"name": "tools"})).await;
    let mut body = chat("local/llama3.2");
    body["tools"] = json!([{"type": "function", "function": {
        "name": "get_weather", "description": "Weather by city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);

    let reply = complete(&world, &key, &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let choice = &reply.body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["id"], "call_1");
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"city": "Oslo"}));
    let sent: Value =
        serde_json::from_slice(&world.provider.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(sent["tools"][0]["function"]["name"], "get_weather");

    // The conversation goes on with the tool's result.
    body["messages"] = json!([
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": null, "tool_calls": reply.body["choices"][0]["message"]["tool_calls"]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
    ]);
    let next = complete(&world, &key, &body).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn every_error_is_in_openai_shape_with_its_status(pool: PgPool) {
    let world = world(pool.clone(), &[("HELIX_MAX_CALLS_PER_MINUTE", "2")]).await;
    answer(&world, OpenAiReply::text("Hello!", 12, 3)).await;
    let (key, _) = new_key(&world, json!({"name": "errors"})).await;
    let error = |reply: &Reply| reply.body["error"].clone();

    let unfunded = complete(&world, &key, &chat("local/llama3.2")).await;
    assert_eq!(
        unfunded.status,
        StatusCode::PAYMENT_REQUIRED,
        "{}",
        unfunded.body
    );
    assert_eq!(error(&unfunded)["type"], "insufficient_quota");
    assert_eq!(error(&unfunded)["code"], "budget_exhausted");

    let unknown = complete(&world, &key, &chat("anthropic/claude-nope")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(error(&unknown)["code"], "model_not_found");
    assert_eq!(error(&unknown)["type"], "invalid_request_error");

    let mut wrong_type = chat("local/llama3.2");
    wrong_type["max_tokens"] = json!("many");
    let bad_type = complete(&world, &key, &wrong_type).await;
    assert_eq!(
        bad_type.status,
        StatusCode::BAD_REQUEST,
        "{}",
        bad_type.body
    );
    assert_eq!(error(&bad_type)["type"], "invalid_request_error");
    assert_eq!(error(&bad_type)["param"], "max_tokens");
    let mut out_of_range = chat("local/llama3.2");
    out_of_range["temperature"] = json!(9);
    let bad_value = complete(&world, &key, &out_of_range).await;
    assert_eq!(bad_value.status, StatusCode::BAD_REQUEST);
    assert_eq!(error(&bad_value)["param"], "temperature");

    let no_key = send(
        &world.app,
        axum::http::Request::post("/v1/chat/completions")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(chat("local/llama3.2").to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(no_key.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error(&no_key)["code"], "invalid_api_key");

    world.fund(1_000_000).await;
    let mut limited = None;
    for _ in 0..4 {
        let reply = complete(&world, &key, &chat("local/llama3.2")).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(reply);
            break;
        }
    }
    let limited = limited.expect("the per-minute limit answers 429");
    assert_eq!(error(&limited)["type"], "rate_limit_error");
    assert!(limited.headers.contains_key("retry-after"));
    // No refused call changed the books.
    assert_invariant(&pool).await;
}

/// 200 calls at once with a key whose limit pays for exactly 20, under a balance that pays for
/// all: the key's limit holds exactly, with no drift.
#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_keys_spend_limit_holds_under_200_concurrent_calls(pool: PgPool) {
    // $100 per million tokens each way: 100 micros a token.
    let world = world(
        pool.clone(),
        &[
            ("HELIX_DB_MAX_CONNECTIONS", "20"),
            ("HELIX_LOCAL_INPUT_PER_MTOK_MICROS", "100000000"),
            ("HELIX_LOCAL_OUTPUT_PER_MTOK_MICROS", "100000000"),
        ],
    )
    .await;
    world.fund(100_000_000).await;
    // 4 input tokens and 1 output token (max_tokens 1, so no clamp can go under what the
    // provider reports): exactly 500 micros a call once settled, against a 10,000-micro limit
    // that the worst-case holds of concurrent calls fill first.
    answer(&world, OpenAiReply::text("o", 4, 1)).await;
    let (key, key_id) = new_key(&world, json!({"name": "capped", "spend_limit_cents": 1})).await;
    let mut body = chat("local/llama3.2");
    body["max_tokens"] = json!(1);

    let calls = (0..200).map(|_| {
        let (app, request) = (
            world.app.clone(),
            json_request("POST", "/v1/chat/completions", &body, &key),
        );
        tokio::spawn(async move { send(&app, request).await })
    });
    let mut replies = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        replies.push(call.await.unwrap());
    }
    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let refused: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::PAYMENT_REQUIRED)
        .collect();
    assert_eq!(ok + refused.len(), 200);
    assert!(ok > 0);
    assert!(
        refused
            .iter()
            .all(|r| r.body["error"]["code"] == "key_spend_limit_reached"),
        "every refusal names the key's limit, not the (ample) balance"
    );
    assert!(
        refused[0].body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("capped")
    );
    let (spent, held, limit): (i64, i64, i64) = sqlx::query_as(
        "SELECT spent_micros, held_micros, spend_limit_micros FROM api_keys WHERE id = $1",
    )
    .bind(&key_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    let ledger_sum: i64 = key_ledger(&world)
        .await
        .iter()
        .map(|(cost, _, _)| cost)
        .sum();
    assert!(spent <= limit, "{spent} > {limit}");
    assert_eq!(
        spent, ledger_sum,
        "the key's counter drifted from its ledger rows"
    );
    assert_eq!(held, 0);
    assert_eq!(spent, ok as i64 * 500);
    assert_eq!(
        helix_shared::budget::reconcile::api_key_drifts(&pool)
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(open_holds(&pool).await, 0);
    assert_invariant(&pool).await;
    let _ = ledger::balance_micros(&pool, &world.user.id).await.unwrap();
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn models_lists_the_active_agents_and_embeddings_are_metered(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    prepare_memory(&world.state).await;
    world.fund(1_000_000).await;
    add_agent(&pool, &world.user.id, "anthropic", "claude-off", "disabled").await;
    let (key, key_id) = new_key(&world, json!({"name": "embed"})).await;

    let models = send(&world.app, get_with_token("/v1/models", &key)).await;
    assert_eq!(models.status, StatusCode::OK);
    assert_eq!(models.body["object"], "list");
    let ids: Vec<&str> = models.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"local/llama3.2") && ids.contains(&"openai/gpt-4o-mini"),
        "{ids:?}"
    );
    assert!(!ids.iter().any(|id| id.contains("claude-off")));
    let embedder = ids
        .iter()
        .find(|id| !id.contains("llama") && !id.contains("gpt"))
        .unwrap()
        .to_string();

    let reply = send(
        &world.app,
        json_request(
            "POST",
            "/v1/embeddings",
            &json!({"model": embedder, "input": ["a cat", "a dog"]}),
            &key,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["object"], "list");
    assert_eq!(reply.body["data"][1]["index"], 1);
    assert_eq!(reply.body["data"][0]["object"], "embedding");
    let dims = reply.body["data"][0]["embedding"].as_array().unwrap().len();
    assert_eq!(dims, 384);
    assert!(reply.body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let base64 = send(
        &world.app,
        json_request(
            "POST",
            "/v1/embeddings",
            &json!({"model": embedder, "input": "a cat", "encoding_format": "base64"}),
            &key,
        ),
    )
    .await;
    assert_eq!(base64.status, StatusCode::OK);
    // 384 little-endian f32s: 1,536 bytes, 2,048 base64 characters.
    assert_eq!(
        base64.body["data"][0]["embedding"].as_str().unwrap().len(),
        2048
    );
    let unknown = send(
        &world.app,
        json_request(
            "POST",
            "/v1/embeddings",
            &json!({"model": "text-embedding-ada-002", "input": "x"}),
            &key,
        ),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["error"]["code"], "model_not_found");
    let rows = key_ledger(&world).await;
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|(_, id, kind)| kind == "embedding" && id.as_deref() == Some(key_id.as_str()))
    );
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn revoking_a_users_tokens_also_stops_the_keys_they_held(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    let (key, _) = new_key(&world, json!({"name": "before"})).await;
    assert_eq!(
        send(&world.app, get_with_token("/v1/agents", &key))
            .await
            .status,
        StatusCode::OK
    );
    helix_shared::db::users::revoke_all_tokens(&pool, &world.user.email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        send(&world.app, get_with_token("/v1/agents", &key))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

/// A crashed call's hold, made with a key, is refunded by reconciliation: the key's counter too.
#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn reconciliation_refunds_a_keys_expired_hold_and_finds_its_counters_exact(pool: PgPool) {
    use helix_shared::budget::ledger::{HoldRequest, ReserveOutcome};
    use helix_shared::budget::reconcile;
    let world = world(pool.clone(), &[]).await;
    world.fund(1_000_000).await;
    let (_, key_id) = new_key(&world, json!({"name": "crashy", "spend_limit_cents": 10})).await;
    let request = HoldRequest {
        user_id: &world.user.id,
        agent_id: None,
        trace_id: "t",
        price: helix_shared::pricing::Price {
            input_per_mtok_micros: 1_000_000,
            cached_input_per_mtok_micros: 0,
            output_per_mtok_micros: 1_000_000,
        },
        input_bound: 100,
        requested_max_tokens: 100,
        ttl: std::time::Duration::from_millis(20),
        limits: helix_shared::budget::rules::CallLimits::DEFAULT,
        api_key_id: Some(&key_id),
    };
    let ReserveOutcome::Held(hold) = ledger::reserve(&pool, &request).await.unwrap() else {
        panic!("not held")
    };
    assert_eq!(hold.api_key_id.as_deref(), Some(key_id.as_str()));
    let held: (i64,) = sqlx::query_as("SELECT held_micros FROM api_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(held.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let released = reconcile::release_expired_holds(&pool).await.unwrap();
    assert_eq!(released.holds, 1);
    let held: (i64,) = sqlx::query_as("SELECT held_micros FROM api_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(held.0, 0);
    assert_eq!(reconcile::api_key_drifts(&pool).await.unwrap(), vec![]);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_retried_completion_with_its_idempotency_key_is_replayed_and_charged_once(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(1_000_000).await;
    answer(&world, OpenAiReply::text("Hello!", 12, 3)).await;
    let (key, _) = new_key(&world, json!({"name": "retry"})).await;
    let keyed = |body: &Value| {
        let mut request = json_request("POST", "/v1/chat/completions", body, &key);
        request
            .headers_mut()
            .insert("idempotency-key", "retry-1".parse().unwrap());
        request
    };
    let body = chat("local/llama3.2");
    let first = send(&world.app, keyed(&body)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let again = send(&world.app, keyed(&body)).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    // The same answer (its `created` is the second it was stored in, which may be the next one).
    let without_created = |body: &Value| {
        let mut body = body.clone();
        body.as_object_mut().unwrap().remove("created");
        body
    };
    assert_eq!(without_created(&again.body), without_created(&first.body));
    // Streamed this time: the stored answer as the chunks it would have been.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let response = {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let response = world.app.clone().oneshot(keyed(&streamed)).await.unwrap();
        assert_eq!(response.headers()["idempotent-replayed"], "true");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    assert!(response.contains("\"content\":\"Hello!\""), "{response}");
    assert!(response.trim_end().ends_with("data: [DONE]"), "{response}");
    let mut other = body.clone();
    other["max_tokens"] = json!(5);
    assert_eq!(
        send(&world.app, keyed(&other)).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(key_ledger(&world).await.len(), 1, "charged once");
    assert_eq!(world.provider.received_requests().await.unwrap().len(), 1);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn max_tokens_are_lowered_to_what_the_balance_covers_and_the_answer_says_so(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    // $1/Mtok each way: 2,000 micros cover the input bound and far fewer than 32,768 output tokens.
    world.fund(2_000).await;
    answer(&world, OpenAiReply::text("Hi", 12, 3)).await;
    let (key, _) = new_key(&world, json!({"name": "clamped"})).await;
    let mut body = chat("local/llama3.2");
    body["max_completion_tokens"] = json!(32_768);
    let reply = complete(&world, &key, &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.headers["x-helix-max-tokens-reduced"], "true");
    assert_eq!(reply.body["helix"]["max_tokens_reduced"], true);
    let max_tokens = reply.body["helix"]["max_tokens"].as_u64().unwrap();
    assert!(max_tokens < 2_000, "{max_tokens}");
    let sent: Value =
        serde_json::from_slice(&world.provider.received_requests().await.unwrap()[0].body).unwrap();
    let asked = sent["max_tokens"]
        .as_u64()
        .or(sent["max_completion_tokens"].as_u64())
        .unwrap();
    assert_eq!(asked, max_tokens);
    assert_invariant(&pool).await;
}

/// A call of a stored conversation: `helix` as the SDKs send it with `extra_body`.
fn stored_chat(messages: Value, helix: Value) -> Value {
    json!({"model": "local/llama3.2", "messages": messages, "max_tokens": 20, "helix": helix})
}

async fn provider_sent(world: &World) -> Vec<Value> {
    world
        .provider
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// A stored conversation's messages as `GET /v1/conversations/{id}` shows them: role and text.
async fn stored_messages(world: &World, id: &str) -> Vec<(String, String)> {
    let page = send(
        &world.app,
        get_with_token(&format!("/v1/conversations/{id}"), &world.token),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The ledger row that charged a stored answer: its cost, meta and key.
async fn answer_charge(world: &World, message_id: &str) -> (i64, Value, Option<String>) {
    sqlx::query_as(
        "SELECT l.cost_micros, l.meta, l.api_key_id FROM usage_ledger l
         JOIN conversation_messages m ON m.ledger_id = l.id WHERE m.id = $1",
    )
    .bind(message_id)
    .fetch_one(&world.pool)
    .await
    .unwrap()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(role, text)| ((*role).to_owned(), (*text).to_owned()))
        .collect()
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_conversation_started_with_save_is_continued_from_its_stored_history(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(1_000_000).await;
    answer(&world, OpenAiReply::text("Hello!", 12, 3)).await;
    let (key, key_id) = new_key(&world, json!({"name": "chat-ui"})).await;

    let first = complete(
        &world,
        &key,
        &stored_chat(
            json!([{"role": "system", "content": "Be brief."},
                   {"role": "user", "content": "Say hello."}]),
            json!({"personality_id": "helix-assistant", "save": true}),
        ),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let helix = &first.body["helix"];
    let id = helix["conversation_id"].as_str().unwrap().to_owned();
    let first_answer = helix["message_id"].as_str().unwrap().to_owned();
    assert_eq!(helix["history_omitted"], 0);
    assert_eq!(helix["personality_id"], "helix-assistant");

    // The client's own copy of the chat is not what the model sees: the stored history is. No
    // personality named: the conversation's own.
    let second = complete(
        &world,
        &key,
        &stored_chat(
            json!([{"role": "system", "content": "Be brief."},
                   {"role": "user", "content": "Something I never asked."},
                   {"role": "assistant", "content": "Something never answered."},
                   {"role": "user", "content": "Now in French."}]),
            json!({"conversation_id": id}),
        ),
    )
    .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let helix = &second.body["helix"];
    assert_eq!(helix["conversation_id"], json!(id));
    assert_eq!(helix["personality_id"], "helix-assistant");
    let second_answer = helix["message_id"].as_str().unwrap().to_owned();
    assert_ne!(second_answer, first_answer);

    let sent = &provider_sent(&world).await[1]["messages"];
    assert_eq!(sent[0]["role"], "system");
    assert!(
        sent[0]["content"]
            .as_str()
            .unwrap()
            .starts_with("You are Helix"),
        "the personality's system prompt first: {sent}"
    );
    let rest: Vec<Value> = sent.as_array().unwrap()[1..]
        .iter()
        .map(|m| json!([m["role"], m["content"]]))
        .collect();
    assert_eq!(
        rest,
        [
            json!(["system", "Be brief."]),
            json!(["user", "Say hello."]),
            json!(["assistant", "Hello!"]),
            json!(["user", "Now in French."]),
        ]
    );
    // The system message is sent each call and never stored.
    assert_eq!(
        stored_messages(&world, &id).await,
        pairs(&[
            ("user", "Say hello."),
            ("assistant", "Hello!"),
            ("user", "Now in French."),
            ("assistant", "Hello!"),
        ])
    );
    for (answer_id, reply) in [(&first_answer, &first), (&second_answer, &second)] {
        let (cost, meta, charged_key) = answer_charge(&world, answer_id).await;
        assert_eq!(cost, reply.body["helix"]["cost_micros"].as_i64().unwrap());
        assert_eq!(meta["conversation_id"], json!(id));
        assert_eq!(meta["personality_id"], "helix-assistant");
        assert_eq!(charged_key.as_deref(), Some(key_id.as_str()));
    }
    let page = send(
        &world.app,
        get_with_token(&format!("/v1/conversations/{id}"), &world.token),
    )
    .await;
    assert_eq!(page.body["title"], "Say hello.");
    assert_eq!(page.body["personality_id"], "helix-assistant");
    assert_eq!(page.body["model"], "llama3.2");
    assert_eq!(open_holds(&pool).await, 0);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn another_users_conversation_is_404_and_a_bad_conversation_call_400(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(1_000_000).await;
    answer(&world, OpenAiReply::text("Hello!", 12, 3)).await;
    let hello = json!([{"role": "user", "content": "Say hello."}]);
    let started = complete(
        &world,
        &world.token,
        &stored_chat(
            hello.clone(),
            json!({"personality_id": "helix-assistant", "save": true}),
        ),
    )
    .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let id = started.body["helix"]["conversation_id"].as_str().unwrap();
    let (other, other_token) = signed_in_user(&world.state, "other@example.com").await;
    add_agent(&pool, &other.id, "local", "llama3.2", "active").await;
    let error = |reply: &Reply| reply.body["error"].clone();

    let theirs = complete(
        &world,
        &other_token,
        &stored_chat(hello.clone(), json!({"conversation_id": id})),
    )
    .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", theirs.body);
    assert_eq!(error(&theirs)["code"], "conversation_not_found");
    assert_eq!(error(&theirs)["type"], "invalid_request_error");
    let unknown = complete(
        &world,
        &world.token,
        &stored_chat(hello.clone(), json!({"conversation_id": "zzzzzzzzzzzz"})),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(error(&unknown)["code"], "conversation_not_found");

    let cases = [
        (
            json!({"conversation_id": "Not-An-Id"}),
            hello.clone(),
            "helix.conversation_id",
        ),
        (
            json!({"conversation_id": id, "save": false}),
            hello.clone(),
            "helix.save",
        ),
        // Starting one needs a personality: none is made up for the client.
        (json!({"save": true}), hello.clone(), "helix.personality_id"),
        // Nothing after the last answer: no question to add.
        (
            json!({"conversation_id": id}),
            json!([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]),
            "messages",
        ),
    ];
    for (helix, messages, param) in cases {
        let refused = complete(&world, &world.token, &stored_chat(messages, helix)).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(error(&refused)["param"], param, "{}", refused.body);
    }
    // Nothing refused reached the provider, was charged or was stored.
    assert_eq!(provider_sent(&world).await.len(), 1);
    assert_eq!(key_ledger(&world).await.len(), 1);
    assert_eq!(stored_messages(&world, id).await.len(), 2);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_streamed_call_stores_its_answer_and_its_last_chunk_names_it(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(1_000_000).await;
    answer(
        &world,
        OpenAiReply::text("Hello!", 12, 3).in_pieces(&["Hel", "lo!"]),
    )
    .await;
    let (key, key_id) = new_key(&world, json!({"name": "stream"})).await;
    let mut body = stored_chat(
        json!([{"role": "user", "content": "Say hello."}]),
        json!({"save": true}),
    );
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let personality = axum::http::HeaderValue::from_static("helix-assistant");
    let mut request = json_request("POST", "/v1/chat/completions", &body, &key);
    request
        .headers_mut()
        .insert("x-helix-personality", personality);
    let response = {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let response = world.app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    let chunks: Vec<Value> = response
        .split("\n\n")
        .filter_map(|block| block.strip_prefix("data: "))
        .filter(|data| *data != "[DONE]")
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    let helix = &chunks.last().unwrap()["helix"];
    let id = helix["conversation_id"].as_str().unwrap();
    let answer_id = helix["message_id"].as_str().unwrap();
    assert_eq!(helix["personality_id"], "helix-assistant");

    assert_eq!(
        stored_messages(&world, id).await,
        pairs(&[("user", "Say hello."), ("assistant", "Hello!")])
    );
    let (cost, meta, charged_key) = answer_charge(&world, answer_id).await;
    assert_eq!(cost, helix["cost_micros"].as_i64().unwrap());
    assert_eq!(meta["conversation_id"], json!(id));
    assert_eq!(charged_key.as_deref(), Some(key_id.as_str()));
    assert_eq!(open_holds(&pool).await, 0);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn tool_results_continue_a_stored_conversation_and_a_keyed_retry_stores_nothing_twice(
    pool: PgPool,
) {
    let world = world(pool.clone(), &[]).await;
    world.fund(1_000_000).await;
    let calls = json!([{"id": "call_1", "type": "function",
        "function": {"name": "calculator", "arguments": "{\"expression\":\"6*7\"}"}}]);
    Mock::given(method("POST"))
        .and(path("/local/v1/chat/completions"))
        .respond_with(OpenAiReply::text("", 20, 5).with_tool_calls(calls))
        .up_to_n_times(1)
        .mount(&world.provider)
        .await;
    answer(&world, OpenAiReply::text("It is 42.", 30, 4)).await;
    let (key, _) = new_key(&world, json!({"name": "agent"})).await;
    let calculator = json!([{"type": "function", "function": {"name": "calculator",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}}}}]);
    let question = json!({"role": "user", "content": "What is 6*7?"});
    let mut start = stored_chat(
        json!([question]),
        json!({"personality_id": "helix-assistant", "save": true}),
    );
    start["tools"] = calculator.clone();
    let asked = complete(&world, &key, &start).await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    let id = asked.body["helix"]["conversation_id"].as_str().unwrap();
    let call = &asked.body["choices"][0]["message"];
    assert_eq!(call["tool_calls"][0]["id"], "call_1");

    let mut result = stored_chat(
        json!([question, call, {"role": "tool", "tool_call_id": "call_1", "content": "42"}]),
        json!({"conversation_id": id}),
    );
    result["tools"] = calculator;
    let keyed = || {
        let mut request = json_request("POST", "/v1/chat/completions", &result, &key);
        request
            .headers_mut()
            .insert("idempotency-key", "tool-result-1".parse().unwrap());
        request
    };
    let answered = send(&world.app, keyed()).await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.body);
    assert_eq!(
        answered.body["choices"][0]["message"]["content"],
        "It is 42."
    );
    let sent = &provider_sent(&world).await[1]["messages"];
    let tail: Vec<Value> = sent.as_array().unwrap()[1..]
        .iter()
        .map(|m| json!([m["role"], m["tool_calls"][0]["id"], m["tool_call_id"]]))
        .collect();
    assert_eq!(
        tail,
        [
            json!(["user", null, null]),
            json!(["assistant", "call_1", null]),
            json!(["tool", null, "call_1"]),
        ],
        "the stored tool call, then its result: {sent}"
    );

    let again = send(&world.app, keyed()).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["helix"], answered.body["helix"]);
    assert_eq!(
        stored_messages(&world, id).await,
        pairs(&[
            ("user", "What is 6*7?"),
            ("assistant", ""),
            ("tool", "42"),
            ("assistant", "It is 42."),
        ])
    );
    assert_eq!(key_ledger(&world).await.len(), 2, "charged once each");
    assert_eq!(provider_sent(&world).await.len(), 2);
    assert_invariant(&pool).await;
}

fn with_weather_tool(mut body: Value) -> Value {
    body["tools"] = json!([{"type": "function", "function": {
        "name": "get_weather", "description": "Weather by city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    body
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn top_p_stop_and_tool_choice_reach_the_provider_as_the_client_sent_them(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(1_000_000).await;
    answer(&world, OpenAiReply::text("Hello", 12, 3)).await;
    let (key, _) = new_key(&world, json!({"name": "sampling"})).await;
    let mut named = with_weather_tool(chat("local/llama3.2"));
    named["top_p"] = json!(0.25);
    named["stop"] = json!("END");
    named["tool_choice"] = json!({"type": "function", "function": {"name": "get_weather"}});
    let mut required = with_weather_tool(chat("local/llama3.2"));
    required["stop"] = json!(["END", "\n\n"]);
    required["tool_choice"] = json!("required");
    let mut none = with_weather_tool(chat("local/llama3.2"));
    none["tool_choice"] = json!("none");

    for body in [&named, &required, &none] {
        let reply = complete(&world, &key, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["choices"][0]["finish_reason"], "stop");
    }

    let sent = provider_sent(&world).await;
    assert_eq!(sent[0]["top_p"], json!(0.25));
    assert_eq!(sent[0]["stop"], json!(["END"]));
    assert_eq!(
        sent[0]["tool_choice"],
        json!({"type": "function", "function": {"name": "get_weather"}})
    );
    assert_eq!(sent[1]["stop"], json!(["END", "\n\n"]));
    assert_eq!(sent[1]["tool_choice"], json!("required"));
    assert!(sent[1].get("top_p").is_none(), "{}", sent[1]);
    // `none` offers no tools at all, so there is no choice to send.
    assert!(sent[2].get("tools").is_none(), "{}", sent[2]);
    assert!(sent[2].get("tool_choice").is_none(), "{}", sent[2]);
    assert!(sent[2].get("stop").is_none(), "{}", sent[2]);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn bad_stop_sequences_and_tool_choices_are_400s_naming_their_param(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(1_000_000).await;
    answer(&world, OpenAiReply::text("Hello", 12, 3)).await;
    let (key, _) = new_key(&world, json!({"name": "bad sampling"})).await;
    let patched = |field: &str, value: Value, tools: bool| {
        let mut body = chat("local/llama3.2");
        if tools {
            body = with_weather_tool(body);
        }
        body[field] = value;
        body
    };
    let cases = [
        (
            patched("stop", json!(["a", "b", "c", "d", "e"]), false),
            "stop",
        ),
        (patched("stop", json!(""), false), "stop"),
        (patched("stop", json!(["ok", ""]), false), "stop"),
        (patched("stop", json!("x".repeat(257)), false), "stop"),
        (patched("stop", json!(7), false), "stop"),
        (patched("top_p", json!(1.5), false), "top_p"),
        (
            patched(
                "tool_choice",
                json!({"type": "function", "function": {"name": "get_time"}}),
                true,
            ),
            "tool_choice",
        ),
        (
            patched("tool_choice", json!("required"), false),
            "tool_choice",
        ),
        (patched("tool_choice", json!("always"), true), "tool_choice"),
    ];

    for (body, param) in &cases {
        let reply = complete(&world, &key, body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
        assert_eq!(reply.body["error"]["type"], "invalid_request_error");
        assert_eq!(
            reply.body["error"]["param"], *param,
            "{body}: {}",
            reply.body
        );
    }
    assert!(provider_sent(&world).await.is_empty());
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn tool_choice_none_offers_not_even_the_personalitys_tools(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(1_000_000).await;
    answer(&world, OpenAiReply::text("Hello", 12, 3)).await;
    let (key, _) = new_key(&world, json!({"name": "persona"})).await;
    let mut own_tools = chat("local/llama3.2");
    own_tools["helix"] = json!({"personality_id": "helix-assistant"});
    own_tools["top_p"] = json!(0.5);
    own_tools["stop"] = json!(["END"]);
    let mut none = own_tools.clone();
    none["tool_choice"] = json!("none");

    for body in [&own_tools, &none] {
        let reply = complete(&world, &key, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }

    let sent = provider_sent(&world).await;
    // The personality's own tools, with the client's sampling.
    let offered: Vec<&str> = sent[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(offered, ["get_current_time", "calculator"]);
    assert_eq!(sent[0]["top_p"], json!(0.5));
    assert_eq!(sent[0]["stop"], json!(["END"]));
    assert!(sent[1].get("tools").is_none(), "{}", sent[1]);
    assert_eq!(sent[1]["stop"], json!(["END"]));
}
