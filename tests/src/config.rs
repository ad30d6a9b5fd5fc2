//! Development configuration for tests, and application state around a test's own pool.

use helix_shared::AppState;
use helix_shared::config::Config;
use helix_shared::settings::Sources;
use sqlx::PgPool;

/// Development configuration with `pairs` on top; the database URL is only a placeholder
/// because tests hand in their own pool.
pub fn config_with(pairs: &[(&str, &str)]) -> Config {
    let mut layer: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    layer
        .entry("DATABASE_URL".into())
        .or_insert_with(|| "postgres://unused@127.0.0.1:1/unused".into());
    // Per-user call limits off unless a test is about them: most tests fire many calls at once.
    for key in ["HELIX_MAX_CALLS_IN_FLIGHT", "HELIX_MAX_CALLS_PER_MINUTE"] {
        layer.entry(key.into()).or_insert_with(|| "1000000".into());
    }
    // The models `scripts/models` fetched, wherever cargo runs the tests from.
    layer
        .entry("HELIX_MODELS_DIR".into())
        .or_insert_with(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../models").into());
    Config::from_sources(&Sources::default().with_layer(layer)).unwrap()
}

pub fn state(pool: PgPool) -> AppState {
    AppState::new(config_with(&[]), pool).unwrap()
}

pub fn state_with(pool: PgPool, pairs: &[(&str, &str)]) -> AppState {
    AppState::new(config_with(pairs), pool).unwrap()
}

/// A state whose database can never be reached (port 1), failing fast.
pub fn state_without_database() -> AppState {
    let config = config_with(&[("HELIX_DB_ACQUIRE_TIMEOUT", "300ms")]);
    AppState::from_config(config).unwrap()
}
