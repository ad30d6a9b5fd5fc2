//! The `agents` table: which provider and model each user may call, and whether it is active.

use sqlx::{FromRow, PgExecutor};

use crate::provider::Provider;

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AgentRow {
    pub id: String,
    pub model: String,
    pub active: bool,
}

/// The agent a turn runs under: for `model` if given, else the user's oldest active agent for the
/// provider (a disabled one only when there is no active one, so the caller hears why).
pub async fn find_for_turn(
    db: impl PgExecutor<'_>,
    user_id: &str,
    provider: Provider,
    model: Option<&str>,
) -> Result<Option<AgentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, model, status = 'active' AS active FROM agents
         WHERE user_id = $1 AND provider = $2::engine_provider AND ($3::text IS NULL OR model = $3)
         ORDER BY status = 'active' DESC, created_at, id
         LIMIT 1",
    )
    .bind(user_id)
    .bind(provider.as_str())
    .bind(model)
    .fetch_optional(db)
    .await
}

/// An agent as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize, serde::Deserialize)]
pub struct Agent {
    pub id: String,
    pub provider: String,
    pub model: String,
    pub status: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

const AGENT_COLUMNS: &str =
    "id, provider::text AS provider, model, status::text AS status, created_at, updated_at";

/// What an insert or update ran into.
#[derive(Debug, thiserror::Error)]
pub enum AgentWriteError {
    #[error("the user already has an agent for this provider and model")]
    Duplicate,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn write_error(error: sqlx::Error) -> AgentWriteError {
    let duplicate = error
        .as_database_error()
        .and_then(|e| e.constraint())
        .is_some_and(|c| c == "agents_user_provider_model_key");
    if duplicate {
        AgentWriteError::Duplicate
    } else {
        AgentWriteError::Database(error)
    }
}

pub async fn list_for_user(
    db: impl PgExecutor<'_>,
    user_id: &str,
) -> Result<Vec<Agent>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {AGENT_COLUMNS} FROM agents WHERE user_id = $1 ORDER BY provider, model"
    )))
    .bind(user_id)
    .fetch_all(db)
    .await
}

pub async fn create(
    db: impl PgExecutor<'_>,
    user_id: &str,
    provider: Provider,
    model: &str,
    active: bool,
) -> Result<Agent, AgentWriteError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO agents (id, user_id, provider, model, status)
         VALUES ($1, $2, $3::engine_provider, $4, $5::agent_status)
         RETURNING {AGENT_COLUMNS}"
    )))
    .bind(crate::ids::new_id())
    .bind(user_id)
    .bind(provider.as_str())
    .bind(model)
    .bind(if active { "active" } else { "disabled" })
    .fetch_one(db)
    .await
    .map_err(write_error)
}

/// Changes the model and/or status of the user's agent; `None` when it is not theirs.
pub async fn update(
    db: impl PgExecutor<'_>,
    user_id: &str,
    id: &str,
    model: Option<&str>,
    active: Option<bool>,
) -> Result<Option<Agent>, AgentWriteError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE agents SET model = COALESCE($3, model),
                           status = COALESCE($4::agent_status, status)
         WHERE id = $1 AND user_id = $2
         RETURNING {AGENT_COLUMNS}"
    )))
    .bind(id)
    .bind(user_id)
    .bind(model)
    .bind(active.map(|a| if a { "active" } else { "disabled" }))
    .fetch_optional(db)
    .await
    .map_err(write_error)
}

/// The provider of the user's agent, to validate a model change against; `None` when not theirs.
pub async fn provider_of(
    db: impl PgExecutor<'_>,
    user_id: &str,
    id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT provider::text FROM agents WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .fetch_optional(db)
        .await
}

/// Deletes the user's agent; false when it is not theirs. Its ledger rows stay, detached.
pub async fn delete(db: impl PgExecutor<'_>, user_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM agents WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(result.rows_affected() == 1)
}
