//! The migration function turns an empty database into Helix's schema, and a second run is a no-op.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use helix_shared::AppState;
use helix_shared::config::{Config, Sources};
use lambda_runtime::{Context, LambdaEvent};
use sqlx::PgPool;

/// The state the Lambda would build, around the test's own (empty) database. `DATABASE_URL` only
/// has to be present: the pool is the one `#[sqlx::test]` made.
fn state_for(pool: PgPool) -> AppState {
    let layer = HashMap::from([(
        "DATABASE_URL".to_owned(),
        "postgres://unused@localhost/unused".to_owned(),
    )]);
    let config = Config::from_sources(&Sources::default().with_layer(layer)).unwrap();
    AppState::new(config, pool).unwrap()
}

fn invocation() -> LambdaEvent<serde_json::Value> {
    LambdaEvent::new(serde_json::json!({}), Context::default())
}

async fn table_exists(pool: &PgPool, table: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn handle_migrates_an_empty_database_and_a_second_run_applies_nothing(pool: PgPool) {
    let state = state_for(pool.clone());
    let known = helix_shared::db::MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .count();
    assert!(
        !table_exists(&pool, "users").await,
        "the test database starts empty"
    );

    let first = db_migrate::handle(&state, invocation()).await.unwrap();

    assert_eq!(first.applied, known);
    assert_eq!(first.newly_applied, known);
    for table in ["users", "personas", "agents", "usage_ledger", "embeddings"] {
        assert!(
            table_exists(&pool, table).await,
            "{table} exists after the migration"
        );
    }
    let vector: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(vector, "pgvector is enabled by the migrations");

    let second = db_migrate::handle(&state, invocation()).await.unwrap();

    assert_eq!(second.applied, known);
    assert_eq!(second.newly_applied, 0);
    assert_eq!(second.latest_version, first.latest_version);
}
