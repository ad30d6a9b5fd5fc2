//! The `agents` table: which provider and model each user may call, and whether it is active.

use sqlx::{FromRow, PgExecutor};

use crate::engine::Provider;

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
