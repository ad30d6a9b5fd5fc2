//! Every provider attempt is logged with engine, provider, model, status, attempt and latency,
//! inside the request's span so it carries the request's trace_id.
//! Its own test binary: a thread-local log capture is only reliable with no other tests beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use helix_shared::chat::{CompletionInput, Message, Role};
use helix_shared::engine::Engine;
use helix_shared::engine::openai::OpenAiEngine;
use helix_shared::engine::retry::RetryPolicy;
use helix_tests::capture_logs;
use serde_json::json;
use tracing::Instrument;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

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
