//! POST /v1/turns through the real router and a real database, with every engine pointed at a
//! local fake provider speaking that provider's wire format.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use helix_shared::AppState;
use helix_shared::budget::ledger;
use helix_shared::engine::registry::EngineRegistry;
use helix_shared::ids::new_id;
use helix_shared::xray::Tracer;
use helix_tests::{
    AnthropicReply, BedrockReply, OpenAiReply, Reply, add_agent, assert_invariant, authorised,
    capture_logs, config_with, fake_aws_config, json_request, open_holds, send, signed_in_user,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const GRANT_MICROS: i64 = 10_000_000; // $10

type World = helix_tests::World<MockServer>;

/// A user with $10 and an agent per provider; engines talk to one local fake provider.
async fn world(pool: PgPool, extra: &[(&str, &str)]) -> World {
    let provider = MockServer::start().await;
    let uri = provider.uri();
    let mut pairs = vec![
        ("OPENAI_API_KEY", "sk-test"),
        ("ANTHROPIC_API_KEY", "sk-ant-test"),
        ("HELIX_ENGINE_MAX_ATTEMPTS", "1"),
    ];
    let openai = format!("{uri}/v1");
    let local = format!("{uri}/local/v1");
    pairs.extend([
        ("HELIX_OPENAI_BASE_URL", openai.as_str()),
        ("HELIX_ANTHROPIC_BASE_URL", uri.as_str()),
        ("HELIX_LOCAL_BASE_URL", local.as_str()),
        ("HELIX_BEDROCK_ENDPOINT", uri.as_str()),
    ]);
    pairs.extend_from_slice(extra);
    let config = config_with(&pairs);
    let mut state = AppState::new(config.clone(), pool.clone()).unwrap();
    state.engines =
        Arc::new(EngineRegistry::new(config.engines).with_aws_config(fake_aws_config(None).await));
    let world = World::with_provider(state, "turner@example.com", provider).await;
    for (provider, model) in [
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-haiku-4-5"),
        ("bedrock", "amazon.nova-micro-v1:0"),
        ("local", "llama3.2"),
    ] {
        add_agent(&pool, &world.user.id, provider, model, "active").await;
    }
    world
}

fn turn_request(body: &Value, token: &str) -> Request<Body> {
    json_request("POST", "/v1/turns", body, token)
}

async fn post_turn(world: &World, body: &Value) -> Reply {
    send(&world.app, turn_request(body, &world.token)).await
}

fn ask(engine: &str) -> Value {
    json!({
        "engine": engine,
        "personalityId": "helix-assistant",
        "messages": [{"role": "user", "content": "Say hello."}]
    })
}

/// Each provider's wire answer: "Hello!" with 120 input and 30 output tokens.
async fn answer_everywhere(server: &MockServer) {
    // OpenAI itself and the local OpenAI-compatible server speak the same wire format.
    for chat_path in ["/v1/chat/completions", "/local/v1/chat/completions"] {
        Mock::given(method("POST"))
            .and(path(chat_path))
            .respond_with(OpenAiReply::text("Hello!", 120, 30).in_pieces(&["Hel", "lo!"]))
            .mount(server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(AnthropicReply::text("Hello!", 120, 30))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/model/.+/converse(-stream)?$"))
        .respond_with(BedrockReply::text("Hello!", 120, 30))
        .mount(server)
        .await;
}

async fn provider_requests(world: &World) -> Vec<Value> {
    world
        .provider
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

async fn balance(world: &World) -> i64 {
    ledger::balance_micros(&world.pool, &world.user.id)
        .await
        .unwrap()
}

async fn ledger_rows(world: &World) -> Vec<(i64, Option<String>, Value)> {
    sqlx::query_as("SELECT cost_micros, agent_id, meta FROM usage_ledger WHERE user_id = $1 ORDER BY created_at")
        .bind(&world.user.id)
        .fetch_all(&world.pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_turn_on_each_provider_answers_and_charges_the_exact_cost(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(GRANT_MICROS).await;
    answer_everywhere(&world.provider).await;
    let mut spent = 0;
    for (engine, model) in [
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-haiku-4-5"),
        ("bedrock", "amazon.nova-micro-v1:0"),
        ("local", "llama3.2"),
    ] {
        let reply = post_turn(&world, &ask(engine)).await;

        assert_eq!(reply.status, StatusCode::OK, "{engine}: {}", reply.body);
        let body = &reply.body;
        assert_eq!(body["text"], "Hello!");
        assert_eq!(
            body["usage"],
            json!({"input_tokens": 120, "output_tokens": 30})
        );
        assert_eq!(
            (body["engine"].as_str(), body["model"].as_str()),
            (Some(engine), Some(model))
        );
        assert_eq!(body["personality_id"], "helix-assistant");
        assert_eq!(
            body["trace_id"],
            reply.headers["x-trace-id"].to_str().unwrap()
        );
        let price = world.state.prices.price(engine, model).unwrap();
        let expected = helix_shared::pricing::cost_micros(
            price,
            helix_shared::usage::Usage {
                input_tokens: 120,
                cached_input_tokens: 0,
                output_tokens: 30,
            },
        );
        assert_eq!(body["cost"]["micros"], expected, "{engine}");
        assert_eq!(
            body["cost"]["cents"],
            helix_shared::money::cost_cents(expected)
        );
        spent += expected;
        assert_eq!(body["budget"]["remaining_micros"], GRANT_MICROS - spent);
        assert_eq!(
            body["budget"]["remaining_cents"],
            helix_shared::money::balance_cents(GRANT_MICROS - spent)
        );
        assert_eq!(body["max_tokens_reduced"], false);
    }
    let rows = ledger_rows(&world).await;
    assert_eq!(rows.len(), 4);
    for (_, agent_id, meta) in &rows {
        assert!(agent_id.is_some(), "the ledger row references its agent");
        for field in [
            "engine",
            "provider",
            "model",
            "personality_id",
            "trace_id",
            "price_table_version",
            "hold_id",
        ] {
            assert!(!meta[field].is_null(), "meta.{field} missing: {meta}");
        }
    }
    assert_eq!(balance(&world).await, GRANT_MICROS - spent);
    assert_eq!(open_holds(&pool).await, 0);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_preset_and_a_persona_each_set_the_system_prompt(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(GRANT_MICROS).await;
    answer_everywhere(&world.provider).await;
    let persona_id = new_id();
    sqlx::query("INSERT INTO personas (id, user_id, name, prompt) VALUES ($1, $2, 'Pirate', 'Answer like a pirate.')")
        .bind(&persona_id)
        .bind(&world.user.id)
        .execute(&pool)
        .await
        .unwrap();

    assert_eq!(
        post_turn(&world, &ask("openai")).await.status,
        StatusCode::OK
    );
    let mut with_persona = ask("openai");
    with_persona["personalityId"] = json!(persona_id);
    let reply = post_turn(&world, &with_persona).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["personality_id"], json!(persona_id));

    let sent = provider_requests(&world).await;
    let preset = world.state.presets.get("helix-assistant").unwrap();
    assert_eq!(
        sent[0]["messages"][0],
        json!({"role": "system", "content": preset.system})
    );
    assert_eq!(
        sent[0]["messages"][1],
        json!({"role": "user", "content": "Say hello."})
    );
    assert_eq!(
        sent[1]["messages"][0],
        json!({"role": "system", "content": "Answer like a pirate."})
    );
    assert!(sent[1].get("tools").is_none(), "a persona has no tools");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn another_users_persona_is_not_found_and_charges_nothing(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(GRANT_MICROS).await;
    let (stranger, _) = signed_in_user(&world.state, "stranger@example.com").await;
    let persona_id = new_id();
    sqlx::query("INSERT INTO personas (id, user_id, name, prompt) VALUES ($1, $2, 'Theirs', 'Secret prompt.')")
        .bind(&persona_id)
        .bind(&stranger.id)
        .execute(&pool)
        .await
        .unwrap();
    let mut body = ask("openai");
    body["personalityId"] = json!(persona_id);
    let reply = post_turn(&world, &body).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.body["error"]["code"], "not_found");
    assert!(provider_requests(&world).await.is_empty());
    assert_eq!(balance(&world).await, GRANT_MICROS);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn asking_for_a_tool_outside_the_whitelist_is_refused_before_any_call(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(GRANT_MICROS).await;
    let mut body = ask("openai");
    body["tools"] = json!(["calculator", "web_search"]);
    let reply = post_turn(&world, &body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["error"]["code"], "tool_not_allowed");
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("web_search")
    );
    assert!(provider_requests(&world).await.is_empty());
    assert_eq!(balance(&world).await, GRANT_MICROS);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn whitelisted_tools_are_offered_and_other_tool_calls_are_dropped(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(GRANT_MICROS).await;
    let calls = json!([
        {"id": "call_1", "type": "function", "function": {"name": "calculator", "arguments": "{\"expression\":\"2+2\"}"}},
        {"id": "call_2", "type": "function", "function": {"name": "web_search", "arguments": "{\"query\":\"x\"}"}}
    ]);
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(OpenAiReply::text("", 50, 10).with_tool_calls(calls))
        .mount(&world.provider)
        .await;

    let reply = post_turn(&world, &ask("openai")).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["tool_calls"],
        json!([{"id": "call_1", "name": "calculator", "arguments": {"expression": "2+2"}}])
    );
    let mut offered: Vec<String> = provider_requests(&world).await[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
        .collect();
    offered.sort();
    assert_eq!(
        offered,
        ["calculator", "get_current_time"],
        "exactly the helix-assistant whitelist"
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_tool_result_round_trip_is_accepted(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(GRANT_MICROS).await;
    answer_everywhere(&world.provider).await;
    let body = json!({
        "engine": "openai", "personalityId": "helix-assistant",
        "messages": [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "name": "calculator", "arguments": {"expression": "2+2"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "4"}
        ]
    });
    let reply = post_turn(&world, &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let sent = &provider_requests(&world).await[0]["messages"];
    assert_eq!(
        sent[3],
        json!({"role": "tool", "content": "4", "tool_call_id": "call_1"})
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_balance_of_zero_is_402_without_calling_the_provider(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    answer_everywhere(&world.provider).await;
    let reply = post_turn(&world, &ask("openai")).await;
    assert_eq!(reply.status, StatusCode::PAYMENT_REQUIRED);
    let error = &reply.body["error"];
    assert_eq!(error["code"], "budget_exhausted");
    assert_eq!(error["balance_cents"], 0);
    assert!(error["required_cents"].as_i64().unwrap() >= 1);
    assert_eq!(
        error["trace_id"],
        reply.headers["x-trace-id"].to_str().unwrap()
    );
    assert!(provider_requests(&world).await.is_empty());
    assert!(ledger_rows(&world).await.is_empty());
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_short_balance_lowers_max_tokens_to_what_it_can_pay_for(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(2_000).await; // $0.002: covers the input and about 2,000 gpt-4o-mini output tokens
    answer_everywhere(&world.provider).await;
    let mut body = ask("openai");
    body["overrides"] = json!({"max_tokens": 16000});

    let reply = post_turn(&world, &body).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["max_tokens_reduced"], true);
    let granted = reply.body["max_tokens"].as_u64().unwrap();
    assert!((16..16000).contains(&granted), "{granted}");
    assert_eq!(
        provider_requests(&world).await[0]["max_completion_tokens"],
        granted
    );
    assert!(balance(&world).await >= 0);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_provider_error_releases_the_hold_and_charges_nothing(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(GRANT_MICROS).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {"message": "bad temperature", "type": "invalid_request_error", "code": null}})))
        .mount(&world.provider)
        .await;

    let reply = post_turn(&world, &ask("openai")).await;

    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["error"]["code"], "provider_rejected_request");
    assert_eq!(balance(&world).await, GRANT_MICROS);
    assert!(ledger_rows(&world).await.is_empty());
    assert_eq!(open_holds(&pool).await, 0);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn the_ledger_keeps_helixs_own_request_id_and_takes_a_trace_header_only_as_an_xray_link(
    pool: PgPool,
) {
    let world = world(pool.clone(), &[]).await;
    world.fund(GRANT_MICROS).await;
    answer_everywhere(&world.provider).await;
    let with_header = |header: &str| {
        let mut request = turn_request(&ask("openai"), &world.token);
        request
            .headers_mut()
            .insert("x-amzn-trace-id", header.parse().unwrap());
        request
    };
    let xray = "1-6b04cad6-0123456789abcdef01234567";

    let forged = send(&world.app, with_header("Root=audit-entry-of-someone-else")).await;
    let linked = send(&world.app, with_header(&format!("Root={xray};Sampled=1"))).await;
    let linked_again = send(&world.app, with_header(&format!("Root={xray};Sampled=1"))).await;

    let replies = [&forged, &linked, &linked_again];
    for reply in replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let rows = ledger_rows(&world).await;
    assert_eq!(rows.len(), 3);
    let metas: Vec<&Value> = rows.iter().map(|(_, _, meta)| meta).collect();
    let forged_trace = metas[0]["trace_id"].as_str().unwrap();
    assert_ne!(forged_trace, "audit-entry-of-someone-else");
    assert!(
        helix_shared::telemetry::is_xray_trace_id(forged_trace),
        "a fresh X-Ray id instead: {forged_trace}"
    );
    assert_eq!(forged.body["trace_id"], forged_trace);
    assert_eq!(
        metas[1]["trace_id"], xray,
        "a real X-Ray header links the trace"
    );
    assert_eq!(metas[2]["trace_id"], xray);
    for (meta, reply) in metas.iter().zip(replies) {
        assert_eq!(
            meta["request_id"],
            reply.headers["x-request-id"].to_str().unwrap(),
            "the ledger names the request Helix served"
        );
    }
    assert_ne!(
        metas[1]["request_id"], metas[2]["request_id"],
        "one caller's trace header cannot make two charges look like one request"
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_providers_own_message_about_the_operators_account_is_logged_never_answered(
    pool: PgPool,
) {
    let world = world(pool.clone(), &[]).await;
    world.fund(GRANT_MICROS).await;
    let said =
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing.";
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "type": "error",
            "error": {"type": "invalid_request_error", "message": said}
        })))
        .mount(&world.provider)
        .await;
    let (logs, _guard) = capture_logs();

    let whole = post_turn(&world, &ask("anthropic")).await;
    let mut streamed = ask("anthropic");
    streamed["stream"] = json!(true);
    let refused_stream = post_turn(&world, &streamed).await;

    for reply in [&whole, &refused_stream] {
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.body["error"]["code"], "provider_rejected_request");
        let answered = reply.body.to_string();
        assert!(!answered.contains("credit balance"), "{answered}");
        assert!(!answered.contains("Billing"), "{answered}");
    }
    let trace_id = whole.body["error"]["trace_id"].as_str().unwrap();
    let logged = logs.lines().into_iter().any(|line| {
        line["trace_id"] == trace_id && line.to_string().contains("credit balance is too low")
    });
    assert!(
        logged,
        "the operator finds the provider's words by the trace id"
    );
    assert!(ledger_rows(&world).await.is_empty());
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_provider_without_a_key_is_503_and_charges_nothing(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(GRANT_MICROS).await;
    let mut state = world.state.clone();
    let mut engines = state.config.engines.clone();
    engines.openai_api_key = None;
    state.engines = Arc::new(EngineRegistry::new(engines));
    let app = local_gateway::app(state);
    let reply = send(&app, turn_request(&ask("openai"), &world.token)).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["error"]["code"], "provider_not_configured");
    assert_eq!(balance(&world).await, GRANT_MICROS);
    assert_eq!(open_holds(&pool).await, 0);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_retried_turn_with_the_same_idempotency_key_is_answered_once_and_charged_once(
    pool: PgPool,
) {
    let world = world(pool.clone(), &[]).await;
    world.fund(GRANT_MICROS).await;
    answer_everywhere(&world.provider).await;
    let keyed = |body: &Value| {
        let mut request = turn_request(body, &world.token);
        request
            .headers_mut()
            .insert("idempotency-key", "turn-123".parse().unwrap());
        request
    };

    let first = send(&world.app, keyed(&ask("openai"))).await;
    let again = send(&world.app, keyed(&ask("openai"))).await;

    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body, "the first result, not a new one");
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(provider_requests(&world).await.len(), 1);
    assert_eq!(ledger_rows(&world).await.len(), 1);

    let other = send(&world.app, keyed(&ask("anthropic"))).await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(other.body["error"]["code"], "idempotency_key_reused");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_failed_turn_gives_its_idempotency_key_back(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    let keyed = || {
        let mut request = turn_request(&ask("openai"), &world.token);
        request
            .headers_mut()
            .insert("idempotency-key", "retry-me".parse().unwrap());
        request
    };
    assert_eq!(
        send(&world.app, keyed()).await.status,
        StatusCode::PAYMENT_REQUIRED
    );
    world.fund(GRANT_MICROS).await;
    answer_everywhere(&world.provider).await;
    assert_eq!(send(&world.app, keyed()).await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn each_bad_field_is_a_400_that_names_it_and_changes_nothing(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(GRANT_MICROS).await;
    answer_everywhere(&world.provider).await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = ask("openai");
        change(&mut body);
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(&|b| b["engine"] = json!("acme")), "engine"),
        (with(&|b| b["messages"] = json!([])), "messages"),
        (with(&|b| b["messages"][0]["role"] = json!("robot")), "role"),
        (
            with(&|b| b["messages"][0]["content"] = json!("")),
            "messages[0].content",
        ),
        (
            with(&|b| b["messages"] = json!([{"role": "tool", "content": "4"}])),
            "messages[0].tool_call_id",
        ),
        (
            with(
                &|b| b["messages"] = json!([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]),
            ),
            "last message",
        ),
        (
            with(&|b| b["overrides"] = json!({"temperature": 3.5})),
            "overrides.temperature",
        ),
        (
            with(&|b| b["overrides"] = json!({"max_tokens": 0})),
            "overrides.max_tokens",
        ),
        (with(&|b| b["overrides"] = json!({"top_k": 3})), "top_k"),
        (with(&|b| b["personalityId"] = json!("")), "personalityId"),
        (
            with(&|b| {
                b.as_object_mut().unwrap().remove("personalityId");
            }),
            "personalityId",
        ),
        (
            with(&|b| b["tools"] = json!(["launch_rockets"])),
            "launch_rockets",
        ),
    ];
    for (body, named) in cases {
        let reply = post_turn(&world, &body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{body}: {message}");
    }
    assert!(provider_requests(&world).await.is_empty());
    assert!(ledger_rows(&world).await.is_empty());
    assert_eq!(balance(&world).await, GRANT_MICROS);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn an_oversized_body_is_413(pool: PgPool) {
    let world = world(pool.clone(), &[("HELIX_MAX_BODY_BYTES", "4096")]).await;
    let mut body = ask("openai");
    body["messages"][0]["content"] = json!("x".repeat(5000));
    let reply = post_turn(&world, &body).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.body["error"]["code"], "payload_too_large");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn agents_decide_what_a_user_may_call(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world.fund(GRANT_MICROS).await;
    answer_everywhere(&world.provider).await;

    let mut other_model = ask("openai");
    other_model["model"] = json!("gpt-4.1");
    let reply = post_turn(&world, &other_model).await;
    assert_eq!(
        (reply.status, reply.body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("agent_not_configured"))
    );

    sqlx::query(
        "UPDATE agents SET status = 'disabled' WHERE user_id = $1 AND provider = 'anthropic'",
    )
    .bind(&world.user.id)
    .execute(&pool)
    .await
    .unwrap();
    let reply = post_turn(&world, &ask("anthropic")).await;
    assert_eq!(
        (reply.status, reply.body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("agent_disabled"))
    );

    let mut chosen = ask("openai");
    chosen["model"] = json!("gpt-4o-mini");
    assert_eq!(post_turn(&world, &chosen).await.status, StatusCode::OK);
    assert!(
        provider_requests(&world)
            .await
            .iter()
            .all(|r| r["model"] == "gpt-4o-mini")
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn the_personality_picker_lists_presets_and_only_the_callers_personas(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    let (stranger, _) = signed_in_user(&world.state, "other@example.com").await;
    for (user, name) in [(&world.user.id, "Mine"), (&stranger.id, "Theirs")] {
        sqlx::query("INSERT INTO personas (id, user_id, name, prompt) VALUES ($1, $2, $3, 'p')")
            .bind(new_id())
            .bind(user)
            .bind(name)
            .execute(&pool)
            .await
            .unwrap();
    }
    let reply = send(
        &world.app,
        authorised(helix_tests::get("/v1/personalities"), &world.token),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let list = reply.body["personalities"].as_array().unwrap();
    let labels: Vec<&str> = list.iter().map(|p| p["label"].as_str().unwrap()).collect();
    assert!(
        labels.contains(&"Mine") && !labels.contains(&"Theirs"),
        "{labels:?}"
    );
    let presets = list.iter().filter(|p| p["kind"] == "preset").count();
    assert_eq!(presets, world.state.presets.all().count());
    let assistant = list.iter().find(|p| p["id"] == "helix-assistant").unwrap();
    assert!(
        assistant["toolWhitelist"]
            .as_array()
            .unwrap()
            .contains(&json!("calculator"))
    );
}

/// 200 turns at once for a user whose budget pays for exactly 50 of them.
#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn concurrent_turns_never_overspend_and_every_cent_is_on_the_ledger(pool: PgPool) {
    // Local model at $1 per million output tokens: 20 output tokens cost exactly 20 micros.
    let world = world(
        pool.clone(),
        &[
            ("HELIX_LOCAL_OUTPUT_PER_MTOK_MICROS", "1000000"),
            ("HELIX_DB_MAX_CONNECTIONS", "20"),
        ],
    )
    .await;
    world.fund(50 * 20).await;
    Mock::given(method("POST"))
        .and(path("/local/v1/chat/completions"))
        .respond_with(OpenAiReply::text("ok", 40, 20))
        .mount(&world.provider)
        .await;
    let mut body = ask("local");
    body["overrides"] = json!({"max_tokens": 20});

    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (pool, user, watching) = (pool.clone(), world.user.id.clone(), watching.clone());
        tokio::spawn(async move {
            let mut lowest = i64::MAX;
            while watching.load(std::sync::atomic::Ordering::SeqCst) {
                lowest = lowest.min(ledger::balance_micros(&pool, &user).await.unwrap());
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            lowest
        })
    };
    let turns = (0..200).map(|_| {
        let (app, request) = (world.app.clone(), turn_request(&body, &world.token));
        tokio::spawn(async move { send(&app, request).await.status })
    });
    let statuses: Vec<StatusCode> = futures_join_all(turns).await;
    watching.store(false, std::sync::atomic::Ordering::SeqCst);
    let lowest_seen = watcher.await.unwrap();

    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::PAYMENT_REQUIRED)
        .count();
    assert_eq!(ok + refused, 200, "every other call is a 402: {statuses:?}");
    assert_eq!(ok, 50, "the budget pays for exactly 50 turns");
    assert!(
        lowest_seen >= 0,
        "the balance went below zero: {lowest_seen}"
    );
    assert_eq!(balance(&world).await, 0);
    let spent: i64 = ledger_rows(&world)
        .await
        .iter()
        .map(|(cost, _, _)| cost)
        .sum();
    assert_eq!(spent, 50 * 20, "Σ ledger = spent, exactly");
    assert_eq!(open_holds(&pool).await, 0);
    assert_invariant(&pool).await;
}

async fn futures_join_all<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut results = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        results.push(handle.await.unwrap());
    }
    results
}

/// The next segment document the fake X-Ray daemon receives, without its header line.
async fn next_segment(daemon: &tokio::net::UdpSocket) -> Value {
    let mut buffer = vec![0; 65_536];
    let length = tokio::time::timeout(std::time::Duration::from_secs(5), daemon.recv(&mut buffer))
        .await
        .expect("no segment reached the X-Ray daemon")
        .unwrap();
    let datagram = std::str::from_utf8(&buffer[..length]).unwrap();
    let (_header, document) = datagram.split_once('\n').unwrap();
    serde_json::from_str(document).unwrap()
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn with_tracing_on_each_provider_call_is_sent_to_xray_with_its_outcome(pool: PgPool) {
    let mut world = world(pool.clone(), &[]).await;
    let daemon = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = daemon.local_addr().unwrap().to_string();
    world.state.tracer = Tracer::daemon(&address).await.unwrap();
    world.app = local_gateway::app(world.state.clone());
    world.fund(GRANT_MICROS).await;
    answer_everywhere(&world.provider).await;

    let reply = post_turn(&world, &ask("anthropic")).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let segment = next_segment(&daemon).await;
    assert_eq!(segment["trace_id"], reply.body["trace_id"]);
    assert_eq!(segment["name"], "anthropic");
    assert_eq!(
        segment["annotations"],
        json!({"engine": "anthropic", "provider": "anthropic", "model": "claude-haiku-4-5"})
    );
    assert_eq!(segment["metadata"]["helix"]["output_tokens"], 30);
    assert!(segment["end_time"].as_f64() >= segment["start_time"].as_f64());
    assert_eq!(segment.get("fault"), None);

    world.provider.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&world.provider)
        .await;
    let failed = post_turn(&world, &ask("openai")).await;

    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{}", failed.body);
    let segment = next_segment(&daemon).await;
    assert_eq!(segment["trace_id"], failed.body["error"]["trace_id"]);
    assert_eq!(segment["fault"], true);
    assert_eq!(segment["http"]["response"]["status"], 503);
    assert_eq!(open_holds(&pool).await, 0);
    assert_invariant(&pool).await;
}
