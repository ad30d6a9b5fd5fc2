//! Builds the deployment's one embedder from configuration, on first use: the local model loads
//! only in processes that embed, and a provider without its key fails then (503), not at start.

use std::sync::Arc;

use tokio::sync::OnceCell;

use super::settings::EmbeddingConfig;
use super::{Embedder, EmbeddingProvider};
use crate::engine::EngineError;
use crate::engine::settings::EngineConfig;

pub struct EmbedderRegistry {
    config: EmbeddingConfig,
    engines: EngineConfig,
    embedder: OnceCell<Arc<dyn Embedder>>,
    aws: Option<aws_config::SdkConfig>,
}

impl EmbedderRegistry {
    pub fn new(config: EmbeddingConfig, engines: EngineConfig) -> Self {
        EmbedderRegistry {
            config,
            engines,
            embedder: OnceCell::new(),
            aws: None,
        }
    }

    /// Uses this AWS configuration for Bedrock instead of the default chain (tests, custom setups).
    pub fn with_aws_config(mut self, sdk: aws_config::SdkConfig) -> Self {
        self.aws = Some(sdk);
        self
    }

    /// Uses this embedder whatever the configuration says (tests, benches).
    pub fn with_embedder(self, embedder: Arc<dyn Embedder>) -> Self {
        EmbedderRegistry {
            embedder: OnceCell::new_with(Some(embedder)),
            ..self
        }
    }

    pub fn config(&self) -> &EmbeddingConfig {
        &self.config
    }

    pub async fn embedder(&self) -> Result<Arc<dyn Embedder>, EngineError> {
        self.embedder
            .get_or_try_init(|| self.build())
            .await
            .cloned()
    }

    async fn build(&self) -> Result<Arc<dyn Embedder>, EngineError> {
        let config = &self.config;
        let embedder: Arc<dyn Embedder> = match config.provider {
            EmbeddingProvider::Local => local(config).await?,
            EmbeddingProvider::OpenAi => {
                let key = self
                    .engines
                    .openai_api_key
                    .clone()
                    .ok_or(EngineError::NotConfigured { provider: "openai" })?;
                let http = crate::engine::http::client()?;
                Arc::new(
                    super::openai::OpenAiEmbedder::new(
                        &config.model,
                        config.dimensions,
                        config.native_dimensions,
                        &self.engines.openai_base_url,
                        key,
                        http,
                    )
                    .with_retry_policy(self.engines.retry.clone()),
                )
            }
            EmbeddingProvider::Bedrock => {
                let sdk = match &self.aws {
                    Some(sdk) => sdk.clone(),
                    None => aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
                };
                Arc::new(
                    super::titan::TitanEmbedder::new(
                        &config.model,
                        config.dimensions,
                        &sdk,
                        self.engines.bedrock_endpoint.as_deref(),
                    )
                    .with_retry_policy(self.engines.retry.clone()),
                )
            }
        };
        Ok(embedder)
    }
}

#[cfg(feature = "local-embeddings")]
async fn local(config: &EmbeddingConfig) -> Result<Arc<dyn Embedder>, EngineError> {
    let embedder =
        super::local::MiniLmEmbedder::open(&config.model, config.local_model_dir.clone()).await?;
    Ok(Arc::new(embedder))
}

#[cfg(not(feature = "local-embeddings"))]
async fn local(_: &EmbeddingConfig) -> Result<Arc<dyn Embedder>, EngineError> {
    Err(EngineError::LocalModelUnavailable {
        reason: "this build has no in-process embedder (cargo feature local-embeddings); set HELIX_EMBEDDING_PROVIDER to openai or bedrock".into(),
    })
}
