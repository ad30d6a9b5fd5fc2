//! The embeddings column's dimension and its HNSW index, fixed once per database for the
//! deployment's embedding model. Vectors of another size cannot be compared, so a deployment
//! configured for a different model refuses to start instead of answering nonsense.

use sqlx::PgPool;

use crate::embedding::settings::EmbeddingConfig;

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "memory holds {stored_dimensions}-dimensional vectors from {stored_provider}/{stored_model}, but this deployment is configured for {configured_provider}/{configured_model} ({configured_dimensions}); configure the original model, or delete the stored memory and run `helix-admin migrate` again"
    )]
    ModelMismatch {
        stored_provider: String,
        stored_model: String,
        stored_dimensions: i32,
        configured_provider: String,
        configured_model: String,
        configured_dimensions: usize,
    },
    #[error(
        "memory is not prepared for an embedding model yet: run `helix-admin migrate` (or the db-migrate function)"
    )]
    NotPrepared,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// What the database says about the stored vectors.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
struct Stored {
    provider: String,
    model: String,
    dimensions: i32,
}

/// Sizes the vector column and builds its cosine HNSW index for `config`'s model, the first time;
/// afterwards only checks that the model is the same. Safe to run concurrently and repeatedly.
pub async fn prepare(pool: &PgPool, config: &EmbeddingConfig) -> Result<(), SchemaError> {
    let mut tx = pool.begin().await?;
    // Two migrations racing: the second waits here, then finds the first one's row.
    sqlx::query("LOCK TABLE memory_settings IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    if let Some(stored) = stored(&mut *tx).await? {
        tx.rollback().await?;
        return compare(&stored, config);
    }
    let dimensions = config.dimensions;
    // The dimension is a number from validated configuration, never user input.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE embeddings ALTER COLUMN vector TYPE vector({dimensions})"
    )))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "CREATE INDEX IF NOT EXISTS embeddings_vector_hnsw_idx ON embeddings
         USING hnsw (vector vector_cosine_ops)",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO memory_settings (provider, model, dimensions) VALUES ($1, $2, $3)")
        .bind(config.provider.as_str())
        .bind(&config.model)
        .bind(i32::try_from(dimensions).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(
        provider = %config.provider,
        model = %config.model,
        dimensions,
        "memory prepared for the embedding model"
    );
    Ok(())
}

/// At start: the stored model must be the configured one (read-only).
pub async fn check(pool: &PgPool, config: &EmbeddingConfig) -> Result<(), SchemaError> {
    match stored(pool).await? {
        Some(stored) => compare(&stored, config),
        None => Err(SchemaError::NotPrepared),
    }
}

async fn stored(db: impl sqlx::PgExecutor<'_>) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query_as("SELECT provider, model, dimensions FROM memory_settings")
        .fetch_optional(db)
        .await
}

fn compare(stored: &Stored, config: &EmbeddingConfig) -> Result<(), SchemaError> {
    let same = stored.provider == config.provider.as_str()
        && stored.model == config.model
        && usize::try_from(stored.dimensions).ok() == Some(config.dimensions);
    if same {
        return Ok(());
    }
    Err(SchemaError::ModelMismatch {
        stored_provider: stored.provider.clone(),
        stored_model: stored.model.clone(),
        stored_dimensions: stored.dimensions,
        configured_provider: config.provider.as_str().to_owned(),
        configured_model: config.model.clone(),
        configured_dimensions: config.dimensions,
    })
}
