//! The `personas` table: a user's own system-prompt presets. Another user's persona is invisible.

use sqlx::{FromRow, PgExecutor};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct PersonaRow {
    pub id: String,
    pub name: String,
    pub prompt: String,
    pub avatar_url: Option<String>,
}

pub async fn find_for_user(
    db: impl PgExecutor<'_>,
    user_id: &str,
    id: &str,
) -> Result<Option<PersonaRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, prompt, avatar_url FROM personas WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// The user's personas, newest first.
pub async fn list_for_user(
    db: impl PgExecutor<'_>,
    user_id: &str,
) -> Result<Vec<PersonaRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, prompt, avatar_url FROM personas WHERE user_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}
