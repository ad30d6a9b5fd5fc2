//! One JSON log line per turn: trace_id, user, engine/provider/model, tokens, cost, and the
//! provider's latency apart from Helix's own.
//! Its own test binary: a thread-local log capture is only reliable with no other tests beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use helix_shared::budget::ledger;
use helix_tests::{authorised, capture_logs, config_with, send, signed_in_user};
use serde_json::json;
use sqlx::PgPool;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_turn_logs_one_line_with_its_cost_and_latencies(pool: PgPool) {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{"message": {"role": "assistant", "content": "hi"}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3}
        })))
        .mount(&provider)
        .await;
    let local = format!("{}/v1", provider.uri());
    let state = helix_shared::AppState::new(
        config_with(&[("HELIX_LOCAL_BASE_URL", &local)]),
        pool.clone(),
    )
    .unwrap();
    let (user, token) = signed_in_user(&state, "logged@example.com").await;
    ledger::grant(&pool, &user.id, 1_000_000, "test", None)
        .await
        .unwrap();
    sqlx::query("INSERT INTO agents (id, user_id, provider, model) VALUES ('agentlogged01', $1, 'local', 'llama3.2')")
        .bind(&user.id)
        .execute(&pool)
        .await
        .unwrap();
    let app = local_gateway::app(state);
    let body = json!({"engine": "local", "personalityId": "helix-assistant", "messages": [{"role": "user", "content": "hi"}]});
    let request = Request::post("/v1/turns")
        .header("content-type", "application/json")
        .header(
            "x-amzn-trace-id",
            "Root=1-6b04cad6-00000000000000000000beef",
        )
        .body(Body::from(body.to_string()))
        .unwrap();

    let (logs, _guard) = capture_logs();
    let reply = send(&app, authorised(request, &token)).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let lines = logs.lines();
    let turns: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "turn completed")
        .collect();
    assert_eq!(turns.len(), 1, "{lines:?}");
    let line = turns[0];
    assert_eq!(line["trace_id"], "1-6b04cad6-00000000000000000000beef");
    assert_eq!(line["user_id"], json!(user.id));
    assert_eq!(
        (&line["engine"], &line["provider"], &line["model"]),
        (&json!("local"), &json!("local"), &json!("llama3.2"))
    );
    assert_eq!(
        (&line["input_tokens"], &line["output_tokens"]),
        (&json!(12), &json!(3))
    );
    assert!(line["cost_micros"].is_number());
    assert!(line["provider_latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(line["helix_latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(
        lines
            .iter()
            .all(|l| l["trace_id"] == "1-6b04cad6-00000000000000000000beef"),
        "every line of the request"
    );
}
