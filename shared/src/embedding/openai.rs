//! OpenAI's embeddings API (`text-embedding-3-small` and kin). Wire types stay in this module.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{EmbedError, Embedder, EmbeddingProvider, Embeddings, checked};
use crate::engine::retry::{CallSite, RetryPolicy, call_with_retries};
use crate::engine::{EngineError, http, openai};

/// Inputs per request: OpenAI takes up to 2048, smaller requests retry cheaper.
const BATCH: usize = 256;

pub struct OpenAiEmbedder {
    model: String,
    dimensions: usize,
    /// Sent only when it differs from the model's own size (v3 models shorten on request).
    shorten_to: Option<usize>,
    base_url: String,
    api_key: SecretString,
    http: reqwest::Client,
    policy: RetryPolicy,
}

impl OpenAiEmbedder {
    pub fn new(
        model: impl Into<String>,
        dimensions: usize,
        native_dimensions: usize,
        base_url: impl Into<String>,
        api_key: SecretString,
        http: reqwest::Client,
    ) -> Self {
        OpenAiEmbedder {
            model: model.into(),
            dimensions,
            shorten_to: (dimensions != native_dimensions).then_some(dimensions),
            base_url: base_url.into(),
            api_key,
            http,
            policy: RetryPolicy::default(),
        }
    }

    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    async fn attempt(&self, input: &[String]) -> Result<Embeddings, EngineError> {
        let url = format!("{}/embeddings", self.base_url.trim_end_matches('/'));
        let body = EmbeddingRequest {
            model: &self.model,
            input,
            encoding_format: "float",
            dimensions: self.shorten_to,
        };
        let request = self
            .http
            .post(url)
            .bearer_auth(self.api_key.expose_secret())
            .json(&body);
        let mut response = match http::send_json::<EmbeddingResponse>(request).await? {
            Ok(response) => response,
            Err(reply) => return Err(openai::classify(reply)),
        };
        response.data.sort_by_key(|item| item.index);
        let vectors = response
            .data
            .into_iter()
            .map(|item| item.embedding)
            .collect();
        Ok(Embeddings {
            vectors: checked(vectors, input.len(), self.dimensions)?,
            input_tokens: response.usage.prompt_tokens,
        })
    }
}

#[async_trait::async_trait]
impl Embedder for OpenAiEmbedder {
    fn provider(&self) -> EmbeddingProvider {
        EmbeddingProvider::OpenAi
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Embeddings, EmbedError> {
        let site = CallSite {
            engine: "openai-embeddings",
            provider: "openai",
            model: &self.model,
        };
        let mut all = Embeddings {
            vectors: Vec::with_capacity(texts.len()),
            input_tokens: 0,
        };
        for batch in texts.chunks(BATCH) {
            let part = call_with_retries(&self.policy, site, || self.attempt(batch))
                .await
                .map_err(|error| EmbedError::after(all.input_tokens, error))?;
            all.vectors.extend(part.vectors);
            all.input_tokens += part.input_tokens;
        }
        Ok(all)
    }
}

#[derive(Serialize)]
struct EmbeddingRequest<'a> {
    model: &'a str,
    input: &'a [String],
    encoding_format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<usize>,
}

#[derive(Deserialize)]
struct EmbeddingResponse {
    data: Vec<EmbeddingItem>,
    usage: EmbeddingUsage,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    index: usize,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
}
