//! Cold start, in order: configuration → telemetry → application state. Every binary starts here.

use std::sync::Arc;

use crate::avatars::AvatarStore;
use crate::config::Config;
use crate::settings::ConfigError;
use crate::state::AppState;
use crate::telemetry::cause_chain;
use crate::telemetry::{self, TelemetryError};
use crate::xray::Tracer;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("telemetry: {0}")]
    Telemetry(#[from] TelemetryError),
    #[error("{0}")]
    State(#[from] crate::state::StateError),
    #[error("{0}")]
    Memory(#[from] crate::memory::schema::SchemaError),
}

/// Loads configuration, installs logging, and builds the state. A failure is logged (as JSON when
/// logging is up) and returned; its message names what is wrong, never a secret value.
pub async fn init() -> Result<AppState, StartupError> {
    let config = Config::load().await.inspect_err(|e| {
        eprintln!(
            "{{\"level\":\"ERROR\",\"message\":\"startup failed\",\"error\":{:?}}}",
            e.to_string()
        )
    })?;
    telemetry::init(&config.log)?;
    if config.uses_development_secrets() {
        tracing::warn!(
            environment = ?config.environment,
            "using the published DEVELOPMENT-ONLY JWT secret and passcodes; production refuses them"
        );
    }
    let tracing_on = config.xray_enabled;
    let mut state = AppState::from_config(config)
        .inspect_err(|e| tracing::error!(error.chain = %cause_chain(e), "startup failed"))?;
    if tracing_on {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        state.tracer = Tracer::from_environment(&sdk).await;
    }
    if state.config.avatars.bucket.is_some() {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        state.avatars = AvatarStore::new(&sdk, &state.config.avatars).map(Arc::new);
    }
    Ok(state)
}

/// For functions that read or write memory: the stored vectors must come from the configured
/// embedding model, or the cold start stops with a message saying what to do.
pub async fn check_memory(state: &AppState) -> Result<(), StartupError> {
    crate::memory::schema::check(&state.db, &state.config.embeddings)
        .await
        .inspect_err(|e| tracing::error!(error.chain = %cause_chain(e), "startup failed"))?;
    Ok(())
}
