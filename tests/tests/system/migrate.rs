//! The migration function turns an empty database into Helix's schema, and a second run is a no-op.

use helix_shared::AppState;
use helix_tests::{config_with, state};
use lambda_runtime::{Context, LambdaEvent};
use sqlx::PgPool;

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
    let state = state(pool.clone());
    let known = helix_shared::db::MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .count();
    assert!(
        !table_exists(&pool, "users").await,
        "the test database starts empty"
    );

    let first = db_migrate::handle(&state.core(), invocation())
        .await
        .unwrap();

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

    let second = db_migrate::handle(&state.core(), invocation())
        .await
        .unwrap();

    assert_eq!(second.applied, known);
    assert_eq!(second.newly_applied, 0);
    assert_eq!(second.latest_version, first.latest_version);
}

/// The vector column's declared dimension (pgvector stores it as the type modifier).
async fn vector_dimension(pool: &PgPool) -> i32 {
    sqlx::query_scalar(
        "SELECT atttypmod FROM pg_attribute
         WHERE attrelid = 'embeddings'::regclass AND attname = 'vector'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = false)]
async fn memory_is_sized_for_the_configured_model_and_another_model_is_refused(pool: PgPool) {
    let state = state(pool.clone());
    db_migrate::handle(&state.core(), invocation())
        .await
        .unwrap();
    assert_eq!(
        vector_dimension(&pool).await,
        384,
        "all-MiniLM-L6-v2 by default"
    );
    let index: Option<String> = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'embeddings_vector_hnsw_idx'",
    )
    .fetch_optional(&pool)
    .await
    .unwrap();
    assert!(index.unwrap().contains("hnsw (vector vector_cosine_ops)"));
    helix_shared::memory::schema::check(&pool, &state.config.embeddings)
        .await
        .unwrap();

    let openai = config_with(&[("HELIX_EMBEDDING_PROVIDER", "openai")]);
    let other = AppState::new(openai.clone(), pool.clone()).unwrap();
    let error = db_migrate::handle(&other.core(), invocation())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("384-dimensional vectors from local/all-minilm-l6-v2")
            && message.contains("openai/text-embedding-3-small (1536)"),
        "{message}"
    );
    let diagnostic = lambda_runtime::Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "Memory");
    let startup = helix_shared::memory::schema::check(&pool, &openai.embeddings).await;
    assert!(
        startup.is_err(),
        "a function configured for another model does not start"
    );
    assert_eq!(vector_dimension(&pool).await, 384, "nothing changed");
}

#[sqlx::test(migrations = false)]
async fn a_function_starting_before_memory_is_prepared_says_what_to_run(pool: PgPool) {
    let state = state(pool.clone());
    helix_shared::db::MIGRATOR.run(&pool).await.unwrap();
    let error = helix_shared::memory::schema::check(&pool, &state.config.embeddings)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("helix-admin migrate"), "{error}");
}
