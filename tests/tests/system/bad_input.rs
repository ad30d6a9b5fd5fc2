//! Bad input gets a 4xx and changes nothing: U+0000 anywhere (bodies, paths, queries), cursors
//! and times out of range, a model answer holding U+0000, the caps on personas and on a turn's
//! tools. Through the real router and a real database; providers are a local fake.

use axum::http::StatusCode;
use helix_shared::ApiError;
use helix_tests::{
    OpenAiReply, Reply, add_agent, authorised, get_with_token, json_request, prepare_memory,
    request, send, state_with,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

type World = helix_tests::World<MockServer>;

/// A funded user with a `local` agent whose server is a fake OpenAI-compatible provider, memory
/// prepared for the local embedder (priced, so an embedding would show in the ledger).
async fn world(pool: PgPool, extra: &[(&str, &str)]) -> World {
    let provider = MockServer::start().await;
    let local = format!("{}/v1", provider.uri());
    let mut pairs = vec![
        ("HELIX_LOCAL_BASE_URL", local.as_str()),
        ("HELIX_ENGINE_MAX_ATTEMPTS", "1"),
        ("HELIX_LOCAL_INPUT_PER_MTOK_MICROS", "1000000"),
    ];
    pairs.extend_from_slice(extra);
    let state = state_with(pool.clone(), &pairs);
    prepare_memory(&state).await;
    let world = World::with_provider(state, "fuzzed@example.com", provider).await;
    world.fund(1_000_000).await;
    add_agent(&pool, &world.user.id, "local", "llama3.2", "active").await;
    world
}

async fn call(world: &World, verb: &str, path: &str, body: &Value) -> Reply {
    send(&world.app, json_request(verb, path, body, &world.token)).await
}

async fn get(world: &World, path: &str) -> Reply {
    send(&world.app, get_with_token(path, &world.token)).await
}

/// A 400 `invalid_request` whose message starts with `field`.
fn assert_refused(reply: &Reply, field: &str, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "{what}: {}",
        reply.body
    );
    assert_eq!(reply.body["error"]["code"], "invalid_request", "{what}");
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("{field}: ")),
        "{what}: {message}"
    );
}

/// How many rows the user has in each table a refused request could have written.
async fn footprint(world: &World) -> Vec<(&'static str, i64)> {
    let mut counts = Vec::new();
    for table in [
        "personas",
        "agents",
        "usage_ledger",
        "budget_holds",
        "memory_documents",
        "embeddings",
        "turn_idempotency",
    ] {
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE user_id = $1"
        )))
        .bind(&world.user.id)
        .fetch_one(&world.pool)
        .await
        .unwrap();
        counts.push((table, count));
    }
    counts
}

async fn answer_with(world: &World, reply: OpenAiReply) {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(reply)
        .mount(&world.provider)
        .await;
}

async fn provider_calls(world: &World) -> usize {
    world.provider.received_requests().await.unwrap().len()
}

fn turn(overrides: Value) -> Value {
    let mut body = json!({
        "engine": "local",
        "personalityId": "helix-assistant",
        "messages": [{"role": "user", "content": "Say hello."}]
    });
    body.as_object_mut()
        .unwrap()
        .extend(overrides.as_object().unwrap().clone());
    body
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn nul_in_any_string_of_a_body_is_a_400_naming_it_and_nothing_is_stored_or_charged(
    pool: PgPool,
) {
    let world = world(pool, &[]).await;
    answer_with(&world, OpenAiReply::text("Hello!", 10, 5)).await;
    let persona = call(
        &world,
        "POST",
        "/v1/personas",
        &json!({"name": "Pirate", "prompt": "Talk like a pirate."}),
    )
    .await;
    assert_eq!(persona.status, StatusCode::CREATED);
    let persona_path = format!("/v1/personas/{}", persona.body["id"].as_str().unwrap());
    let agents = get(&world, "/v1/agents").await;
    let agent_path = format!(
        "/v1/agents/{}",
        agents.body["agents"][0]["id"].as_str().unwrap()
    );
    let before = footprint(&world).await;

    let nul = "a\u{0}b";
    let cases = [
        (
            "POST",
            "/v1/personas",
            json!({"name": nul, "prompt": "p"}),
            "name",
        ),
        (
            "POST",
            "/v1/personas",
            json!({"name": "n", "prompt": nul}),
            "prompt",
        ),
        (
            "PATCH",
            persona_path.as_str(),
            json!({"prompt": nul}),
            "prompt",
        ),
        (
            "POST",
            "/v1/agents",
            json!({"provider": "local", "model": nul}),
            "model",
        ),
        ("PATCH", agent_path.as_str(), json!({"model": nul}), "model"),
        ("POST", "/v1/memory/documents", json!({"text": nul}), "text"),
        (
            "POST",
            "/v1/memory/documents",
            json!({"text": "Fine text.", "title": nul}),
            "title",
        ),
        (
            "POST",
            "/v1/memory/documents",
            json!({"text": "Fine text.", "metadata": {"tags": ["ok", nul]}}),
            "metadata.tags[1]",
        ),
        (
            "POST",
            "/v1/memory/documents",
            json!({"text": "Fine text.", "metadata": {nul: 1}}),
            "metadata (a key)",
        ),
        ("POST", "/v1/memory/search", json!({"query": nul}), "query"),
        (
            "POST",
            "/v1/turns",
            turn(json!({"personalityId": nul})),
            "personalityId",
        ),
        ("POST", "/v1/turns", turn(json!({"model": nul})), "model"),
        (
            "POST",
            "/v1/turns",
            turn(json!({"messages": [{"role": "user", "content": nul}]})),
            "messages[0].content",
        ),
        (
            "POST",
            "/v1/budget/grants",
            json!({"email": "fuzzed@example.com", "amount_cents": 1, "reason": nul}),
            "reason",
        ),
    ];
    for (verb, path, body, field) in cases {
        let reply = call(&world, verb, path, &body).await;
        assert_refused(&reply, field, &format!("{verb} {path} {body}"));
    }

    assert_eq!(
        footprint(&world).await,
        before,
        "a refused request wrote something"
    );
    assert_eq!(provider_calls(&world).await, 0, "a provider was called");
    let renamed = get(&world, &persona_path).await;
    assert_eq!(renamed.body["prompt"], "Talk like a pirate.");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn nul_in_a_path_or_query_parameter_is_a_400_naming_it(pool: PgPool) {
    let world = world(pool, &[]).await;
    let before = footprint(&world).await;
    for (verb, path, field) in [
        ("GET", "/v1/budget?agent_id=%00", "agent_id"),
        ("GET", "/v1/budget?cursor=a%00b", "cursor"),
        ("GET", "/v1/personas?cursor=%00", "cursor"),
        ("GET", "/v1/personas/%00", "id"),
        ("PATCH", "/v1/personas/a%00", "id"),
        ("DELETE", "/v1/personas/%00", "id"),
        ("POST", "/v1/personas/%00/avatar", "id"),
        ("PATCH", "/v1/agents/%00", "id"),
        ("DELETE", "/v1/agents/%00", "id"),
        ("DELETE", "/v1/memory/documents/%00", "doc_id"),
    ] {
        let reply = send(&world.app, authorised(request(verb, path), &world.token)).await;
        assert_refused(&reply, field, &format!("{verb} {path}"));
    }
    assert_eq!(footprint(&world).await, before);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_cursor_or_time_beyond_what_postgres_stores_is_a_400(pool: PgPool) {
    use base64::Engine;
    let world = world(pool, &[]).await;
    let cursor = |micros: i64| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{micros}|someid"))
    };
    // Year -262143, chrono's first; Postgres' timestamptz starts in 4713 BC.
    let ancient = cursor(-8_334_601_228_800_000_000);
    // Year 0, just before what RFC 3339 can write.
    let year_zero = cursor(-62_135_596_800_000_001);
    for path in [
        format!("/v1/budget?cursor={ancient}"),
        format!("/v1/budget?cursor={year_zero}"),
        format!("/v1/personas?cursor={ancient}"),
    ] {
        assert_refused(&get(&world, &path).await, "cursor", &path);
    }
    for (path, field) in [
        ("/v1/budget?from=%2B10000-01-01T00:00:00Z", "from"),
        ("/v1/budget?to=-4714-01-01T00:00:00Z", "to"),
    ] {
        let reply = get(&world, path).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{path}: {message}");
    }
    // The edges themselves are fine.
    let first = cursor(-62_135_596_800_000_000);
    assert_eq!(
        get(&world, &format!("/v1/budget?cursor={first}"))
            .await
            .status,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_model_answer_holding_nul_is_charged_stored_and_replayed_without_it(pool: PgPool) {
    let world = world(pool, &[]).await;
    let tool_call = json!([{"id": "call_1", "type": "function",
        "function": {"name": "calculator", "arguments": r#"{"expression": "6*7\u0000"}"#}}]);
    answer_with(
        &world,
        OpenAiReply::text("Hel\u{0}lo!", 10, 5)
            .in_pieces(&["Hel\u{0}", "lo!\u{0}"])
            .with_tool_calls(tool_call),
    )
    .await;
    let keyed = |body: &Value, key: &str| {
        let mut request = json_request("POST", "/v1/turns", body, &world.token);
        request
            .headers_mut()
            .insert("idempotency-key", key.parse().unwrap());
        request
    };
    let body = turn(json!({}));

    let first = send(&world.app, keyed(&body, "nul-answer")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["text"], "Hello!");
    assert_eq!(
        first.body["tool_calls"][0]["arguments"],
        json!({"expression": "6*7"})
    );
    let replay = send(&world.app, keyed(&body, "nul-answer")).await;
    assert_eq!(replay.status, StatusCode::OK);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.body, first.body);

    let streamed = helix_tests::send_stream(
        &world.app,
        keyed(&turn(json!({"stream": true})), "nul-streamed"),
    )
    .await;
    assert_eq!(streamed.status, StatusCode::OK);
    assert_eq!(streamed.text(), "Hello!");
    assert!(streamed.events.iter().any(|event| event.name == "done"));

    let charged: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_ledger WHERE user_id = $1")
        .bind(&world.user.id)
        .fetch_one(&world.pool)
        .await
        .unwrap();
    assert_eq!(charged, 2, "each turn charged once, the replay not at all");
    let stored: Vec<Value> =
        sqlx::query_scalar("SELECT response FROM turn_idempotency WHERE user_id = $1 ORDER BY key")
            .bind(&world.user.id)
            .fetch_all(&world.pool)
            .await
            .unwrap();
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|r| r["text"] == "Hello!"), "{stored:?}");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_user_at_the_persona_cap_gets_409_and_the_picker_lists_at_most_the_cap(pool: PgPool) {
    let world = world(pool, &[("HELIX_MAX_PERSONAS_PER_USER", "3")]).await;
    let create = |n: usize| json!({"name": format!("Persona {n}"), "prompt": "Be brief."});
    for n in 0..3 {
        let reply = call(&world, "POST", "/v1/personas", &create(n)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let refused = call(&world, "POST", "/v1/personas", &create(3)).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "persona_limit_reached");
    let count = footprint(&world).await[0];
    assert_eq!(count, ("personas", 3));

    // Concurrent creates at the cap cannot pass it together.
    let victim = get(&world, "/v1/personas?limit=1").await;
    let id = victim.body["personas"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deleted = send(
        &world.app,
        authorised(
            request("DELETE", &format!("/v1/personas/{id}")),
            &world.token,
        ),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let bodies: Vec<Value> = (10..16).map(create).collect();
    let racers = bodies
        .iter()
        .map(|body| call(&world, "POST", "/v1/personas", body));
    let created = futures_util::future::join_all(racers)
        .await
        .iter()
        .filter(|reply| reply.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1);
    assert_eq!(footprint(&world).await[0], ("personas", 3));

    let picker = get(&world, "/v1/personalities").await;
    let personas = picker.body["personalities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "persona")
        .count();
    assert_eq!(personas, 3);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_turns_tools_are_capped_and_a_repeated_one_is_offered_once(pool: PgPool) {
    let world = world(pool, &[]).await;
    answer_with(&world, OpenAiReply::text("4", 10, 1)).await;
    let many: Vec<String> = (0..33).map(|_| "calculator".to_owned()).collect();
    let reply = call(&world, "POST", "/v1/turns", &turn(json!({"tools": many}))).await;
    assert_refused(&reply, "tools", "33 tools");
    let long = call(
        &world,
        "POST",
        "/v1/turns",
        &turn(json!({"tools": ["x".repeat(65)]})),
    )
    .await;
    assert_refused(&long, "tools[0]", "a 65-character tool name");
    assert_eq!(provider_calls(&world).await, 0);

    let twice = call(
        &world,
        "POST",
        "/v1/turns",
        &turn(json!({"tools": ["calculator", "calculator"]})),
    )
    .await;
    assert_eq!(twice.status, StatusCode::OK, "{}", twice.body);
    let sent: Value =
        serde_json::from_slice(&world.provider.received_requests().await.unwrap()[0].body).unwrap();
    let names: Vec<&str> = sent["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["calculator"]);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn database_errors_that_mean_bad_input_are_4xx(pool: PgPool) {
    async fn refused(pool: &PgPool, sql: &'static str) -> ApiError {
        ApiError::from(sqlx::query(sql).execute(pool).await.unwrap_err())
    }
    let nul_text = sqlx::query("SELECT $1::text")
        .bind("a\u{0}b")
        .execute(&pool)
        .await
        .unwrap_err();
    let nul_jsonb = sqlx::query("SELECT $1::jsonb")
        .bind(json!({"a": "b\u{0}"}))
        .execute(&pool)
        .await
        .unwrap_err();
    let cases = [
        (ApiError::from(nul_text), 400, "invalid_request"),
        (ApiError::from(nul_jsonb), 400, "invalid_request"),
        (
            refused(&pool, "SELECT '294277-01-01 00:00:00+00'::timestamptz").await,
            400,
            "invalid_request",
        ),
        (
            refused(&pool, "SELECT 2147483648::int4").await,
            400,
            "invalid_request",
        ),
        (
            refused(
                &pool,
                "INSERT INTO personas (id, user_id, name, prompt) VALUES ('p', 'nobody', 'n', 'p')",
            )
            .await,
            409,
            "stale_reference",
        ),
        // Anything else the database says is still Helix's fault.
        (
            refused(&pool, "SELECT * FROM no_such_table").await,
            500,
            "internal_error",
        ),
    ];
    for (error, status, code) in cases {
        assert_eq!(
            (error.status().as_u16(), error.code()),
            (status, code),
            "{error:?}"
        );
        if status < 500 {
            let message = error.to_string();
            assert!(
                !message.contains("personas") && !message.contains("0x00"),
                "{message}"
            );
        }
    }
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn metadata_jsonb_could_not_give_back_is_a_400_before_anything_is_embedded(pool: PgPool) {
    let world = world(pool, &[]).await;
    let before = footprint(&world).await;
    let reply = call(
        &world,
        "POST",
        "/v1/memory/documents",
        &json!({"text": "Fine text.", "metadata": {"n": [-1.797_693_134_862_315_7e308]}}),
    )
    .await;
    assert_refused(&reply, "metadata.n[0]", "a number at f64's limit");
    assert_eq!(footprint(&world).await, before, "charged or stored");
}
