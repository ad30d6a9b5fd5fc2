//! Logs are JSON lines, and everything a request logs carries its trace id.
//! Its own test binary: a thread-local log capture is only reliable with no other tests beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use helix_tests::{capture_logs, get, send, state_without_database};

#[tokio::test]
async fn every_log_line_of_a_request_carries_its_trace_id() {
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
    for line in &lines {
        assert_eq!(
            line["trace_id"], "1-6b04cad6-0123456789abcdef01234567",
            "{line}"
        );
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
