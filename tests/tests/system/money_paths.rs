//! The money paths' edge cases: a call that costs more than its hold, a call that settles after
//! reconciliation refunded its hold, an agent deleted while its turn runs, a killed turn's
//! Idempotency-Key. Through the real router or the pipeline, on a real database.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use helix_shared::AppState;
use helix_shared::budget::ledger;
use helix_shared::budget::reconcile::{self, Options, expected_balance_micros};
use helix_shared::db::idempotency::{self, Claim};
use helix_shared::engine::registry::EngineRegistry;
use helix_shared::pipeline::{self, Billed, CallSpec, ChargeKind};
use helix_shared::usage::Usage;
use helix_tests::{
    Ending, OpenAiReply, PacedProvider, add_agent, config_with, fake_aws_config, json_request,
    send, send_stream,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

const RECONCILE: Options = Options {
    repair: false,
    idempotency_retention: Duration::from_secs(24 * 3600),
};

type World = helix_tests::World<String>;

async fn world(pool: PgPool, uri: &str, grant_micros: i64) -> World {
    let openai = format!("{uri}/v1");
    let pairs = [
        ("OPENAI_API_KEY", "sk-test"),
        ("HELIX_ENGINE_MAX_ATTEMPTS", "1"),
        ("HELIX_OPENAI_BASE_URL", openai.as_str()),
    ];
    let config = config_with(&pairs);
    let mut state = AppState::new(config.clone(), pool.clone()).unwrap();
    state.engines =
        Arc::new(EngineRegistry::new(config.engines).with_aws_config(fake_aws_config(None).await));
    let world = World::with_provider(state, "payer@example.com", uri.to_owned()).await;
    add_agent(&pool, &world.user.id, "openai", "gpt-4o-mini", "active").await;
    world.fund(grant_micros).await;
    world
}

fn ask() -> Value {
    json!({
        "engine": "openai",
        "personalityId": "helix-assistant",
        "messages": [{"role": "user", "content": "Say hello."}],
        "overrides": {"max_tokens": 50}
    })
}

async fn assert_books_balance(pool: &PgPool, user_id: &str) {
    let balance = ledger::balance_micros(pool, user_id).await.unwrap();
    assert!(balance >= 0, "the balance went below zero: {balance}");
    assert_eq!(
        balance,
        expected_balance_micros(pool, user_id).await.unwrap()
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_call_that_costs_more_than_its_hold_is_charged_and_pauses_spending_until_reconciled(
    pool: PgPool,
) {
    let provider = MockServer::start().await;
    // Far more input than Helix could have bounded for "Say hello.".
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(OpenAiReply::text("Hello!", 400_000, 10))
        .mount(&provider)
        .await;
    let world = world(pool.clone(), &provider.uri(), 10_000_000).await;

    let first = send(
        &world.app,
        json_request("POST", "/v1/turns", &ask(), &world.token),
    )
    .await;
    let paused = send(
        &world.app,
        json_request("POST", "/v1/turns", &ask(), &world.token),
    )
    .await;
    let summary = reconcile::run(&pool, &RECONCILE).await.unwrap();
    let resumed = send(
        &world.app,
        json_request("POST", "/v1/turns", &ask(), &world.token),
    )
    .await;

    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(
        first.body["usage"]["input_tokens"], 400_000,
        "the truth is charged"
    );
    assert_eq!(paused.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(paused.body["error"]["code"], "spend_locked");
    assert_eq!(summary.spend_locks_cleared, 1);
    assert_eq!(summary.drifts_found, 0);
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    assert_books_balance(&pool, &world.user.id).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_settle_after_its_hold_was_refunded_charges_only_what_the_balance_has(pool: PgPool) {
    let world = world(pool.clone(), "http://127.0.0.1:1", 1_000).await;
    let price = world.state.prices.price("openai", "gpt-4o-mini").unwrap();
    let spec = CallSpec {
        user_id: &world.user.id,
        agent_id: None,
        trace_id: "1-6b04cad6-0123456789abcdef01234567",
        request_id: "request-killed-1",
        kind: ChargeKind::Completion,
        provider: "openai",
        model: "gpt-4o-mini",
        price,
        price_table_version: "test",
        input_bound: 100,
        requested_max_tokens: 100,
        deadline: Duration::from_secs(60),
        limits: helix_shared::budget::rules::CallLimits::DEFAULT,
        api_key: None,
    };
    let claimed = idempotency::claim(&pool, &world.user.id, "key-1", "hash", "request-killed-1")
        .await
        .unwrap();
    assert_eq!(claimed, Claim::Fresh);
    let metered = pipeline::reserve(&pool, spec).await.unwrap();
    // The call outlives its hold: reconciliation refunds it and frees the turn's key.
    sqlx::query(
        "UPDATE budget_holds SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let summary = reconcile::run(&pool, &RECONCILE).await.unwrap();
    // Meanwhile the user spends most of what came back.
    ledger::grant(&pool, &world.user.id, -900, "spent elsewhere", None)
        .await
        .unwrap();

    let usage = Usage {
        input_tokens: 100_000,
        output_tokens: 100_000,
        cached_input_tokens: 0,
    };
    let settled = metered
        .settle(&pool, Billed::reported(usage), pipeline::details(json!({})))
        .await
        .unwrap();

    assert_eq!(summary.holds_released, 1);
    assert_eq!(
        summary.idempotency_keys_freed, 1,
        "the killed turn's key is free at once"
    );
    assert_eq!(settled.cost_micros, 100, "what the balance had");
    assert!(settled.settlement.shortfall_micros > 0);
    assert_eq!(settled.settlement.balance_micros, 0);
    let meta: Value = sqlx::query_scalar("SELECT meta FROM usage_ledger")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        meta["shortfall_micros"],
        settled.settlement.shortfall_micros
    );
    assert_books_balance(&pool, &world.user.id).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn an_agent_deleted_while_its_turn_runs_leaves_the_charge_on_the_ledger(pool: PgPool) {
    let events = OpenAiReply::text("", 30, 5)
        .in_pieces(&["slow", "ly"])
        .events();
    let provider = PacedProvider::start(events, Duration::from_millis(150), Ending::Complete).await;
    let world = world(pool.clone(), &provider.uri, 10_000_000).await;
    let mut body = ask();
    body["stream"] = json!(true);

    let turn = {
        let (app, request) = (
            world.app.clone(),
            json_request("POST", "/v1/turns", &body, &world.token),
        );
        tokio::spawn(async move { send_stream(&app, request).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    sqlx::query("DELETE FROM agents WHERE user_id = $1")
        .bind(&world.user.id)
        .execute(&pool)
        .await
        .unwrap();
    let reply = turn.await.unwrap();

    assert_eq!(reply.last().name, "done", "{:?}", reply.names());
    let (cost, agent): (i64, Option<String>) =
        sqlx::query_as("SELECT cost_micros, agent_id FROM usage_ledger")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(cost > 0);
    assert_eq!(
        agent, None,
        "the row stays, detached from the deleted agent"
    );
    assert_books_balance(&pool, &world.user.id).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn an_embedding_batch_that_fails_after_others_succeeded_charges_those(pool: PgPool) {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(|request: &wiremock::Request| {
            let body: Value = request.body_json().unwrap();
            let n = body["input"].as_array().unwrap().len();
            if n == 256 {
                let data: Vec<Value> = (0..n)
                    .map(|i| json!({"object": "embedding", "index": i, "embedding": [1.0, 0.0, 0.0]}))
                    .collect();
                wiremock::ResponseTemplate::new(200).set_body_json(json!({
                    "object": "list", "data": data, "model": "text-embedding-3-small",
                    "usage": {"prompt_tokens": 1000, "total_tokens": 1000}
                }))
            } else {
                wiremock::ResponseTemplate::new(503)
            }
        })
        .mount(&provider)
        .await;
    let base = format!("{}/v1", provider.uri());
    let pairs = [
        ("OPENAI_API_KEY", "sk-test"),
        ("HELIX_OPENAI_BASE_URL", base.as_str()),
        ("HELIX_ENGINE_MAX_ATTEMPTS", "1"),
        ("HELIX_EMBEDDING_PROVIDER", "openai"),
        ("HELIX_EMBEDDING_DIMENSIONS", "3"),
    ];
    let state = AppState::new(config_with(&pairs), pool.clone()).unwrap();
    let world = World::with_provider(state, "embedder@example.com", provider.uri()).await;
    world.fund(10_000_000).await;
    let texts: Vec<String> = (0..300).map(|i| format!("text {i}")).collect();
    let payer = helix_shared::pipeline::embedding::Payer {
        user_id: &world.user.id,
        trace_id: "trace-embed-1",
        request_id: "request-embed-1",
        api_key: None,
    };

    let failed = helix_shared::pipeline::embedding::embed(
        &world.state,
        &payer,
        helix_shared::pipeline::embedding::Purpose::Document,
        &texts,
    )
    .await;

    assert!(failed.is_err());
    let (tokens, cost, meta): (i32, i64, Value) =
        sqlx::query_as("SELECT input_tokens, cost_micros, meta FROM usage_ledger")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(tokens, 1000, "the batch the provider embedded is charged");
    assert!(cost > 0);
    assert_eq!(meta["failed"], true);
    let holds: i64 = sqlx::query_scalar("SELECT count(*) FROM budget_holds")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(holds, 0);
    assert_books_balance(&pool, &world.user.id).await;
}

fn keyed(
    mut request: axum::http::Request<axum::body::Body>,
    key: &str,
) -> axum::http::Request<axum::body::Body> {
    request
        .headers_mut()
        .insert("idempotency-key", key.parse().unwrap());
    request
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_retried_grant_with_its_key_is_applied_once(pool: PgPool) {
    use helix_shared::auth::settings::DEV_MASTER_PASSCODE;
    let state = helix_tests::state(pool.clone());
    let app = local_gateway::app(state.clone());
    let master = send(
        &app,
        helix_tests::post_json_from(
            "/auth/verify",
            &json!({"passcode": DEV_MASTER_PASSCODE}),
            [10, 0, 0, 1],
        ),
    )
    .await;
    let admin = master.body["token"].as_str().unwrap().to_owned();
    let (user, _) = helix_tests::signed_in_user(&state, "granted@example.com").await;
    let body = json!({"email": "granted@example.com", "amount_cents": 500, "reason": "pilot"});
    let grant = |body: &Value| {
        keyed(
            json_request("POST", "/v1/budget/grants", body, &admin),
            "grant-1",
        )
    };

    let first = send(&app, grant(&body)).await;
    let retry = send(&app, grant(&body)).await;
    let mut other = body.clone();
    other["amount_cents"] = json!(900);
    let reused = send(&app, grant(&other)).await;

    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    assert_eq!(retry.body, first.body);
    assert_eq!(reused.status, StatusCode::CONFLICT);
    assert_eq!(reused.body["error"]["code"], "idempotency_key_reused");
    assert_eq!(
        ledger::balance_micros(&pool, &user.id).await.unwrap(),
        5_000_000,
        "granted once"
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_retried_document_with_its_key_is_embedded_and_charged_once(pool: PgPool) {
    let state = helix_tests::state_with(
        pool.clone(),
        &[("HELIX_LOCAL_INPUT_PER_MTOK_MICROS", "1000000")],
    );
    helix_tests::prepare_memory(&state).await;
    let world = helix_tests::World::new(state, "keeper@example.com").await;
    world.fund(1_000_000).await;
    let body = json!({"doc_id": "handbook", "text": "Holidays: 25 days a year. Expenses: within 30 days."});
    let post = || {
        keyed(
            json_request("POST", "/v1/memory/documents", &body, &world.token),
            "doc-1",
        )
    };

    let first = send(&world.app, post()).await;
    let retry = send(&world.app, post()).await;

    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    assert_eq!(retry.body, first.body);
    let charges: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_ledger WHERE user_id = $1")
        .bind(&world.user.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(charges, 1, "embedded and charged once");
    assert_books_balance(&pool, &world.user.id).await;
}

/// 200 streamed turns at once for a user allowed 5 in flight: never more than 5 run, every other
/// one is a 429 with Retry-After before any provider call, and nothing is charged for them.
#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn calls_in_flight_per_user_are_capped_exactly_under_200_at_once(pool: PgPool) {
    let events = OpenAiReply::text("", 20, 5).in_pieces(&["a", "b"]).events();
    let provider = PacedProvider::start(events, Duration::from_millis(100), Ending::Complete).await;
    let openai = format!("{}/v1", provider.uri);
    let pairs = [
        ("OPENAI_API_KEY", "sk-test"),
        ("HELIX_ENGINE_MAX_ATTEMPTS", "1"),
        ("HELIX_OPENAI_BASE_URL", openai.as_str()),
        ("HELIX_MAX_CALLS_IN_FLIGHT", "5"),
        ("HELIX_DB_MAX_CONNECTIONS", "20"),
    ];
    let state = AppState::new(config_with(&pairs), pool.clone()).unwrap();
    let world = World::with_provider(state, "busy@example.com", provider.uri.clone()).await;
    add_agent(&pool, &world.user.id, "openai", "gpt-4o-mini", "active").await;
    world.fund(10_000_000).await;
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (pool, watching) = (pool.clone(), watching.clone());
        tokio::spawn(async move {
            let mut most = 0;
            while watching.load(std::sync::atomic::Ordering::SeqCst) {
                let holds: i64 = sqlx::query_scalar("SELECT count(*) FROM budget_holds")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                most = most.max(holds);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            most
        })
    };
    let mut body = ask();
    body["stream"] = json!(true);

    let turns: Vec<_> = (0..200)
        .map(|_| {
            let (app, request) = (
                world.app.clone(),
                json_request("POST", "/v1/turns", &body, &world.token),
            );
            tokio::spawn(async move { send_stream(&app, request).await })
        })
        .collect();
    let mut done = 0;
    let mut limited = 0;
    for turn in turns {
        let reply = turn.await.unwrap();
        match reply.status {
            StatusCode::OK => {
                assert_eq!(reply.last().name, "done");
                done += 1;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(reply.json["error"]["code"], "rate_limited");
                assert!(reply.headers.contains_key("retry-after"));
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    watching.store(false, std::sync::atomic::Ordering::SeqCst);
    let most_in_flight = watcher.await.unwrap();

    assert_eq!(done + limited, 200);
    assert!(done >= 5, "{done}");
    assert!(most_in_flight <= 5, "{most_in_flight} ran at once");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_ledger")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, done, "only the admitted calls are charged");
    let in_flight: i32 = sqlx::query_scalar("SELECT calls_in_flight FROM users WHERE id = $1")
        .bind(&world.user.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(in_flight, 0, "every settled call gave its slot back");
    assert_books_balance(&pool, &world.user.id).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn calls_per_minute_per_user_are_capped_with_a_retry_after_to_the_next_minute(pool: PgPool) {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(OpenAiReply::text("ok", 10, 2))
        .mount(&provider)
        .await;
    let openai = format!("{}/v1", provider.uri());
    let pairs = [
        ("OPENAI_API_KEY", "sk-test"),
        ("HELIX_OPENAI_BASE_URL", openai.as_str()),
        ("HELIX_MAX_CALLS_PER_MINUTE", "3"),
    ];
    let state = AppState::new(config_with(&pairs), pool.clone()).unwrap();
    let world = World::with_provider(state, "hasty@example.com", provider.uri()).await;
    add_agent(&pool, &world.user.id, "openai", "gpt-4o-mini", "active").await;
    world.fund(10_000_000).await;
    // Start just after a minute turns, so all ten calls fall in one window.
    let now = chrono::Utc::now();
    let into_minute = now.timestamp_millis().rem_euclid(60_000);
    if into_minute > 50_000 {
        tokio::time::sleep(Duration::from_millis((60_000 - into_minute + 100) as u64)).await;
    }

    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..10 {
        let reply = send(
            &world.app,
            json_request("POST", "/v1/turns", &ask(), &world.token),
        )
        .await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            retry_after = reply.headers["retry-after"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .ok();
        }
        statuses.push(reply.status);
    }

    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 3, "{statuses:?}");
    assert!(
        retry_after.is_some_and(|secs| (1..=60).contains(&secs)),
        "{retry_after:?}"
    );
    assert_eq!(provider.received_requests().await.unwrap().len(), 3);
    assert_books_balance(&pool, &world.user.id).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_persona_deleted_while_its_document_is_embedded_waits_so_the_paid_document_is_stored(
    pool: PgPool,
) {
    // A slow embedding provider: the persona is deleted while the document is being embedded.
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(|request: &wiremock::Request| {
            let body: Value = request.body_json().unwrap();
            let n = body["input"].as_array().unwrap().len();
            let data: Vec<Value> = (0..n)
                .map(|i| json!({"object": "embedding", "index": i, "embedding": [1.0, 0.0, 0.0]}))
                .collect();
            wiremock::ResponseTemplate::new(200)
                .set_body_json(json!({
                    "object": "list", "data": data, "model": "text-embedding-3-small",
                    "usage": {"prompt_tokens": 12, "total_tokens": 12}
                }))
                .set_delay(Duration::from_millis(700))
        })
        .mount(&provider)
        .await;
    let base = format!("{}/v1", provider.uri());
    let pairs = [
        ("OPENAI_API_KEY", "sk-test"),
        ("HELIX_OPENAI_BASE_URL", base.as_str()),
        ("HELIX_ENGINE_MAX_ATTEMPTS", "1"),
        ("HELIX_EMBEDDING_PROVIDER", "openai"),
        ("HELIX_EMBEDDING_DIMENSIONS", "3"),
    ];
    let state = AppState::new(config_with(&pairs), pool.clone()).unwrap();
    helix_tests::prepare_memory(&state).await;
    let world = World::with_provider(state, "racer@example.com", provider.uri()).await;
    world.fund(10_000_000).await;
    let persona = helix_shared::db::personas::create(&pool, &world.user.id, "Mine", "p", None, 200)
        .await
        .unwrap()
        .unwrap();
    let document = json!({"text": "The office opens at nine.", "persona_id": persona.id});
    let upload = json_request("POST", "/v1/memory/documents", &document, &world.token);
    let app = world.app.clone();
    let uploading = tokio::spawn(async move { send(&app, upload).await });
    tokio::time::sleep(Duration::from_millis(250)).await;

    let delete = helix_tests::authorised(
        helix_tests::request("DELETE", &format!("/v1/personas/{}", persona.id)),
        &world.token,
    );
    let deleted = send(&world.app, delete).await;
    let uploaded = uploading.await.unwrap();

    assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    let charged: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM usage_ledger WHERE meta->>'purpose' = 'memory_document'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(charged, 1, "the embedding is charged once");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM memory_documents")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "stored first, then deleted with its persona");
    assert_books_balance(&pool, &world.user.id).await;
}
