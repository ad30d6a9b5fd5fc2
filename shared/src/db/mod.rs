//! Database access: the connection pool, the embedded migrations, and the demo seed.
//! Queries are checked at run time (no database is needed to compile Helix).

pub mod agents;
pub mod api_keys;
pub mod conversations;
pub mod idempotency;
pub mod personas;
pub mod seed;
pub mod users;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgPool};

use crate::settings::{ConfigError, Sources, duration_or, invalid, parse_or};

/// Every migration in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// A pool that connects on first use, so building the state never waits on the database; an HTTP
/// function's first use is the passcode sync at the end of its cold start (`startup::init`).
pub fn connect_lazy(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    pool_options(config).connect_lazy(config.url.expose_secret())
}

/// The pool's settings. sqlx pings every connection before lending it out unless told otherwise:
/// one extra round trip per query, four per turn. A connection used moments ago is alive, so only
/// one that sat idle for `ping_after_idle` (a thawed Lambda, a failover) is checked; a dead one is
/// dropped and the pool opens another, so the caller never sees it.
pub fn pool_options(config: &DatabaseConfig) -> PgPoolOptions {
    let ping_after_idle = config.ping_after_idle;
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(move |connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= ping_after_idle {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
}

/// Cheap liveness check used by `/healthz`.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: SecretString,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// A pooled connection idle at least this long is pinged before it is lent out.
    pub ping_after_idle: Duration,
}

impl DatabaseConfig {
    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        let url = sources.get("DATABASE_URL").ok_or(ConfigError::Missing {
            key: "DATABASE_URL",
        })?;
        let config = DatabaseConfig {
            url: SecretString::from(url),
            max_connections: parse_or(sources, "HELIX_DB_MAX_CONNECTIONS", 10)?,
            acquire_timeout: duration_or(
                sources,
                "HELIX_DB_ACQUIRE_TIMEOUT",
                Duration::from_secs(5),
            )?,
            ping_after_idle: duration_or(
                sources,
                "HELIX_DB_PING_AFTER_IDLE",
                Duration::from_secs(10),
            )?,
        };
        if config.max_connections == 0 {
            return Err(invalid("HELIX_DB_MAX_CONNECTIONS", "must be at least 1"));
        }
        Ok(config)
    }
}
