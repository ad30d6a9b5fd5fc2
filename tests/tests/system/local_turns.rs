//! A turn with `engine: "local"` and no local server configured: the in-process SmolLM2 answers,
//! and the ledger charges it at the configured local price, under the same 402 rule as any model.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use helix_shared::budget::ledger;
use helix_shared::pricing::{Price, cost_micros};
use helix_shared::usage::Usage;
use helix_tests::{add_agent, json_request, send, signed_in_user, state_with};
use serde_json::json;
use sqlx::PgPool;

/// $1 per million input tokens and $4 per million output tokens: small, but not zero.
const PRICES: [(&str, &str); 3] = [
    ("HELIX_LOCAL_INPUT_PER_MTOK_MICROS", "1000000"),
    ("HELIX_LOCAL_OUTPUT_PER_MTOK_MICROS", "4000000"),
    ("HELIX_LOCAL_THREADS", "1"),
];

async fn local_agent(pool: &PgPool, user_id: &str) {
    add_agent(pool, user_id, "local", "smollm2-135m-instruct", "active").await;
}

fn turn(token: &str) -> Request<Body> {
    let body = json!({
        "engine": "local",
        "personalityId": "helix-assistant",
        "messages": [{"role": "user", "content": "Say hello in five words."}],
        "overrides": {"max_tokens": 16, "temperature": 0.0}
    });
    json_request("POST", "/v1/turns", &body, token)
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_local_turn_is_answered_in_process_and_charged_at_the_local_price(pool: PgPool) {
    let state = state_with(pool.clone(), &PRICES);
    assert!(state.config.engines.local_base_url.is_none());
    let app = local_gateway::app(state.clone());
    let (user, token) = signed_in_user(&state, "local@example.com").await;
    local_agent(&pool, &user.id).await;
    ledger::grant(&pool, &user.id, 1_000_000, "test grant", None)
        .await
        .unwrap();

    let reply = send(&app, turn(&token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = &reply.body;
    assert!(!body["text"].as_str().unwrap().is_empty());
    assert_eq!(body["engine"], "local");
    assert_eq!(body["model"], "smollm2-135m-instruct");
    let tokens = Usage {
        input_tokens: body["usage"]["input_tokens"].as_u64().unwrap(),
        cached_input_tokens: 0,
        output_tokens: body["usage"]["output_tokens"].as_u64().unwrap(),
    };
    assert!(tokens.input_tokens > 0 && (1..=16).contains(&tokens.output_tokens));
    let price = Price {
        input_per_mtok_micros: 1_000_000,
        cached_input_per_mtok_micros: 0,
        output_per_mtok_micros: 4_000_000,
    };
    let expected = cost_micros(price, tokens);
    assert!(expected > 0);
    assert_eq!(body["cost"]["micros"], expected);

    let (charged, kind): (i64, String) =
        sqlx::query_as("SELECT cost_micros, kind::text FROM usage_ledger WHERE user_id = $1")
            .bind(&user.id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((charged, kind.as_str()), (expected, "completion"));
    assert_eq!(body["budget"]["remaining_micros"], 1_000_000 - expected);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_local_turn_with_no_budget_is_402_even_when_the_model_is_free(pool: PgPool) {
    let state = state_with(pool.clone(), &[]);
    let app = local_gateway::app(state.clone());
    let (user, token) = signed_in_user(&state, "broke@example.com").await;
    local_agent(&pool, &user.id).await;

    let reply = send(&app, turn(&token)).await;
    assert_eq!(reply.status, StatusCode::PAYMENT_REQUIRED, "{}", reply.body);
    assert_eq!(reply.body["error"]["code"], "budget_exhausted");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_missing_local_model_is_503_without_the_servers_paths(pool: PgPool) {
    let path = "/srv/helix-secret-layout/models/missing.gguf";
    let mut settings = PRICES.to_vec();
    settings.push(("HELIX_LOCAL_MODEL_PATH", path));
    let state = state_with(pool.clone(), &settings);
    let (user, token) = signed_in_user(&state, "local@example.com").await;
    local_agent(&pool, &user.id).await;
    ledger::grant(&pool, &user.id, 1_000_000, "test", None)
        .await
        .unwrap();
    let app = local_gateway::app(state);
    let (logs, _guard) = helix_tests::capture_logs();

    let reply = send(&app, turn(&token)).await;

    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(reply.body["error"]["code"], "local_model_unavailable");
    assert!(
        !reply.body.to_string().contains("helix-secret-layout"),
        "{}",
        reply.body
    );
    let logged = logs
        .lines()
        .iter()
        .any(|line| line.to_string().contains("helix-secret-layout"));
    assert!(logged, "the path is in the logs for the operator");
}
