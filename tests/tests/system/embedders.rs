//! The remote embedders against real HTTP servers on loopback speaking each provider's wire format:
//! OpenAI's `/v1/embeddings` and Bedrock's InvokeModel for Titan v2 (through the real AWS SDK).

use std::time::Duration;

use helix_shared::embedding::openai::OpenAiEmbedder;
use helix_shared::embedding::titan::TitanEmbedder;
use helix_shared::embedding::{Embedder, EmbeddingProvider};
use helix_shared::engine::EngineError;
use helix_shared::engine::retry::RetryPolicy;
use helix_tests::fake_aws_config;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        attempt_timeout: Duration::from_secs(5),
        deadline: Duration::from_secs(10),
    }
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|t| (*t).to_owned()).collect()
}

fn openai(server: &MockServer, dimensions: usize) -> OpenAiEmbedder {
    OpenAiEmbedder::new(
        "text-embedding-3-small",
        dimensions,
        1536,
        format!("{}/v1", server.uri()),
        SecretString::from("sk-test-key"),
        reqwest::Client::new(),
    )
    .with_retry_policy(quick_retries())
}

/// OpenAI's answer for `n` inputs of `dims` dimensions, listed in reverse to check the reordering.
fn openai_answer(n: usize, dims: usize) -> Value {
    let data: Vec<Value> = (0..n)
        .rev()
        .map(|i| {
            let mut embedding = vec![0.0_f32; dims];
            embedding[i % dims] = 2.0;
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    json!({"object": "list", "data": data, "model": "text-embedding-3-small",
           "usage": {"prompt_tokens": 5 * n, "total_tokens": 5 * n}})
}

#[tokio::test]
async fn openai_sends_the_documented_request_and_returns_unit_vectors_in_order() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(header("authorization", "Bearer sk-test-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_answer(3, 512)))
        .expect(1)
        .mount(&server)
        .await;
    let embedder = openai(&server, 512);
    assert_eq!(embedder.provider(), EmbeddingProvider::OpenAi);
    let answer = embedder.embed(&texts(&["a", "b", "c"])).await.unwrap();

    assert_eq!(answer.input_tokens, 15);
    for (i, vector) in answer.vectors.iter().enumerate() {
        assert_eq!(vector.len(), 512);
        assert_eq!(
            vector[i], 1.0,
            "vector {i} is input {i}'s, scaled to unit length"
        );
    }
    let sent: Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(
        sent,
        json!({"model": "text-embedding-3-small", "input": ["a", "b", "c"],
               "encoding_format": "float", "dimensions": 512})
    );
}

#[tokio::test]
async fn openai_at_the_native_size_does_not_ask_for_dimensions_and_batches_large_inputs() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(|request: &Request| {
            let body: Value = request.body_json().unwrap();
            let n = body["input"].as_array().unwrap().len();
            ResponseTemplate::new(200).set_body_json(openai_answer(n, 1536))
        })
        .mount(&server)
        .await;
    let many: Vec<String> = (0..300).map(|i| format!("text {i}")).collect();
    let answer = openai(&server, 1536).embed(&many).await.unwrap();
    assert_eq!(answer.vectors.len(), 300);
    let requests = server.received_requests().await.unwrap();
    let sizes: Vec<usize> = requests
        .iter()
        .map(|r| {
            r.body_json::<Value>().unwrap()["input"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sizes, vec![256, 44]);
    assert!(
        requests[0]
            .body_json::<Value>()
            .unwrap()
            .get("dimensions")
            .is_none()
    );
}

#[tokio::test]
async fn a_batch_that_fails_after_others_succeeded_reports_what_they_used() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(|request: &Request| {
            let body: Value = request.body_json().unwrap();
            let n = body["input"].as_array().unwrap().len();
            if n == 256 {
                ResponseTemplate::new(200).set_body_json(openai_answer(n, 1536))
            } else {
                ResponseTemplate::new(400).set_body_json(
                    json!({"error": {"message": "bad input", "type": "invalid_request_error", "code": null}}),
                )
            }
        })
        .mount(&server)
        .await;
    let many: Vec<String> = (0..300).map(|i| format!("text {i}")).collect();

    let failure = openai(&server, 1536).embed(&many).await.unwrap_err();

    let first_batch = openai_answer(256, 1536)["usage"]["prompt_tokens"]
        .as_u64()
        .unwrap();
    assert!(first_batch > 0);
    assert_eq!(
        failure.billed_input_tokens, first_batch,
        "the first batch was billed"
    );
    assert!(
        matches!(failure.error, EngineError::InvalidRequest { .. }),
        "{failure:?}"
    );
}

#[tokio::test]
async fn openai_failures_are_typed_and_transient_ones_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_answer(1, 1536)))
        .mount(&server)
        .await;
    let answer = openai(&server, 1536).embed(&texts(&["x"])).await.unwrap();
    assert_eq!(answer.vectors.len(), 1, "a 503 is retried");

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"message": "Incorrect API key", "type": "invalid_request_error", "code": "invalid_api_key"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let error = openai(&server, 1536)
        .embed(&texts(&["x"]))
        .await
        .unwrap_err();
    assert_eq!(error, EngineError::Auth.into());

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_answer(1, 8)))
        .mount(&server)
        .await;
    let error = openai(&server, 1536)
        .embed(&texts(&["x"]))
        .await
        .unwrap_err();
    assert!(
        matches!(error.error, EngineError::Malformed { .. }),
        "{error:?}"
    );
}

async fn titan(server: &MockServer) -> TitanEmbedder {
    let sdk = fake_aws_config(None).await;
    TitanEmbedder::new(
        "amazon.titan-embed-text-v2:0",
        256,
        &sdk,
        Some(&server.uri()),
    )
    .with_retry_policy(quick_retries())
}

#[tokio::test]
async fn titan_invokes_the_model_once_per_text_and_keeps_the_order() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        // The SDK percent-encodes the model id's colon in the path.
        .and(path("/model/amazon.titan-embed-text-v2%3A0/invoke"))
        .respond_with(|request: &Request| {
            let body: Value = request.body_json().unwrap();
            let text = body["inputText"].as_str().unwrap();
            let position: usize = text.trim_start_matches("text ").parse().unwrap();
            let mut embedding = vec![0.0_f32; 256];
            embedding[position] = 1.0;
            // Later texts answer sooner, so completion order differs from input order.
            ResponseTemplate::new(200)
                .set_delay(Duration::from_millis(30 - 2 * position as u64))
                .set_body_json(json!({"embedding": embedding, "inputTextTokenCount": 3}))
        })
        .mount(&server)
        .await;
    let inputs: Vec<String> = (0..12).map(|i| format!("text {i}")).collect();
    let embedder = titan(&server).await;
    assert_eq!(embedder.dimensions(), 256);
    let answer = embedder.embed(&inputs).await.unwrap();

    assert_eq!(answer.input_tokens, 36);
    for (i, vector) in answer.vectors.iter().enumerate() {
        assert_eq!(vector[i], 1.0, "vector {i} belongs to text {i}");
    }
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 12);
    let first: Value = requests[0].body_json().unwrap();
    assert_eq!(first["dimensions"], 256);
    assert_eq!(first["normalize"], true);
    assert!(
        requests[0].headers.get("authorization").is_some(),
        "SigV4-signed"
    );
}

#[tokio::test]
async fn titan_errors_are_typed_by_the_service_error_code() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header(
                    "x-amzn-errortype",
                    "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.bedrock/",
                )
                .set_body_json(json!({"message": "You don't have access to the model"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let error = titan(&server)
        .await
        .embed(&texts(&["x"]))
        .await
        .unwrap_err();
    assert_eq!(error, EngineError::Auth.into());

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header(
                    "x-amzn-errortype",
                    "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
                )
                .set_body_json(json!({"message": "Malformed input request"})),
        )
        .mount(&server)
        .await;
    let error = titan(&server)
        .await
        .embed(&texts(&["x"]))
        .await
        .unwrap_err();
    assert!(
        matches!(error.error, EngineError::InvalidRequest { .. }),
        "{error:?}"
    );
}
