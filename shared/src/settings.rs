//! The vocabulary of configuration: where values come from (`Sources`), the one error type, and the
//! parsers every subsystem uses to read its own settings. `config` only composes those settings.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration key {key} is required but not set")]
    Missing { key: &'static str },
    #[error("configuration key {key} is invalid: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("configuration key {key} is not safe for production: {reason}")]
    Insecure { key: &'static str, reason: String },
    #[error("could not read {path}: {reason}")]
    DotEnv { path: String, reason: String },
    #[error("secret {secret_id}: {reason}")]
    Secret { secret_id: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

impl Environment {
    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        match sources.get("HELIX_ENV") {
            Some("development") => Ok(Environment::Development),
            Some("production") => Ok(Environment::Production),
            Some(_) => Err(invalid("HELIX_ENV", "expected development or production")),
            // Inside Lambda nothing defaults to the published development secrets.
            None if sources.get("AWS_LAMBDA_FUNCTION_NAME").is_some() => {
                Ok(Environment::Production)
            }
            None => Ok(Environment::Development),
        }
    }
}

/// Where configuration values come from, highest precedence first.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    layers: Vec<HashMap<String, String>>,
}

impl Sources {
    /// Adds a layer below the existing ones (lower precedence).
    pub fn with_layer(mut self, layer: HashMap<String, String>) -> Self {
        self.layers.push(layer);
        self
    }

    /// One layer of literal pairs (tests, tools).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        let layer = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::default().with_layer(layer)
    }

    /// A key's value from the highest layer that sets it; blank counts as unset.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.layers
            .iter()
            .find_map(|layer| layer.get(key))
            .map(String::as_str)
            .filter(|value| !value.trim().is_empty())
    }
}

pub fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// `key` parsed with `FromStr`, or `default` when unset.
pub fn parse_or<T: std::str::FromStr>(
    sources: &Sources,
    key: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match sources.get(key) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e: T::Err| invalid(key, e.to_string())),
    }
}

/// A human duration (`30s`, `15m`, `6h`), or `default` when unset.
pub fn duration_or(
    sources: &Sources,
    key: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match sources.get(key) {
        None => Ok(default),
        Some(raw) => humantime::parse_duration(raw.trim())
            .map_err(|e| invalid(key, format!("{e} (expected e.g. 30s, 15m, 6h)"))),
    }
}

/// An `on`/`off` switch, off when unset.
pub fn switch(sources: &Sources, key: &'static str) -> Result<bool, ConfigError> {
    match sources.get(key) {
        None | Some("off") => Ok(false),
        Some("on") => Ok(true),
        Some(_) => Err(invalid(key, "expected on or off")),
    }
}

/// An http(s) URL without its trailing slash, or `default` when unset.
pub fn url_or(sources: &Sources, key: &'static str, default: &str) -> Result<String, ConfigError> {
    let value = sources
        .get(key)
        .unwrap_or(default)
        .trim()
        .trim_end_matches('/')
        .to_owned();
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value)
    } else {
        Err(invalid(key, "must be an http:// or https:// URL"))
    }
}

/// An optional http(s) URL.
pub fn optional_url(sources: &Sources, key: &'static str) -> Result<Option<String>, ConfigError> {
    sources
        .get(key)
        .map(|_| url_or(sources, key, ""))
        .transpose()
}

/// `HELIX_MODELS_DIR`, where `scripts/models` puts the in-process models' files (default `models`,
/// from the working directory).
pub fn models_dir(sources: &Sources) -> PathBuf {
    PathBuf::from(sources.get("HELIX_MODELS_DIR").unwrap_or("models"))
}
