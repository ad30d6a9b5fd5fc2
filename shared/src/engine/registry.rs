//! Builds the engine for a `(provider, model)` from configuration. A provider without its API key
//! fails when it is asked for (503 `provider_not_configured`), never at start. `local` is the
//! configured OpenAI-compatible server, else the in-process model, loaded on first use.

use std::sync::Arc;

use tokio::sync::OnceCell;

use super::anthropic::AnthropicEngine;
use super::bedrock::BedrockEngine;
use super::openai::OpenAiEngine;
use super::settings::EngineConfig;
use super::{Engine, EngineError};
use crate::provider::Provider;

pub struct EngineRegistry {
    config: EngineConfig,
    /// Built on first use: a function that never calls a provider pays nothing for TLS setup.
    http: OnceCell<reqwest::Client>,
    /// Loaded on first use: only deployments that call Bedrock pay for the AWS credential chain.
    aws: OnceCell<aws_config::SdkConfig>,
    #[cfg(feature = "local-llm")]
    llama: OnceCell<super::llama::LlamaEngine>,
}

impl EngineRegistry {
    pub fn new(config: EngineConfig) -> Self {
        EngineRegistry {
            config,
            http: OnceCell::new(),
            aws: OnceCell::new(),
            #[cfg(feature = "local-llm")]
            llama: OnceCell::new(),
        }
    }

    async fn http(&self) -> Result<reqwest::Client, EngineError> {
        self.http
            .get_or_try_init(|| async { super::http::client() })
            .await
            .cloned()
    }

    /// Uses this AWS configuration for Bedrock instead of the default chain (tests, custom setups).
    pub fn with_aws_config(self, sdk: aws_config::SdkConfig) -> Self {
        EngineRegistry {
            aws: OnceCell::new_with(Some(sdk)),
            ..self
        }
    }

    /// The providers that would answer if asked now: a key is set; for Bedrock an AWS region (its
    /// credentials come from the AWS chain, which only a call can check); for `local` a server or
    /// the in-process model compiled in.
    pub fn available_providers(&self) -> Vec<Provider> {
        let config = &self.config;
        Provider::ALL
            .into_iter()
            .filter(|provider| match provider {
                Provider::OpenAi => config.openai_api_key.is_some(),
                Provider::Anthropic => config.anthropic_api_key.is_some(),
                Provider::Bedrock => config.bedrock_reachable,
                Provider::Local => config.local_base_url.is_some() || cfg!(feature = "local-llm"),
            })
            .collect()
    }

    pub async fn engine(
        &self,
        provider: Provider,
        model: &str,
    ) -> Result<Arc<dyn Engine>, EngineError> {
        let config = &self.config;
        let engine: Arc<dyn Engine> = match provider {
            Provider::OpenAi => {
                let key = config
                    .openai_api_key
                    .clone()
                    .ok_or(EngineError::NotConfigured { provider: "openai" })?;
                Arc::new(
                    OpenAiEngine::new(model, Some(self.http().await?))
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
                    AnthropicEngine::new(
                        model,
                        key,
                        config.anthropic_default_max_tokens,
                        Some(self.http().await?),
                    )
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
            Provider::Local => match &config.local_base_url {
                Some(base_url) => Arc::new(
                    OpenAiEngine::local(model, base_url, Some(self.http().await?))
                        .with_retry_policy(config.retry.clone()),
                ),
                None => self.in_process(model).await?,
            },
        };
        Ok(engine)
    }

    #[cfg(feature = "local-llm")]
    async fn in_process(&self, model: &str) -> Result<Arc<dyn Engine>, EngineError> {
        let local = &self.config.local_chat;
        if model != local.model {
            return Err(EngineError::ModelNotServed {
                requested: model.to_owned(),
                served: local.model.clone(),
            });
        }
        let engine = self
            .llama
            .get_or_try_init(|| {
                super::llama::LlamaEngine::open(super::llama::LlamaSettings {
                    model_name: local.model.clone(),
                    model_path: local.model_path.clone(),
                    threads: local.threads,
                    context_tokens: local.context_tokens,
                    queue: local.queue,
                })
            })
            .await?;
        Ok(Arc::new(engine.clone()))
    }

    #[cfg(not(feature = "local-llm"))]
    async fn in_process(&self, _model: &str) -> Result<Arc<dyn Engine>, EngineError> {
        Err(EngineError::LocalModelUnavailable {
            reason: "this build has no in-process model (cargo feature local-llm); set HELIX_LOCAL_BASE_URL to an OpenAI-compatible server".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::settings::Sources;

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
        EngineRegistry::new(config.engines)
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
        ] {
            let engine = registry.engine(provider, model).await.unwrap();
            assert_eq!((engine.id(), engine.model()), (provider.as_str(), model));
        }
    }

    #[tokio::test]
    async fn local_is_the_configured_server_else_the_in_process_model() {
        let server = registry(&[("HELIX_LOCAL_BASE_URL", "http://127.0.0.1:1/v1")]);
        let engine = server.engine(Provider::Local, "llama3.2").await.unwrap();
        assert_eq!((engine.id(), engine.model()), ("local", "llama3.2"));

        let in_process = registry(&[("HELIX_LOCAL_MODEL_PATH", "/nonexistent/model.gguf")]);
        let error = in_process
            .engine(Provider::Local, "smollm2-135m-instruct")
            .await
            .err()
            .unwrap();
        assert!(
            matches!(error, EngineError::LocalModelUnavailable { .. }),
            "{error:?}"
        );
        assert_eq!(
            crate::ApiError::from(error).code(),
            "local_model_unavailable"
        );
    }

    #[cfg(feature = "local-llm")]
    #[tokio::test]
    async fn the_in_process_model_serves_only_its_own_name() {
        let registry = registry(&[]);
        let error = registry
            .engine(Provider::Local, "llama3.2")
            .await
            .err()
            .unwrap();
        assert_eq!(
            error,
            EngineError::ModelNotServed {
                requested: "llama3.2".into(),
                served: "smollm2-135m-instruct".into()
            }
        );
    }

    #[test]
    fn available_providers_are_those_with_keys_or_a_way_to_run_locally() {
        let none = registry(&[]).available_providers();
        assert!(!none.contains(&Provider::OpenAi) && !none.contains(&Provider::Anthropic));
        assert_eq!(none.contains(&Provider::Local), cfg!(feature = "local-llm"));
        assert!(!none.contains(&Provider::Bedrock), "no AWS region");
        let keyed = registry(&[
            ("OPENAI_API_KEY", "sk-1"),
            ("AWS_REGION", "eu-west-1"),
            ("HELIX_LOCAL_BASE_URL", "http://127.0.0.1:1/v1"),
        ])
        .available_providers();
        assert_eq!(
            keyed,
            vec![Provider::OpenAi, Provider::Bedrock, Provider::Local]
        );
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
