//! The application context every handler receives: built once per cold start, cheap to clone.

use std::sync::Arc;

use sqlx::PgPool;

use crate::auth::jwt::TokenKeys;
use crate::avatars::AvatarStore;
use crate::config::Config;
use crate::db;
use crate::embedding::registry::EmbedderRegistry;
use crate::engine::registry::EngineRegistry;
use crate::personality::{PresetError, Presets};
use crate::pricing::{PriceTable, PricingError};
use crate::tools::ToolCatalog;
use crate::xray::Tracer;

/// What every function has: its configuration and the database pool (which connects lazily).
/// The scheduled and deploy-time functions need nothing more.
#[derive(Clone)]
pub struct Core {
    pub config: Arc<Config>,
    pub db: PgPool,
}

impl Core {
    pub fn from_config(config: Config) -> Result<Self, StateError> {
        let db = db::connect_lazy(&config.database)?;
        Ok(Core {
            config: Arc::new(config),
            db,
        })
    }
}

/// Everything the HTTP functions use. Engines and the embedder are built on first use, and the
/// AWS-backed parts (`tracer`, `avatars`) only when a function's startup asks for them.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: PgPool,
    pub tokens: Arc<TokenKeys>,
    pub engines: Arc<EngineRegistry>,
    /// The deployment's one embedding model, for memory.
    pub embedders: Arc<EmbedderRegistry>,
    pub prices: Arc<PriceTable>,
    pub tools: Arc<ToolCatalog>,
    pub presets: Arc<Presets>,
    /// X-Ray subsegments for provider calls; disabled unless `HELIX_XRAY=on` (see `startup`).
    pub tracer: Tracer,
    /// Persona avatars in S3; `None` unless `HELIX_AVATAR_BUCKET` is set (see `startup`).
    pub avatars: Option<Arc<AvatarStore>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("database pool: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Pricing(#[from] PricingError),
    #[error("{0}")]
    Presets(#[from] PresetError),
}

impl AppState {
    pub fn new(config: Config, db: PgPool) -> Result<Self, StateError> {
        let tools = ToolCatalog::builtin();
        Ok(AppState {
            presets: Arc::new(Presets::builtin(&tools)?),
            tools: Arc::new(tools),
            tracer: Tracer::disabled(),
            avatars: None,
            tokens: Arc::new(TokenKeys::new(&config.auth)),
            engines: Arc::new(EngineRegistry::new(config.engines.clone())),
            embedders: Arc::new(EmbedderRegistry::new(
                config.embeddings.clone(),
                config.engines.clone(),
            )),
            prices: Arc::new(PriceTable::from_config(&config.pricing)?),
            config: Arc::new(config),
            db,
        })
    }

    /// Builds the state from configuration; the pool connects lazily.
    pub fn from_config(config: Config) -> Result<Self, StateError> {
        let pool = db::connect_lazy(&config.database)?;
        AppState::new(config, pool)
    }

    /// The configuration and pool alone, for code that needs nothing else.
    pub fn core(&self) -> Core {
        Core {
            config: Arc::clone(&self.config),
            db: self.db.clone(),
        }
    }
}
