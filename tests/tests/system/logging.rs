//! Logs are JSON lines, and everything a request logs carries its trace id: every provider attempt
//! (engine, provider, model, status, attempt, latency) inside the request's span, and one line per
//! turn with its user, tokens, cost, and the provider's latency apart from Helix's own.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use helix_shared::budget::ledger;
use helix_shared::chat::{CompletionInput, Message, Role};
use helix_shared::engine::Engine;
use helix_shared::engine::openai::OpenAiEngine;
use helix_shared::engine::retry::RetryPolicy;
use helix_tests::{
    authorised, capture_logs, config_with, get, send, signed_in_user, state_without_database,
};
use serde_json::json;
use sqlx::PgPool;
use tracing::Instrument;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn every_log_line_of_a_request_carries_its_trace_id_and_request_id() {
    let app = local_gateway::app(state_without_database());
    let (logs, _guard) = capture_logs();
    let mut request = get("/healthz");
    request.headers_mut().insert(
        "x-amzn-trace-id",
        "Root=1-6b04cad6-0123456789abcdef01234567;Sampled=1"
            .parse()
            .unwrap(),
    );
    let reply = send(&app, request).await;
    assert_eq!(
        reply.body["error"]["trace_id"],
        "1-6b04cad6-0123456789abcdef01234567"
    );

    let lines = logs.lines();
    assert!(
        lines.len() >= 2,
        "expected the error and the access line: {lines:?}"
    );
    let request_id = reply.headers["x-request-id"].to_str().unwrap();
    for line in &lines {
        assert_eq!(
            line["trace_id"], "1-6b04cad6-0123456789abcdef01234567",
            "{line}"
        );
        assert_eq!(line["request_id"], request_id, "{line}");
        assert!(
            line["level"].is_string() && line["timestamp"].is_string(),
            "{line}"
        );
    }
    let served = lines
        .iter()
        .find(|l| l["message"] == "request served")
        .expect("an access line");
    assert_eq!(served["status"], 503);
    assert_eq!(served["path"], "/healthz");
}

#[tokio::test]
async fn each_provider_attempt_is_logged_with_the_request_trace_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(json!({"error": {"message": "busy", "type": "server_error"}})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{"message": {"role": "assistant", "content": "hi"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1}
        })))
        .mount(&server)
        .await;
    let policy = RetryPolicy {
        base_delay: std::time::Duration::from_millis(1),
        ..RetryPolicy::default()
    };
    let engine = OpenAiEngine::local("llama3.2", format!("{}/v1", server.uri()), None)
        .with_retry_policy(policy);
    let input = CompletionInput {
        messages: vec![Message::new(Role::User, "hello")],
        ..CompletionInput::default()
    };

    let (logs, _guard) = capture_logs();
    let span = tracing::info_span!("request", trace_id = "1-6b04cad6-0123456789abcdef01234567");
    engine.complete(&input).instrument(span).await.unwrap();

    let attempts: Vec<_> = logs
        .lines()
        .into_iter()
        .filter(|l| l["attempt"].is_number())
        .collect();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    for (number, line) in attempts.iter().enumerate() {
        assert_eq!(line["attempt"], number + 1);
        assert_eq!(line["trace_id"], "1-6b04cad6-0123456789abcdef01234567");
        assert_eq!(
            (&line["engine"], &line["provider"], &line["model"]),
            (&json!("local"), &json!("local"), &json!("llama3.2"))
        );
        assert!(line["latency_ms"].as_f64().is_some());
    }
    assert_eq!(attempts[0]["status"], "503");
    assert_eq!(attempts[0]["level"], "WARN");
    assert_eq!(attempts[1]["status"], "ok");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_turn_logs_one_line_with_its_cost_and_latencies(pool: PgPool) {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(helix_tests::OpenAiReply::text("hi", 12, 3))
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
