//! Cold start, in order: configuration → telemetry → state. Every binary starts here and asks only
//! for the parts it uses (`Services`), since each costs cold-start time.

use std::sync::Arc;

use crate::avatars::AvatarStore;
use crate::config::Config;
use crate::settings::ConfigError;
use crate::state::{AppState, Core, StateError};
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
    State(#[from] StateError),
    #[error("{0}")]
    Memory(#[from] crate::memory::schema::SchemaError),
    #[error("could not bring the users' roles in line with the configured passcodes: {0}")]
    PasscodeSync(#[source] sqlx::Error),
}

/// What an HTTP function uses beyond configuration, the database, tokens, prices and presets.
#[derive(Debug, Clone, Copy, Default)]
pub struct Services {
    /// Persona avatars in S3 (an AWS SDK configuration), when a bucket is configured.
    pub avatars: bool,
    /// X-Ray subsegments for provider calls (an AWS SDK configuration), when `HELIX_XRAY=on`.
    pub xray: bool,
    /// Memory: the stored vectors must come from the configured embedding model (one query).
    pub memory: bool,
}

impl Services {
    /// Every service: the local gateway serves every route.
    pub const ALL: Services = Services {
        avatars: true,
        xray: true,
        memory: true,
    };
}

/// Configuration, logging and the pool: all a scheduled or deploy-time function needs. A failure
/// is logged (as JSON when logging is up) and returned; its message names what is wrong, never a
/// secret value.
pub async fn init_core() -> Result<Core, StartupError> {
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
    Ok(Core::from_config(config).inspect_err(log_failure)?)
}

/// An HTTP function's state with the `services` it asked for.
pub async fn init(services: Services) -> Result<AppState, StartupError> {
    let core = init_core().await?;
    let config = Arc::unwrap_or_clone(core.config);
    let mut state = AppState::new(config, core.db).inspect_err(log_failure)?;
    sync_users_with_passcodes(&state).await?;
    let wants_xray = services.xray && state.config.xray_enabled;
    let wants_avatars = services.avatars && state.config.avatars.bucket.is_some();
    if wants_xray || wants_avatars {
        // One credential chain for both clients.
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        if wants_xray {
            state.tracer = Tracer::from_environment(&sdk).await;
        }
        if wants_avatars {
            state.avatars = AvatarStore::new(&sdk, &state.config.avatars).map(Arc::new);
        }
    }
    if services.memory {
        crate::memory::schema::check(&state.db, &state.config.embeddings)
            .await
            .inspect_err(log_failure)?;
    }
    Ok(state)
}

/// A passcode removed or demoted in the configuration takes effect for tokens already issued: the
/// guard reads each request's role (and token cut-off) from the users this brings in line. One
/// statement per cold start; a database it cannot reach stops the start, as a guard that might
/// honour a removed admin must not serve.
pub async fn sync_users_with_passcodes(state: &AppState) -> Result<(), StartupError> {
    let passcodes = state
        .config
        .auth
        .passcodes
        .iter()
        .map(|entry| (entry.email.as_str(), entry.role));
    let synced = crate::db::users::sync_with_passcodes(&state.db, passcodes)
        .await
        .map_err(StartupError::PasscodeSync)
        .inspect_err(log_failure)?;
    if synced != crate::db::users::PasscodeSync::default() {
        tracing::info!(
            roles_changed = synced.roles_changed,
            revoked = synced.revoked,
            "users brought in line with the configured passcodes"
        );
    }
    Ok(())
}

fn log_failure(error: &impl std::error::Error) {
    tracing::error!(error.chain = %cause_chain(error), "startup failed");
}
