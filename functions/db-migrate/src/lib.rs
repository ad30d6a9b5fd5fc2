//! `db-migrate`: applies the migrations embedded in `helix-shared` to the deployed database, where no
//! operator machine can reach it (Aurora sits in private subnets). Invoked once after each deploy.

use helix_shared::db::MIGRATOR;
use helix_shared::embedding::settings::EmbeddingConfig;
use helix_shared::memory::schema;
use helix_shared::state::Core;
use helix_shared::telemetry::cause_chain;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use sqlx::PgPool;

/// What a run did; the deploy workflow prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationReport {
    /// Migrations recorded as applied once the run finished (all the binary knows, on success).
    pub applied: usize,
    /// How many of those this run applied (0 when the schema was already current).
    pub newly_applied: usize,
    /// The newest applied migration's version, e.g. `20261123000005`.
    pub latest_version: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// A migration failed, was edited after being applied, or is missing from this binary.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The database was unreachable or a statement failed outside a migration.
    #[error("database error while reading the migration history: {0}")]
    Database(#[from] sqlx::Error),
    /// Memory's vectors belong to another embedding model than the one configured.
    #[error("{0}")]
    Memory(#[from] helix_shared::memory::schema::SchemaError),
}

/// The Lambda handler: the event's payload is ignored (`{}` is enough).
pub async fn handle(
    core: &Core,
    event: LambdaEvent<serde_json::Value>,
) -> Result<MigrationReport, MigrateError> {
    tracing::info!(request_id = %event.context.request_id, "database migration started");
    migrate(&core.db, &core.config.embeddings)
        .await
        .inspect(|report| {
            tracing::info!(
                applied = report.applied,
                newly_applied = report.newly_applied,
                latest_version = report.latest_version,
                "database migration finished"
            );
        })
        .inspect_err(|error| {
            tracing::error!(error.chain = %cause_chain(error), "database migration failed");
        })
}

/// Applies every pending migration (sqlx holds an advisory lock meanwhile, so two concurrent
/// invocations apply each migration once), then sizes memory's vectors for the embedding model.
pub async fn migrate(
    db: &PgPool,
    embeddings: &EmbeddingConfig,
) -> Result<MigrationReport, MigrateError> {
    let before = applied_versions(db).await?.len();
    MIGRATOR.run(db).await?;
    schema::prepare(db, embeddings).await?;
    let after = applied_versions(db).await?;
    Ok(MigrationReport {
        applied: after.len(),
        newly_applied: after.len().saturating_sub(before),
        latest_version: after.last().copied(),
    })
}

/// Versions of the successfully applied migrations, oldest first; none before the first run.
async fn applied_versions(db: &PgPool) -> Result<Vec<i64>, sqlx::Error> {
    let table = MIGRATOR.table_name.as_ref();
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(db)
        .await?;
    if !exists {
        return Ok(Vec::new());
    }
    // The table name is the migrator's compile-time constant, never input.
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {table} WHERE success ORDER BY version"
    )))
    .fetch_all(db)
    .await
}

/// Lambda's error report: `error_type` says whether a retry can help.
impl From<MigrateError> for lambda_runtime::Diagnostic {
    fn from(error: MigrateError) -> Self {
        let error_type = match error {
            MigrateError::Database(_) => "Retryable.Database",
            MigrateError::Migration(_) => "Migration",
            MigrateError::Memory(helix_shared::memory::schema::SchemaError::Database(_)) => {
                "Retryable.Database"
            }
            MigrateError::Memory(_) => "Memory",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}
