//! Builds the engine for a `(provider, model)` from configuration. A provider without its API key
//! fails when it is asked for (503 `provider_not_configured`), never at start.

use std::sync::Arc;

use tokio::sync::OnceCell;

use super::anthropic::AnthropicEngine;
use super::bedrock::BedrockEngine;
use super::openai::OpenAiEngine;
use super::{Engine, EngineError, Provider};
use crate::config::EngineConfig;

pub struct EngineRegistry {
    config: EngineConfig,
    http: reqwest::Client,
    /// Loaded on first use: only deployments that call Bedrock pay for the AWS credential chain.
    aws: OnceCell<aws_config::SdkConfig>,
}

impl EngineRegistry {
    pub fn new(config: EngineConfig) -> Result<Self, EngineError> {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(|e| EngineError::Unreachable {
                detail: e.to_string(),
            })?;
        Ok(EngineRegistry {
            config,
            http,
            aws: OnceCell::new(),
        })
    }

    /// Uses this AWS configuration for Bedrock instead of the default chain (tests, custom setups).
    pub fn with_aws_config(self, sdk: aws_config::SdkConfig) -> Self {
        EngineRegistry {
            aws: OnceCell::new_with(Some(sdk)),
            ..self
        }
    }

    pub async fn engine(
        &self,
        provider: Provider,
        model: &str,
    ) -> Result<Arc<dyn Engine>, EngineError> {
        let config = &self.config;
        let client = Some(self.http.clone());
        let engine: Arc<dyn Engine> = match provider {
            Provider::OpenAi => {
                let key = config
                    .openai_api_key
                    .clone()
                    .ok_or(EngineError::NotConfigured { provider: "openai" })?;
                Arc::new(
                    OpenAiEngine::new(model, client)
                        .with_base_url(&config.openai_base_url)
                        .with_api_key(key)
                        .with_retry_policy(config.retry.clone()),
                )
            }
            Provider::Anthropic => {
                let key = config
                    .anthropic_api_key
                    .clone()
                    .ok_or(EngineError::NotConfigured {
                        provider: "anthropic",
                    })?;
                Arc::new(
                    AnthropicEngine::new(model, key, config.anthropic_default_max_tokens, client)
                        .with_base_url(&config.anthropic_base_url)
                        .with_retry_policy(config.retry.clone()),
                )
            }
            Provider::Bedrock => {
                let sdk = self
                    .aws
                    .get_or_init(
                        || aws_config::load_defaults(aws_config::BehaviorVersion::latest()),
                    )
                    .await;
                Arc::new(
                    BedrockEngine::new(model, sdk, config.bedrock_endpoint.as_deref())
                        .with_retry_policy(config.retry.clone()),
                )
            }
            Provider::Local => Arc::new(
                OpenAiEngine::local(model, &config.local_base_url, client)
                    .with_retry_policy(config.retry.clone()),
            ),
        };
        Ok(engine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Sources};

    fn registry(pairs: &[(&str, &str)]) -> EngineRegistry {
        let mut layer: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        layer.insert(
            "DATABASE_URL".into(),
            "postgres://unused@127.0.0.1:1/unused".into(),
        );
        let config = Config::from_sources(&Sources::default().with_layer(layer)).unwrap();
        EngineRegistry::new(config.engines).unwrap()
    }

    #[tokio::test]
    async fn a_provider_without_its_key_fails_when_asked_for_not_at_start() {
        let registry = registry(&[]);
        for (provider, id) in [
            (Provider::OpenAi, "openai"),
            (Provider::Anthropic, "anthropic"),
        ] {
            let error = registry.engine(provider, "m").await.err().unwrap();
            assert_eq!(error, EngineError::NotConfigured { provider: id });
            let api = crate::ApiError::from(error);
            assert_eq!(api.code(), "provider_not_configured");
        }
    }

    #[tokio::test]
    async fn configured_providers_build_engines_for_the_model_asked_for() {
        let registry = registry(&[("OPENAI_API_KEY", "sk-1"), ("ANTHROPIC_API_KEY", "sk-2")]);
        for (provider, model) in [
            (Provider::OpenAi, "gpt-4o-mini"),
            (Provider::Anthropic, "claude-haiku-4-5"),
            (Provider::Local, "llama3.2"),
        ] {
            let engine = registry.engine(provider, model).await.unwrap();
            assert_eq!((engine.id(), engine.model()), (provider.as_str(), model));
        }
    }

    #[tokio::test]
    async fn bedrock_uses_the_aws_configuration_it_is_given() {
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("eu-west-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let registry = registry(&[]).with_aws_config(sdk);
        let engine = registry
            .engine(Provider::Bedrock, "amazon.nova-micro-v1:0")
            .await
            .unwrap();
        assert_eq!(engine.id(), "bedrock");
    }
}
