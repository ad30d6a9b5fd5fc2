//! The engines' own settings: provider credentials and endpoints, call resilience, and the
//! in-process chat model used for `local` when no server is configured.

use std::path::PathBuf;

use secrecy::SecretString;

use super::retry::RetryPolicy;
use crate::settings::{
    ConfigError, Sources, duration_or, invalid, models_dir, optional_url, parse_or, url_or,
};

pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
pub const DEFAULT_LOCAL_CHAT_MODEL: &str = "smollm2-135m-instruct";

/// Provider credentials, endpoints and call resilience.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub openai_api_key: Option<SecretString>,
    pub anthropic_api_key: Option<SecretString>,
    pub openai_base_url: String,
    pub anthropic_base_url: String,
    /// An OpenAI-compatible server for `local`; without one the in-process model answers.
    pub local_base_url: Option<String>,
    pub local_chat: LocalChatConfig,
    /// Overrides Bedrock's endpoint; region and credentials come from the AWS configuration.
    pub bedrock_endpoint: Option<String>,
    /// An AWS region (or a Bedrock endpoint) is set: without one the SDK cannot call Bedrock.
    pub bedrock_reachable: bool,
    /// Anthropic requires `max_tokens`; this is sent when a turn does not set one.
    pub anthropic_default_max_tokens: u32,
    pub retry: RetryPolicy,
}

/// The `local` provider's in-process chat model (used when `HELIX_LOCAL_BASE_URL` is not set).
#[derive(Debug, Clone)]
pub struct LocalChatConfig {
    /// The model name agents use for it.
    pub model: String,
    pub model_path: PathBuf,
    pub threads: u32,
    pub context_tokens: u32,
    /// Turns that may wait for the model before new ones get a 429.
    pub queue: usize,
}

impl EngineConfig {
    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        let secret = |key: &str| sources.get(key).map(SecretString::from);
        let defaults = RetryPolicy::default();
        let retry = RetryPolicy {
            max_attempts: parse_or(sources, "HELIX_ENGINE_MAX_ATTEMPTS", defaults.max_attempts)?,
            attempt_timeout: duration_or(
                sources,
                "HELIX_ENGINE_TIMEOUT",
                defaults.attempt_timeout,
            )?,
            deadline: duration_or(sources, "HELIX_ENGINE_DEADLINE", defaults.deadline)?,
            ..defaults
        };
        if !(1..=10).contains(&retry.max_attempts) {
            return Err(invalid("HELIX_ENGINE_MAX_ATTEMPTS", "must be 1 to 10"));
        }
        if retry.attempt_timeout.is_zero() || retry.deadline < retry.attempt_timeout {
            return Err(invalid(
                "HELIX_ENGINE_DEADLINE",
                "must be at least HELIX_ENGINE_TIMEOUT, which must be positive",
            ));
        }
        Ok(EngineConfig {
            openai_api_key: secret("OPENAI_API_KEY"),
            anthropic_api_key: secret("ANTHROPIC_API_KEY"),
            openai_base_url: url_or(sources, "HELIX_OPENAI_BASE_URL", DEFAULT_OPENAI_BASE_URL)?,
            anthropic_base_url: url_or(
                sources,
                "HELIX_ANTHROPIC_BASE_URL",
                DEFAULT_ANTHROPIC_BASE_URL,
            )?,
            local_base_url: optional_url(sources, "HELIX_LOCAL_BASE_URL")?,
            local_chat: LocalChatConfig::from_sources(sources)?,
            bedrock_endpoint: optional_url(sources, "HELIX_BEDROCK_ENDPOINT")?,
            bedrock_reachable: ["AWS_REGION", "AWS_DEFAULT_REGION", "HELIX_BEDROCK_ENDPOINT"]
                .iter()
                .any(|key| sources.get(key).is_some()),
            anthropic_default_max_tokens: parse_or(sources, "HELIX_ANTHROPIC_MAX_TOKENS", 1024)?,
            retry,
        })
    }
}

impl LocalChatConfig {
    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        let models = models_dir(sources);
        let config = LocalChatConfig {
            model: sources
                .get("HELIX_LOCAL_MODEL")
                .unwrap_or(DEFAULT_LOCAL_CHAT_MODEL)
                .trim()
                .to_owned(),
            model_path: sources.get("HELIX_LOCAL_MODEL_PATH").map_or_else(
                || models.join("smollm2-135m-instruct/model.gguf"),
                PathBuf::from,
            ),
            threads: parse_or(sources, "HELIX_LOCAL_THREADS", default_threads(sources))?,
            context_tokens: parse_or(sources, "HELIX_LOCAL_CONTEXT_TOKENS", 4096)?,
            queue: parse_or(sources, "HELIX_LOCAL_QUEUE", 16)?,
        };
        if !(1..=64).contains(&config.threads) {
            return Err(invalid("HELIX_LOCAL_THREADS", "must be 1 to 64"));
        }
        if !(256..=131_072).contains(&config.context_tokens) {
            return Err(invalid(
                "HELIX_LOCAL_CONTEXT_TOKENS",
                "must be 256 to 131072",
            ));
        }
        if !(1..=1024).contains(&config.queue) {
            return Err(invalid("HELIX_LOCAL_QUEUE", "must be 1 to 1024"));
        }
        Ok(config)
    }
}

/// One thread on CI; elsewhere half the cores, up to 4. llama.cpp's threads spin while they wait,
/// so taking every core collapses throughput (seen here: 2 threads on 2 busy cores ran at a tenth
/// of 1 thread's speed).
fn default_threads(sources: &Sources) -> u32 {
    if sources.get("CI").is_some_and(|ci| ci != "false") {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).clamp(1, 4) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_chat_model_defaults_to_smollm2_in_the_models_folder() {
        let config =
            LocalChatConfig::from_sources(&Sources::from_pairs(&[("CI", "true")])).unwrap();
        assert_eq!(config.model, "smollm2-135m-instruct");
        assert_eq!(
            config.model_path,
            PathBuf::from("models/smollm2-135m-instruct/model.gguf")
        );
        assert_eq!(config.threads, 1, "one thread on CI");
        let config = LocalChatConfig::from_sources(&Sources::from_pairs(&[
            ("HELIX_MODELS_DIR", "/opt/m"),
            ("HELIX_LOCAL_THREADS", "3"),
        ]))
        .unwrap();
        assert_eq!(
            config.model_path,
            PathBuf::from("/opt/m/smollm2-135m-instruct/model.gguf")
        );
        assert_eq!(config.threads, 3);
    }

    #[test]
    fn local_chat_settings_out_of_range_are_refused_by_name() {
        for (key, value) in [
            ("HELIX_LOCAL_THREADS", "0"),
            ("HELIX_LOCAL_CONTEXT_TOKENS", "16"),
            ("HELIX_LOCAL_QUEUE", "0"),
            ("HELIX_LOCAL_QUEUE", "many"),
        ] {
            let err =
                LocalChatConfig::from_sources(&Sources::from_pairs(&[(key, value)])).unwrap_err();
            assert!(err.to_string().contains(key), "{key}={value}: {err}");
        }
    }
}
