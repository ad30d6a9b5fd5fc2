//! Amazon Titan Text Embeddings v2 on Bedrock, through the AWS SDK's InvokeModel. Titan embeds one
//! text per call, so a batch runs a few calls at a time.

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::primitives::Blob;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use super::{EmbedError, Embedder, EmbeddingProvider, Embeddings, checked};
use crate::engine::EngineError;
use crate::engine::bedrock;
use crate::engine::retry::{CallSite, RetryPolicy, call_with_retries};

/// Calls in flight for one batch: enough to hide latency, few enough not to trip throttling.
const IN_FLIGHT: usize = 8;

#[derive(Clone)]
pub struct TitanEmbedder {
    model: String,
    dimensions: usize,
    client: Client,
    policy: RetryPolicy,
}

impl TitanEmbedder {
    /// `sdk` supplies region and credentials; `endpoint` overrides Bedrock's (HELIX_BEDROCK_ENDPOINT).
    pub fn new(
        model: impl Into<String>,
        dimensions: usize,
        sdk: &aws_config::SdkConfig,
        endpoint: Option<&str>,
    ) -> Self {
        TitanEmbedder {
            model: model.into(),
            dimensions,
            client: bedrock::client(sdk, endpoint),
            policy: RetryPolicy::default(),
        }
    }

    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    async fn embed_one(&self, text: &str) -> Result<(Vec<f32>, u64), EngineError> {
        let site = CallSite {
            engine: "titan-embeddings",
            provider: "bedrock",
            model: &self.model,
        };
        let body = serde_json::to_vec(&TitanRequest {
            input_text: text,
            dimensions: self.dimensions,
            normalize: true,
        })
        .map_err(|e| EngineError::InvalidRequest {
            message: e.to_string(),
        })?;
        call_with_retries(&self.policy, site, || async {
            let output = self
                .client
                .invoke_model()
                .model_id(&self.model)
                .content_type("application/json")
                .accept("application/json")
                .body(Blob::new(body.clone()))
                .send()
                .await
                .map_err(bedrock::classify)?;
            let answer: TitanResponse =
                serde_json::from_slice(output.body.as_ref()).map_err(|e| {
                    EngineError::Malformed {
                        detail: e.to_string(),
                    }
                })?;
            Ok((answer.embedding, answer.input_text_token_count))
        })
        .await
    }
}

#[async_trait::async_trait]
impl Embedder for TitanEmbedder {
    fn provider(&self) -> EmbeddingProvider {
        EmbeddingProvider::Bedrock
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Embeddings, EmbedError> {
        let mut slots: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        let mut input_tokens = 0;
        let mut calls = JoinSet::new();
        let mut pending = texts.iter().cloned().enumerate();
        loop {
            while calls.len() < IN_FLIGHT {
                let Some((index, text)) = pending.next() else {
                    break;
                };
                let embedder = self.clone();
                calls.spawn(async move { (index, embedder.embed_one(&text).await) });
            }
            let Some(joined) = calls.join_next().await else {
                break;
            };
            let failed = |error| EmbedError::after(input_tokens, error);
            let (index, outcome) = joined.map_err(|e| {
                failed(EngineError::Unreachable {
                    detail: format!("an embedding call stopped: {e}"),
                })
            })?;
            // Returning drops the JoinSet, which aborts the calls still in flight; the texts
            // embedded so far are charged.
            let (vector, tokens) = outcome.map_err(failed)?;
            slots[index] = Some(vector);
            input_tokens += tokens;
        }
        let vectors = slots.into_iter().flatten().collect();
        Ok(Embeddings {
            vectors: checked(vectors, texts.len(), self.dimensions)?,
            input_tokens,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TitanRequest<'a> {
    input_text: &'a str,
    dimensions: usize,
    normalize: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TitanResponse {
    embedding: Vec<f32>,
    input_text_token_count: u64,
}
