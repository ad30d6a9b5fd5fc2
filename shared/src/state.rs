//! The application context every handler receives: built once per cold start, cheap to clone.

use std::sync::Arc;

use sqlx::PgPool;

use crate::auth::jwt::TokenKeys;
use crate::config::Config;
use crate::db;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: PgPool,
    pub tokens: Arc<TokenKeys>,
}

impl AppState {
    pub fn new(config: Config, db: PgPool) -> Self {
        AppState {
            tokens: Arc::new(TokenKeys::new(&config.auth)),
            config: Arc::new(config),
            db,
        }
    }

    /// Builds the state from configuration; the pool connects lazily.
    pub fn from_config(config: Config) -> Result<Self, sqlx::Error> {
        let pool = db::connect_lazy(&config.database)?;
        Ok(AppState::new(config, pool))
    }
}
